/**
 * What this node's manifest for one peer lists: the exact subset of our
 * registry its export rules cover — servable versions (not sunset, not in a
 * tenant namespace), servable tools (drifted ones stay withheld), with the
 * pinned schemas and the registry's read/write classification.
 */
import type { Registry } from '../../src/registry/registry.js';
import type { ServerRecord } from '../../src/registry/types.js';
import type { JsonObject, ManifestTool } from '../manifest/index.js';
import { exportedSubset, type TrustPolicy } from '../trust/index.js';

export function manifestToolsFor(policy: TrustPolicy, peerAlias: string, registry: Pick<Registry, 'list' | 'servableTools'>): ManifestTool[] {
  const servers = registry
    .list()
    .filter((r) => r.lifecycle !== 'sunset' && r.namespace === undefined)
    .map((record) => ({ slug: record.slug, version: record.version, record, tools: registry.servableTools(record) }));
  return exportedSubset(policy, peerAlias, servers).flatMap(({ server, tools }) => tools.map((tool) => manifestTool(server.record, tool)));
}

function manifestTool(record: ServerRecord, tool: ServerRecord['tools'][number]): ManifestTool {
  return {
    slug: record.slug,
    version: record.version,
    lifecycle: record.lifecycle,
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema as JsonObject,
    ...(tool.outputSchema !== undefined ? { outputSchema: tool.outputSchema as JsonObject } : {}),
    ...(tool.annotations !== undefined ? { annotations: tool.annotations as JsonObject } : {}),
    access: tool.access,
  };
}
