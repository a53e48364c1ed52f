/**
 * Our side of a translated call: the token our endpoint issued → the
 * caller's {@link Identity} (kind `peer`) and the actor chain for the audit
 * log. Requires what only the token endpoint puts in: `typ` at+jwt, our
 * `iss`/`aud`, `act` naming the peer node as `client_id`, and the `peer` alias.
 */
import { errors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Identity } from '../../src/auth/identity.js';
import { actorChain } from './act.js';
import { ALG, LIMITS, TYP_ACCESS_TOKEN } from './constants.js';
import { publicKeyOf, type VerifyKey } from './keys.js';
import { parseScope } from './scopes.js';
import type { ActorLink } from './types.js';

export interface TranslatedTokenOptions {
  /** Our node's public key (a JWK or an imported key). */
  issuerKey: JWK | VerifyKey | KeyObject;
  /** Our entity id. */
  issuer: string;
  /** Our MCP resource (the issued tokens' `aud`). */
  audience: string;
  /** Default {@link LIMITS.clockToleranceSeconds}. */
  clockToleranceSeconds?: number;
  /** Milliseconds since the epoch (tests freeze it). */
  now?: () => number;
}

export interface TranslatedCaller {
  identity: Identity;
  /** Most recent first: `[0]` is the peer node that exchanged the token. */
  actors: ActorLink[];
  /** The alias of the peer the token was issued to (`peer` claim). */
  peer: string;
  /** The caller's groups as the peer asserted them, before our mapping (`peer_groups`): what export rules name. */
  peerGroups: string[];
}

/**
 * Why a translated token was refused; stable, and an `invalid_token` (401) to the caller:
 * `expired`, `bad_signature`, `bad_claims` (wrong `iss`/`aud`/`typ`, missing or malformed claims), `malformed`.
 */
export type TranslatedTokenErrorCode = 'expired' | 'bad_signature' | 'bad_claims' | 'malformed';

export class TranslatedTokenError extends Error {
  readonly code: TranslatedTokenErrorCode;
  readonly status = 401;
  readonly reason = 'invalid_token';
  readonly expose = true;

  constructor(code: TranslatedTokenErrorCode, message: string) {
    super(message);
    this.name = 'TranslatedTokenError';
    this.code = code;
  }
}

/**
 * Principal `peer:{alias}:{sub}`: one caller of one peer is one principal
 * (rate limits key on it), whatever token it arrives with.
 *
 * @example
 * ```ts
 * import { verifyTranslatedToken } from './verify-token.js';
 * import type { JWK } from 'jose';
 * declare const token: string;
 * declare const ourPublicJwk: JWK;
 * const { identity, actors } = await verifyTranslatedToken(token, {
 *   issuerKey: ourPublicJwk, issuer: 'https://b.test', audience: 'https://b.test/mcp',
 * });
 * console.log(identity.principal, actors[0]?.subject);
 * ```
 */
export async function verifyTranslatedToken(token: string, options: TranslatedTokenOptions): Promise<TranslatedCaller> {
  const key = isJwk(options.issuerKey) ? await publicKeyOf(options.issuerKey) : options.issuerKey;
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, key, {
      algorithms: [ALG],
      typ: TYP_ACCESS_TOKEN,
      issuer: options.issuer,
      audience: options.audience,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'act'],
      clockTolerance: options.clockToleranceSeconds ?? LIMITS.clockToleranceSeconds,
      ...(options.now ? { currentDate: new Date(options.now()) } : {}),
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new TranslatedTokenError('expired', 'token has expired');
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new TranslatedTokenError('bad_signature', 'signature does not verify');
    if (err instanceof errors.JWTClaimValidationFailed) throw new TranslatedTokenError('bad_claims', `claim ${err.claim} is invalid`);
    throw new TranslatedTokenError('malformed', 'not a translated access token');
  }
  const bad = (what: string) => new TranslatedTokenError('bad_claims', what);
  const actors = actorChain(claims.act);
  if (!actors || actors.length === 0) throw bad('act is not a well-formed actor chain');
  if (claims.client_id !== actors[0]!.subject) throw bad('client_id is not the current actor');
  const alias = claims.peer;
  if (typeof alias !== 'string' || alias === '') throw bad('peer is missing');
  const scopes = typeof claims.scope === 'string' ? parseScope(claims.scope) : undefined;
  // Never scope-less: a credential without scopes is authorized by groups alone (src/auth/authorization.ts).
  if (!scopes || scopes.length === 0) throw bad('scope is missing or malformed');
  const groups = claims.groups;
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && g !== '')) throw bad('groups must be an array of strings');
  if (claims.cls !== 'person' && claims.cls !== 'agent') throw bad('cls must be person or agent');
  const sub = claims.sub as string;
  const identity: Identity = {
    kind: 'peer',
    subject: sub,
    groups: Object.freeze([...groups]) as string[],
    scopes: Object.freeze(scopes) as string[],
    issuer: actors[0]!.subject,
    clientId: actors[0]!.subject,
    expiresAt: claims.exp as number,
    principal: `peer:${alias}:${sub}`,
    class: claims.cls,
  };
  const peerGroups = Array.isArray(claims.peer_groups) ? claims.peer_groups.filter((g): g is string => typeof g === 'string') : [];
  return { identity: Object.freeze(identity), actors, peer: alias, peerGroups };
}

function isJwk(key: JWK | VerifyKey | KeyObject): key is JWK {
  // Imported keys (CryptoKey, KeyObject) have no `kty`.
  return typeof (key as JWK).kty === 'string';
}
