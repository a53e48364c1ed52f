/**
 * Token translation across nodes (PRODUCT.md §9, RFC 8693), end to end on
 * loopback: node B's token endpoint in a real koa server, real Ed25519 node
 * keys, node A's TokenExchangeClient speaking through openid-client.
 *
 * Evidence, in order: the happy path (scope within the ceiling, groups
 * mapped, `act` present and nested, lifetime capped); each refusal as a
 * vector with its OAuth error and audit reason; the client's cache, refresh
 * and single flight counted at the server; and that no original credential
 * crosses: not in a request body, not in the issued token.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import type { Identity } from '../../src/auth/identity.js';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import {
  ExchangeClientError,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
  TokenExchangeClient,
  tokenExchangeRouter,
  signActorToken,
  signCallerAssertion,
  verifyTranslatedToken,
  type ExchangeDecision,
  type ExchangeRefusalReason,
  type InboundPolicy,
  type OAuthErrorCode,
  type PeerKey,
} from '../../federation/token-exchange/index.js';

const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
t.teardown(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function nodeKey(): Promise<NodeIdentity> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-tx-'));
  dirs.push(dir);
  return (await loadOrCreateIdentity(dir)).identity;
}

// ---- the mesh: A calls B; C is a known but untrusted peer; X is nobody. ----
const [keyA, keyB, keyC, keyX] = await Promise.all([nodeKey(), nodeKey(), nodeKey(), nodeKey()]);
const A = 'https://a.mesh.test';
const B = 'https://b.mesh.test';
const C = 'https://c.mesh.test';
const X = 'https://x.mesh.test';
const B_RESOURCE = `${B}/mcp`;

const peers = new Map<string, PeerKey & { entityId: string }>([
  [A, { entityId: A, alias: 'alpha', namespace: 'alpha-corp', publicJwk: keyA.publicJwk }],
  [C, { entityId: C, alias: 'gamma', namespace: 'gamma-corp', publicJwk: keyC.publicJwk }],
]);
const BASE_POLICY: InboundPolicy = {
  groupMapping: { 'sales-reps': ['partner-crm-readers'], managers: ['partner-crm-readers', 'partner-quotes'] },
  scopeCeiling: ['mcp:tool:crm:read', 'mcp:tool:quotes:write'],
  maxTtlSeconds: 30,
};
const policies = new Map<string, InboundPolicy>([['alpha', BASE_POLICY]]);

// A frozen clock both nodes read.
const NOW = Date.parse('2026-03-01T12:00:00Z');
let clockMs = NOW;
const now = () => clockMs;
const nowS = () => Math.floor(clockMs / 1000);

// ---- node B: the token endpoint in a real koa server on loopback ----
const decisions: ExchangeDecision[] = [];
let auditDown = false;
let requestsAtB = 0;
const app = new Koa();
app.use(async (ctx, next) => {
  requestsAtB++;
  await next();
});
const router = tokenExchangeRouter({
  node: keyB,
  entityId: B,
  resource: B_RESOURCE,
  peerKeys: (id) => peers.get(id),
  inboundPolicy: (alias) => policies.get(alias),
  onDecision: (event) => {
    if (auditDown && event.outcome === 'granted') throw new Error('audit disk full');
    decisions.push(event);
  },
  now,
});
app.use(router.routes()).use(router.allowedMethods());
const serverB = createServer(app.callback());
await new Promise<void>((resolve) => serverB.listen(0, '127.0.0.1', resolve));
cleanups.push(() => new Promise((resolve) => serverB.close(resolve)));
const TOKEN_ENDPOINT = `http://127.0.0.1:${(serverB.address() as AddressInfo).port}/federation/token`;
const PEER_B = { entityId: B, tokenEndpoint: TOKEN_ENDPOINT };

// Every body node A sends (wrapping the global fetch openid-client calls).
const sentBodies: string[] = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
  if (init?.body !== undefined && init.body !== null) sentBodies.push(String(init.body));
  return realFetch(input, init);
}) as typeof fetch;
cleanups.push(() => {
  globalThis.fetch = realFetch;
});

// ---- node A: the caller and the client ----
/** The caller's original bearer token at A: it must never leave A. */
const ORIGINAL_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2VjcmV0LW9yaWdpbmFsLXNpZ25hdHVyZQ';
const alice: Identity = {
  kind: 'oauth',
  subject: 'alice@a.test',
  groups: ['sales-reps', 'managers', 'unmapped-group'],
  scopes: ['mcp:tool:alpha-hr:write', 'mcp:tool:crm:read', 'mcp:admin'],
  issuer: 'https://idp.a.test',
  clientId: 'claude-desktop',
  expiresAt: nowS() + 3600,
  principal: 'oauth:https://idp.a.test#alice@a.test',
  class: 'person',
};
const signerA = { node: keyA, issuer: A, namespace: 'alpha-corp', audience: B, now };

function newClient(extra: { timeoutSeconds?: number } = {}): TokenExchangeClient {
  return new TokenExchangeClient({ node: keyA, issuer: A, namespace: 'alpha-corp', allowInsecureLoopback: true, now, ...extra });
}

async function post(params: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  const res = await realFetch(TOKEN_ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A well-formed request from A for `scopes`, with parts overridable. */
async function request(options: { scopes?: string[]; identity?: Identity; assertion?: string; actor?: string; extra?: Record<string, string | string[]> } = {}) {
  const scopes = options.scopes ?? ['mcp:tool:crm:read'];
  const subject_token = options.assertion ?? (await signCallerAssertion(options.identity ?? alice, { ...signerA, scopes, ttlSeconds: 60 }));
  const actor_token = options.actor ?? (await signActorToken({ ...signerA, ttlSeconds: 60 }));
  return {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    subject_token,
    subject_token_type: TOKEN_TYPE_JWT,
    actor_token,
    actor_token_type: TOKEN_TYPE_JWT,
    audience: B,
    scope: scopes.join(' '),
    ...options.extra,
  };
}

/** A JWT with arbitrary header/claims, signed by `key` (for hostile vectors). */
async function craft(key: NodeIdentity, typ: string, claims: Record<string, unknown>): Promise<string> {
  const iat = nowS();
  return new SignJWT({ iss: A, aud: B, iat, exp: iat + 60, jti: crypto.randomUUID(), ns: 'alpha-corp', ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ, kid: key.kid })
    .sign(key.privateKey);
}

function decisionFor(correlationId: string): ExchangeDecision | undefined {
  return decisions.find((d) => d.correlationId === correlationId);
}

t.beforeEach(() => {
  clockMs = NOW;
  policies.set('alpha', BASE_POLICY);
  auditDown = false;
});

t.test('happy path: scope within the ceiling, groups mapped, act present, lifetime capped', async (t) => {
  const client = newClient();
  const got = await client.exchange({ peer: PEER_B, identity: alice, scopes: ['mcp:tool:crm:read'], correlationId: 'corr-happy-1' });
  t.equal(got.cached, false);
  t.same(got.scopes, ['mcp:tool:crm:read']);
  // Policy ceiling 30 s < assertion 60 s: the issued token lives 30 s.
  t.equal(got.expiresAt, nowS() + 30, 'lifetime capped at the policy ceiling');

  const header = decodeProtectedHeader(got.accessToken);
  t.same(header, { alg: 'EdDSA', typ: 'at+jwt', kid: keyB.kid });
  const claims = decodeJwt(got.accessToken);
  t.equal(claims.iss, B);
  t.equal(claims.aud, B_RESOURCE);
  t.equal(claims.sub, 'alpha-corp:alice@a.test');
  t.equal(claims.client_id, A);
  t.equal((claims.exp as number) - (claims.iat as number), 30);
  t.same(claims.groups, ['partner-crm-readers', 'partner-quotes'], 'mapped, deduplicated; unmapped group dropped');
  t.equal(claims.scope, 'mcp:tool:crm:read');
  t.same(claims.act, { sub: A, ns: 'alpha-corp' });

  const { identity, actors } = await verifyTranslatedToken(got.accessToken, { issuerKey: keyB.publicJwk, issuer: B, audience: B_RESOURCE, now });
  t.same(identity, {
    kind: 'peer',
    subject: 'alpha-corp:alice@a.test',
    groups: ['partner-crm-readers', 'partner-quotes'],
    scopes: ['mcp:tool:crm:read'],
    issuer: A,
    clientId: A,
    expiresAt: nowS() + 30,
    principal: 'peer:alpha:alpha-corp:alice@a.test',
    class: 'person',
  });
  t.same(actors, [{ subject: A, node: 'alpha-corp' }]);

  const d = decisionFor('corr-happy-1');
  t.match(d, {
    kind: 'token_exchange',
    outcome: 'granted',
    peer: 'alpha',
    peerEntityId: A,
    subject: 'alice@a.test',
    credential: 'oauth',
    requestedScopes: ['mcp:tool:crm:read'],
    grantedScopes: ['mcp:tool:crm:read'],
    groups: ['partner-crm-readers', 'partner-quotes'],
    expiresIn: 30,
    issuedSubject: 'alpha-corp:alice@a.test',
  });
  t.equal(d?.tokenJti, claims.jti);
});

t.test('write in the ceiling admits read; an agent stays an agent', async (t) => {
  const robot: Identity = { kind: 'mtls', subject: 'spiffe://a.test/ci', groups: ['sales-reps'], scopes: [], principal: 'mtls:spiffe://a.test/ci', class: 'agent' };
  const got = await newClient().exchange({ peer: PEER_B, identity: robot, scopes: ['mcp:tool:quotes:read'] });
  const { identity } = await verifyTranslatedToken(got.accessToken, { issuerKey: keyB.publicJwk, issuer: B, audience: B_RESOURCE, now });
  t.equal(identity.class, 'agent');
  t.same(identity.scopes, ['mcp:tool:quotes:read']);
  t.equal(decodeJwt(got.accessToken).cls, 'agent');
});

t.test('lifetime: the assertion bounds it when shorter than the policy', async (t) => {
  policies.set('alpha', { ...BASE_POLICY, maxTtlSeconds: 3600 });
  const res = await post(await request({ assertion: await signCallerAssertion(alice, { ...signerA, scopes: ['mcp:tool:crm:read'], ttlSeconds: 20 }) }));
  t.equal(res.status, 200);
  t.equal(JSON.parse(res.text).expires_in, 20, 'never outlives the assertion');

  // The caller's own credential bounds the assertion at A.
  const shortLived = { ...alice, expiresAt: nowS() + 7 };
  const res2 = await post(await request({ identity: shortLived }));
  t.equal(JSON.parse(res2.text).expires_in, 7, "never outlives the caller's credential");
});

t.test('a longer life than the policy is capped, not refused', async (t) => {
  policies.set('alpha', { ...BASE_POLICY, maxTtlSeconds: 12 });
  const res = await post(await request());
  t.equal(res.status, 200);
  const body = JSON.parse(res.text);
  t.equal(body.expires_in, 12);
  const claims = decodeJwt(body.access_token);
  t.equal((claims.exp as number) - (claims.iat as number), 12);
});

t.test('multi-hop: prior actors nest inside the new act claim', async (t) => {
  const prior = [
    { subject: 'https://z.mesh.test', node: 'zeta-corp' },
    { subject: 'https://y.mesh.test', node: 'ypsilon-corp' },
  ];
  const got = await newClient().exchange({ peer: PEER_B, identity: alice, scopes: ['mcp:tool:crm:read'], actors: prior });
  t.same(decodeJwt(got.accessToken).act, {
    sub: A,
    ns: 'alpha-corp',
    act: { sub: 'https://z.mesh.test', ns: 'zeta-corp', act: { sub: 'https://y.mesh.test', ns: 'ypsilon-corp' } },
  });
  const { actors } = await verifyTranslatedToken(got.accessToken, { issuerKey: keyB.publicJwk, issuer: B, audience: B_RESOURCE, now });
  t.same(actors, [{ subject: A, node: 'alpha-corp' }, ...prior]);
});

t.test('the response follows RFC 8693 §2.2.1 and echoes the correlation id', async (t) => {
  const res = await post(await request(), { 'X-Correlation-Id': 'corr-rfc-1' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('cache-control'), 'no-store');
  t.equal(res.headers.get('x-correlation-id'), 'corr-rfc-1');
  const body = JSON.parse(res.text);
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type']);
  t.equal(body.issued_token_type, TOKEN_TYPE_ACCESS_TOKEN);
  t.equal(body.token_type, 'Bearer');
  t.equal(decisionFor('corr-rfc-1')?.outcome, 'granted');

  // A malformed correlation id is replaced, not echoed.
  const res2 = await post(await request(), { 'X-Correlation-Id': 'bad id\twith<tags>' });
  t.match(res2.headers.get('x-correlation-id'), /^[0-9a-f-]{36}$/);
});

// ---- refusals: each a vector with its OAuth error, HTTP status and audit reason ----
interface Vector {
  name: string;
  build: () => Promise<Record<string, string | string[]>>;
  setup?: () => void;
  error: OAuthErrorCode;
  status: number;
  reason: ExchangeRefusalReason;
}

const vectors: Vector[] = [
  { name: 'scope wider than the ceiling', build: () => request({ scopes: ['mcp:tool:crm:write'] }), error: 'invalid_scope', status: 400, reason: 'scope_exceeds_ceiling' },
  {
    name: 'one in-ceiling and one outside scope (refused whole, not narrowed)',
    build: () => request({ scopes: ['mcp:tool:crm:read', 'mcp:tool:billing:read'] }),
    error: 'invalid_scope',
    status: 400,
    reason: 'scope_exceeds_ceiling',
  },
  { name: 'mcp:admin is never granted to a peer', build: () => request({ scopes: ['mcp:admin'] }), setup: () => policies.set('alpha', { ...BASE_POLICY, scopeCeiling: ['*:*', 'mcp:admin'] }), error: 'invalid_scope', status: 400, reason: 'scope_exceeds_ceiling' },
  {
    name: 'scope parameter wider than the assertion',
    build: () => request({ scopes: ['mcp:tool:crm:read'], extra: { scope: 'mcp:tool:crm:read mcp:tool:quotes:write' } }),
    error: 'invalid_scope',
    status: 400,
    reason: 'scope_exceeds_assertion',
  },
  { name: 'audience of another node', build: () => request({ extra: { audience: 'https://other.mesh.test' } }), error: 'invalid_target', status: 400, reason: 'invalid_target' },
  { name: 'resource of another node', build: () => request({ extra: { resource: ['https://other.mesh.test/mcp'] } }), error: 'invalid_target', status: 400, reason: 'invalid_target' },
  {
    name: 'assertion for another audience',
    build: async () => request({ assertion: await signCallerAssertion(alice, { ...signerA, audience: 'https://other.mesh.test', scopes: ['mcp:tool:crm:read'] }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'wrong_audience',
  },
  {
    name: 'assertion for this node and another one',
    build: async () => request({ assertion: await craft(keyA, 'toolmesh-assertion+jwt', { sub: 'alice', scope: 'mcp:tool:crm:read', cred: 'oauth', groups: ['sales-reps'], aud: [B, C] }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'wrong_audience',
  },
  {
    name: 'assertion of an anonymous caller',
    build: async () => request({ assertion: await craft(keyA, 'toolmesh-assertion+jwt', { sub: 'anonymous', scope: 'mcp:tool:crm:read', cred: 'anonymous', groups: ['sales-reps'] }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'bad_claims',
  },
  {
    name: 'assertion signed by another key',
    build: async () => request({ assertion: await signCallerAssertion(alice, { ...signerA, node: keyX, scopes: ['mcp:tool:crm:read'] }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'bad_signature',
  },
  {
    name: 'actor token signed by another key',
    build: async () => request({ actor: await signActorToken({ ...signerA, node: keyX }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'bad_signature',
  },
  {
    name: 'expired assertion',
    build: async () => {
      const assertion = await signCallerAssertion(alice, { ...signerA, scopes: ['mcp:tool:crm:read'], ttlSeconds: 30, now: () => NOW - 120_000 });
      return request({ assertion });
    },
    error: 'invalid_request',
    status: 400,
    reason: 'expired',
  },
  {
    name: 'assertion issued in the future',
    build: async () => request({ assertion: await signCallerAssertion(alice, { ...signerA, scopes: ['mcp:tool:crm:read'], now: () => NOW + 600_000 }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'not_yet_valid',
  },
  {
    name: 'assertion living longer than 300 s',
    build: async () => request({ assertion: await craft(keyA, 'toolmesh-assertion+jwt', { sub: 'alice', scope: 'mcp:tool:crm:read', cred: 'oauth', groups: ['sales-reps'], exp: nowS() + 301 }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'lifetime_too_long',
  },
  {
    name: 'unknown peer',
    build: async () => {
      const x = { node: keyX, issuer: X, namespace: 'x-corp', audience: B, now };
      return request({ assertion: await signCallerAssertion(alice, { ...x, scopes: ['mcp:tool:crm:read'] }), actor: await signActorToken(x) });
    },
    error: 'invalid_client',
    status: 401,
    reason: 'unknown_peer',
  },
  {
    name: 'known peer without inbound policy',
    build: async () => {
      const c = { node: keyC, issuer: C, namespace: 'gamma-corp', audience: B, now };
      return request({ assertion: await signCallerAssertion(alice, { ...c, scopes: ['mcp:tool:crm:read'] }), actor: await signActorToken(c) });
    },
    error: 'unauthorized_client',
    status: 400,
    reason: 'peer_not_trusted',
  },
  {
    name: 'actor is another (known) peer than the assertion issuer',
    build: async () => request({ actor: await signActorToken({ node: keyC, issuer: C, namespace: 'gamma-corp', audience: B, now }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'actor_mismatch',
  },
  {
    name: 'actor token whose sub is not its issuer',
    build: async () => request({ actor: await craft(keyA, 'toolmesh-actor+jwt', { sub: 'https://someone-else.test' }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'actor_mismatch',
  },
  { name: 'client_id naming another node', build: () => request({ extra: { client_id: C } }), error: 'invalid_request', status: 400, reason: 'actor_mismatch' },
  {
    name: "assertion claiming another peer's namespace",
    build: async () => request({ assertion: await signCallerAssertion(alice, { ...signerA, namespace: 'gamma-corp', scopes: ['mcp:tool:crm:read'] }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'bad_claims',
  },
  {
    name: 'actor token presented as the subject token (typ)',
    build: async () => request({ assertion: await signActorToken(signerA) }),
    error: 'invalid_request',
    status: 400,
    reason: 'malformed_token',
  },
  {
    name: 'malformed act chain in the assertion',
    build: async () => request({ assertion: await craft(keyA, 'toolmesh-assertion+jwt', { sub: 'alice', scope: 'mcp:tool:crm:read', cred: 'oauth', groups: ['sales-reps'], act: { sub: 7 } }) }),
    error: 'invalid_request',
    status: 400,
    reason: 'bad_claims',
  },
  {
    name: 'no group of the caller is mapped',
    build: () => request({ identity: { ...alice, groups: ['unmapped-group'] } }),
    error: 'invalid_request',
    status: 400,
    reason: 'no_mapped_group',
  },
  { name: 'another grant type', build: async () => ({ ...(await request()), grant_type: 'client_credentials' }), error: 'unsupported_grant_type', status: 400, reason: 'unsupported_grant_type' },
  {
    name: 'no actor token',
    build: async () => {
      const { actor_token: _a, actor_token_type: _b, ...rest } = await request();
      return rest;
    },
    error: 'invalid_request',
    status: 400,
    reason: 'bad_request',
  },
  { name: 'subject token of another type', build: async () => ({ ...(await request()), subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), error: 'invalid_request', status: 400, reason: 'unsupported_token_type' },
  { name: 'repeated parameter', build: async () => ({ ...(await request()), scope: ['mcp:tool:crm:read', 'mcp:tool:crm:read'] }), error: 'invalid_request', status: 400, reason: 'bad_request' },
  { name: 'subject token not a JWT', build: () => request({ assertion: 'not-a-jwt' }), error: 'invalid_request', status: 400, reason: 'malformed_token' },
];

for (const [i, v] of vectors.entries()) {
  t.test(`refused: ${v.name}`, async (t) => {
    v.setup?.();
    const params = await v.build();
    const correlationId = `corr-refusal-${i}`;
    const res = await post(params, { 'X-Correlation-Id': correlationId });
    t.equal(res.status, v.status, 'HTTP status');
    const body = JSON.parse(res.text) as Record<string, unknown>;
    t.equal(body.error, v.error, 'OAuth error');
    t.same(Object.keys(body).sort(), ['error', 'error_description']);
    t.notOk(body.access_token);
    for (const token of [params.subject_token, params.actor_token].flat()) {
      if (typeof token === 'string' && token.length > 16) {
        t.notOk(res.text.includes(token), 'no token echoed');
        for (const part of token.split('.')) if (part.length > 8) t.notOk(res.text.includes(part), 'no token part echoed');
      }
    }
    t.match(decisionFor(correlationId), { outcome: 'refused', error: v.error, reason: v.reason, correlationId });
  });
}

t.test('refused: replayed jti (the same assertion twice)', async (t) => {
  const params = await request();
  t.equal((await post(params)).status, 200);
  const again = await post(params, { 'X-Correlation-Id': 'corr-replay' });
  t.equal(again.status, 400);
  t.equal(JSON.parse(again.text).error, 'invalid_request');
  t.match(decisionFor('corr-replay'), { outcome: 'refused', reason: 'replayed', subject: 'alice@a.test' });

  // A fresh actor token does not launder a used assertion.
  const withNewActor = await post({ ...params, actor_token: await signActorToken(signerA) }, { 'X-Correlation-Id': 'corr-replay-2' });
  t.equal(withNewActor.status, 400);
  t.match(decisionFor('corr-replay-2'), { reason: 'replayed' });
});

t.test('fail closed: no token when the decision cannot be audited', async (t) => {
  auditDown = true;
  const res = await post(await request(), { 'X-Correlation-Id': 'corr-audit-down' });
  t.equal(res.status, 503);
  t.same(JSON.parse(res.text), { error: 'temporarily_unavailable', error_description: 'the exchange could not be recorded' });
});

t.test('client: a refusal is trust_denied with the peer’s OAuth code; failures are not cached', async (t) => {
  const client = newClient();
  const before = requestsAtB;
  for (const scopes of [['mcp:tool:crm:write'], ['mcp:tool:crm:write']]) {
    await t.rejects(client.exchange({ peer: PEER_B, identity: alice, scopes }), { name: 'ExchangeClientError', code: 'trust_denied', status: 403, oauthError: 'invalid_scope', peerStatus: 400 });
  }
  t.equal(requestsAtB - before, 2, 'each refused exchange went to the peer');
  await t.rejects(client.exchange({ peer: { entityId: 'https://other.mesh.test', tokenEndpoint: TOKEN_ENDPOINT }, identity: alice, scopes: ['mcp:tool:crm:read'] }), {
    code: 'trust_denied',
    oauthError: 'invalid_request',
  });
});

t.test('client: network failures and timeouts are upstream_unavailable', async (t) => {
  // A port nobody listens on.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await t.rejects(newClient().exchange({ peer: { entityId: B, tokenEndpoint: `http://127.0.0.1:${port}/federation/token` }, identity: alice, scopes: ['mcp:tool:crm:read'] }), {
    code: 'upstream_unavailable',
    status: 502,
  });

  // A peer that answers 500, and one that never answers.
  const sockets = new Set<import('node:net').Socket>();
  const odd: Server = createServer((req, res) => {
    if (req.url === '/500') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
    }
    // '/hang': never answers.
  });
  odd.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => odd.close(resolve));
  });
  await t.rejects(newClient().exchange({ peer: { entityId: B, tokenEndpoint: `${base}/500` }, identity: alice, scopes: ['mcp:tool:crm:read'] }), {
    code: 'upstream_unavailable',
    oauthError: undefined,
    peerStatus: 500,
  });
  const started = Date.now();
  await t.rejects(newClient({ timeoutSeconds: 1 }).exchange({ peer: { entityId: B, tokenEndpoint: `${base}/hang` }, identity: alice, scopes: ['mcp:tool:crm:read'] }), {
    code: 'upstream_unavailable',
  });
  t.ok(Date.now() - started < 5000, 'the timeout applied');

  // Plain http is refused except on loopback when explicitly allowed.
  await t.rejects(newClient().exchange({ peer: { entityId: B, tokenEndpoint: 'http://b.mesh.test/federation/token' }, identity: alice, scopes: ['mcp:tool:crm:read'] }), {
    code: 'upstream_unavailable',
    message: /must be https/,
  });
  const strict = new TokenExchangeClient({ node: keyA, issuer: A, namespace: 'alpha-corp', now });
  await t.rejects(strict.exchange({ peer: PEER_B, identity: alice, scopes: ['mcp:tool:crm:read'] }), { code: 'upstream_unavailable', message: /must be https/ });
});

t.test('client cache: hit, refresh before expiry, single flight', async (t) => {
  const client = newClient();
  const ask = (scopes = ['mcp:tool:crm:read'], identity = alice) => client.exchange({ peer: PEER_B, identity, scopes });

  const start = requestsAtB;
  const first = await ask();
  const second = await ask();
  t.equal(requestsAtB - start, 1, 'the second call hit the cache');
  t.equal(second.cached, true);
  t.equal(second.accessToken, first.accessToken);

  // Another scope set, another caller: separate entries.
  await ask(['mcp:tool:quotes:write']);
  await ask(['mcp:tool:crm:read'], { ...alice, subject: 'bob@a.test', principal: 'oauth:https://idp.a.test#bob@a.test' });
  t.equal(requestsAtB - start, 3);

  // 30 s token: refreshed 3 s (10 %) before expiry.
  clockMs = NOW + 26_000;
  t.equal((await ask()).cached, true, 'still fresh at 26 s');
  clockMs = NOW + 27_000;
  const refreshed = await ask();
  t.equal(refreshed.cached, false, 'refreshed at 27 s');
  t.not(refreshed.accessToken, first.accessToken);
  t.equal(requestsAtB - start, 4);

  // Concurrent identical misses share one exchange.
  client.clear();
  const before = requestsAtB;
  const many = await Promise.all(Array.from({ length: 8 }, () => ask()));
  t.equal(requestsAtB - before, 1, 'one request for eight concurrent callers');
  t.equal(new Set(many.map((m) => m.accessToken)).size, 1);
  t.equal(many.filter((m) => !m.cached).length, 1);

  // Concurrent failures are shared too, and not cached.
  const beforeFail = requestsAtB;
  const fails = await Promise.allSettled(Array.from({ length: 4 }, () => ask(['mcp:tool:crm:write'])));
  t.ok(fails.every((f) => f.status === 'rejected' && f.reason instanceof ExchangeClientError && f.reason.code === 'trust_denied'));
  t.equal(requestsAtB - beforeFail, 1);
});

t.test('nothing of the original credential crosses to the peer', async (t) => {
  sentBodies.length = 0;
  const client = newClient();
  const got = await client.exchange({ peer: PEER_B, identity: alice, scopes: ['mcp:tool:crm:read'], correlationId: 'corr-proof' });
  t.equal(sentBodies.length, 1);
  const body = new URLSearchParams(sentBodies[0]);
  t.same([...new Set(body.keys())].sort(), ['actor_token', 'actor_token_type', 'audience', 'client_id', 'grant_type', 'requested_token_type', 'scope', 'subject_token', 'subject_token_type']);

  const forbidden = [ORIGINAL_TOKEN, ...ORIGINAL_TOKEN.split('.'), 'mcp:tool:alpha-hr:write', 'mcp:admin', 'claude-desktop', 'https://idp.a.test'];
  const assertion = decodeJwt(body.get('subject_token')!);
  const actor = decodeJwt(body.get('actor_token')!);
  const issued = decodeJwt(got.accessToken);
  for (const [name, text] of [
    ['request body', sentBodies[0]!],
    ['assertion claims', JSON.stringify(assertion)],
    ['actor claims', JSON.stringify(actor)],
    ['issued token', got.accessToken],
    ['issued claims', JSON.stringify(issued)],
  ] as const) {
    for (const f of forbidden) t.notOk(text.includes(f), `${name} does not contain ${f.slice(0, 24)}`);
  }
  // Exactly these claims, nothing else: a credential cannot hide in an extra one.
  t.same(Object.keys(assertion).sort(), ['aud', 'cls', 'cred', 'exp', 'groups', 'iat', 'iss', 'jti', 'ns', 'scope', 'sub']);
  t.equal(assertion.scope, 'mcp:tool:crm:read', 'only the scope of the requested tool');
  t.same(Object.keys(actor).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'ns', 'sub']);
  t.same(Object.keys(issued).sort(), ['act', 'aud', 'client_id', 'cls', 'exp', 'groups', 'iat', 'iss', 'jti', 'peer', 'peer_groups', 'scope', 'sub']);
  t.notOk(JSON.stringify(decisions).includes(body.get('subject_token')!), 'the audit event carries no token');
  t.notOk(JSON.stringify(decisions).includes(got.accessToken), 'nor the issued one');
});

t.test('verifyTranslatedToken refuses tokens it did not issue or that expired', async (t) => {
  const got = await newClient().exchange({ peer: PEER_B, identity: alice, scopes: ['mcp:tool:crm:read'] });
  const opts = { issuerKey: keyB.publicJwk, issuer: B, audience: B_RESOURCE, now };
  await t.rejects(verifyTranslatedToken(got.accessToken, { ...opts, issuerKey: keyA.publicJwk }), { code: 'bad_signature', status: 401 });
  await t.rejects(verifyTranslatedToken(got.accessToken, { ...opts, audience: `${A}/mcp` }), { code: 'bad_claims' });
  await t.rejects(verifyTranslatedToken(got.accessToken, { ...opts, issuer: A }), { code: 'bad_claims' });
  await t.rejects(verifyTranslatedToken(got.accessToken, { ...opts, now: () => NOW + 60_000 }), { code: 'expired' });
  // The assertion (signed by A, not an at+jwt) is not accepted as an access token.
  const assertion = await signCallerAssertion(alice, { ...signerA, scopes: ['mcp:tool:crm:read'] });
  await t.rejects(verifyTranslatedToken(assertion, { ...opts, issuerKey: keyA.publicJwk, issuer: A, audience: B }), { code: 'bad_claims' });
  // An at+jwt signed by B's key without an act chain (e.g. some other token) is refused.
  const plain = await new SignJWT({ client_id: A, scope: 'mcp:tool:crm:read', groups: [], peer: 'alpha', cls: 'person' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
    .setIssuer(B)
    .setSubject('x')
    .setAudience(B_RESOURCE)
    .setIssuedAt(nowS())
    .setExpirationTime(nowS() + 30)
    .setJti('j')
    .sign(keyB.privateKey);
  await t.rejects(verifyTranslatedToken(plain, opts), { code: 'bad_claims' });
});

t.test('signing side refuses what it must not assert', async (t) => {
  await t.rejects(signCallerAssertion({ ...alice, kind: 'anonymous' }, { ...signerA, scopes: ['mcp:tool:crm:read'] }), TypeError);
  await t.rejects(signCallerAssertion(alice, { ...signerA, scopes: ['mcp:tool:crm:read'], ttlSeconds: 61 }), RangeError);
  await t.rejects(signCallerAssertion({ ...alice, expiresAt: nowS() - 1 }, { ...signerA, scopes: ['mcp:tool:crm:read'] }), RangeError);
  await t.rejects(signCallerAssertion(alice, { ...signerA, scopes: ['bad scope"'] }), TypeError);
});
