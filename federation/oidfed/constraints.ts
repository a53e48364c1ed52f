/**
 * Trust chain constraints (OpenID Federation 1.0 §6.2), set by a superior in
 * its subordinate statement and binding everything below it.
 *
 * For a chain [EC(leaf), S1, …, Sn-1, EC(anchor)] where Sj is issued by the
 * j-th superior above the leaf:
 * - max_path_length in Sj: the intermediates between Sj's issuer and the
 *   leaf are the j-1 issuers of S1..Sj-1, so j-1 ≤ max_path_length;
 * - naming_constraints in Sj: the subjects of S1..Sj (every entity below the
 *   issuer, the leaf included) must match a `permitted` entry (when the list
 *   is present; an empty list permits nothing) and no `excluded` entry.
 *   Entries are host names as in RFC 5280 URI constraints: `example.com`
 *   matches that host only, `.example.com` any host below it; an IP literal
 *   matches itself; an entry written as a URL is reduced to its host;
 * - allowed_entity_types: entity types outside every list are removed from
 *   the leaf's metadata (`federation_entity` is always kept).
 */
import { entityHost } from './entity-id.js';
import { FederationTrustError } from './errors.js';
import type { EntityMetadata, VerifiedEntityStatement } from './types.js';

/** True when `host` falls under the name constraint `entry`. */
export function nameMatches(host: string, entry: string): boolean {
  let e = entry.trim().toLowerCase();
  if (e.includes('://')) {
    try {
      e = new URL(e).hostname;
    } catch {
      return false;
    }
  }
  if (e === '') return false;
  const h = host.toLowerCase();
  if (e.startsWith('.')) return h.endsWith(e) && h.length > e.length;
  return h === e;
}

/**
 * Check max_path_length and naming_constraints of every subordinate statement
 * in `chain` (leaf configuration first, anchor configuration last).
 */
export function checkConstraints(chain: readonly VerifiedEntityStatement[]): void {
  for (let j = 1; j < chain.length - 1; j++) {
    const { iss, constraints } = chain[j]!.claims;
    if (constraints === undefined) continue;
    const max = constraints.max_path_length;
    if (max !== undefined && j - 1 > max) {
      throw new FederationTrustError(
        'constraint_violation',
        `${iss} allows ${max} intermediate(s) below it, the chain has ${j - 1}`,
        { entityId: iss, constraint: 'max_path_length' },
      );
    }
    const names = constraints.naming_constraints;
    if (names === undefined) continue;
    for (let k = 1; k <= j; k++) {
      const sub = chain[k]!.claims.sub;
      const host = entityHost(sub);
      const excluded = names.excluded?.find((e) => nameMatches(host, e));
      const notPermitted = names.permitted !== undefined && !names.permitted.some((e) => nameMatches(host, e));
      if (excluded !== undefined || notPermitted) {
        throw new FederationTrustError(
          'constraint_violation',
          `${sub} is ${excluded !== undefined ? `excluded by "${excluded}"` : 'not permitted'} by the naming constraints of ${iss}`,
          { entityId: sub, issuer: iss, constraint: 'naming_constraints' },
        );
      }
    }
  }
}

/** Keep only the entity types every `allowed_entity_types` in the chain allows. */
export function filterEntityTypes(metadata: EntityMetadata, chain: readonly VerifiedEntityStatement[]): EntityMetadata {
  const lists = chain.slice(1, -1).flatMap((s) => (s.claims.constraints?.allowed_entity_types ? [s.claims.constraints.allowed_entity_types] : []));
  if (lists.length === 0) return metadata;
  const out: EntityMetadata = {};
  for (const [type, params] of Object.entries(metadata)) {
    if (type === 'federation_entity' || lists.every((l) => l.includes(type))) out[type] = params;
  }
  return out;
}
