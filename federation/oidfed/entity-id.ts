/**
 * Entity identifiers: a node's public base URL. Rules (checked on every id
 * that comes off the wire and on every id in our own configuration):
 * - an absolute `https:` URL (`http:` only when `allowInsecure` is set, for
 *   loopback tests);
 * - no userinfo, query or fragment;
 * - canonical: equal to its WHATWG-normalised form (lower-case host, no
 *   default port, no dot segments), with or without the root `/`. The spec
 *   compares entity ids as strings, so two spellings of one URL must not both
 *   be accepted.
 */

/** Longest entity id accepted: bounds memory and log lines. */
export const MAX_ENTITY_ID_LENGTH = 2048;

/**
 * Why `id` is not a usable entity id, or undefined when it is.
 *
 * @example
 * ```ts
 * import { entityIdProblem } from './entity-id.js';
 * entityIdProblem('http://127.0.0.1:7301', true); // undefined
 * entityIdProblem('http://127.0.0.1:7301', false); // 'must use https'
 * ```
 */
export function entityIdProblem(id: unknown, allowInsecure = false): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return 'must be a non-empty string';
  if (id.length > MAX_ENTITY_ID_LENGTH) return `must be at most ${MAX_ENTITY_ID_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) {
    return allowInsecure ? 'must use https or http' : 'must use https';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry userinfo';
  if (url.search !== '' || id.includes('?')) return 'must not carry a query';
  if (url.hash !== '' || id.includes('#')) return 'must not carry a fragment';
  if (url.hostname === '') return 'must name a host';
  if (url.href !== id && url.href !== `${id}/`) return `must be in canonical form (${url.href})`;
  return undefined;
}

/** True when `id` is a usable entity id. */
export function isEntityId(id: unknown, allowInsecure = false): id is string {
  return entityIdProblem(id, allowInsecure) === undefined;
}

/** `https://a.example/x` → `https://a.example/x/.well-known/openid-federation`. */
export function wellKnownUrl(entityId: string): string {
  return `${entityId.replace(/\/+$/, '')}/.well-known/openid-federation`;
}

/** The host (name or IP literal, without port) an entity id names: what naming constraints match. */
export function entityHost(entityId: string): string {
  return new URL(entityId).hostname.toLowerCase();
}
