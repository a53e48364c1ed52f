/**
 * Per-tenant API keys (PRODUCT.md §4) against a real LevelDB: issue and
 * verify, persistence across a reopen, revocation at once, rotation with an
 * overlap, expiry, a table of hostile spellings that must all be
 * `invalid_token`, and the admin routes through a small Koa app.
 *
 * The clock is frozen and moved by hand (`clock.at`).
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import { Store } from '../../src/store/db.js';
import { ApiKeys, MAX_OVERLAP_SECONDS } from '../../src/auth/apikeys/api-keys.js';
import { loadOrCreatePepper } from '../../src/auth/apikeys/pepper.js';
import { parseApiKey, MAX_KEY_LENGTH } from '../../src/auth/apikeys/key-format.js';
import { apiKeyRoutes } from '../../src/admin/credentials-keys-routes.js';
import { jsonErrors } from '../../src/http/errors.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function clock() {
  const c = { ms: T0, now: () => new Date(c.ms), at: (seconds: number) => (c.ms = T0 + seconds * 1000) };
  return c;
}

async function openStore(t: Test, dir?: string): Promise<{ store: Store; dir: string }> {
  const location = dir ?? (await mkdtemp(join(tmpdir(), 'toolmesh-apikeys-')));
  if (!dir) t.teardown(() => rm(location, { recursive: true, force: true }));
  const store = new Store(join(location, 'db'));
  await store.open();
  t.teardown(() => store.close());
  return { store, dir: location };
}

async function setup(t: Test) {
  const { store, dir } = await openStore(t);
  const c = clock();
  const pepper = randomBytes(32);
  const keys = new ApiKeys(store, pepper, { now: c.now });
  await keys.load();
  return { store, dir, clock: c, pepper, keys };
}

/** The three parts of a key. */
function parts(key: string): { tenant: string; keyId: string; secret: string } {
  const [tenant, keyId, secret] = key.slice(3).split('.') as [string, string, string];
  return { tenant, keyId, secret };
}

/** `s` with the character at `i` replaced by the next one of the base64url alphabet. */
function flip(s: string, i: number): string {
  const next = ALPHABET[(ALPHABET.indexOf(s[i]!) + 1) % 64]!;
  return s.slice(0, i) + next + s.slice(i + 1);
}

const INVALID = (detail?: string) => ({ code: -32001, reason: 'invalid_token', status: 401, ...(detail ? { data: { detail } } : {}) });

t.test('an issued key verifies to a tenant identity', async (t) => {
  const { keys } = await setup(t);
  const { key, record } = await keys.issue('acme', { scopes: ['mcp:tool:weather:read', 'mcp:tool:crm:write'], groups: ['tenants'] }, 'admin:bootstrap');
  t.match(key, /^tm_acme\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
  t.same(parseApiKey(key), { tenant: 'acme', keyId: record.keyId, canonical: key });
  t.same(record, {
    tenant: 'acme',
    keyId: record.keyId,
    scopes: ['mcp:tool:weather:read', 'mcp:tool:crm:write'],
    groups: ['tenants'],
    createdAt: new Date(T0).toISOString(),
    createdBy: 'admin:bootstrap',
  });
  const identity = keys.verify(key);
  t.notOk((identity as unknown) instanceof Promise, 'verify is synchronous');
  t.same(identity, {
    kind: 'apikey',
    subject: 'acme',
    tenant: 'acme',
    groups: ['tenants'],
    scopes: ['mcp:tool:weather:read', 'mcp:tool:crm:write'],
    clientId: record.keyId,
    principal: 'tenant:acme',
    class: 'tenant',
  });

  const second = await keys.issue('acme', { scopes: ['mcp:tool:weather:read'] }, 'admin:bootstrap');
  t.equal(keys.verify(second.key).principal, 'tenant:acme', 'every key of a tenant shares one principal (one rate-limit bucket)');
  t.same(keys.verify(second.key).groups, []);

  // Mutating a returned identity must not change the next one.
  identity.scopes.push('mcp:admin');
  t.notOk(keys.verify(key).scopes.includes('mcp:admin'));
});

t.test('authenticate applies to tm_ bearer tokens only', async (t) => {
  const { keys } = await setup(t);
  const { key } = await keys.issue('acme', { scopes: ['s'] }, 'a');
  const req = {} as IncomingMessage;
  t.equal(keys.authenticate(req, {}), undefined);
  t.equal(keys.authenticate(req, { bearer: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' }), undefined, 'a JWT is someone else\'s');
  t.equal(keys.authenticate(req, { bearer: key })?.tenant, 'acme');
  t.throws(() => keys.authenticate(req, { bearer: 'tm_acme.nope' }), INVALID('malformed'), 'a bad tm_ key is refused, not passed on');
});

t.test('the store keeps digests, never secrets; list never shows digests', async (t) => {
  const { keys, store } = await setup(t);
  const { key, record } = await keys.issue('acme', { scopes: ['s'] }, 'a');
  const { secret } = parts(key);
  const raw: Record<string, unknown>[] = [];
  for await (const value of store.sublevel('apikeys').values()) raw.push(value as Record<string, unknown>);
  t.equal(raw.length, 1);
  t.match(raw[0], { keyId: record.keyId, digest: /^[A-Za-z0-9_-]{43}$/ });
  const dump = JSON.stringify(raw) + JSON.stringify(await keys.history());
  t.notOk(dump.includes(secret), 'the secret is not stored');
  t.notOk(dump.includes(key), 'the key is not stored');

  const listed = JSON.stringify(keys.list()) + JSON.stringify(keys.list('acme')) + JSON.stringify(keys.get('acme', record.keyId));
  t.notOk(listed.includes('digest'), 'no digest field');
  t.notOk(listed.includes(raw[0]!.digest as string), 'no digest value');
  t.notOk(listed.includes(secret), 'no secret');
  t.same(keys.list('globex'), []);
});

t.test('keys, revocations and history persist across a reopen; the pepper is needed', async (t) => {
  const { store, dir, clock, pepper, keys } = await setup(t);
  const kept = await keys.issue('acme', { scopes: ['s'], groups: ['g'] }, 'a');
  const revoked = await keys.issue('acme', { scopes: ['s'] }, 'a');
  await keys.revoke('acme', revoked.record.keyId, 'b');
  const rotated = await keys.issue('globex', { scopes: ['s'] }, 'a');
  const successor = await keys.rotate('globex', rotated.record.keyId, { overlapSeconds: 60 }, 'c');
  const before = keys.list();
  await store.close();

  const reopened = (await openStore(t, dir)).store;
  const again = new ApiKeys(reopened, pepper, { now: clock.now });
  await again.load();
  t.same(again.list(), before);
  t.equal(again.verify(kept.key).subject, 'acme');
  t.throws(() => again.verify(revoked.key), INVALID('revoked'));
  t.equal(again.verify(rotated.key).tenant, 'globex', 'still inside the overlap');
  t.equal(again.verify(successor.key).tenant, 'globex');
  clock.at(60);
  t.throws(() => again.verify(rotated.key), INVALID('superseded'));

  await again.issue('acme', { scopes: ['s'] }, 'd');
  const history = await again.history();
  t.same(
    history.map((h) => [h.action, h.actor]),
    [['issue', 'a'], ['issue', 'a'], ['revoke', 'b'], ['issue', 'a'], ['rotate', 'c'], ['issue', 'c'], ['issue', 'd']],
    'history continues in order after a reopen',
  );
  t.same((await again.history({ keyId: rotated.record.keyId }))[1], {
    at: new Date(T0).toISOString(),
    actor: 'c',
    action: 'rotate',
    tenant: 'globex',
    keyId: rotated.record.keyId,
    detail: { rotatedTo: successor.record.keyId, notAfter: new Date(T0 + 60_000).toISOString(), overlapSeconds: 60 },
  });

  const otherPepper = new ApiKeys(reopened, randomBytes(32), { now: clock.now });
  await otherPepper.load();
  t.throws(() => otherPepper.verify(kept.key), INVALID('unknown_key'), 'digests are keyed by the node pepper');
});

t.test('revocation is effective at once', async (t) => {
  const { keys } = await setup(t);
  const { key, record } = await keys.issue('acme', { scopes: ['s'] }, 'a');
  t.ok(keys.verify(key));
  const result = await keys.revoke('acme', record.keyId, 'admin:alice');
  t.match(result, { revokedAt: new Date(T0).toISOString(), revokedBy: 'admin:alice' });
  t.throws(() => keys.verify(key), INVALID('revoked'));
  t.equal(keys.status(result), 'revoked');
  t.same(await keys.revoke('acme', record.keyId, 'admin:bob'), result, 'revoking again changes nothing');
  t.equal((await keys.history({ keyId: record.keyId })).length, 2);
  await t.rejects(keys.revoke('globex', record.keyId, 'a'), { code: 'not_found' }, 'another tenant\'s key is not found');
  await t.rejects(keys.revoke('acme', 'AAAAAAAAAAAAAAAA', 'a'), { code: 'not_found' });
  await t.rejects(keys.rotate('acme', record.keyId, { overlapSeconds: 10 }, 'a'), { code: 'conflict' });
});

t.test('rotation: both keys work during the overlap, the old one is refused after it', async (t) => {
  const { keys, clock } = await setup(t);
  const old = await keys.issue('acme', { scopes: ['a', 'b'], groups: ['g'] }, 'admin:alice');
  clock.at(100);
  const next = await keys.rotate('acme', old.record.keyId, { overlapSeconds: 3600 }, 'admin:bob');
  t.not(next.key, old.key);
  t.not(next.record.keyId, old.record.keyId);
  t.match(next.record, { tenant: 'acme', scopes: ['a', 'b'], groups: ['g'], rotatedFrom: old.record.keyId, createdBy: 'admin:bob' });
  const retired = keys.get('acme', old.record.keyId)!;
  t.match(retired, { rotatedTo: next.record.keyId, notAfter: new Date(T0 + 3700_000).toISOString() });
  t.equal(keys.status(retired), 'rotating');
  t.equal(keys.status(next.record), 'active');

  t.equal(keys.verify(old.key).expiresAt, (T0 + 3700_000) / 1000, 'the old key says when it stops working');
  t.equal(keys.verify(next.key).expiresAt, undefined);
  clock.at(3699);
  t.equal(keys.verify(old.key).tenant, 'acme');
  clock.at(3700);
  t.throws(() => keys.verify(old.key), INVALID('superseded'));
  t.equal(keys.verify(next.key).tenant, 'acme');
  t.equal(keys.status(keys.get('acme', old.record.keyId)!), 'expired');

  await t.rejects(keys.rotate('acme', old.record.keyId, { overlapSeconds: 10 }, 'a'), { code: 'conflict' }, 'a retired key cannot be rotated again');
});

t.test('rotation checks its input and runs one at a time', async (t) => {
  const { keys } = await setup(t);
  const { record } = await keys.issue('acme', { scopes: ['s'] }, 'a');
  for (const overlapSeconds of [-1, 1.5, NaN, MAX_OVERLAP_SECONDS + 1, '60' as unknown as number]) {
    await t.rejects(keys.rotate('acme', record.keyId, { overlapSeconds }, 'a'), { code: 'invalid_input' }, `overlap ${String(overlapSeconds)}`);
  }
  const results = await Promise.allSettled([
    keys.rotate('acme', record.keyId, { overlapSeconds: 10 }, 'a'),
    keys.rotate('acme', record.keyId, { overlapSeconds: 10 }, 'b'),
  ]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected'], 'two concurrent rotations of one key: only one wins');
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'conflict' });
  t.equal(keys.list('acme').length, 2);

  const zero = await keys.issue('acme', { scopes: ['s'] }, 'a');
  const replaced = await keys.rotate('acme', zero.record.keyId, { overlapSeconds: 0 }, 'a');
  t.throws(() => keys.verify(zero.key), INVALID('superseded'), 'no overlap: the old key is refused at once');
  t.ok(keys.verify(replaced.key));
});

t.test('expiry', async (t) => {
  const { keys, clock } = await setup(t);
  const expiresAt = new Date(T0 + 60_000).toISOString();
  const { key, record } = await keys.issue('acme', { scopes: ['s'], expiresAt: '2026-03-01T13:01:00+01:00' }, 'a');
  t.equal(record.expiresAt, expiresAt, 'normalised to UTC');
  t.equal(keys.verify(key).expiresAt, (T0 + 60_000) / 1000);
  clock.at(59);
  t.ok(keys.verify(key));
  clock.at(60);
  t.throws(() => keys.verify(key), INVALID('expired'));
  t.equal(keys.status(record), 'expired');
  await t.rejects(keys.rotate('acme', record.keyId, { overlapSeconds: 10 }, 'a'), { code: 'conflict' }, 'an expired key cannot be rotated');

  clock.at(0);
  const soon = await keys.issue('acme', { scopes: ['s'], expiresAt }, 'a');
  const next = await keys.rotate('acme', soon.record.keyId, { overlapSeconds: 3600 }, 'a');
  t.equal(next.record.expiresAt, expiresAt, 'rotation keeps the grant, expiry included');
  clock.at(60);
  t.throws(() => keys.verify(soon.key), INVALID('expired'), 'the overlap never outlives the expiry');
  t.throws(() => keys.verify(next.key), INVALID('expired'));
});

t.test('issue refuses bad input', async (t) => {
  const { keys } = await setup(t);
  const cases: [string, unknown, unknown][] = [
    ['tenant with upper case', 'Acme', { scopes: ['s'] }],
    ['tenant with a dot', 'ac.me', { scopes: ['s'] }],
    ['tenant too long', 'a'.repeat(64), { scopes: ['s'] }],
    ['empty tenant', '', { scopes: ['s'] }],
    ['no scopes', 'acme', { scopes: [] }],
    ['scopes missing', 'acme', {}],
    ['scope with a space', 'acme', { scopes: ['a b'] }],
    ['scope not a string', 'acme', { scopes: [1] }],
    ['admin scope', 'acme', { scopes: ['mcp:admin'] }],
    ['groups not an array', 'acme', { scopes: ['s'], groups: 'g' }],
    ['expiry in the past', 'acme', { scopes: ['s'], expiresAt: '2020-01-01T00:00:00Z' }],
    ['expiry not a date', 'acme', { scopes: ['s'], expiresAt: 'tomorrow' }],
    ['no grant', 'acme', undefined],
  ];
  for (const [name, tenant, grant] of cases) {
    await t.rejects(keys.issue(tenant as string, grant as { scopes: string[] }, 'a'), { code: 'invalid_input', status: 400 }, name);
  }
  t.same(keys.list(), []);
  t.throws(() => new ApiKeys({ sublevel: () => undefined } as unknown as Store, randomBytes(16)), TypeError, 'a short pepper is refused');
});

t.test('hostile spellings are all invalid_token', async (t) => {
  const { keys } = await setup(t);
  // A secret with a base64url-only character, so its standard-base64 spelling differs.
  let acme = await keys.issue('acme', { scopes: ['s'] }, 'a');
  while (!/[-_]/.test(parts(acme.key).secret)) acme = await keys.issue('acme', { scopes: ['s'] }, 'a');
  const globex = await keys.issue('globex', { scopes: ['s'] }, 'a');
  const a = parts(acme.key);
  const g = parts(globex.key);
  const stdBase64 = Buffer.from(a.secret, 'base64url').toString('base64');
  const lastIndex = ALPHABET.indexOf(a.secret.at(-1)!);
  // Same decoded bytes, different spelling: only the two spare low bits differ.
  const sloppyTail = a.secret.slice(0, -1) + ALPHABET[lastIndex ^ 1]!;

  const vectors: [string, unknown][] = [
    ['truncated by one', acme.key.slice(0, -1)],
    ['truncated to the key id', `tm_acme.${a.keyId}`],
    ['one char changed in the secret', `tm_acme.${a.keyId}.${flip(a.secret, 10)}`],
    ['one char changed in the key id', `tm_acme.${flip(a.keyId, 3)}.${a.secret}`],
    ['one char changed in the tenant', `tm_acmf.${a.keyId}.${a.secret}`],
    ['secret with padding', `${acme.key}=`],
    ['secret in standard base64 with padding', `tm_acme.${a.keyId}.${stdBase64}`],
    ['secret in standard base64 without padding', `tm_acme.${a.keyId}.${stdBase64.replace(/=+$/, '')}`],
    ['a + in the secret', `tm_acme.${a.keyId}.+${a.secret.slice(1)}`],
    ['a / in the secret', `tm_acme.${a.keyId}.${a.secret.slice(0, 5)}/${a.secret.slice(6)}`],
    ['a + in the key id', `tm_acme.+${a.keyId.slice(1)}.${a.secret}`],
    ['non-canonical trailing bits', `tm_acme.${a.keyId}.${sloppyTail}`],
    ['upper-cased', acme.key.toUpperCase()],
    ['upper-cased prefix', `TM_${acme.key.slice(3)}`],
    ['upper-cased tenant', `tm_ACME.${a.keyId}.${a.secret}`],
    ['upper-cased secret', `tm_acme.${a.keyId}.${a.secret.toUpperCase()}`],
    ['lower-cased secret', `tm_acme.${a.keyId}.${a.secret.toLowerCase()}`],
    ['leading space', ` ${acme.key}`],
    ['trailing space', `${acme.key} `],
    ['trailing newline', `${acme.key}\n`],
    ['leading tab', `\t${acme.key}`],
    ['inner space', `tm_acme. ${a.keyId}.${a.secret}`],
    ['URL-encoded dots', acme.key.replace(/\./g, '%2E')],
    ['URL-encoded lower-case dots', acme.key.replace(/\./g, '%2e')],
    ['fully URL-encoded', encodeURIComponent(acme.key).replace(/[-_.]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)],
    ["another tenant's key id with own secret", `tm_acme.${g.keyId}.${a.secret}`],
    ["own key id with another tenant's secret", `tm_acme.${a.keyId}.${g.secret}`],
    ['tenant swapped into a valid key', `tm_globex.${a.keyId}.${a.secret}`],
    ['tenant swapped into the other valid key', `tm_acme.${g.keyId}.${g.secret}`],
    ['extra segment', `${acme.key}.x`],
    ['extra empty segment', `${acme.key}.`],
    ['extra dot in the middle', `tm_acme..${a.keyId}.${a.secret}`],
    ['empty everything', 'tm_..'],
    ['empty tenant', `tm_.${a.keyId}.${a.secret}`],
    ['empty key id', `tm_acme..${a.secret}`],
    ['empty secret', `tm_acme.${a.keyId}.`],
    ['prefix only', 'tm_'],
    ['empty string', ''],
    ['no prefix', acme.key.slice(3)],
    ['other separator', acme.key.replace('tm_', 'tm-')],
    ['tenant too long', `tm_${'a'.repeat(64)}.${a.keyId}.${a.secret}`],
    ['full-width dot', acme.key.replace('.', '\uff0e')],
    ['NUL appended', `${acme.key}\u0000`],
    ['10 KB garbage after the prefix', `tm_${'a'.repeat(10_240)}`],
    ['10 KB of dots and base64url', `tm_acme.${'A'.repeat(5_000)}.${'B'.repeat(5_000)}`],
    ['10 KB random', `tm_${randomBytes(7_680).toString('base64url')}`],
    ['not a string', null],
    ['a number', 42],
  ];
  for (const [name, presented] of vectors) {
    t.throws(() => keys.verify(presented as string), INVALID(), name);
    // authenticate either refuses a tm_ key or leaves a non-tm_ token to another authenticator; it never admits one.
    let identity: unknown;
    try {
      identity = keys.authenticate({} as IncomingMessage, { bearer: presented as string });
    } catch (err) {
      t.match(err, INVALID(), `${name} (authenticate)`);
    }
    t.equal(identity, undefined, `${name} (authenticate admits nothing)`);
  }
  // The refusal never says which keys exist.
  t.throws(() => keys.verify(`tm_acme.${g.keyId}.${a.secret}`), INVALID('unknown_key'));
  t.throws(() => keys.verify(`tm_acme.${flip(a.keyId, 3)}.${a.secret}`), INVALID('unknown_key'));
  t.throws(() => keys.verify(`tm_acme.${a.keyId}.${flip(a.secret, 10)}`), INVALID('unknown_key'));
  t.throws(() => keys.verify(`tm_acme.${a.keyId}.${sloppyTail}`), INVALID('malformed'));
  t.equal(MAX_KEY_LENGTH, 3 + 63 + 1 + 16 + 1 + 43);
  t.ok(keys.verify(acme.key) && keys.verify(globex.key), 'the real keys still work');
});

// ── admin routes ────────────────────────────────────────────────────────────

async function adminApp(t: Test) {
  const ctx = await setup(t);
  const app = new Koa();
  app.silent = true;
  const internal: unknown[] = [];
  app.use(jsonErrors((err) => internal.push(err)));
  const admin = new Router({ prefix: '/admin' });
  admin.use(async (c, next) => {
    c.state.actor = 'admin:test';
    await next();
  });
  const routes = apiKeyRoutes(ctx.keys);
  admin.use(routes.routes(), routes.allowedMethods());
  app.use(admin.routes()).use(admin.allowedMethods());
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/v1/credentials/keys`;
  const call = async (method: string, path: string, body?: unknown, raw?: string) => {
    const res = await fetch(base + path, {
      method,
      ...(body !== undefined || raw !== undefined ? { headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
  };
  return { ...ctx, call, internal };
}

t.test('admin routes: issue, list, show, rotate, revoke', async (t) => {
  const { keys, call, clock, internal } = await adminApp(t);
  const issued = await call('POST', '/', { tenant: 'acme', scopes: ['mcp:tool:weather:read'], groups: ['tenants'] });
  t.equal(issued.status, 201);
  t.equal(issued.headers.get('cache-control'), 'no-store');
  t.match(issued.body, { key: /^tm_acme\./, record: { tenant: 'acme', createdBy: 'admin:test', status: 'active', groups: ['tenants'] } });
  t.equal(keys.verify(issued.body.key).tenant, 'acme');
  const keyId: string = issued.body.record.keyId;
  await call('POST', '/', { tenant: 'globex', scopes: ['s'] });

  const all = await call('GET', '/');
  t.same(all.body.keys.map((k: { tenant: string }) => k.tenant), ['acme', 'globex']);
  const acme = await call('GET', '/?tenant=acme');
  t.equal(acme.body.keys.length, 1);
  t.notOk(all.text.includes('digest') || all.text.includes(parts(issued.body.key).secret), 'the list leaks neither digest nor secret');

  const shown = await call('GET', `/acme/${keyId}`);
  t.match(shown.body, { record: { keyId, status: 'active' }, history: [{ action: 'issue', actor: 'admin:test' }] });

  clock.at(10);
  const rotated = await call('POST', `/acme/${keyId}/rotate`);
  t.equal(rotated.status, 200);
  t.equal(rotated.headers.get('cache-control'), 'no-store');
  t.match(rotated.body, { key: /^tm_acme\./, record: { rotatedFrom: keyId, status: 'active' } });
  t.equal(keys.get('acme', keyId)?.notAfter, new Date(T0 + 10_000 + 86_400_000).toISOString(), 'default overlap: one day');
  t.equal((await call('GET', '/?tenant=acme')).body.keys.find((k: { keyId: string }) => k.keyId === keyId).status, 'rotating');

  const short = await call('POST', `/${'acme'}/${rotated.body.record.keyId}/rotate`, { overlapSeconds: 5 });
  t.equal(short.status, 200);
  t.equal(keys.get('acme', rotated.body.record.keyId)?.notAfter, new Date(T0 + 15_000).toISOString());

  const revoked = await call('POST', `/acme/${short.body.record.keyId}/revoke`);
  t.equal(revoked.status, 200);
  t.match(revoked.body, { keyId: short.body.record.keyId, status: 'revoked', revokedBy: 'admin:test' });
  t.throws(() => keys.verify(short.body.key), INVALID('revoked'));
  t.same(internal, [], 'no internal errors');
});

t.test('admin routes: 400 and 404', async (t) => {
  const { call, internal } = await adminApp(t);
  const { body } = await call('POST', '/', { tenant: 'acme', scopes: ['s'] });
  const keyId: string = body.record.keyId;
  const cases: [string, Promise<{ status: number; body: { error: { code: string } } }>, number, string][] = [
    ['missing scopes', call('POST', '/', { tenant: 'acme' }), 400, 'invalid_input'],
    ['bad tenant', call('POST', '/', { tenant: 'ACME', scopes: ['s'] }), 400, 'invalid_input'],
    ['admin scope', call('POST', '/', { tenant: 'acme', scopes: ['mcp:admin'] }), 400, 'invalid_input'],
    ['unknown field', call('POST', '/', { tenant: 'acme', scope: ['s'] }), 400, 'invalid_input'],
    ['body not an object', call('POST', '/', ['acme']), 400, 'invalid_input'],
    ['invalid JSON', call('POST', '/', undefined, '{'), 400, 'invalid_json'],
    ['bad tenant filter', call('GET', '/?tenant=Acme!'), 400, 'invalid_input'],
    ['negative overlap', call('POST', `/acme/${keyId}/rotate`, { overlapSeconds: -1 }), 400, 'invalid_input'],
    ['overlap as a string', call('POST', `/acme/${keyId}/rotate`, { overlapSeconds: '60' }), 400, 'invalid_input'],
    ['unknown key (rotate)', call('POST', '/acme/AAAAAAAAAAAAAAAA/rotate'), 404, 'not_found'],
    ['unknown key (revoke)', call('POST', '/acme/AAAAAAAAAAAAAAAA/revoke'), 404, 'not_found'],
    ["another tenant's key", call('POST', `/globex/${keyId}/revoke`), 404, 'not_found'],
    ['unknown key (show)', call('GET', '/acme/AAAAAAAAAAAAAAAA'), 404, 'not_found'],
  ];
  for (const [name, pending, status, code] of cases) {
    const res = await pending;
    t.equal(res.status, status, name);
    t.equal(res.body?.error?.code, code, name);
  }
  const revoked = await call('POST', `/acme/${keyId}/revoke`);
  t.equal(revoked.status, 200);
  const conflict = await call('POST', `/acme/${keyId}/rotate`);
  t.same([conflict.status, conflict.body.error.code], [409, 'conflict'], 'a revoked key cannot be rotated');
  t.same(internal, [], 'no internal errors');
});

t.test('the pepper file is created once, 0600, and reused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-pepper-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await loadOrCreatePepper(dir);
  t.equal(first.length, 32);
  t.same(await loadOrCreatePepper(dir), first);
  const { stat } = await import('node:fs/promises');
  t.equal((await stat(join(dir, 'apikeys.pepper'))).mode & 0o777, 0o600);
});
