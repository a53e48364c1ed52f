/**
 * The servers peers export to this node, as the gateway sees them: each
 * peer's accepted capability manifest intersected with our import policy,
 * turned into server records named `{peer}.{slug}` whose backend is the peer.
 *
 * - Only tools some import rule names are kept; each keeps the local groups
 *   that may call it (`PinnedTool.allowedGroups`), the record the union, so
 *   the gateway's ordinary authorization enforces the import policy.
 * - Schemas, descriptions and lifecycle are the manifest's (signed by the
 *   peer): schema validation runs here, before anything leaves the node.
 * - A peer without a valid manifest (expired, removed, never received)
 *   contributes nothing: its tools disappear.
 */
import type { ServerDirectory } from '../../src/registry/directory.js';
import type { PinnedTool, ServerRecord } from '../../src/registry/types.js';
import { pinTool } from '../../src/registry/registry.js';
import semver from 'semver';
import type { Manifest, ManifestTool } from '../manifest/index.js';
import type { PeerPolicy } from '../trust/index.js';
import { toolInSubset } from '../trust/index.js';

/** The separator of a peer's alias and its server's slug. */
export const REMOTE_SEPARATOR = '.';

export function remoteSlug(peer: string, slug: string): string {
  return `${peer}${REMOTE_SEPARATOR}${slug}`;
}

export class RemoteDirectory implements ServerDirectory {
  /** `{peer}.{slug}` → versions, newest first. */
  #bySlug = new Map<string, ServerRecord[]>();
  /** peer alias → its slugs here. */
  #byPeer = new Map<string, string[]>();

  /** Replaces what `peer` offers (undefined manifest or policy: nothing). */
  setPeer(peer: string, manifest: Manifest | undefined, policy: PeerPolicy | undefined): void {
    for (const slug of this.#byPeer.get(peer) ?? []) this.#bySlug.delete(slug);
    this.#byPeer.delete(peer);
    if (!manifest || !policy) return;
    const records = buildRecords(peer, manifest, policy);
    for (const record of records) {
      const versions = this.#bySlug.get(record.slug) ?? [];
      versions.push(record);
      versions.sort((a, b) => semver.rcompare(a.version, b.version));
      this.#bySlug.set(record.slug, versions);
    }
    this.#byPeer.set(peer, [...new Set(records.map((r) => r.slug))]);
  }

  /** Every peer that currently contributes servers. */
  peers(): string[] {
    return [...this.#byPeer.keys()].sort();
  }

  slugs(): string[] {
    return [...this.#bySlug.keys()].sort();
  }

  versions(slug: string): readonly ServerRecord[] {
    return this.#bySlug.get(slug) ?? [];
  }

  servableTools(record: ServerRecord): PinnedTool[] {
    return record.tools;
  }

  /** Drift is the peer's business: it withholds drifted tools from its manifest. */
  isWithheld(): boolean {
    return false;
  }
}

function buildRecords(peer: string, manifest: Manifest, policy: PeerPolicy): ServerRecord[] {
  const issuedAt = new Date(manifest.issuedAt).toISOString();
  const byVersion = new Map<string, ManifestTool[]>();
  for (const tool of manifest.tools) {
    const key = `${tool.slug}@${tool.version}`;
    byVersion.set(key, [...(byVersion.get(key) ?? []), tool]);
  }
  const records: ServerRecord[] = [];
  for (const tools of byVersion.values()) {
    const first = tools[0]!;
    const pinned: PinnedTool[] = [];
    for (const tool of tools) {
      const groups = importGroups(policy, tool);
      if (groups.length === 0) continue;
      pinned.push({ ...pinTool(tool, tool.access, `peer:${peer}`, issuedAt), allowedGroups: groups });
    }
    if (pinned.length === 0) continue;
    records.push({
      slug: remoteSlug(peer, first.slug),
      version: first.version,
      description: `${first.slug} of peer ${peer}`,
      owner: `peer:${peer}`,
      backend: { remote: { peer, slug: first.slug, version: first.version } },
      tools: pinned,
      lifecycle: first.lifecycle,
      allowedGroups: [...new Set(pinned.flatMap((t) => t.allowedGroups ?? []))].sort(),
      approvedBy: `peer:${peer}`,
      approvedAt: issuedAt,
      createdAt: issuedAt,
    });
  }
  return records;
}

/** The local groups our import rules let call `tool` of the peer. */
function importGroups(policy: PeerPolicy, tool: ManifestTool): string[] {
  const groups = new Set<string>();
  for (const rule of policy.imports) {
    if (rule.server === tool.slug && toolInSubset(rule.tools, tool.name)) for (const g of rule.groups) groups.add(g);
  }
  return [...groups].sort();
}
