/**
 * How the aggregate endpoint namespaces what its servers offer, so that names
 * from different servers never collide and every name leads back to one server:
 *
 * - tools and prompts: `{slug}__{name}` (slugs have no `_`);
 * - resource URIs and URI templates: `{slug}+{uri}` — a valid URI whose
 *   scheme is `{slug}+{scheme}` (`everything+test://static/1`), so clients
 *   that parse URIs still can.
 */
import { AGGREGATE_SEPARATOR, parseAggregateName } from './resolve.js';

export { parseAggregateName };

export function namespacedName(slug: string, name: string): string {
  return `${slug}${AGGREGATE_SEPARATOR}${name}`;
}

export function namespacedUri(slug: string, uri: string): string {
  return `${slug}+${uri}`;
}

const SLUG_PREFIX = /^([a-z0-9-]{1,63})\+(.+)$/s;

/** Splits `{slug}+{uri}`; undefined when the URI carries no slug. */
export function parseNamespacedUri(uri: string): { slug: string; uri: string } | undefined {
  const m = SLUG_PREFIX.exec(uri);
  return m ? { slug: m[1]!, uri: m[2]! } : undefined;
}
