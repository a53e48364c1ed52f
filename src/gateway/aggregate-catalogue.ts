/**
 * The aggregate endpoint's resources and prompts: the lists of every server
 * the caller may read, namespaced (see routing/aggregate-names.ts), and the
 * reverse renaming of what a server returns for a read.
 *
 * Lists are gathered from the servers' backends in parallel; a server that
 * fails or does not offer the capability contributes nothing rather than
 * failing the whole list.
 */
import { isObject } from '../mcp/jsonrpc.js';
import type { ClientContext } from './backends/backend.js';
import type { BackendManager } from './backends/manager.js';
import { serverKey } from '../registry/registry.js';
import type { ServerDirectory } from '../registry/directory.js';
import type { ServerRecord } from '../registry/types.js';
import { decideServerData, type LifecyclePolicy } from '../auth/authorization.js';
import type { Identity } from '../auth/identity.js';
import { newestServable } from './routing/resolve.js';
import { namespacedName, namespacedUri } from './routing/aggregate-names.js';

/** What each aggregate list method collects, and how its items are renamed. */
const LISTS: Record<string, { field: string; rename: (slug: string, item: Record<string, unknown>) => Record<string, unknown> }> = {
  'resources/list': { field: 'resources', rename: (slug, r) => ({ ...r, uri: namespacedUri(slug, String(r.uri)), name: namespacedName(slug, String(r.name)) }) },
  'resources/templates/list': {
    field: 'resourceTemplates',
    rename: (slug, r) => ({ ...r, uriTemplate: namespacedUri(slug, String(r.uriTemplate)), name: namespacedName(slug, String(r.name)) }),
  },
  'prompts/list': { field: 'prompts', rename: (slug, p) => ({ ...p, name: namespacedName(slug, String(p.name)) }) },
};

export function isAggregateList(method: string): boolean {
  return Object.hasOwn(LISTS, method);
}

/** May this caller read data (resources, prompts) of `record`? The same rule as the authorize step. */
function mayRead(identity: Identity, record: ServerRecord, lifecycle: LifecyclePolicy): boolean {
  return decideServerData(identity, record, lifecycle).allowed;
}

export async function aggregateList(
  method: string,
  deps: { registry: ServerDirectory; backends: BackendManager; lifecycle: LifecyclePolicy },
  identity: Identity,
  now: Date,
  client: ClientContext,
): Promise<Record<string, unknown>> {
  const { field, rename } = LISTS[method]!;
  const servers = deps.registry
    .slugs()
    .map((slug) => newestServable(deps.registry, slug, now))
    .filter((r): r is ServerRecord => r !== undefined && mayRead(identity, r, deps.lifecycle));
  const lists = await Promise.all(
    servers.map(async (record) => {
      const backend = deps.backends.get(serverKey(record.slug, record.version), record.backend);
      const capability = method.startsWith('prompts') ? 'prompts' : 'resources';
      const caps = backend.state().capabilities;
      if (caps && !isObject(caps[capability])) return [];
      try {
        const items: Record<string, unknown>[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 20; page++) {
          const outcome = await backend.request({ method, params: cursor ? { cursor } : {}, client });
          if ('error' in outcome) return items;
          const list = outcome.result[field];
          if (Array.isArray(list)) for (const item of list) if (isObject(item)) items.push(rename(record.slug, item));
          cursor = typeof outcome.result.nextCursor === 'string' ? outcome.result.nextCursor : undefined;
          if (!cursor) break;
        }
        return items;
      } catch {
        return []; // an unavailable server contributes nothing to the list
      }
    }),
  );
  return { [field]: lists.flat() };
}

/** A read's `contents[].uri` carry the server's URIs: give them the namespace back. */
export function namespaceReadResult(slug: string, result: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(result.contents)) return result;
  return {
    ...result,
    contents: result.contents.map((c) => (isObject(c) && typeof c.uri === 'string' ? { ...c, uri: namespacedUri(slug, c.uri) } : c)),
  };
}
