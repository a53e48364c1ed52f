/**
 * The calling node's side of an exchange: the caller assertion (RFC 8693
 * subject token) and the actor token (the node itself), both short-lived
 * JWTs signed with the node's Ed25519 key.
 *
 * Why a separate actor token rather than deriving the actor from the
 * assertion's `iss`: RFC 8693 §1.1 keeps "who the token is about" (subject)
 * apart from "who is acting" (actor), and the actor token doubles as the
 * calling node's client authentication (private_key_jwt-like, RFC 7523 §2.2:
 * `iss` = `sub` = the node's entity id, `aud` = the peer). The endpoint
 * requires both, signed by the same pinned key, with actor `sub` = assertion `iss`.
 *
 * The assertion carries claims about the caller, never a credential: no
 * token, certificate or key of the caller crosses to the peer.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Identity } from '../../src/auth/identity.js';
import type { NodeIdentity } from '../../src/node/identity.js';
import { actClaim } from './act.js';
import { ALG, LIMITS, TYP_ACTOR, TYP_ASSERTION } from './constants.js';
import { validScopes } from './scopes.js';
import type { ActorLink } from './types.js';

export interface AssertionSigner {
  /** This node's key. */
  node: NodeIdentity;
  /** This node's entity id (its public URL). */
  issuer: string;
  /** This node's namespace. */
  namespace: string;
  /** The peer's entity id. */
  audience: string;
  /** At most {@link LIMITS.maxAssertionTtlSeconds}; default 60. */
  ttlSeconds?: number;
  /** Milliseconds since the epoch (tests freeze it). */
  now?: () => number;
}

export interface CallerAssertionOptions extends AssertionSigner {
  /**
   * The scopes the caller needs for the requested tool, in the peer's naming
   * (`mcp:tool:{slug}:read|write`). Only these are asserted: the caller's
   * other scopes never leave this node. The caller must already be authorized
   * for the remote tool here (import rules).
   */
  scopes: readonly string[];
  /** Prior actors when the caller itself arrived through a translated token (most recent first). */
  actors?: readonly ActorLink[];
}

/**
 * Signs the caller assertion: `iss` (this node), `sub` (the caller's subject),
 * `aud` (the peer), `iat`, `exp` (≤ ttl, and never past the caller's own
 * credential), `jti`, `ns`, `groups`, `scope`, `cred` (credential kind),
 * `cls` (principal class), `tenant` if any, `act` if the caller is itself
 * a translated identity.
 *
 * @example
 * ```ts
 * import { signCallerAssertion } from './assertion.js';
 * import type { Identity } from '../../src/auth/identity.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const node: NodeIdentity;
 * declare const caller: Identity;
 * const jwt = await signCallerAssertion(caller, {
 *   node, issuer: 'https://a.test', namespace: 'a', audience: 'https://b.test',
 *   scopes: ['mcp:tool:crm:read'], ttlSeconds: 30,
 * });
 * ```
 */
export async function signCallerAssertion(identity: Identity, options: CallerAssertionOptions): Promise<string> {
  if (identity.kind === 'anonymous') throw new TypeError('anonymous callers are not asserted to peers');
  if (!validScopes(options.scopes)) throw new TypeError('scopes must be RFC 6749 scope tokens');
  const { iat, exp } = window(options);
  const notAfter = identity.expiresAt !== undefined ? Math.min(exp, identity.expiresAt) : exp;
  if (notAfter <= iat) throw new RangeError("the caller's credential has expired");
  const act = actClaim(options.actors ?? []);
  const claims = {
    ns: options.namespace,
    groups: [...identity.groups],
    scope: [...new Set(options.scopes)].join(' '),
    cred: identity.kind,
    cls: identity.class,
    ...(identity.tenant !== undefined ? { tenant: identity.tenant } : {}),
    ...(act ? { act } : {}),
  };
  return sign(claims, TYP_ASSERTION, identity.subject, iat, notAfter, options);
}

/**
 * Signs the actor token: this node as the acting party and as the client
 * authenticating at the peer's token endpoint (`iss` = `sub` = our entity id).
 */
export async function signActorToken(options: AssertionSigner): Promise<string> {
  const { iat, exp } = window(options);
  return sign({ ns: options.namespace }, TYP_ACTOR, options.issuer, iat, exp, options);
}

function window(options: AssertionSigner): { iat: number; exp: number } {
  const ttl = options.ttlSeconds ?? LIMITS.maxAssertionTtlSeconds;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > LIMITS.maxAssertionTtlSeconds) {
    throw new RangeError(`ttlSeconds must be an integer in 1..${LIMITS.maxAssertionTtlSeconds}`);
  }
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  return { iat, exp: iat + ttl };
}

async function sign(claims: Record<string, unknown>, typ: string, sub: string, iat: number, exp: number, options: AssertionSigner): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, typ, kid: options.node.kid })
    .setIssuer(options.issuer)
    .setSubject(sub)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(options.node.privateKey);
}
