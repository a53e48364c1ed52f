/**
 * `lintTrustPolicy`: what a schema-valid policy may still get wrong. Errors make
 * `toolmesh trust check` fail and the watcher refuse the directory; warnings are
 * shown to the reviewer and do not block.
 *
 * Rules (code → level):
 *   duplicate_peer_id, duplicate_entity_id, peer_is_self, address_peer_id_mismatch → error
 *   unknown_server (only with `knownServers`), overlapping_export, overlapping_import,
 *   peer_without_addresses, address_not_tcp, implausible_tool_name, scope_wider_than_export,
 *   unmapped_export_group, unused_group_mapping, wildcard_write_export,
 *   insecure_entity_id, nothing_shared → warning
 */
import { multiaddr } from '@multiformats/multiaddr';
import semver from 'semver';
import { TrustPolicyError } from './errors.js';
import type { ExportRule, ImportRule, PeerPolicy, ToolSubset, TrustPolicy } from './types.js';

export type LintCode =
  | 'duplicate_peer_id'
  | 'duplicate_entity_id'
  | 'peer_is_self'
  | 'address_peer_id_mismatch'
  | 'unknown_server'
  | 'overlapping_export'
  | 'overlapping_import'
  | 'peer_without_addresses'
  | 'address_not_tcp'
  | 'implausible_tool_name'
  | 'scope_wider_than_export'
  | 'unmapped_export_group'
  | 'unused_group_mapping'
  | 'wildcard_write_export'
  | 'insecure_entity_id'
  | 'nothing_shared';

export interface LintFinding {
  level: 'error' | 'warning';
  code: LintCode;
  message: string;
  /** `file#pointer`, e.g. `peers/acme.yaml#/exports/1/server`. */
  path: string;
}

export interface LintOptions {
  /** Slugs of the servers registered on this node; without it `unknown_server` is not checked. */
  knownServers?: readonly string[];
}

const LEVEL: Readonly<Record<LintCode, LintFinding['level']>> = {
  duplicate_peer_id: 'error',
  duplicate_entity_id: 'error',
  peer_is_self: 'error',
  address_peer_id_mismatch: 'error',
  unknown_server: 'warning',
  overlapping_export: 'warning',
  overlapping_import: 'warning',
  peer_without_addresses: 'warning',
  address_not_tcp: 'warning',
  implausible_tool_name: 'warning',
  scope_wider_than_export: 'warning',
  unmapped_export_group: 'warning',
  unused_group_mapping: 'warning',
  wildcard_write_export: 'warning',
  insecure_entity_id: 'warning',
  nothing_shared: 'warning',
};

/**
 * Lints a loaded policy. Findings are sorted: errors first, then by path.
 *
 * @example
 * ```ts
 * import { loadTrustPolicy, lintTrustPolicy } from './index.js';
 * const findings = lintTrustPolicy(await loadTrustPolicy('trust-config/examples/sales'), { knownServers: ['crm', 'quotes'] });
 * if (findings.some((f) => f.level === 'error')) process.exitCode = 1;
 * ```
 */
export function lintTrustPolicy(policy: TrustPolicy, options: LintOptions = {}): LintFinding[] {
  const findings: LintFinding[] = [];
  const add = (code: LintCode, path: string, message: string) => findings.push({ level: LEVEL[code], code, message, path });
  const nodeFile = policy.source.nodeFile;

  if (insecure(policy.node.entityId)) add('insecure_entity_id', `${nodeFile}#/entityId`, `${policy.node.entityId} is not https: only loopback development may use http`);
  const seenPeerId = new Map<string, string>();
  const seenEntity = new Map<string, string>();
  for (const peer of policy.peers) {
    const at = (pointer: string) => `${peer.file}#${pointer}`;
    const other = seenPeerId.get(peer.peerId);
    if (other !== undefined) add('duplicate_peer_id', at('/peerId'), `peer id ${peer.peerId} is also peer "${other}": a connection could not be told apart`);
    seenPeerId.set(peer.peerId, peer.alias);
    const otherEntity = seenEntity.get(peer.entityId);
    if (otherEntity !== undefined) add('duplicate_entity_id', at('/entityId'), `entity id ${peer.entityId} is also peer "${otherEntity}"`);
    seenEntity.set(peer.entityId, peer.alias);
    if (peer.alias === policy.node.alias) add('peer_is_self', at('/alias'), `"${peer.alias}" is this node's own alias`);
    if (peer.peerId === policy.node.peerId) add('peer_is_self', at('/peerId'), `${peer.peerId} is this node's own peer id`);
    if (peer.entityId === policy.node.entityId) add('peer_is_self', at('/entityId'), `${peer.entityId} is this node's own entity id`);
    if (insecure(peer.entityId)) add('insecure_entity_id', at('/entityId'), `${peer.entityId} is not https: only loopback development may use http`);
    lintAddresses(peer, add);
    if (peer.exports.length === 0 && peer.imports.length === 0) add('nothing_shared', peer.file, `peer "${peer.alias}" has no exports and no imports: nothing is shared either way`);
    lintExports(peer, options, add);
    lintImports(peer, add);
    lintTranslation(peer, add);
  }
  return findings.sort((a, b) => (a.level !== b.level ? (a.level === 'error' ? -1 : 1) : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

type Add = (code: LintCode, path: string, message: string) => void;

function insecure(entityId: string): boolean {
  const url = new URL(entityId);
  return url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function lintAddresses(peer: PeerPolicy, add: Add): void {
  if (peer.addresses.length === 0) add('peer_without_addresses', `${peer.file}#/addresses`, `peer "${peer.alias}" has no addresses: this node never dials it, only accepts its connections`);
  peer.addresses.forEach((a, i) => {
    const components = multiaddr(a).getComponents();
    const p2p = components.find((c) => c.name === 'p2p')?.value;
    if (p2p !== undefined && p2p !== peer.peerId) add('address_peer_id_mismatch', `${peer.file}#/addresses/${i}`, `address names peer id ${p2p}, but the peer's pinned id is ${peer.peerId}`);
    if (!components.some((c) => c.name === 'tcp')) add('address_not_tcp', `${peer.file}#/addresses/${i}`, `${a} has no /tcp/ part: nodes connect over TCP only`);
  });
}

function intersects(a: ToolSubset, b: ToolSubset): boolean {
  return a === '*' || b === '*' || a.some((t) => b.includes(t));
}

function rangesIntersect(a: string, b: string): boolean {
  try {
    return semver.intersects(a, b);
  } catch {
    return true;
  }
}

/** A tool name that reads like an aggregate name (`slug__tool`, `peer.slug__tool`, `peer.tool`) rather than a bare one. */
function implausible(tool: string, peerAlias: string): string | undefined {
  if (tool.includes('__')) return `"${tool}" looks like an aggregate name ({slug}__{tool}); name the bare tool`;
  if (tool.startsWith(`${peerAlias}.`)) return `"${tool}" starts with the peer's alias; name the bare tool`;
  return undefined;
}

function lintTools(tools: ToolSubset, path: string, peerAlias: string, add: Add): void {
  if (tools === '*') return;
  tools.forEach((t, i) => {
    const why = implausible(t, peerAlias);
    if (why) add('implausible_tool_name', `${path}/tools/${i}`, why);
  });
}

function lintExports(peer: PeerPolicy, options: LintOptions, add: Add): void {
  const known = options.knownServers ? new Set(options.knownServers) : undefined;
  peer.exports.forEach((r: ExportRule, i) => {
    const at = `${peer.file}#/exports/${i}`;
    if (known && !known.has(r.server)) add('unknown_server', `${at}/server`, `server "${r.server}" is not registered on this node`);
    if (r.tools === '*' && r.access === 'write') add('wildcard_write_export', at, `every tool of "${r.server}", including write tools, is exported to "${peer.alias}": list the tools, or confirm`);
    lintTools(r.tools, at, peer.alias, add);
    for (let j = 0; j < i; j++) {
      const o = peer.exports[j]!;
      if (o.server === r.server && rangesIntersect(o.versions, r.versions) && intersects(o.tools, r.tools) && o.groups.some((g) => r.groups.includes(g))) {
        add('overlapping_export', at, `overlaps /exports/${j} (server "${r.server}", versions ${o.versions} and ${r.versions}, shared tools and groups): the union applies; merge or narrow them`);
      }
    }
  });
}

function lintImports(peer: PeerPolicy, add: Add): void {
  peer.imports.forEach((r: ImportRule, i) => {
    const at = `${peer.file}#/imports/${i}`;
    lintTools(r.tools, at, peer.alias, add);
    for (let j = 0; j < i; j++) {
      const o = peer.imports[j]!;
      if (o.server === r.server && intersects(o.tools, r.tools) && o.groups.some((g) => r.groups.includes(g))) {
        add('overlapping_import', at, `overlaps /imports/${j} (server "${r.server}", shared tools and groups): merge or narrow them`);
      }
    }
  });
}

function lintTranslation(peer: PeerPolicy, add: Add): void {
  const { groupMapping, scopeCeiling, scopeCeilingDerived } = peer.inbound;
  const exportGroups = new Set(peer.exports.flatMap((r) => r.groups));
  peer.exports.forEach((r, i) => {
    r.groups.forEach((g, k) => {
      if (!Object.hasOwn(groupMapping, g)) {
        add('unmapped_export_group', `${peer.file}#/exports/${i}/groups/${k}`, `peer group "${g}" has no inbound.groupMapping entry: its callers get no local group, so local authorization refuses them`);
      }
    });
  });
  for (const g of Object.keys(groupMapping)) {
    if (!exportGroups.has(g)) add('unused_group_mapping', `${peer.file}#/inbound/groupMapping/${g.replace(/~/g, '~0').replace(/\//g, '~1')}`, `peer group "${g}" is mapped but no export rule lets it call anything`);
  }
  if (scopeCeilingDerived) return;
  const exported = new Map<string, 'read' | 'write'>();
  for (const r of peer.exports) if (exported.get(r.server) !== 'write') exported.set(r.server, r.access);
  scopeCeiling.forEach((scope, i) => {
    const [, , server, access] = scope.split(':') as [string, string, string, 'read' | 'write'];
    const granted = exported.get(server);
    const at = `${peer.file}#/inbound/scopeCeiling/${i}`;
    if (granted === undefined) add('scope_wider_than_export', at, `${scope}: server "${server}" is not exported to "${peer.alias}"`);
    else if (access === 'write' && granted === 'read') add('scope_wider_than_export', at, `${scope}: only read access to "${server}" is exported to "${peer.alias}"`);
  });
}

/** `file#pointer` → its parts. */
export function splitFindingPath(path: string): { file: string; pointer: string } {
  const i = path.indexOf('#');
  return i < 0 ? { file: path, pointer: '' } : { file: path.slice(0, i), pointer: path.slice(i + 1) };
}

/** A `trust_policy_lint` error for the error-level findings, or undefined when there are none. */
export function lintError(findings: readonly LintFinding[]): TrustPolicyError | undefined {
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length === 0) return undefined;
  return new TrustPolicyError(
    'trust_policy_lint',
    errors.map((f) => ({ ...splitFindingPath(f.path), message: `${f.code}: ${f.message}` })),
  );
}
