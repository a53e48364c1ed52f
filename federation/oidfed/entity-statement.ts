/**
 * Entity statements (OpenID Federation 1.0 §3): signing with the node's
 * Ed25519 identity and strict verification.
 *
 * Verification rules, in order:
 * 1. a compact JWS of at most MAX_STATEMENT_BYTES;
 * 2. header `typ` exactly `entity-statement+jwt`, a `kid`, an allowed `alg`;
 * 3. the signature verifies with the key of that `kid` in the key set the
 *    caller names (the superior's statement, or the pinned anchor keys —
 *    never a key set the statement itself supplies, unless the caller asks
 *    for a self-signature check);
 * 4. `exp` in the future and `iat` not in the future, both within the skew;
 * 5. claim shapes (`statement-claims.ts`), then the issuer/subject expected.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWK } from 'jose';
import type { NodeIdentity } from '../../src/node/identity.js';
import { FederationTrustError, type FederationTrustErrorCode, type FederationTrustErrorDetails } from './errors.js';
import { claimsProblem, jwksProblem, type StatementKind } from './statement-claims.js';
import {
  ENTITY_STATEMENT_TYP,
  type Constraints,
  type EntityMetadata,
  type EntityStatementClaims,
  type Jwks,
  type MetadataPolicy,
  type VerifiedEntityStatement,
} from './types.js';

/** Largest statement accepted or produced. */
export const MAX_STATEMENT_BYTES = 64 * 1024;
/** Default clock skew tolerated on `exp` and `iat`. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Signature algorithms accepted by default: ours (EdDSA) and the spec's common ones for partner anchors. */
export const DEFAULT_ALGORITHMS: readonly string[] = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256'];

/** What signs statements: a node identity, or a standalone anchor key of the same shape. */
export type StatementSigner = Pick<NodeIdentity, 'kid' | 'privateKey' | 'publicJwk'>;

/**
 * The public key set of one or more signers, as published in `jwks`.
 *
 * @example
 * ```ts
 * import { jwksOf } from './entity-statement.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const identity: NodeIdentity;
 * const jwks = jwksOf(identity); // { keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }] }
 * ```
 */
export function jwksOf(...signers: Pick<NodeIdentity, 'kid' | 'publicJwk'>[]): Jwks {
  return {
    keys: signers.map((s) => {
      const { d: _d, ...pub } = s.publicJwk as JWK & { d?: string };
      return { ...pub, kid: s.kid, alg: 'EdDSA', use: 'sig' };
    }),
  };
}

/** The claims a caller provides; `iat`/`exp` come from `now` and `ttlSeconds`. */
export interface EntityStatementInput
  extends Pick<EntityStatementClaims, 'iss' | 'sub' | 'jwks' | 'metadata' | 'authority_hints' | 'metadata_policy' | 'metadata_policy_crit' | 'constraints'> {
  /** Lifetime; default 86,400 s. */
  ttlSeconds?: number;
  /** Milliseconds since the epoch; default `Date.now()`. */
  now?: number;
  /** Accept `http:` entity ids (loopback tests only). */
  allowInsecure?: boolean;
}

/**
 * Sign an entity statement. The claims are checked with the rules verifiers
 * apply, so an invalid statement is never emitted (`invalid_configuration`).
 *
 * @example
 * ```ts
 * import { signEntityStatement, jwksOf } from './entity-statement.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const identity: NodeIdentity;
 * const jwt = await signEntityStatement(identity, {
 *   iss: 'https://a.example', sub: 'https://a.example', jwks: jwksOf(identity), metadata: {},
 * });
 * ```
 */
export async function signEntityStatement(signer: StatementSigner, input: EntityStatementInput): Promise<string> {
  const { ttlSeconds = 86_400, now = Date.now(), allowInsecure = false, ...rest } = input;
  const iat = Math.floor(now / 1000);
  const claims: EntityStatementClaims = { ...rest, iat, exp: iat + Math.floor(ttlSeconds) };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  const kind: StatementKind = claims.iss === claims.sub ? 'configuration' : 'subordinate';
  const problem = claimsProblem(claims, kind, allowInsecure);
  if (problem !== undefined) throw new FederationTrustError('invalid_configuration', `refusing to sign: ${problem}`, { entityId: claims.iss });
  if (!claims.jwks.keys.some((k) => k.kid === signer.kid) && kind === 'configuration') {
    throw new FederationTrustError('invalid_configuration', 'an entity configuration must list its signing key in jwks', { entityId: claims.iss });
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: ENTITY_STATEMENT_TYP, kid: signer.kid })
    .sign(signer.privateKey);
}

/** What a node says about itself. */
export interface EntityConfigurationInput {
  entityId: string;
  metadata: EntityMetadata;
  /** Superiors; absent for a trust anchor. */
  authorityHints?: string[];
  /** Extra public keys to publish (key rollover); the signer's key is always published. */
  extraKeys?: Jwks;
  ttlSeconds?: number;
  now?: number;
  allowInsecure?: boolean;
}

/**
 * Sign this node's entity configuration (iss = sub = entity id).
 *
 * @example
 * ```ts
 * import { buildEntityConfiguration } from './entity-statement.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const identity: NodeIdentity;
 * const ec = await buildEntityConfiguration(identity, {
 *   entityId: 'https://node-a.example',
 *   authorityHints: ['https://anchor.example'],
 *   metadata: { toolmesh_node: { peer_id: '12D3Koo…', namespace: 'sales', token_endpoint: 'https://node-a.example/token', manifest_protocol: '/toolmesh/manifest/1' } },
 * });
 * ```
 */
export function buildEntityConfiguration(signer: StatementSigner, input: EntityConfigurationInput): Promise<string> {
  const jwks = jwksOf(signer);
  for (const k of input.extraKeys?.keys ?? []) if (k.kid !== signer.kid) jwks.keys.push(k);
  return signEntityStatement(signer, {
    iss: input.entityId,
    sub: input.entityId,
    jwks,
    metadata: input.metadata,
    ...(input.authorityHints?.length ? { authority_hints: input.authorityHints } : {}),
    ...pick(input, ['ttlSeconds', 'now', 'allowInsecure']),
  });
}

/** What a superior says about one subordinate. */
export interface SubordinateStatementInput {
  issuer: string;
  subject: string;
  /** The subordinate's keys, as the superior registered them (not as the subordinate publishes them). */
  jwks: Jwks;
  metadataPolicy?: MetadataPolicy;
  metadataPolicyCrit?: string[];
  constraints?: Constraints;
  /** Metadata the superior asserts, overriding the subordinate's own parameters. */
  metadata?: EntityMetadata;
  ttlSeconds?: number;
  now?: number;
  allowInsecure?: boolean;
}

/** Sign a subordinate statement (iss = the superior, sub = the subordinate). */
export function buildSubordinateStatement(signer: StatementSigner, input: SubordinateStatementInput): Promise<string> {
  return signEntityStatement(signer, {
    iss: input.issuer,
    sub: input.subject,
    jwks: input.jwks,
    ...(input.metadataPolicy ? { metadata_policy: input.metadataPolicy } : {}),
    ...(input.metadataPolicyCrit ? { metadata_policy_crit: input.metadataPolicyCrit } : {}),
    ...(input.constraints ? { constraints: input.constraints } : {}),
    ...(input.metadata ? { metadata: input.metadata } : {}),
    ...pick(input, ['ttlSeconds', 'now', 'allowInsecure']),
  });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Options of `verifyEntityStatement`. */
export interface VerifyStatementOptions {
  /** The keys the statement must be signed with. */
  keys: Jwks;
  /** Which kind of statement is expected. */
  kind: StatementKind;
  /** When set, `iss` must equal it. */
  issuer?: string;
  /** When set, `sub` must equal it. */
  subject?: string;
  /** Milliseconds since the epoch; default `Date.now()`. */
  now?: number;
  clockSkewSeconds?: number;
  algorithms?: readonly string[];
  allowInsecure?: boolean;
}

function fail(code: FederationTrustErrorCode, message: string, details: FederationTrustErrorDetails = {}, cause?: unknown): never {
  throw new FederationTrustError(code, message, details, cause === undefined ? undefined : { cause });
}

/** The claims of a statement, unverified: only to pick the key set and route errors. */
export function peekEntityStatement(jwt: unknown): { iss?: unknown; sub?: unknown; jwks?: unknown; authority_hints?: unknown } {
  if (typeof jwt !== 'string' || jwt.length > MAX_STATEMENT_BYTES) fail('invalid_statement', 'not a compact JWS of acceptable size');
  try {
    return decodeJwt(jwt);
  } catch (err) {
    return fail('invalid_statement', 'not a decodable JWT', {}, err);
  }
}

function mapJoseError(err: unknown, who: FederationTrustErrorDetails, what: string): never {
  if (err instanceof errors.JWTExpired) fail('expired', `${what} has expired`, who, err);
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    fail('bad_signature', `${what} is not signed with any of the expected keys`, who, err);
  }
  if (err instanceof errors.JOSEError) fail('invalid_statement', `${what} refused: ${err.message}`, who, err);
  throw err;
}

/**
 * Verify an entity statement's signature with `options.keys`, then its claims.
 *
 * @example
 * ```ts
 * import { verifyEntityStatement } from './entity-statement.js';
 * import type { Jwks } from './types.js';
 * declare const jwt: string; declare const superiorKeys: Jwks;
 * const stmt = await verifyEntityStatement(jwt, { keys: superiorKeys, kind: 'subordinate', subject: 'https://leaf.example' });
 * ```
 */
export async function verifyEntityStatement(jwt: string, options: VerifyStatementOptions): Promise<VerifiedEntityStatement> {
  const peeked = peekEntityStatement(jwt);
  const iss = typeof peeked.iss === 'string' ? peeked.iss : undefined;
  const subject = typeof peeked.sub === 'string' ? peeked.sub : undefined;
  const configuration = iss !== undefined && iss === subject;
  const what = iss === undefined ? 'statement' : configuration ? `configuration of ${iss}` : `statement of ${iss} about ${String(subject)}`;
  // The entity at fault: the signer of a configuration, the issuer of a subordinate statement.
  const who: FederationTrustErrorDetails = iss === undefined ? {} : configuration || subject === undefined ? { entityId: iss } : { entityId: iss, issuer: iss, subject };
  const { algorithms = DEFAULT_ALGORITHMS, clockSkewSeconds = DEFAULT_CLOCK_SKEW_SECONDS, now = Date.now() } = options;
  let header;
  try {
    header = decodeProtectedHeader(jwt);
  } catch (err) {
    return fail('invalid_statement', 'unreadable protected header', who, err);
  }
  // jose normalises `application/` away when comparing typ; the spec names one exact value.
  if (header.typ !== ENTITY_STATEMENT_TYP) fail('invalid_statement', `header typ must be ${ENTITY_STATEMENT_TYP}`, who);
  if (typeof header.kid !== 'string' || header.kid === '') fail('invalid_statement', 'header must carry a kid', who);
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) fail('invalid_statement', `alg ${String(header.alg)} is not allowed`, who);
  const kp = jwksProblem(options.keys);
  if (kp !== undefined) fail('invalid_statement', `verification key set refused: ${kp}`, who);

  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(jwt, createLocalJWKSet(options.keys as Parameters<typeof createLocalJWKSet>[0]), {
      algorithms: [...algorithms],
      typ: ENTITY_STATEMENT_TYP,
      currentDate: new Date(now),
      clockTolerance: clockSkewSeconds,
      requiredClaims: ['iss', 'sub', 'iat', 'exp'],
    }));
  } catch (err) {
    mapJoseError(err, who, what);
  }
  const problem = claimsProblem(payload, options.kind, options.allowInsecure);
  if (problem !== undefined) fail('invalid_statement', `${what}: ${problem}`, who);
  const claims = payload as EntityStatementClaims;
  if (claims.iat > Math.floor(now / 1000) + clockSkewSeconds) fail('invalid_statement', `${what} is issued in the future`, who);
  if (options.issuer !== undefined && claims.iss !== options.issuer) {
    fail('invalid_statement', `iss ${claims.iss} is not the expected ${options.issuer}`, who);
  }
  if (options.subject !== undefined && claims.sub !== options.subject) {
    fail('invalid_statement', `sub ${claims.sub} is not the expected ${options.subject}`, who);
  }
  return { jwt, header: { alg: header.alg as string, kid: header.kid as string, typ: header.typ }, claims };
}

/**
 * Verify an entity configuration with the keys it publishes itself. Proves
 * only possession of those keys: trust comes from a superior's statement or
 * from pinned anchor keys, checked by the chain validation.
 */
export async function verifySelfSigned(
  jwt: string,
  options: Omit<VerifyStatementOptions, 'keys' | 'kind' | 'subject'> & { entityId: string },
): Promise<VerifiedEntityStatement> {
  const peeked = peekEntityStatement(jwt);
  const kp = jwksProblem(peeked.jwks);
  if (kp !== undefined) fail('invalid_statement', `configuration of ${options.entityId}: ${kp}`, { entityId: options.entityId });
  return verifyEntityStatement(jwt, { ...options, keys: peeked.jwks as Jwks, kind: 'configuration', issuer: options.entityId, subject: options.entityId });
}
