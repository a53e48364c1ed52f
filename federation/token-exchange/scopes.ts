/**
 * Scope sets of token translation: parsing (RFC 6749 §3.3) and the ceiling
 * test. The endpoint refuses a request wider than the ceiling rather than
 * narrowing it: a silently narrowed token fails later, far from the cause.
 */
import { LIMITS } from './constants.js';

/** RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E, bounded. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;

/**
 * Splits a space-delimited scope string into unique scope tokens, in order.
 * Undefined when malformed (bad characters, too many).
 *
 * @example
 * ```ts
 * import { parseScope } from './scopes.js';
 * parseScope('mcp:tool:crm:read mcp:tool:crm:read'); // ['mcp:tool:crm:read']
 * ```
 */
export function parseScope(value: string): string[] | undefined {
  const out = new Set<string>();
  for (const s of value.split(' ')) {
    if (s === '') continue;
    if (!SCOPE_TOKEN.test(s)) return undefined;
    out.add(s);
  }
  return out.size > LIMITS.maxScopes ? undefined : [...out];
}

/** Validates a list of scopes the same way (for the signing side). */
export function validScopes(scopes: readonly string[]): boolean {
  return scopes.length <= LIMITS.maxScopes && scopes.every((s) => SCOPE_TOKEN.test(s));
}

/**
 * True when one ceiling entry admits `scope`: equal; a `*` segment matches any
 * one segment; `mcp:tool:{slug}:write` admits `mcp:tool:{slug}:read` (write
 * includes read, trust-config/schema.json `access`).
 */
export function entryAdmits(entry: string, scope: string): boolean {
  if (entry === scope) return true;
  const e = entry.split(':');
  const s = scope.split(':');
  if (e.length !== s.length) return false;
  const last = e.length - 1;
  for (let i = 0; i < e.length; i++) {
    if (e[i] === '*' || e[i] === s[i]) continue;
    if (i === last && e[0] === 'mcp' && e[1] === 'tool' && e[i] === 'write' && s[i] === 'read') continue;
    return false;
  }
  return true;
}

/** The requested scopes no ceiling entry admits (empty: within the ceiling). */
export function outsideCeiling(requested: readonly string[], ceiling: readonly string[]): string[] {
  return requested.filter((s) => !ceiling.some((entry) => entryAdmits(entry, s)));
}
