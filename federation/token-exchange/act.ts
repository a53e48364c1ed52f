/**
 * The RFC 8693 §4.1 `act` claim ↔ an actor chain. The current actor is the
 * outermost object; prior actors nest inside it, the least recent deepest.
 * Each member names a node: `sub` = its entity id, `ns` = its namespace.
 * Nested actors are informational (RFC 8693 §4.1): access decisions use the
 * top-level claims and the current actor only.
 */
import { LIMITS } from './constants.js';
import type { ActorLink } from './types.js';

/** The JSON form of one `act` level. */
export interface ActClaim {
  sub: string;
  ns: string;
  act?: ActClaim;
}

/**
 * Chain (most recent first) → nested claim; undefined for an empty chain.
 *
 * @example
 * ```ts
 * import { actClaim } from './act.js';
 * actClaim([{ subject: 'https://b.test', node: 'b' }, { subject: 'https://a.test', node: 'a' }]);
 * // { sub: 'https://b.test', ns: 'b', act: { sub: 'https://a.test', ns: 'a' } }
 * ```
 */
export function actClaim(chain: readonly ActorLink[]): ActClaim | undefined {
  let claim: ActClaim | undefined;
  for (let i = chain.length - 1; i >= 0; i--) {
    const link = chain[i]!;
    claim = { sub: link.subject, ns: link.node, ...(claim ? { act: claim } : {}) };
  }
  return claim;
}

/**
 * Nested claim → chain (most recent first). Undefined when the value is not a
 * well-formed chain: members other than `sub`/`ns`/`act`, empty strings, or
 * deeper than {@link LIMITS.maxActorDepth}. An absent claim is an empty chain.
 */
export function actorChain(value: unknown): ActorLink[] | undefined {
  const chain: ActorLink[] = [];
  let level = value;
  while (level !== undefined) {
    if (chain.length >= LIMITS.maxActorDepth) return undefined;
    if (typeof level !== 'object' || level === null || Array.isArray(level)) return undefined;
    const { sub, ns, act, ...rest } = level as Record<string, unknown>;
    if (Object.keys(rest).length > 0) return undefined;
    if (!nonEmpty(sub) || !nonEmpty(ns)) return undefined;
    chain.push({ subject: sub, node: ns });
    level = act;
  }
  return chain;
}

function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 2048;
}
