/**
 * What we grant a verified assertion under the peer's inbound policy
 * (trust-config/ `inbound`), in this order:
 *
 * 1. every `audience`/`resource` names this node              → invalid_target
 * 2. requested scopes (default: the asserted ones) are non-empty,
 *    asserted for the caller, never `mcp:admin`, and within the
 *    ceiling — a wider request is refused, not narrowed         → invalid_scope
 * 3. at least one of the caller's peer groups maps to a local
 *    group; unmapped groups are dropped                         → invalid_request
 * 4. lifetime = min(policy ceiling, hard limit, assertion's remaining life):
 *    the requested lifetime is the assertion's own `exp`, capped, never refused;
 *    the issued token never outlives the assertion (and so never the caller's
 *    credential, which bounds the assertion at the calling node).
 */
import { SCOPE_ADMIN } from '../../src/auth/identity.js';
import { LIMITS } from './constants.js';
import { TokenExchangeError } from './errors.js';
import { outsideCeiling } from './scopes.js';
import type { InboundPolicy } from './types.js';
import type { VerifiedAssertion } from './verify-presented.js';

export interface GrantRequest {
  assertion: VerifiedAssertion;
  /** Undefined: the scopes the assertion carries. */
  requestedScopes: string[] | undefined;
  targets: readonly string[];
  /** The `audience`/`resource` values that name this node. */
  acceptedTargets: readonly string[];
  policy: InboundPolicy;
  /** Seconds since the epoch. */
  now: number;
}

export interface Grant {
  scopes: string[];
  groups: string[];
  expiresIn: number;
}

export function decideGrant(req: GrantRequest): Grant {
  const foreign = req.targets.find((t) => !req.acceptedTargets.includes(t));
  if (foreign !== undefined) throw new TokenExchangeError('invalid_target', 'audience/resource must name this node');

  const scopes = req.requestedScopes ?? req.assertion.scopes;
  if (scopes.length === 0) throw new TokenExchangeError('scope_exceeds_assertion', 'no scope requested');
  const unasserted = scopes.filter((s) => !req.assertion.scopes.includes(s));
  if (unasserted.length) throw new TokenExchangeError('scope_exceeds_assertion', `not asserted for the caller: ${unasserted.join(' ')}`);
  const outside = [...scopes.filter((s) => s === SCOPE_ADMIN), ...outsideCeiling(scopes.filter((s) => s !== SCOPE_ADMIN), req.policy.scopeCeiling)];
  if (outside.length) throw new TokenExchangeError('scope_exceeds_ceiling', `outside this node's ceiling for the peer: ${outside.join(' ')}`);

  const mapping = req.policy.groupMapping;
  const groups = new Set<string>();
  for (const g of req.assertion.groups) for (const local of Object.hasOwn(mapping, g) ? mapping[g]! : []) groups.add(local);
  if (groups.size === 0) throw new TokenExchangeError('no_mapped_group', "none of the caller's groups is mapped by this node");

  const ceiling = req.policy.maxTtlSeconds;
  if (!Number.isInteger(ceiling) || ceiling < 1) throw new TokenExchangeError('internal', 'inbound policy has no valid lifetime ceiling');
  const expiresIn = Math.min(ceiling, LIMITS.maxIssuedTtlSeconds, req.assertion.exp - req.now);
  if (expiresIn < 1) throw new TokenExchangeError('expired', 'subject token has expired');
  return { scopes, groups: [...groups].sort(), expiresIn };
}
