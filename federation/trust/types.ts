/**
 * The normalised trust policy: what a policy directory means once defaults are
 * filled in. Plain JSON (no Maps, no class instances) so a version can be kept
 * in history, persisted and diffed after a restart.
 *
 * Order is deterministic: peers sorted by alias, rules in file order (finding
 * paths refer to them by index), groups and tool lists as written.
 */

export type Access = 'read' | 'write';

/** `*` or a list of tool names. */
export type ToolSubset = '*' | readonly string[];

export interface RateLimit {
  perMinute: number;
  burst: number;
}

export interface TrustAnchor {
  entityId: string;
  description?: string;
  /** Inline public keys … */
  jwks?: { keys: Record<string, unknown>[] };
  /** … or RFC 7638 thumbprints of the keys its entity configuration must be signed with. */
  pinnedKeys?: string[];
}

export interface ExportRule {
  server: string;
  /** Semver range; `*` when the file leaves it out. */
  versions: string;
  tools: ToolSubset;
  access: Access;
  /** Peer groups that may call. */
  groups: readonly string[];
}

export interface ImportRule {
  /** The server's slug on the peer. */
  server: string;
  tools: ToolSubset;
  /** Local groups that may call. */
  groups: readonly string[];
}

export interface InboundTranslation {
  /** Peer group → local groups. */
  groupMapping: Readonly<Record<string, readonly string[]>>;
  /** The most an issued token may carry. */
  scopeCeiling: readonly string[];
  /** True when the file left `scopeCeiling` out and it was derived from the exports. */
  scopeCeilingDerived: boolean;
  maxTokenTtlSeconds: number;
}

export interface PeerPolicy {
  alias: string;
  description?: string;
  entityId: string;
  /** The peer's own namespace (callers it asserts are `{namespace}:{subject}` here); default: the alias. */
  namespace: string;
  peerId: string;
  addresses: readonly string[];
  /** The trust anchor the peer's chain must end at; undefined = any of ours. */
  trustAnchor?: string;
  rateLimit: RateLimit;
  exports: readonly ExportRule[];
  imports: readonly ImportRule[];
  inbound: InboundTranslation;
  /** The file it came from, relative to the policy directory (for findings). */
  file: string;
}

export interface NodeSelf {
  namespace: string;
  alias: string;
  entityId: string;
  peerId?: string;
}

/** One file of the directory and the SHA-256 of its bytes. */
export interface PolicyFile {
  path: string;
  sha256: string;
}

export interface TrustPolicy {
  node: NodeSelf;
  trustAnchors: readonly TrustAnchor[];
  /** Sorted by alias. */
  peers: readonly PeerPolicy[];
  /** Where it was read from. */
  source: {
    /** The node file, relative to the directory (`node.yaml` …). */
    nodeFile: string;
    files: readonly PolicyFile[];
    /** SHA-256 over the files' paths and hashes: equal hash, equal directory content. */
    hash: string;
  };
}

/** Built-in defaults where neither a peer file nor node.yaml `defaults` set a value. */
export const TRUST_DEFAULTS = {
  peerRateLimit: { perMinute: 500, burst: 1000 } as RateLimit,
  maxTokenTtlSeconds: 300,
} as const;
