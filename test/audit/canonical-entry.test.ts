/**
 * The append hot path writes an entry's canonical JSON member by member
 * instead of walking it generically. These vectors pin that it produces
 * byte for byte what the generic RFC 8785 `canonicalize` does — for the
 * hashed body and for the stored text (with `hash`).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { sealEntry } from '../../src/audit/chain.js';
import { normalizeInput, type AuditEntryInput } from '../../src/audit/entry.js';

const position = { seq: 42, prev: 'f'.repeat(64), time: '2026-01-01T00:00:00.000Z', node: 'node-ü' };

const vectors: Array<[string, AuditEntryInput]> = [
  ['the minimum', { kind: 'admin', correlationId: 'c' }],
  [
    'every member',
    {
      kind: 'outcome',
      correlationId: 'c-1',
      identity: { kind: 'peer', subject: 'alice', tenant: 'acme', groups: ['b', 'a'], issuer: 'https://i', clientId: 'cli', actor: [{ subject: 'alice', node: 'n1' }, { subject: 'svc', node: 'n2' }] },
      server: 'crm',
      version: '1.2.3',
      tool: 'lookup',
      method: 'tools/call',
      argsHash: '0'.repeat(64),
      outcome: 'isError',
      reason: 'schema_reject',
      status: 200,
      latencyMs: 0.1 + 0.2,
      detail: { z: 1, a: [{ y: null, b: true }], '\u00e9': 'e\u0301', '😀': '\ud800', '': -0, big: 1e21, small: 1e-7 },
    },
  ],
  ['an identity without optional members', { kind: 'call', correlationId: 'c', identity: { kind: 'anonymous', subject: 'anonymous', groups: [] } }],
  ['unusual strings', { kind: 'rejection', correlationId: '\u2028\u0000"\\', tool: '\udfff', outcome: 'rate_limited' }],
  ['an empty detail', { kind: 'peer', correlationId: 'c', detail: {} }],
];

for (const [name, input] of vectors) {
  t.test(name, async (t) => {
    const normalized = normalizeInput(input);
    const { entry, json } = sealEntry(normalized, position);
    const { hash, ...body } = entry;
    t.equal(hash, createHash('sha256').update(canonicalize(body) as string).digest('hex'), 'the hash is over the generic canonical form');
    t.equal(json, canonicalize(entry), 'the stored text is the canonical entry');
    t.same(JSON.parse(json), entry);
  });
}

t.test('oversized text is cut before sealing: a hostile caller or peer cannot grow the log at will', async (t) => {
  const huge = 'x'.repeat(100_000);
  const input = normalizeInput({
    kind: 'rejection',
    correlationId: huge,
    method: huge,
    identity: { kind: 'peer', subject: huge, groups: [huge, 'ok'], actor: [{ subject: huge, node: 'n' }] },
    detail: { message: huge },
  });
  t.equal(input.correlationId.length, 512 + `…[+${100_000 - 512} chars]`.length, 'the first 512 characters, saying how many were cut');
  t.ok(input.correlationId.startsWith('x'.repeat(512)));
  t.ok(input.method!.endsWith('chars]'));
  t.ok(input.identity!.subject.length < 600);
  t.same(input.identity!.groups[1], 'ok', 'short values are kept as they are');
  t.ok(input.identity!.actor![0]!.subject.length < 600);
  t.match(input.detail, { truncated: true, length: Number }, 'an oversized detail is replaced by its size and head');
  t.ok(sealEntry(input, position).json.length < 4_000, 'the stored entry stays small');
});
