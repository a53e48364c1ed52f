/**
 * The token endpoint's checks of the two presented tokens, in this order
 * (each failure a {@link TokenExchangeError} with its reason):
 *
 * 1. both are compact JWS with `alg` EdDSA and their own `typ`   → malformed_token
 * 2. the actor's `iss` resolves to a pinned peer key              → unknown_peer
 * 3. the actor token verifies against that key; `sub` = `iss`,
 *    `client_id` (if sent) = `iss`, `ns` = the peer's namespace   → bad_signature / actor_mismatch / bad_claims
 * 4. the assertion's `iss` is the actor                           → actor_mismatch
 * 5. the assertion verifies against the same key, `aud` = us     → bad_signature / wrong_audience
 * 6. both: `exp`, `iat` (not in the future), `exp - iat` ≤ 300 s  → expired / not_yet_valid / lifetime_too_long
 * 7. assertion claims well-formed (`ns`, `groups`, `scope`, `cred`, `act`) → bad_claims
 * 8. neither `jti` seen before ({@link consumeOnce}, called by the
 *    endpoint after 1–7, once the caller is known to the audit)  → replayed / replay_cache_full
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { actorChain } from './act.js';
import { ALG, LIMITS, TYP_ACTOR, TYP_ASSERTION } from './constants.js';
import { TokenExchangeError } from './errors.js';
import { publicKeyOf, type VerifyKey } from './keys.js';
import type { ReplayCache } from './replay-cache.js';
import { parseScope } from './scopes.js';
import type { ActorLink, PeerKey, PeerKeys } from './types.js';

/** Credential kinds a node may assert (`anonymous` never crosses). */
const CREDENTIAL_KINDS = new Set(['oauth', 'mtls', 'apikey', 'peer', 'admin-token']);

export interface PresentedTokens {
  subjectToken: string;
  actorToken: string;
  clientId: string | undefined;
}

export interface VerifyContext {
  /** Our entity id: the `aud` both tokens must name. */
  entityId: string;
  peerKeys: PeerKeys;
  replay: ReplayCache;
  /** Seconds since the epoch. */
  now: number;
  clockToleranceSeconds: number;
}

/** A verified caller assertion and the peer that made it. */
export interface VerifiedAssertion {
  peer: PeerKey & { entityId: string };
  subject: string;
  groups: string[];
  scopes: string[];
  credential: string;
  principalClass: string | undefined;
  tenant: string | undefined;
  /** Prior actors the assertion carries (most recent first). */
  actors: ActorLink[];
  jti: string;
  exp: number;
  /** The actor token's `jti` and `exp` (for the replay check). */
  actorJti: string;
  actorExp: number;
}

export async function verifyPresented(tokens: PresentedTokens, ctx: VerifyContext): Promise<VerifiedAssertion> {
  const actorIss = unverifiedIssuer(tokens.actorToken, TYP_ACTOR, 'actor');
  const assertionIss = unverifiedIssuer(tokens.subjectToken, TYP_ASSERTION, 'subject');
  const peer = await ctx.peerKeys(actorIss);
  if (!peer) throw new TokenExchangeError('unknown_peer', 'the actor is not a known peer');
  const key = await publicKeyOf(peer.publicJwk);

  const actor = await verifyOne(tokens.actorToken, key, TYP_ACTOR, 'actor token', actorIss, ctx);
  if (actor.sub !== actorIss) throw new TokenExchangeError('actor_mismatch', 'actor token: sub must equal iss (the calling node)');
  if (tokens.clientId !== undefined && tokens.clientId !== actorIss) throw new TokenExchangeError('actor_mismatch', 'client_id does not name the actor');
  if (actor.ns !== peer.namespace) throw new TokenExchangeError('bad_claims', "actor token: ns is not the peer's namespace");
  if (assertionIss !== actorIss) throw new TokenExchangeError('actor_mismatch', 'the actor is not the issuer of the subject token');

  const claims = await verifyOne(tokens.subjectToken, key, TYP_ASSERTION, 'subject token', actorIss, ctx);
  return { ...assertionClaims(claims, peer, actorIss), actorJti: actor.jti as string, actorExp: actor.exp as number };
}

/**
 * Marks both tokens used. Called only after {@link verifyPresented}: tokens
 * that fail a check cannot fill the cache. The subject token is checked first
 * so that a replayed assertion is reported as such whatever actor token comes with it.
 */
export async function consumeOnce(verified: VerifiedAssertion, ctx: Pick<VerifyContext, 'replay' | 'now' | 'clockToleranceSeconds'>): Promise<void> {
  const iss = verified.peer.entityId;
  await once(ctx, `subject|${iss}|${verified.jti}`, verified.exp, 'subject token');
  await once(ctx, `actor|${iss}|${verified.actorJti}`, verified.actorExp, 'actor token');
}

function unverifiedIssuer(token: string, typ: string, which: string): string {
  let iss: unknown;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== ALG || header.typ !== typ) throw new TokenExchangeError('malformed_token', `${which}_token must be a ${typ} signed with ${ALG}`);
    iss = decodeJwt(token).iss;
  } catch (err) {
    if (err instanceof TokenExchangeError) throw err;
    throw new TokenExchangeError('malformed_token', `${which}_token is not a compact JWT`);
  }
  if (typeof iss !== 'string' || iss === '') throw new TokenExchangeError('bad_claims', `${which}_token has no iss`);
  return iss;
}

async function verifyOne(token: string, key: VerifyKey, typ: string, which: string, issuer: string, ctx: VerifyContext): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [ALG],
      typ,
      issuer,
      audience: ctx.entityId,
      requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
      currentDate: new Date(ctx.now * 1000),
      clockTolerance: ctx.clockToleranceSeconds,
    }));
  } catch (err) {
    throw joseRefusal(err, which);
  }
  // One audience only: a token valid at several nodes could be replayed from one to another.
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw new TokenExchangeError('wrong_audience', `${which} must name this node as its only audience`);
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  if (iat > ctx.now + ctx.clockToleranceSeconds) throw new TokenExchangeError('not_yet_valid', `${which}: iat is in the future`);
  if (exp - iat > LIMITS.maxPresentedLifetimeSeconds) throw new TokenExchangeError('lifetime_too_long', `${which}: lifetime exceeds ${LIMITS.maxPresentedLifetimeSeconds} s`);
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) throw new TokenExchangeError('bad_claims', `${which}: jti is malformed`);
  if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 1024) throw new TokenExchangeError('bad_claims', `${which}: sub is malformed`);
  return payload;
}

function joseRefusal(err: unknown, which: string): TokenExchangeError {
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenExchangeError('bad_signature', `${which}: signature does not verify against the peer's key`);
  if (err instanceof errors.JWTExpired) return new TokenExchangeError('expired', `${which} has expired`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new TokenExchangeError('wrong_audience', `${which} is for another audience`);
    if (err.claim === 'nbf' || err.claim === 'iat') return new TokenExchangeError('not_yet_valid', `${which} is not yet valid`);
    return new TokenExchangeError('bad_claims', `${which}: claim ${err.claim} is invalid`);
  }
  return new TokenExchangeError('malformed_token', `${which} is malformed`);
}

function assertionClaims(claims: JWTPayload, peer: PeerKey, entityId: string): Omit<VerifiedAssertion, 'actorJti' | 'actorExp'> {
  const bad = (what: string) => new TokenExchangeError('bad_claims', `subject token: ${what}`);
  if (claims.ns !== peer.namespace) throw bad("ns is not the peer's namespace");
  const groups = claims.groups ?? [];
  if (!Array.isArray(groups) || groups.length > LIMITS.maxGroups || !groups.every((g) => typeof g === 'string' && g !== '' && g.length <= 256)) {
    throw bad('groups must be an array of strings');
  }
  const scopes = typeof claims.scope === 'string' ? parseScope(claims.scope) : undefined;
  if (!scopes) throw bad('scope must be a space-separated string of scopes');
  if (typeof claims.cred !== 'string' || !CREDENTIAL_KINDS.has(claims.cred)) throw bad('cred is not a credential kind');
  if (claims.cls !== undefined && typeof claims.cls !== 'string') throw bad('cls must be a string');
  if (claims.tenant !== undefined && (typeof claims.tenant !== 'string' || claims.tenant === '')) throw bad('tenant must be a string');
  const actors = actorChain(claims.act);
  if (!actors || actors.length >= LIMITS.maxActorDepth) throw bad('act is not a well-formed actor chain');
  return {
    peer: { ...peer, entityId },
    subject: claims.sub as string,
    groups: [...new Set(groups as string[])],
    scopes,
    credential: claims.cred,
    principalClass: claims.cls as string | undefined,
    tenant: claims.tenant as string | undefined,
    actors,
    jti: claims.jti as string,
    exp: claims.exp as number,
  };
}

async function once(ctx: Pick<VerifyContext, 'replay' | 'now' | 'clockToleranceSeconds'>, key: string, exp: number, which: string): Promise<void> {
  const verdict = await ctx.replay.remember(key, exp + ctx.clockToleranceSeconds, ctx.now);
  if (verdict === 'replayed') throw new TokenExchangeError('replayed', `${which} was already used`);
  if (verdict === 'full') throw new TokenExchangeError('replay_cache_full', 'too many exchanges in flight; retry shortly');
}
