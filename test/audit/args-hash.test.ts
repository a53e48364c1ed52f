/**
 * The keyed arguments hash (issue 4: "hostile argument shapes hash
 * identically after restart"). Each table row is a pair of argument values
 * — as a JSON text, since that is how they reach the gateway — with whether
 * their hashes must be equal.
 */
import t from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argsHash, loadOrCreateAuditKey } from '../../src/audit/args-hash.js';

const MB = 1024 * 1024;

interface Pair {
  name: string;
  a: unknown;
  b: unknown;
  same: boolean;
}

const parse = (text: string): unknown => JSON.parse(text);

const pairs: Pair[] = [
  { name: 'key order does not matter', a: parse('{"a":1,"b":{"c":[1,2],"d":null}}'), b: parse('{"b":{"d":null,"c":[1,2]},"a":1}'), same: true },
  { name: 'array order does', a: [1, 2], b: [2, 1], same: false },
  { name: 'number spelling does not (1.0 = 1, 1e2 = 100)', a: parse('{"n":[1.0,1e2,-0]}'), b: parse('{"n":[1,100,0]}'), same: true },
  { name: 'a string is not a number', a: { n: '1' }, b: { n: 1 }, same: false },
  { name: '__proto__ (an own property from JSON.parse) is hashed, in any order', a: parse('{"__proto__":{"admin":true},"a":1}'), b: parse('{"a":1,"__proto__":{"admin":true}}'), same: true },
  { name: '__proto__ is not dropped', a: parse('{"__proto__":{"admin":true},"a":1}'), b: parse('{"a":1}'), same: false },
  { name: '__proto__ values are compared', a: parse('{"__proto__":{"admin":true}}'), b: parse('{"__proto__":{"admin":false}}'), same: false },
  { name: 'a 1 MB string', a: { s: 'x'.repeat(MB) }, b: parse(JSON.stringify({ s: 'x'.repeat(MB) })), same: true },
  { name: 'a 1 MB string differs from one a byte shorter', a: { s: 'x'.repeat(MB) }, b: { s: 'x'.repeat(MB - 1) }, same: false },
  { name: 'é precomposed (U+00E9) vs decomposed (e + U+0301): no normalisation', a: { q: '\u00e9' }, b: { q: 'e\u0301' }, same: false },
  { name: 'Å as U+00C5 vs U+212B (Angstrom sign): no normalisation', a: { q: '\u00c5' }, b: { q: '\u212b' }, same: false },
  { name: 'emoji, escaped or literal in the JSON text', a: parse('{"q":"\\ud83d\\ude00"}'), b: parse('{"q":"😀"}'), same: true },
  { name: 'keys sort by UTF-16 code units (emoji before U+FB01), in any order', a: parse('{"\ufb01":1,"😀":2,"a":3}'), b: parse('{"a":3,"😀":2,"\ufb01":1}'), same: true },
  { name: 'a lone high surrogate is not U+FFFD', a: parse('{"q":"\\ud800"}'), b: { q: '\ufffd' }, same: false },
  { name: 'a lone high surrogate is not a lone low one', a: parse('{"q":"\\ud800"}'), b: parse('{"q":"\\udc00"}'), same: false },
  { name: 'control characters and escapes', a: parse('{"q":"\\u0000\\n\\u001f\\"\\\\/"}'), b: { q: '\u0000\n\u001f"\\/' }, same: true },
  { name: 'absent arguments are not null', a: undefined, b: null, same: false },
  { name: 'absent arguments are not {}', a: undefined, b: {}, same: false },
  { name: 'null is not {}', a: null, b: {}, same: false },
];

t.test('hash equality table', async (t) => {
  const key = randomBytes(32);
  for (const p of pairs) {
    const [ha, hb] = [argsHash(key, p.a), argsHash(key, p.b)];
    t.match(ha, /^[0-9a-f]{64}$/);
    if (p.same) t.equal(ha, hb, p.name);
    else t.not(ha, hb, p.name);
  }
});

t.test('the hash is HMAC-SHA256 over the RFC 8785 text (RFC 8785 §3.2.2 number vector)', async (t) => {
  const key = randomBytes(32);
  const args = parse('{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"literals":[null,true,false]}');
  const canonical = '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}';
  t.equal(argsHash(key, args), createHmac('sha256', key).update(canonical, 'utf8').digest('hex'));
});

t.test('keyed: another key gives another hash', async (t) => {
  t.not(argsHash(randomBytes(32), { id: 42 }), argsHash(randomBytes(32), { id: 42 }));
});

t.test('the key persists in <data>/audit.key (0600): hashes survive a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-audit-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const before = await loadOrCreateAuditKey(dir);
  t.equal(before.length, 32);
  t.equal((await stat(join(dir, 'audit.key'))).mode & 0o777, 0o600);
  const hashesBefore = pairs.map((p) => argsHash(before, p.a));
  const after = await loadOrCreateAuditKey(dir); // a "restart": the key is read back
  t.ok(after.equals(before));
  t.same(pairs.map((p) => argsHash(after, p.a)), hashesBefore);
});

t.test('concurrent first starts agree on one key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-audit-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateAuditKey(dir)));
  t.ok(keys.every((k) => k.equals(keys[0]!)));
});

t.test('a damaged key file is refused, not replaced', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-audit-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'audit.key'), 'c2hvcnQ\n', { mode: 0o600 });
  await t.rejects(loadOrCreateAuditKey(dir), { code: 'audit_key_invalid' });
});

t.test('values with no canonical JSON form are refused with args_not_canonical', async (t) => {
  const key = randomBytes(32);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  let deep: unknown = 'bottom';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const table: Array<[string, unknown]> = [
    ['a cycle', cyclic],
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['a BigInt', { n: 10n }],
    ['nesting deeper than the stack', deep],
    ['a function', () => 1],
  ];
  for (const [name, value] of table) t.throws(() => argsHash(key, value), { code: 'args_not_canonical' }, name);
});
