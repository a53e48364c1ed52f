/**
 * `loadTrustPolicy(dir)`: read → parse → validate every file against the
 * schema → check the files agree → normalise (defaults filled in).
 *
 * Every file is checked before anything is refused, so one run names every
 * problem; each issue names the file and the JSON pointer of the field.
 */
import { TrustPolicyError, type TrustPolicyIssue } from './errors.js';
import { parsePolicyFile, readPolicyDirectory, type ParsedPolicyFile, type RawPolicyDirectory, type RawPolicyFile } from './files.js';
import { validatePolicyFile, type PolicyFileKind } from './schema.js';
import { TRUST_DEFAULTS, type ExportRule, type ImportRule, type PeerPolicy, type RateLimit, type TrustAnchor, type TrustPolicy } from './types.js';

/** The node file as the schema admits it. */
interface NodeDoc {
  namespace: string;
  alias: string;
  entityId: string;
  peerId?: string;
  trustAnchors: TrustAnchor[];
  defaults?: { peerRateLimit?: RateLimit; maxTokenTtlSeconds?: number };
}

/** A peer file as the schema admits it. */
interface PeerDoc {
  alias: string;
  description?: string;
  entityId: string;
  namespace?: string;
  peerId: string;
  addresses?: string[];
  trustAnchor?: string;
  rateLimit?: RateLimit;
  exports?: (Omit<ExportRule, 'versions'> & { versions?: string })[];
  imports?: ImportRule[];
  inbound?: { groupMapping?: Record<string, string[]>; scopeCeiling?: string[]; maxTokenTtlSeconds?: number };
}

/**
 * Loads and validates a policy directory.
 *
 * @throws TrustPolicyError `trust_policy_not_found` | `trust_policy_unreadable` |
 *   `trust_policy_syntax` | `trust_policy_schema` | `trust_policy_inconsistent`
 * @example
 * ```ts
 * import { loadTrustPolicy } from './load.js';
 * const policy = await loadTrustPolicy('trust-config/examples/sales');
 * console.log(policy.node.alias, policy.peers.map((p) => p.alias)); // sales [ 'acme', 'support' ]
 * ```
 */
export async function loadTrustPolicy(dir: string): Promise<TrustPolicy> {
  return parseTrustPolicy(await readPolicyDirectory(dir));
}

/** The same, from files already read (the watcher reads once to hash and parse). */
export function parseTrustPolicy(raw: RawPolicyDirectory): TrustPolicy {
  const syntax: TrustPolicyIssue[] = [];
  const parse = (f: RawPolicyFile): ParsedPolicyFile | undefined => {
    try {
      return parsePolicyFile(f);
    } catch (err) {
      if (!(err instanceof TrustPolicyError)) throw err;
      syntax.push(...err.issues);
      return undefined;
    }
  };
  const nodeParsed = parse(raw.nodeFile);
  const peersParsed = raw.peerFiles.map(parse);
  if (syntax.length) throw new TrustPolicyError('trust_policy_syntax', syntax);

  const schemaIssues: TrustPolicyIssue[] = [];
  const check = (kind: PolicyFileKind, f: ParsedPolicyFile): void => {
    for (const v of validatePolicyFile(kind, f.value)) schemaIssues.push(issueAt(f, v.pointer, v.message));
  };
  check('nodeFile', nodeParsed!);
  for (const p of peersParsed) check('peerFile', p!);
  if (schemaIssues.length) throw new TrustPolicyError('trust_policy_schema', schemaIssues);

  const node = nodeParsed!.value as NodeDoc;
  const peers = peersParsed.map((p) => ({ file: p!, doc: p!.value as PeerDoc }));
  const inconsistent = consistencyIssues(nodeParsed!, node, peers);
  if (inconsistent.length) throw new TrustPolicyError('trust_policy_inconsistent', inconsistent);

  return {
    node: { namespace: node.namespace, alias: node.alias, entityId: node.entityId, ...(node.peerId !== undefined ? { peerId: node.peerId } : {}) },
    trustAnchors: node.trustAnchors,
    peers: peers.map(({ file, doc }) => normalisePeer(doc, file.path, node)).sort((a, b) => (a.alias < b.alias ? -1 : 1)),
    source: { nodeFile: raw.nodeFile.path, files: [raw.nodeFile, ...raw.peerFiles].map((f) => ({ path: f.path, sha256: f.sha256 })), hash: raw.hash },
  };
}

function issueAt(f: ParsedPolicyFile, pointer: string, message: string): TrustPolicyIssue {
  const pos = f.locate(pointer);
  return { file: f.path, pointer, message, ...(pos ? { line: pos.line, column: pos.column } : {}) };
}

/** What the schema cannot see: agreement between files and with file names. */
function consistencyIssues(nodeFile: ParsedPolicyFile, node: NodeDoc, peers: { file: ParsedPolicyFile; doc: PeerDoc }[]): TrustPolicyIssue[] {
  const issues: TrustPolicyIssue[] = [];
  const anchors = new Set<string>();
  node.trustAnchors.forEach((a, i) => {
    if (anchors.has(a.entityId)) issues.push(issueAt(nodeFile, `/trustAnchors/${i}/entityId`, `trust anchor ${a.entityId} is listed twice`));
    anchors.add(a.entityId);
  });
  for (const { file, doc } of peers) {
    const expected = file.path.replace(/^.*\//, '').replace(/\.(ya?ml|json)$/, '');
    if (doc.alias !== expected) issues.push(issueAt(file, '/alias', `alias "${doc.alias}" does not match the file name (expected "${expected}")`));
    if (doc.trustAnchor !== undefined && !anchors.has(doc.trustAnchor)) {
      issues.push(issueAt(file, '/trustAnchor', `${doc.trustAnchor} is not one of the trust anchors in ${nodeFile.path}`));
    }
  }
  return issues;
}

function normalisePeer(doc: PeerDoc, file: string, node: NodeDoc): PeerPolicy {
  const exports: ExportRule[] = (doc.exports ?? []).map((r) => ({ server: r.server, versions: r.versions ?? '*', tools: r.tools, access: r.access, groups: r.groups }));
  const ceiling = doc.inbound?.scopeCeiling;
  return {
    alias: doc.alias,
    ...(doc.description !== undefined ? { description: doc.description } : {}),
    entityId: doc.entityId,
    namespace: doc.namespace ?? doc.alias,
    peerId: doc.peerId,
    addresses: doc.addresses ?? [],
    ...(doc.trustAnchor !== undefined ? { trustAnchor: doc.trustAnchor } : {}),
    rateLimit: doc.rateLimit ?? node.defaults?.peerRateLimit ?? TRUST_DEFAULTS.peerRateLimit,
    exports,
    imports: (doc.imports ?? []).map((r) => ({ server: r.server, tools: r.tools, groups: r.groups })),
    inbound: {
      groupMapping: doc.inbound?.groupMapping ?? {},
      scopeCeiling: ceiling ?? derivedScopeCeiling(exports),
      scopeCeilingDerived: ceiling === undefined,
      maxTokenTtlSeconds: doc.inbound?.maxTokenTtlSeconds ?? node.defaults?.maxTokenTtlSeconds ?? TRUST_DEFAULTS.maxTokenTtlSeconds,
    },
    file,
  };
}

/** One scope per exported server: `write` if any rule exports write access, else `read`. */
export function derivedScopeCeiling(exports: readonly ExportRule[]): string[] {
  const access = new Map<string, 'read' | 'write'>();
  for (const r of exports) if (access.get(r.server) !== 'write') access.set(r.server, r.access);
  return [...access].sort(([a], [b]) => (a < b ? -1 : 1)).map(([server, a]) => `mcp:tool:${server}:${a}`);
}
