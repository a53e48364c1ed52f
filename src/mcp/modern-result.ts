/**
 * Fills in what the 2026-07-28 revision requires of every result and what
 * legacy-era servers (and the gateway's own answers) do not send:
 * `resultType` on every result, and `ttlMs`/`cacheScope` on cacheable ones
 * (SEP-2549). The gateway's answers depend on the caller, so they are
 * `private` and not to be cached (`ttlMs: 0`) unless the backend said otherwise.
 */

const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);

export function completeModernResult(method: string, result: Record<string, unknown>): void {
  if (result.resultType === undefined) result.resultType = 'complete';
  if (CACHEABLE.has(method)) {
    if (typeof result.ttlMs !== 'number') result.ttlMs = 0;
    if (result.cacheScope !== 'public' && result.cacheScope !== 'private') result.cacheScope = 'private';
  }
}
