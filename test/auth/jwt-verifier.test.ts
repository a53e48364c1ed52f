/**
 * Strict access-token verification (PRODUCT.md §4) against real OpenID
 * Providers (oidc-provider on 127.0.0.1): real client-credentials and
 * authorization-code tokens, a table of hostile tokens each with its stable
 * `data.detail`, an unknown-`kid` storm with the JWKS fetches counted on the
 * IdP, the verified-token cache, and discovery failure handling.
 */
import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { GatewayError } from '../../src/gateway/errors.js';
import { JwtVerifier } from '../../src/auth/oauth/jwt-verifier.js';
import { TrustedIssuers } from '../../src/auth/oauth/issuers.js';
import type { TokenRejection } from '../../src/auth/oauth/token-errors.js';
import { b64url, CC_CLIENT, forge, GROUPS, startIdp, WEB_CLIENT, type TestIdp } from './oidc-idp.js';

const RESOURCE = 'https://gw.example.com/mcp';
const nowSec = () => Math.floor(Date.now() / 1000);
const noReq = {} as IncomingMessage;

let idp: TestIdp;
let other: TestIdp;

t.before(async () => {
  idp = await startIdp({ resource: RESOURCE });
  other = await startIdp({ resource: RESOURCE });
});
t.teardown(async () => {
  await idp?.close();
  await other?.close();
});

function trusting(...idps: TestIdp[]): TrustedIssuers {
  return new TrustedIssuers(idps.map((i) => ({ issuer: i.issuer, typ: 'at+jwt' })), { allowInsecureHttp: true });
}

/** Asserts a refusal: `invalid_token`, HTTP 401, the expected detail, no token material in the error. */
async function refused(t: Test, p: Promise<unknown>, detail: TokenRejection, token: string, name: string): Promise<void> {
  try {
    await p;
    t.fail(`${name}: accepted`);
  } catch (err) {
    if (!(err instanceof GatewayError)) {
      t.fail(`${name}: not a GatewayError: ${String(err)}`);
      return;
    }
    t.equal(err.reason, 'invalid_token', `${name}: reason`);
    t.equal(err.status, 401, `${name}: status`);
    t.equal(err.data?.detail, detail, `${name}: detail`);
    const rendered = JSON.stringify(err.toRpcError()) + err.message;
    t.notOk(token.length > 0 && rendered.includes(token.split('.')[1] ?? token), `${name}: no token material in the error`);
  }
}

/** Valid person claims for `issuer`, with overrides (`undefined` removes a claim). */
function claims(issuer: string, over: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = {
    iss: issuer,
    sub: 'alice',
    aud: RESOURCE,
    iat: nowSec(),
    exp: nowSec() + 300,
    client_id: WEB_CLIENT.id,
    scope: 'mcp:tool:a:read',
    jti: Math.random().toString(36).slice(2),
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base as JWTPayload;
}

t.test('real tokens from the IdP map to identities', async (t) => {
  const verifier = new JwtVerifier(trusting(idp), { audience: RESOURCE });

  const cc = await idp.clientCredentialsToken('mcp:tool:a:read mcp:tool:b:read');
  const agent = await verifier.verify(cc);
  t.match(agent, {
    kind: 'oauth',
    subject: CC_CLIENT.id,
    issuer: idp.issuer,
    clientId: CC_CLIENT.id,
    class: 'agent',
    principal: `agent:oauth:${idp.issuer}#${CC_CLIENT.id}`,
  });
  t.same(agent.scopes, ['mcp:tool:a:read', 'mcp:tool:b:read']);
  t.same(agent.groups, []);
  t.type(agent.expiresAt, 'number');
  t.ok(agent.expiresAt! > nowSec(), 'expiresAt is the token exp');
  t.ok(Object.isFrozen(agent) && Object.isFrozen(agent.scopes), 'the shared identity is frozen');

  const { accessToken } = await idp.authorizationCode('alice');
  const person = await verifier.verify(accessToken);
  t.match(person, {
    kind: 'oauth',
    subject: 'alice',
    issuer: idp.issuer,
    clientId: WEB_CLIENT.id,
    class: 'person',
    principal: `oauth:${idp.issuer}#alice`,
  });
  t.same(person.groups, GROUPS);
  t.same(person.scopes, ['mcp:tool:a:read']);
  t.notOk('tenant' in person, 'OAuth people carry no tenant');

  t.equal(await verifier.authenticate(noReq, {}), undefined, 'no bearer: not this authenticator\'s');
  t.equal(await verifier.authenticate(noReq, { bearer: 'tm_acme.k1.secret' }), undefined, 'API keys are not JWTs');
  t.same(await verifier.authenticate(noReq, { bearer: cc }), agent, 'a bearer JWT is verified');
});

t.test('identity mapping: configured claims, scp, azp', async (t) => {
  const issuers = new TrustedIssuers(
    [{ issuer: idp.issuer, typ: 'at+jwt', groupsClaim: 'roles' }],
    { allowInsecureHttp: true },
  );
  const verifier = new JwtVerifier(issuers, { audience: RESOURCE });
  const token = await idp.sign(claims(idp.issuer, {
    client_id: undefined, azp: 'spa', scope: undefined, scp: ['x:read', 'y:write', 'x:read'], roles: ['admins'], groups: ['ignored'],
  }));
  const id = await verifier.verify(token);
  t.equal(id.clientId, 'spa', 'azp when there is no client_id');
  t.same(id.scopes, ['x:read', 'y:write'], 'scp array, deduplicated');
  t.same(id.groups, ['admins'], 'groups from the configured claim');
  t.equal(id.class, 'person');

  const noClient = await verifier.verify(await idp.sign(claims(idp.issuer, { client_id: undefined, scope: 'a b' })));
  t.equal(noClient.clientId, undefined);
  t.equal(noClient.class, 'person', 'no client id: a person');

  await refused(t, verifier.verify(await idp.sign(claims(idp.issuer, { roles: 'admins' }))), 'claims_invalid', '', 'groups not an array');
  await refused(t, verifier.verify(await idp.sign(claims(idp.issuer, { scope: 42 }))), 'claims_invalid', '', 'scope not a string');
  await refused(t, verifier.verify(await idp.sign(claims(idp.issuer, { sub: 7 }))), 'claims_invalid', '', 'sub not a string');
});

t.test('hostile tokens are refused with a stable detail', async (t) => {
  const verifier = new JwtVerifier(trusting(idp), { audience: RESOURCE });
  const attacker = await generateKeyPair('ES256', { extractable: true });
  const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: idp.kid };
  const idpHeader = { alg: 'ES256', kid: idp.kid, typ: 'at+jwt' };
  const spki = await exportSPKI(await importJWK(idp.publicJwk, 'ES256') as CryptoKey);
  const hs256 = (secret: string | Buffer, payload: JWTPayload) => {
    const input = `${b64url({ alg: 'HS256', kid: idp.kid, typ: 'at+jwt' })}.${b64url(payload)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const real = await idp.clientCredentialsToken();
  const [h, p, s] = real.split('.');
  const tamperedPayload = b64url({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'mcp:admin' });
  const { idToken } = await idp.authorizationCode('mallory');

  // Each vector: how it is made, and the one detail it must be refused with.
  const vectors: { name: string; detail: TokenRejection; make: () => Promise<string> | string }[] = [
    { name: 'alg none', detail: 'alg_none', make: () => `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(claims(idp.issuer))}.` },
    { name: 'alg NONE (case)', detail: 'alg_none', make: () => `${b64url({ alg: 'NONE' })}.${b64url(claims(idp.issuer))}.` },
    { name: 'HS256 keyed with the IdP public key (PEM)', detail: 'alg_hmac', make: () => hs256(spki, claims(idp.issuer)) },
    { name: 'HS256 keyed with the IdP public JWK', detail: 'alg_hmac', make: () => hs256(JSON.stringify(idp.publicJwk), claims(idp.issuer)) },
    { name: 'embedded jwk (attacker key)', detail: 'embedded_key', make: () => forge(attacker.privateKey, { ...idpHeader, jwk: attackerJwk }, claims(idp.issuer)) },
    { name: 'jku header', detail: 'embedded_key', make: () => forge(attacker.privateKey, { ...idpHeader, jku: 'https://attacker.example/jwks' }, claims(idp.issuer)) },
    { name: 'x5u header', detail: 'embedded_key', make: () => forge(attacker.privateKey, { ...idpHeader, x5u: 'https://attacker.example/cert' }, claims(idp.issuer)) },
    { name: 'x5c header', detail: 'embedded_key', make: () => forge(attacker.privateKey, { ...idpHeader, x5c: ['MIIB'] }, claims(idp.issuer)) },
    { name: 'unknown crit (signed by the IdP key)', detail: 'crit_unsupported', make: () => forge(idp.privateKey, { ...idpHeader, crit: ['urn:x:ext'], 'urn:x:ext': 1 }, claims(idp.issuer)) },
    { name: 'wrong aud', detail: 'aud_invalid', make: () => idp.sign(claims(idp.issuer, { aud: 'https://other.example.com/mcp' })) },
    { name: 'aud array without us', detail: 'aud_invalid', make: () => idp.sign(claims(idp.issuer, { aud: ['https://a.example', 'https://b.example'] })) },
    { name: 'missing aud', detail: 'aud_missing', make: () => idp.sign(claims(idp.issuer, { aud: undefined })) },
    { name: 'missing exp', detail: 'exp_missing', make: () => idp.sign(claims(idp.issuer, { exp: undefined })) },
    { name: 'missing iat', detail: 'iat_missing', make: () => idp.sign(claims(idp.issuer, { iat: undefined })) },
    { name: 'missing sub', detail: 'sub_missing', make: () => idp.sign(claims(idp.issuer, { sub: undefined })) },
    { name: 'expired beyond the skew', detail: 'expired', make: () => idp.sign(claims(idp.issuer, { iat: nowSec() - 600, exp: nowSec() - 31 })) },
    { name: 'nbf in the future', detail: 'not_yet_valid', make: () => idp.sign(claims(idp.issuer, { nbf: nowSec() + 120 })) },
    { name: 'iat in the future', detail: 'iat_invalid', make: () => idp.sign(claims(idp.issuer, { iat: nowSec() + 120 })) },
    { name: 'real ID token (authorization code flow)', detail: 'not_access_token', make: () => idToken },
    { name: 'forged ID token (nonce, aud = client_id)', detail: 'not_access_token', make: () => idp.sign(claims(idp.issuer, { nonce: 'n-0S6', aud: WEB_CLIENT.id }), { typ: 'JWT' }) },
    { name: 'typ JWT where the issuer declares at+jwt', detail: 'not_access_token', make: () => idp.sign(claims(idp.issuer), { typ: 'JWT' }) },
    { name: 'typ of another JWT kind', detail: 'typ_invalid', make: () => idp.sign(claims(idp.issuer), { typ: 'dpop+jwt' }) },
    { name: 'no typ where at+jwt is declared', detail: 'typ_invalid', make: () => idp.sign(claims(idp.issuer), { typ: undefined }) },
    { name: 'untrusted issuer (another real IdP)', detail: 'untrusted_issuer', make: () => other.clientCredentialsToken() },
    { name: 'no iss', detail: 'untrusted_issuer', make: () => idp.sign(claims(idp.issuer, { iss: undefined })) },
    { name: 'iss of a trusted issuer with a trailing slash', detail: 'untrusted_issuer', make: () => idp.sign(claims(`${idp.issuer}/`)) },
    { name: 'tampered payload', detail: 'signature_invalid', make: () => `${h}.${tamperedPayload}.${s}` },
    { name: 'attacker key, IdP kid', detail: 'signature_invalid', make: () => forge(attacker.privateKey, idpHeader, claims(idp.issuer)) },
    { name: 'truncated signature', detail: 'signature_invalid', make: () => real.slice(0, -10) },
    { name: 'two segments', detail: 'malformed', make: () => `${h}.${p}` },
    { name: 'four segments', detail: 'malformed', make: () => `${real}.${s}` },
    { name: 'JWE-like five segments', detail: 'malformed', make: () => `${h}.${p}.${s}.${s}.${s}` },
    { name: 'not base64url', detail: 'malformed', make: () => `${h}.${p}+/.${s}` },
    { name: 'header not JSON', detail: 'malformed', make: () => `${b64url('not json')}.${p}.${s}` },
    { name: 'payload not JSON', detail: 'malformed', make: () => `${h}.${b64url('[1,2')}.${s}` },
    { name: 'oversized', detail: 'malformed', make: () => `${h}.${'A'.repeat(20_000)}.${s}` },
    { name: 'empty', detail: 'malformed', make: () => '' },
  ];

  for (const v of vectors) {
    const token = await v.make();
    await refused(t, verifier.verify(token), v.detail, token, v.name);
  }

  // Controls: the forging helpers make tokens the verifier accepts when nothing is wrong.
  t.equal((await verifier.verify(await idp.sign(claims(idp.issuer)))).subject, 'alice', 'control: a well-formed forged token is accepted');
  t.equal(
    (await verifier.verify(await idp.sign(claims(idp.issuer, { iat: nowSec() - 600, exp: nowSec() - 10 })))).subject,
    'alice',
    'control: expired within the skew is accepted',
  );
  t.equal((await verifier.verify(await idp.sign(claims(idp.issuer, { nbf: nowSec() + 10 })))).subject, 'alice', 'control: nbf within the skew');
});

t.test('algorithm allow-list and audience per issuer', async (t) => {
  const rsaOnly = new JwtVerifier(
    new TrustedIssuers([{ issuer: idp.issuer, algorithms: ['RS256'] }], { allowInsecureHttp: true }),
    { audience: RESOURCE },
  );
  const token = await idp.clientCredentialsToken();
  await refused(t, rsaOnly.verify(token), 'alg_not_allowed', token, 'ES256 where the issuer allows RS256 only');

  const elsewhere = new JwtVerifier(trusting(idp), { audience: 'https://other-gateway.example.com/mcp' });
  await refused(t, elsewhere.verify(token), 'aud_invalid', token, 'a real token for another resource');

  const ownAudience = new JwtVerifier(
    new TrustedIssuers([{ issuer: idp.issuer, audience: 'api://toolmesh' }], { allowInsecureHttp: true }),
    { audience: RESOURCE },
  );
  await refused(t, ownAudience.verify(token), 'aud_invalid', token, 'the issuer\'s configured audience replaces the resource URI');
  t.equal((await ownAudience.verify(await idp.sign(claims(idp.issuer, { aud: 'api://toolmesh' })))).subject, 'alice');

  t.throws(() => new TrustedIssuers([{ issuer: idp.issuer, algorithms: ['HS256'] }], { allowInsecureHttp: true }), /issuers\[0\]\.algorithms\[0\]/);
  t.throws(() => new TrustedIssuers([{ issuer: idp.issuer, algorithms: ['none'] }], { allowInsecureHttp: true }), /not an accepted/);
});

t.test('another IdP: refused until trusted, then accepted', async (t) => {
  const token = await other.clientCredentialsToken();
  await refused(t, new JwtVerifier(trusting(idp), { audience: RESOURCE }).verify(token), 'untrusted_issuer', token, 'not trusted');
  const both = new JwtVerifier(trusting(idp, other), { audience: RESOURCE });
  const id = await both.verify(token);
  t.equal(id.issuer, other.issuer);
  t.equal(id.principal, `agent:oauth:${other.issuer}#${CC_CLIENT.id}`, 'same client id, other issuer: another principal');
  t.equal((await both.verify(await idp.clientCredentialsToken())).issuer, idp.issuer);

  // A token signed by the other IdP's key but claiming our IdP as issuer.
  const swapped = await other.sign(claims(idp.issuer), { kid: idp.kid });
  await refused(t, both.verify(swapped), 'signature_invalid', swapped, 'keys are chosen by the issuer, not by kid alone');
});

t.test('unknown-kid storm: bounded JWKS fetches', async (t) => {
  const issuers = trusting(idp); // default cooldown 30 s
  const verifier = new JwtVerifier(issuers, { audience: RESOURCE });
  const attacker = await generateKeyPair('ES256', { extractable: true });
  const before = idp.jwksFetches();
  const storm = await Promise.all(
    Array.from({ length: 200 }, () =>
      forge(attacker.privateKey, { alg: 'ES256', typ: 'at+jwt', kid: `kid-${Math.random().toString(36).slice(2)}` }, claims(idp.issuer))),
  );
  const results = await Promise.allSettled(storm.map((tok) => verifier.verify(tok)));
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as GatewayError).data?.detail === 'key_not_found'), 'all 200 refused: key_not_found');
  const fetched = idp.jwksFetches() - before;
  t.ok(fetched >= 1 && fetched <= 2, `JWKS fetched ${fetched} time(s) for 200 unknown kids (≤ 2: first load, at most one refetch)`);
  t.equal((await verifier.verify(await idp.clientCredentialsToken())).class, 'agent', 'good tokens still pass after the storm');

  // With a short cooldown, a sustained storm refetches at most once per cooldown.
  const cooldownMs = 200;
  const fast = new JwtVerifier(
    new TrustedIssuers([{ issuer: idp.issuer }], { allowInsecureHttp: true, jwksCooldownMs: cooldownMs }),
    { audience: RESOURCE },
  );
  const start = Date.now();
  const fastBefore = idp.jwksFetches();
  while (Date.now() - start < 1_000) {
    const batch = await Promise.all(Array.from({ length: 20 }, () =>
      forge(attacker.privateKey, { alg: 'ES256', kid: `kid-${Math.random()}` }, claims(idp.issuer))));
    await Promise.allSettled(batch.map((tok) => fast.verify(tok)));
    await new Promise((r) => setTimeout(r, 20));
  }
  const elapsed = Date.now() - start;
  const fastFetched = idp.jwksFetches() - fastBefore;
  const bound = 1 + Math.ceil(elapsed / cooldownMs);
  t.ok(fastFetched <= bound, `sustained storm over ${elapsed} ms: ${fastFetched} fetches (bound ${bound})`);
});

t.test('verified tokens are cached until exp; failures are not', async (t) => {
  const remote = trusting(idp);
  let keyCalls = 0;
  const counting: JWTVerifyGetKey = async (header, token) => {
    keyCalls++;
    return (await remote.keys(idp.issuer))(header, token);
  };
  const issuers = new TrustedIssuers([], { allowInsecureHttp: true });
  issuers.addLocal(idp.issuer, counting, { typ: 'at+jwt' });
  let now = Date.now();
  const verifier = new JwtVerifier(issuers, { audience: RESOURCE, now: () => now, clockSkewSeconds: 30 });

  const token = await idp.clientCredentialsToken();
  const first = await verifier.verify(token);
  let same = 0;
  for (let i = 0; i < 999; i++) if ((await verifier.verify(token)) === first) same++;
  t.equal(same, 999, 'the cached identity is returned');
  t.equal(keyCalls, 1, '1000 sequential verifications: jose ran once');

  const fresh = await idp.clientCredentialsToken('mcp:tool:b:read');
  keyCalls = 0;
  const all = await Promise.all(Array.from({ length: 1000 }, () => verifier.verify(fresh)));
  t.equal(keyCalls, 1, '1000 concurrent verifications: jose ran once');
  t.ok(all.every((id) => id === all[0]));

  const bad = `${token.slice(0, -4)}AAAA`;
  keyCalls = 0;
  for (let i = 0; i < 3; i++) await refused(t, verifier.verify(bad), 'signature_invalid', bad, `bad token, attempt ${i + 1}`);
  t.equal(keyCalls, 3, 'failures are not cached');

  // A short-lived token: served from the cache until exp, never after.
  const shortExp = Math.floor(now / 1000) + 60;
  const short = await idp.sign(claims(idp.issuer, { iat: Math.floor(now / 1000), exp: shortExp }));
  await verifier.verify(short);
  keyCalls = 0;
  now = shortExp * 1000 - 1;
  await verifier.verify(short);
  t.equal(keyCalls, 0, 'served from the cache just before exp');
  now = shortExp * 1000;
  await verifier.verify(short);
  t.equal(keyCalls, 1, 'at exp the cache no longer answers (re-verified, within the skew)');
  now = (shortExp + 31) * 1000;
  await refused(t, verifier.verify(short), 'expired', short, 'past exp + skew');

  // Bounded: a tiny cache evicts the least recently used entry.
  const tiny = new JwtVerifier(issuers, { audience: RESOURCE, cacheMaxEntries: 2 });
  now = Date.now();
  const [a, b, c] = await Promise.all([1, 2, 3].map((i) => idp.sign(claims(idp.issuer, { sub: `user-${i}` }))));
  await tiny.verify(a!);
  await tiny.verify(b!);
  await tiny.verify(a!); // a is now the most recent
  await tiny.verify(c!); // evicts b
  keyCalls = 0;
  await tiny.verify(a!);
  await tiny.verify(c!);
  t.equal(keyCalls, 0, 'recent entries kept');
  await tiny.verify(b!);
  t.equal(keyCalls, 1, 'the least recently used entry was evicted');
});

t.test('rejections carry the 401 challenge when configured', async (t) => {
  const metadataUrl = 'https://gw.example.com/.well-known/oauth-protected-resource/mcp';
  const verifier = new JwtVerifier(trusting(idp), { audience: RESOURCE, resourceMetadataUrl: metadataUrl });
  const err = await verifier.verify('a.b.c').then(() => undefined, (e: unknown) => e);
  if (!(err instanceof GatewayError)) throw new Error('expected a GatewayError');
  t.match(err.headers?.['WWW-Authenticate'], /^Bearer resource_metadata="https:\/\/gw\.example\.com\/\.well-known\/oauth-protected-resource\/mcp", error="invalid_token", error_description="/);
  t.equal(err.data?.detail, 'malformed');
});

t.test('discovery: exact issuer match, failures retried at most once per cooldown', async (t) => {
  let requests = 0;
  let mode: 'fail' | 'wrong-issuer' | 'jwks-fails' = 'fail';
  const server = createServer((req, res) => {
    requests++;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (mode === 'fail') {
      res.writeHead(500).end();
    } else if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: mode === 'wrong-issuer' ? idp.issuer : base, jwks_uri: `${base}/jwks` }));
    } else {
      res.writeHead(503).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const attacker = await generateKeyPair('ES256');
  const tokens = await Promise.all(Array.from({ length: 50 }, () => forge(attacker.privateKey, { alg: 'ES256', kid: 'k' }, claims(issuer))));
  const make = (cooldown: number) =>
    new JwtVerifier(new TrustedIssuers([{ issuer }], { allowInsecureHttp: true, jwksCooldownMs: cooldown }), { audience: RESOURCE });

  let verifier = make(300);
  for (const tok of tokens) await refused(t, verifier.verify(tok), 'issuer_unavailable', tok, 'discovery fails');
  t.equal(requests, 2, 'one discovery attempt (OIDC, then RFC 8414) for 50 tokens');
  await new Promise((r) => setTimeout(r, 350));
  await refused(t, verifier.verify(tokens[0]!), 'issuer_unavailable', tokens[0]!, 'after the cooldown');
  t.equal(requests, 4, 'retried once after the cooldown');

  mode = 'wrong-issuer';
  requests = 0;
  verifier = make(300);
  await refused(t, verifier.verify(tokens[0]!), 'issuer_unavailable', tokens[0]!, 'discovery document names another issuer');
  t.equal(requests, 1, 'a mismatching document is not a reason to try the next location');

  mode = 'jwks-fails';
  requests = 0;
  verifier = make(300);
  for (const tok of tokens) await refused(t, verifier.verify(tok), 'issuer_unavailable', tok, 'JWKS fetch fails');
  t.equal(requests, 2, 'one discovery and one JWKS fetch for 50 tokens');

  t.throws(() => new TrustedIssuers([{ issuer }]), /issuers\[0\]\.issuer: .* must use https/, 'http issuers need allowInsecureHttp');
  t.throws(() => new TrustedIssuers([{ issuer: 'https://a.example' }, { issuer: 'https://a.example' }]), /issuers\[1\]\.issuer: .*already trusted/);
  t.throws(() => new TrustedIssuers([{ issuer: 'not a url' }]), /issuers\[0\]\.issuer/);
  t.throws(() => new TrustedIssuers([{ issuer: 'https://a.example', typ: '' }]), /issuers\[0\]\.typ/);
});

t.test('discovery falls back to RFC 8414 metadata', async (t) => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/.well-known/oauth-authorization-server/tenant-a') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: `${base}/tenant-a`, jwks_uri: `${idp.issuer}/jwks` }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tenant-a`;
  const verifier = new JwtVerifier(new TrustedIssuers([{ issuer }], { allowInsecureHttp: true }), { audience: RESOURCE });
  // Signed with the (real) key set the RFC 8414 document points at.
  const id = await verifier.verify(await idp.sign(claims(issuer)));
  t.equal(id.issuer, issuer);
  t.same(hits, ['/tenant-a/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/tenant-a']);
});

t.test('JWKS outage after a good load: no refetch per cooldown, the last good set still serves', async (t) => {
  let jwksUp = true;
  let jwksFetches = 0;
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
    } else if (req.url === '/jwks') {
      jwksFetches++;
      if (jwksUp) res.end(JSON.stringify({ keys: [idp.publicJwk] }));
      else res.writeHead(503).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cooldownMs = 1_000;
  const verifier = new JwtVerifier(
    new TrustedIssuers([{ issuer }], { allowInsecureHttp: true, jwksCooldownMs: cooldownMs }),
    { audience: RESOURCE, cacheMaxEntries: 0 },
  );
  const good = await idp.sign(claims(issuer));
  t.equal((await verifier.verify(good)).issuer, issuer);
  t.equal(jwksFetches, 1);

  jwksUp = false;
  await new Promise((r) => setTimeout(r, cooldownMs + 50));
  const attacker = await generateKeyPair('ES256');
  const storm = await Promise.all(Array.from({ length: 100 }, () =>
    forge(attacker.privateKey, { alg: 'ES256', kid: `kid-${Math.random()}` }, claims(issuer))));
  const details = new Set<unknown>();
  for (const tok of storm) {
    const err = await verifier.verify(tok).then(() => undefined, (e: unknown) => e);
    details.add(err instanceof GatewayError ? err.data?.detail : err);
  }
  t.same([...details].sort(), ['issuer_unavailable', 'key_not_found'], 'the failing refetch, then unknown kids against the last good set');
  t.equal(jwksFetches, 2, 'one failed refetch for 100 unknown kids during the outage');
  t.equal((await verifier.verify(good)).issuer, issuer, 'known keys keep working during the outage (cache disabled: really re-verified)');
  t.equal(jwksFetches, 2);
});
