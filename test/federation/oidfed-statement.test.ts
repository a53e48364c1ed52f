/**
 * Entity statements: what we sign verifies, and a table of hostile statements
 * (header, claims, keys) each refused with its expected code. The clock is
 * frozen at NOW.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, type JWTHeaderParameters } from 'jose';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import {
  buildEntityConfiguration,
  buildSubordinateStatement,
  jwksOf,
  signEntityStatement,
  verifyEntityStatement,
  verifySelfSigned,
  type FederationTrustErrorCode,
  type StatementKind,
} from '../../federation/oidfed/index.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const T = NOW / 1000;
const A = 'https://anchor.example';
const B = 'https://node-b.example';

const dirs: string[] = [];
t.teardown(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function identity(): Promise<NodeIdentity> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-oidfed-st-'));
  dirs.push(dir);
  return (await loadOrCreateIdentity(dir)).identity;
}
const [key, other] = await Promise.all([identity(), identity()]);
const jwks = jwksOf(key);

t.test('a configuration we build verifies, self-signed and against the keys a superior lists', async (t) => {
  const metadata = { toolmesh_node: { peer_id: 'p', namespace: 'sales', token_endpoint: `${B}/token`, manifest_protocol: '/toolmesh/manifest/1' } };
  const jwt = await buildEntityConfiguration(key, { entityId: B, metadata, authorityHints: [A], now: NOW, ttlSeconds: 3600 });
  const self = await verifySelfSigned(jwt, { entityId: B, now: NOW });
  t.same(self.header, { alg: 'EdDSA', kid: key.kid, typ: 'entity-statement+jwt' });
  t.same(self.claims, { iss: B, sub: B, iat: T, exp: T + 3600, jwks, metadata, authority_hints: [A] });
  await verifyEntityStatement(jwt, { keys: jwks, kind: 'configuration', issuer: B, subject: B, now: NOW });
  t.notOk(JSON.stringify(self.claims.jwks).includes('"d"'), 'no private key material published');
});

t.test('a subordinate statement we build verifies', async (t) => {
  const jwt = await buildSubordinateStatement(key, {
    issuer: A,
    subject: B,
    jwks: jwksOf(other),
    metadataPolicy: { toolmesh_node: { namespace: { value: 'mesh' } } },
    constraints: { max_path_length: 1 },
    now: NOW,
  });
  const s = await verifyEntityStatement(jwt, { keys: jwks, kind: 'subordinate', issuer: A, subject: B, now: NOW });
  t.same(s.claims.jwks, jwksOf(other));
  t.same(s.claims.constraints, { max_path_length: 1 });
});

t.test('we refuse to sign what we would refuse to accept', async (t) => {
  await t.rejects(signEntityStatement(key, { iss: A, sub: A, jwks: { keys: [] } }), { code: 'invalid_configuration' });
  await t.rejects(signEntityStatement(key, { iss: 'http://a.example', sub: 'http://a.example', jwks }), { code: 'invalid_configuration' });
  await t.rejects(signEntityStatement(key, { iss: A, sub: A, jwks: jwksOf(other) }), { code: 'invalid_configuration' }, 'own key not listed');
  await t.rejects(signEntityStatement(key, { iss: A, sub: B, jwks, authority_hints: [A] }), { code: 'invalid_configuration' });
});

// --- Hostile vectors ------------------------------------------------------
const good = { iss: B, sub: B, iat: T, exp: T + 3600, jwks, metadata: {} };
const header: JWTHeaderParameters = { alg: 'EdDSA', typ: 'entity-statement+jwt', kid: key.kid };

interface Vector {
  name: string;
  claims?: Record<string, unknown>;
  header?: Partial<JWTHeaderParameters> & Record<string, unknown>;
  signer?: NodeIdentity;
  /** A raw token instead of a signed one. */
  raw?: () => Promise<string> | string;
  kind?: StatementKind;
  options?: { issuer?: string; subject?: string; allowInsecure?: boolean };
  code: FederationTrustErrorCode | 'ok';
}

const V: Vector[] = [
  { name: 'the control', code: 'ok' },
  { name: 'typ JWT', header: { typ: 'JWT' }, code: 'invalid_statement' },
  { name: 'typ absent', header: { typ: undefined }, code: 'invalid_statement' },
  { name: 'typ with media-type prefix', header: { typ: 'application/entity-statement+jwt' }, code: 'invalid_statement' },
  { name: 'no kid', header: { kid: undefined }, code: 'invalid_statement' },
  { name: 'unknown kid', header: { kid: 'nope' }, code: 'bad_signature' },
  { name: 'signed by another key under our kid', signer: other, code: 'bad_signature' },
  { name: 'alg none', raw: () => new UnsecuredJWT(good).encode(), code: 'invalid_statement' },
  {
    name: 'HS256 with a symmetric key',
    raw: () => new SignJWT(good).setProtectedHeader({ alg: 'HS256', typ: 'entity-statement+jwt', kid: key.kid }).sign(new Uint8Array(32)),
    code: 'invalid_statement',
  },
  { name: 'not a JWT', raw: () => 'not.a.jwt', code: 'invalid_statement' },
  { name: 'oversize', raw: () => `${'a'.repeat(70_000)}.b.c`, code: 'invalid_statement' },
  { name: 'expired', claims: { iat: T - 7200, exp: T - 3600 }, code: 'expired' },
  { name: 'expired within the skew', claims: { iat: T - 7200, exp: T - 30 }, code: 'ok' },
  { name: 'issued in the future', claims: { iat: T + 600, exp: T + 3600 }, code: 'invalid_statement' },
  { name: 'no exp', claims: { exp: undefined }, code: 'invalid_statement' },
  { name: 'exp not after iat', claims: { iat: T, exp: T }, code: 'invalid_statement' },
  { name: 'fractional exp', claims: { exp: T + 3600.5 }, code: 'invalid_statement' },
  { name: 'configuration with iss ≠ sub', claims: { sub: A }, code: 'invalid_statement' },
  { name: 'subordinate with iss = sub', kind: 'subordinate', code: 'invalid_statement' },
  { name: 'subordinate with authority_hints', kind: 'subordinate', claims: { iss: A, authority_hints: [A] }, code: 'invalid_statement' },
  { name: 'configuration with metadata_policy', claims: { metadata_policy: {} }, code: 'invalid_statement' },
  { name: 'configuration with constraints', claims: { constraints: {} }, code: 'invalid_statement' },
  { name: 'authority_hints naming itself', claims: { authority_hints: [B] }, code: 'invalid_statement' },
  { name: 'authority_hints empty', claims: { authority_hints: [] }, code: 'invalid_statement' },
  { name: 'private key in jwks', claims: { jwks: { keys: [{ ...key.privateJwk, kid: key.kid }] } }, code: 'invalid_statement' },
  { name: 'empty jwks', claims: { jwks: { keys: [] } }, code: 'invalid_statement' },
  { name: 'jwks key without kid', claims: { jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x }] } }, code: 'invalid_statement' },
  { name: 'a crit claim we do not understand', claims: { crit: ['jti_policy'], jti_policy: 1 }, code: 'invalid_statement' },
  { name: 'http entity id without allowInsecure', claims: { iss: 'http://b.example', sub: 'http://b.example' }, code: 'invalid_statement' },
  { name: 'http entity id with allowInsecure', claims: { iss: 'http://b.example', sub: 'http://b.example' }, options: { allowInsecure: true }, code: 'ok' },
  { name: 'non-canonical entity id', claims: { iss: 'https://NODE-B.example:443', sub: 'https://NODE-B.example:443' }, code: 'invalid_statement' },
  { name: 'entity id with a query', claims: { iss: `${B}/?x=1`, sub: `${B}/?x=1` }, code: 'invalid_statement' },
  { name: 'entity id with a fragment', claims: { iss: `${B}#f`, sub: `${B}#f` }, code: 'invalid_statement' },
  { name: 'entity id with userinfo', claims: { iss: 'https://u@b.example', sub: 'https://u@b.example' }, code: 'invalid_statement' },
  { name: 'unexpected issuer', options: { issuer: A }, code: 'invalid_statement' },
  { name: 'unexpected subject', options: { subject: A }, code: 'invalid_statement' },
  { name: 'bad max_path_length', kind: 'subordinate', claims: { iss: A, constraints: { max_path_length: -1 } }, code: 'invalid_statement' },
];

for (const v of V) {
  t.test(v.name, async (t) => {
    const claims: Record<string, unknown> = { ...good, ...v.claims };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    const h: Record<string, unknown> = { ...header, ...v.header };
    for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
    const jwt = v.raw ? await v.raw() : await new SignJWT(claims).setProtectedHeader(h as JWTHeaderParameters).sign((v.signer ?? key).privateKey);
    const p = verifyEntityStatement(jwt, { keys: jwks, kind: v.kind ?? 'configuration', now: NOW, ...v.options });
    if (v.code === 'ok') await t.resolves(p);
    else await t.rejects(p, { name: 'FederationTrustError', code: v.code });
  });
}
