/**
 * Validation of a complete trust chain (OpenID Federation 1.0 §10.2):
 * [EC(leaf), S1, …, Sn-1, EC(anchor)], Sj being the statement of the j-th
 * superior about the entity below it. Checked from the anchor down, so the
 * first failure reported is the one nearest the root of trust:
 * 1. EC(anchor) is signed with a PINNED key of that anchor — pinned as a JWK,
 *    or as an RFC 7638 thumbprint of one of the keys it publishes (its other
 *    self-published keys count only once a pinned key has signed them: key
 *    rollover);
 * 2. each Sj is signed with a key of the statement above it (the anchor's
 *    configuration for Sn-1), and iss(Sj) = sub(Sj+1);
 * 3. EC(leaf) is signed with a key its superior lists for it in S1 (and,
 *    being a configuration, with a key of its own jwks), names the S1 issuer
 *    in authority_hints, and sub(S1) = the leaf;
 * 4. every statement is unexpired (`verifyEntityStatement`);
 * 5. constraints (`constraints.ts`), then metadata policy (`metadata-policy.ts`).
 * A chain of one statement is a leaf that is itself a trusted anchor.
 */
import { checkConstraints, filterEntityTypes } from './constraints.js';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { peekEntityStatement, verifyEntityStatement, type VerifyStatementOptions } from './entity-statement.js';
import { FederationTrustError } from './errors.js';
import { resolveMetadata, type PolicyLayer } from './metadata-policy.js';
import { jwksProblem } from './statement-claims.js';
import type { EntityMetadata, Jwks, PinnedTrustAnchor, VerifiedEntityStatement } from './types.js';

/** A validated chain and what it establishes about the leaf. */
export interface ResolvedTrustChain {
  /** The leaf's entity id. */
  entityId: string;
  /** The trust anchor the chain ends at. */
  anchor: string;
  /** Leaf configuration first, anchor configuration last. */
  chain: readonly VerifiedEntityStatement[];
  /** The leaf's keys as its superior vouches for them (use these, not the leaf's self-published ones). */
  leafJwks: Jwks;
  /** The leaf's metadata after the superior's overrides, constraints and merged policies. */
  metadata: EntityMetadata;
  /** NumericDate (seconds): the earliest `exp` in the chain; the chain must be resolved again after it. */
  expiresAt: number;
}

/**
 * The keys the anchor's configuration must be signed with: the pinned jwks,
 * or those of its self-published keys whose thumbprint is pinned.
 */
async function anchorKeys(anchor: PinnedTrustAnchor, jwt: string): Promise<Jwks> {
  if (anchor.jwks !== undefined) return anchor.jwks;
  const published = peekEntityStatement(jwt).jwks;
  const problem = jwksProblem(published);
  if (problem !== undefined) throw new FederationTrustError('invalid_statement', `configuration of ${anchor.entityId}: ${problem}`, { entityId: anchor.entityId });
  const pins = new Set(anchor.pinnedKeyThumbprints ?? []);
  const keys: JWK[] = [];
  for (const k of (published as Jwks).keys) if (pins.has(await calculateJwkThumbprint(k, 'sha256'))) keys.push(k);
  if (keys.length === 0) {
    throw new FederationTrustError('bad_signature', `configuration of ${anchor.entityId} publishes no key with a pinned thumbprint`, { entityId: anchor.entityId });
  }
  return { keys };
}

/** Verification knobs shared with the resolver. */
export type ChainValidationOptions = Pick<VerifyStatementOptions, 'now' | 'clockSkewSeconds' | 'algorithms' | 'allowInsecure'>;

/**
 * Validate `jwts` (leaf configuration first) against the pinned `anchor`.
 *
 * @example
 * ```ts
 * import { validateTrustChain } from './validate-chain.js';
 * import type { PinnedTrustAnchor } from './types.js';
 * declare const jwts: string[]; declare const anchor: PinnedTrustAnchor;
 * const { metadata, leafJwks, expiresAt } = await validateTrustChain(jwts, anchor);
 * ```
 */
export async function validateTrustChain(
  jwts: readonly string[],
  anchor: PinnedTrustAnchor,
  options: ChainValidationOptions = {},
): Promise<ResolvedTrustChain> {
  if (jwts.length === 0 || jwts.length === 2) {
    throw new FederationTrustError('invalid_statement', `a trust chain has 1 or at least 3 statements, not ${jwts.length}`);
  }
  const n = jwts.length - 1;
  const top = await verifyEntityStatement(jwts[n]!, {
    ...options,
    keys: await anchorKeys(anchor, jwts[n]!),
    kind: 'configuration',
    issuer: anchor.entityId,
    subject: anchor.entityId,
  });
  const chain: VerifiedEntityStatement[] = new Array<VerifiedEntityStatement>(jwts.length);
  chain[n] = top;
  if (n === 0) {
    return { entityId: anchor.entityId, anchor: anchor.entityId, chain, leafJwks: top.claims.jwks, metadata: top.claims.metadata ?? {}, expiresAt: top.claims.exp };
  }
  for (let j = n - 1; j >= 1; j--) {
    const above = chain[j + 1]!;
    chain[j] = await verifyEntityStatement(jwts[j]!, {
      ...options,
      keys: above.claims.jwks,
      kind: 'subordinate',
      issuer: above.claims.sub,
    });
  }
  const s1 = chain[1]!;
  const leaf = await verifyEntityStatement(jwts[0]!, { ...options, keys: s1.claims.jwks, kind: 'configuration', issuer: s1.claims.sub, subject: s1.claims.sub });
  await verifyEntityStatement(jwts[0]!, { ...options, keys: leaf.claims.jwks, kind: 'configuration' });
  if (!leaf.claims.authority_hints?.includes(s1.claims.iss)) {
    throw new FederationTrustError('invalid_statement', `${leaf.claims.iss} does not name ${s1.claims.iss} in its authority_hints`, {
      entityId: leaf.claims.iss,
    });
  }
  chain[0] = leaf;
  checkConstraints(chain);
  // Policies merge from the anchor's statement down to the immediate superior's.
  const layers: PolicyLayer[] = [];
  for (let j = n - 1; j >= 1; j--) {
    const c = chain[j]!.claims;
    layers.push({ ...(c.metadata_policy ? { policy: c.metadata_policy } : {}), ...(c.metadata_policy_crit ? { crit: c.metadata_policy_crit } : {}) });
  }
  let metadata: EntityMetadata;
  try {
    metadata = filterEntityTypes(resolveMetadata(leaf.claims.metadata ?? {}, s1.claims.metadata, layers), chain);
  } catch (err) {
    if (err instanceof FederationTrustError) {
      throw new FederationTrustError(err.code, `${leaf.claims.iss}: ${err.message}`, { ...err.details, entityId: leaf.claims.iss }, { cause: err });
    }
    throw err;
  }
  return {
    entityId: leaf.claims.iss,
    anchor: anchor.entityId,
    chain,
    leafJwks: s1.claims.jwks,
    metadata,
    expiresAt: Math.min(...chain.map((s) => s.claims.exp)),
  };
}
