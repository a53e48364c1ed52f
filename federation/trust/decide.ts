/**
 * Policy decisions federation asks of a trust policy. Default deny: an unknown
 * peer, server, version, tool, access or group is refused; only a rule that
 * matches every part of a call allows it. Rules are additive (any one match
 * allows); nothing in a policy can take away what another rule grants.
 *
 * The `may…` functions answer with a boolean; the `decide…` ones say why, for
 * the audit log and for `trust_denied` details.
 */
import semver from 'semver';
import type { Access, ExportRule, ImportRule, PeerPolicy, RateLimit, ToolSubset, TrustPolicy } from './types.js';

export type PeerCallDenial = 'unknown_peer' | 'server_not_exported' | 'version_not_exported' | 'tool_not_exported' | 'access_not_exported' | 'group_not_allowed';
export type ImportDenial = 'unknown_peer' | 'server_not_imported' | 'tool_not_imported' | 'group_not_allowed';

export type TrustDecision<Reason extends string> =
  | { allowed: true; peer: string; /** Index of the matching rule in the peer's `exports`/`imports`. */ rule: number }
  | { allowed: false; peer: string; reason: Reason };

export function findPeer(policy: TrustPolicy, alias: string): PeerPolicy | undefined {
  return policy.peers.find((p) => p.alias === alias);
}

/** The peer whose pinned peer id is `peerId` (the connection gater's question). */
export function findPeerById(policy: TrustPolicy, peerId: string): PeerPolicy | undefined {
  return policy.peers.find((p) => p.peerId === peerId);
}

export function toolInSubset(subset: ToolSubset, tool: string): boolean {
  return subset === '*' || subset.includes(tool);
}

/** `read` rules cover read tools; `write` rules cover both. */
export function accessCovers(granted: Access, needed: Access): boolean {
  return granted === 'write' || needed === 'read';
}

/** True when `version` is in `range`; an invalid version is in no range. */
export function versionInRange(version: string, range: string): boolean {
  return semver.valid(version) !== null && semver.satisfies(version, range);
}

export interface PeerExport {
  peer: string;
  rateLimit: RateLimit;
  rules: readonly ExportRule[];
}

/**
 * What we export to `peerAlias` (server slugs, version ranges, tools, access, peer groups),
 * or undefined for a peer not in the policy.
 *
 * @example
 * ```ts
 * import { exportFor } from './decide.js';
 * declare const policy: import('./types.js').TrustPolicy;
 * for (const r of exportFor(policy, 'support')?.rules ?? []) console.log(r.server, r.versions, r.tools, r.access);
 * ```
 */
export function exportFor(policy: TrustPolicy, peerAlias: string): PeerExport | undefined {
  const peer = findPeer(policy, peerAlias);
  return peer && { peer: peer.alias, rateLimit: peer.rateLimit, rules: peer.exports };
}

/**
 * Whether a caller of `peerAlias`, in `peerGroups`, may call `tool` (registry access `access`)
 * of our server `slug@version`. The denial names the first part no rule matched.
 */
export function decidePeerCall(policy: TrustPolicy, peerAlias: string, peerGroups: readonly string[], slug: string, version: string, tool: string, access: Access): TrustDecision<PeerCallDenial> {
  const peer = findPeer(policy, peerAlias);
  if (!peer) return { allowed: false, peer: peerAlias, reason: 'unknown_peer' };
  // Narrow step by step so a denial says how far the call got.
  const steps: [PeerCallDenial, (r: ExportRule) => boolean][] = [
    ['server_not_exported', (r) => r.server === slug],
    ['version_not_exported', (r) => versionInRange(version, r.versions)],
    ['tool_not_exported', (r) => toolInSubset(r.tools, tool)],
    ['access_not_exported', (r) => accessCovers(r.access, access)],
    ['group_not_allowed', (r) => r.groups.some((g) => peerGroups.includes(g))],
  ];
  let candidates = peer.exports.map((rule, index) => ({ rule, index }));
  for (const [reason, matches] of steps) {
    candidates = candidates.filter((c) => matches(c.rule));
    if (candidates.length === 0) return { allowed: false, peer: peer.alias, reason };
  }
  return { allowed: true, peer: peer.alias, rule: candidates[0]!.index };
}

/** {@link decidePeerCall} as a boolean. */
export function mayPeerCall(policy: TrustPolicy, peerAlias: string, peerGroups: readonly string[], slug: string, version: string, tool: string, access: Access): boolean {
  return decidePeerCall(policy, peerAlias, peerGroups, slug, version, tool, access).allowed;
}

/** Whether a local caller in `localGroups` may call the peer's `remoteSlug` tool `tool`. */
export function decideImport(policy: TrustPolicy, peerAlias: string, localGroups: readonly string[], remoteSlug: string, tool: string): TrustDecision<ImportDenial> {
  const peer = findPeer(policy, peerAlias);
  if (!peer) return { allowed: false, peer: peerAlias, reason: 'unknown_peer' };
  const steps: [ImportDenial, (r: ImportRule) => boolean][] = [
    ['server_not_imported', (r) => r.server === remoteSlug],
    ['tool_not_imported', (r) => toolInSubset(r.tools, tool)],
    ['group_not_allowed', (r) => r.groups.some((g) => localGroups.includes(g))],
  ];
  let candidates = peer.imports.map((rule, index) => ({ rule, index }));
  for (const [reason, matches] of steps) {
    candidates = candidates.filter((c) => matches(c.rule));
    if (candidates.length === 0) return { allowed: false, peer: peer.alias, reason };
  }
  return { allowed: true, peer: peer.alias, rule: candidates[0]!.index };
}

/** {@link decideImport} as a boolean. */
export function mayImport(policy: TrustPolicy, peerAlias: string, localGroups: readonly string[], remoteSlug: string, tool: string): boolean {
  return decideImport(policy, peerAlias, localGroups, remoteSlug, tool).allowed;
}

/** A server version and its tools as the registry has them (only what exporting needs). */
export interface ExportableServer {
  slug: string;
  version: string;
  tools: readonly { name: string; access: Access }[];
}

/**
 * The exact subset of `servers` exported to `peerAlias` (what its capability
 * manifest lists): per server version, the tools some rule covers. Servers with
 * no exported tool are left out.
 */
export function exportedSubset<S extends ExportableServer>(policy: TrustPolicy, peerAlias: string, servers: readonly S[]): { server: S; tools: S['tools'][number][] }[] {
  const peer = findPeer(policy, peerAlias);
  if (!peer) return [];
  const out: { server: S; tools: S['tools'][number][] }[] = [];
  for (const server of servers) {
    const rules = peer.exports.filter((r) => r.server === server.slug && versionInRange(server.version, r.versions));
    const tools = server.tools.filter((t) => rules.some((r) => toolInSubset(r.tools, t.name) && accessCovers(r.access, t.access)));
    if (tools.length) out.push({ server, tools });
  }
  return out;
}

export interface InboundGrant {
  /** Local groups of the issued token (the mapped groups of the caller's peer groups). */
  groups: string[];
  /** Requested scopes within the ceiling (the whole ceiling when none were requested). */
  scopes: string[];
  /** The requested lifetime capped by the ceiling. */
  ttlSeconds: number;
}

/**
 * Token translation for a caller of `peerAlias` (RFC 8693 exchange at our
 * token endpoint): group mapping, scope ceiling, lifetime ceiling. Undefined
 * for an unknown peer; empty groups/scopes mean the token grants nothing.
 */
export function inboundGrant(policy: TrustPolicy, peerAlias: string, peerGroups: readonly string[], requested: { scopes?: readonly string[]; ttlSeconds?: number } = {}): InboundGrant | undefined {
  const peer = findPeer(policy, peerAlias);
  if (!peer) return undefined;
  const { groupMapping, scopeCeiling, maxTokenTtlSeconds } = peer.inbound;
  const groups = new Set<string>();
  for (const g of peerGroups) for (const local of Object.hasOwn(groupMapping, g) ? groupMapping[g]! : []) groups.add(local);
  const scopes = requested.scopes ? requested.scopes.filter((s) => scopeCeiling.includes(s)) : [...scopeCeiling];
  const ttl = requested.ttlSeconds !== undefined && requested.ttlSeconds > 0 ? Math.min(requested.ttlSeconds, maxTokenTtlSeconds) : maxTokenTtlSeconds;
  return { groups: [...groups].sort(), scopes, ttlSeconds: ttl };
}
