/**
 * `diffTrustPolicies(before, after)`: what applying `after` changes, as a
 * structured list (for the audit log and history) and as text for reviewers.
 *
 * Export and import rules are compared per server: every rule of a server
 * before vs after, so reordering rules is no change and a change names the
 * server it touches. A new peer is reported with its exports and imports, so
 * a reviewer sees what it gets without opening the file.
 */
import type { ExportRule, ImportRule, NodeSelf, PeerPolicy, TrustAnchor, TrustPolicy } from './types.js';

export type PeerField = 'description' | 'entityId' | 'peerId' | 'addresses' | 'trustAnchor' | 'rateLimit';
export type TranslationField = 'groupMapping' | 'scopeCeiling' | 'maxTokenTtlSeconds';

export type TrustChange =
  | { kind: 'node_changed'; field: keyof NodeSelf; before: string | undefined; after: string | undefined }
  | { kind: 'anchor_added' | 'anchor_removed' | 'anchor_changed'; entityId: string; before: TrustAnchor | undefined; after: TrustAnchor | undefined }
  | { kind: 'peer_added' | 'peer_removed'; peer: string; entityId: string; peerId: string }
  | { kind: 'peer_changed'; peer: string; field: PeerField; before: unknown; after: unknown }
  | { kind: 'export_added' | 'export_removed' | 'export_changed'; peer: string; server: string; before: ExportRule[]; after: ExportRule[] }
  | { kind: 'import_added' | 'import_removed' | 'import_changed'; peer: string; server: string; before: ImportRule[]; after: ImportRule[] }
  | { kind: 'translation_changed'; peer: string; field: TranslationField; before: unknown; after: unknown };

export type TrustChangeKind = TrustChange['kind'];

/** JSON with sorted keys: equal meaning, equal text. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const same = (a: unknown, b: unknown): boolean => stable(a) === stable(b);

function byKey<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const item of items) m.set(key(item), [...(m.get(key(item)) ?? []), item]);
  return m;
}

function sortedKeys(...maps: Map<string, unknown>[]): string[] {
  return [...new Set(maps.flatMap((m) => [...m.keys()]))].sort();
}

/** Rules of one server compared as a set (order-insensitive). */
function ruleChanges<R extends ExportRule | ImportRule>(peer: string, before: readonly R[], after: readonly R[], prefix: 'export' | 'import'): TrustChange[] {
  const a = byKey(before, (r) => r.server);
  const b = byKey(after, (r) => r.server);
  const out: TrustChange[] = [];
  for (const server of sortedKeys(a, b)) {
    const x = a.get(server) ?? [];
    const y = b.get(server) ?? [];
    if (same(x.map(stable).sort(), y.map(stable).sort())) continue;
    const kind = x.length === 0 ? 'added' : y.length === 0 ? 'removed' : 'changed';
    out.push({ kind: `${prefix}_${kind}`, peer, server, before: [...x], after: [...y] } as TrustChange);
  }
  return out;
}

const EMPTY_PEER = { exports: [], imports: [] } as const;

function peerChanges(a: PeerPolicy | undefined, b: PeerPolicy | undefined): TrustChange[] {
  const out: TrustChange[] = [];
  const alias = (a ?? b)!.alias;
  if (!a) out.push({ kind: 'peer_added', peer: alias, entityId: b!.entityId, peerId: b!.peerId });
  if (!b) out.push({ kind: 'peer_removed', peer: alias, entityId: a!.entityId, peerId: a!.peerId });
  if (a && b) {
    for (const field of ['description', 'entityId', 'peerId', 'addresses', 'trustAnchor', 'rateLimit'] as const) {
      if (!same(a[field], b[field])) out.push({ kind: 'peer_changed', peer: alias, field, before: a[field], after: b[field] });
    }
  }
  out.push(...ruleChanges(alias, (a ?? EMPTY_PEER).exports, (b ?? EMPTY_PEER).exports, 'export'));
  out.push(...ruleChanges(alias, (a ?? EMPTY_PEER).imports, (b ?? EMPTY_PEER).imports, 'import'));
  if (a && b) {
    for (const field of ['groupMapping', 'scopeCeiling', 'maxTokenTtlSeconds'] as const) {
      const x = field === 'scopeCeiling' ? [...a.inbound.scopeCeiling].sort() : a.inbound[field];
      const y = field === 'scopeCeiling' ? [...b.inbound.scopeCeiling].sort() : b.inbound[field];
      if (!same(x, y)) out.push({ kind: 'translation_changed', peer: alias, field, before: a.inbound[field], after: b.inbound[field] });
    }
  }
  return out;
}

/**
 * The changes that turn `before` into `after` (`before` undefined: everything is added).
 *
 * @example
 * ```ts
 * import { loadTrustPolicy, diffTrustPolicies, renderTrustDiff } from './index.js';
 * const changes = diffTrustPolicies(await loadTrustPolicy('running'), await loadTrustPolicy('proposed'));
 * console.log(renderTrustDiff(changes));
 * ```
 */
export function diffTrustPolicies(before: TrustPolicy | undefined, after: TrustPolicy): TrustChange[] {
  const out: TrustChange[] = [];
  for (const field of ['namespace', 'alias', 'entityId', 'peerId'] as const) {
    if (before?.node[field] !== after.node[field]) out.push({ kind: 'node_changed', field, before: before?.node[field], after: after.node[field] });
  }
  const anchorsA = new Map((before?.trustAnchors ?? []).map((t) => [t.entityId, t]));
  const anchorsB = new Map(after.trustAnchors.map((t) => [t.entityId, t]));
  for (const id of sortedKeys(anchorsA, anchorsB)) {
    const x = anchorsA.get(id);
    const y = anchorsB.get(id);
    if (same(x, y)) continue;
    out.push({ kind: !x ? 'anchor_added' : !y ? 'anchor_removed' : 'anchor_changed', entityId: id, before: x, after: y });
  }
  const peersA = new Map((before?.peers ?? []).map((p) => [p.alias, p]));
  const peersB = new Map(after.peers.map((p) => [p.alias, p]));
  for (const alias of sortedKeys(peersA, peersB)) out.push(...peerChanges(peersA.get(alias), peersB.get(alias)));
  return out;
}

function tools(t: ExportRule['tools']): string {
  return t === '*' ? '*' : t.join(', ');
}

function exportRule(r: ExportRule): string {
  return `${r.server} ${r.versions} tools ${tools(r.tools)} (${r.access}) for peer groups ${r.groups.join(', ')}`;
}

function importRule(r: ImportRule): string {
  return `${r.server} tools ${tools(r.tools)} for local groups ${r.groups.join(', ')}`;
}

function value(v: unknown): string {
  if (v === undefined) return '(none)';
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('perMinute' in o && 'burst' in o) return `${String(o.perMinute)}/min burst ${String(o.burst)}`;
    return `{${Object.entries(o)
      .map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(', ') : String(x)}`)
      .join('; ')}}`;
  }
  return String(v);
}

function renderOne(c: TrustChange): string[] {
  switch (c.kind) {
    case 'node_changed':
      if (c.before === undefined) return [`+ node ${c.field}: ${value(c.after)}`];
      if (c.after === undefined) return [`- node ${c.field}: ${value(c.before)}`];
      return [`~ node ${c.field}: ${value(c.before)} → ${value(c.after)}`];
    case 'anchor_added':
      return [`+ trust anchor ${c.entityId}`];
    case 'anchor_removed':
      return [`- trust anchor ${c.entityId}`];
    case 'anchor_changed':
      return [`~ trust anchor ${c.entityId}: keys changed`];
    case 'peer_added':
      return [`+ peer ${c.peer} (${c.entityId}, ${c.peerId})`];
    case 'peer_removed':
      return [`- peer ${c.peer} (${c.entityId}, ${c.peerId})`];
    case 'peer_changed':
      return [`~ peer ${c.peer} ${c.field}: ${value(c.before)} → ${value(c.after)}`];
    case 'export_added':
      return c.after.map((r) => `+ export to ${c.peer}: ${exportRule(r)}`);
    case 'export_removed':
      return c.before.map((r) => `- export to ${c.peer}: ${exportRule(r)}`);
    case 'export_changed':
      return [`~ export to ${c.peer}: ${c.server}`, ...c.before.map((r) => `    - ${exportRule(r)}`), ...c.after.map((r) => `    + ${exportRule(r)}`)];
    case 'import_added':
      return c.after.map((r) => `+ import from ${c.peer}: ${importRule(r)}`);
    case 'import_removed':
      return c.before.map((r) => `- import from ${c.peer}: ${importRule(r)}`);
    case 'import_changed':
      return [`~ import from ${c.peer}: ${c.server}`, ...c.before.map((r) => `    - ${importRule(r)}`), ...c.after.map((r) => `    + ${importRule(r)}`)];
    case 'translation_changed':
      return [`~ inbound ${c.field} for ${c.peer}: ${value(c.before)} → ${value(c.after)}`];
  }
}

/** One line per change (`+` added, `-` removed, `~` changed); `no changes` when empty. */
export function renderTrustDiff(changes: readonly TrustChange[]): string {
  return changes.length === 0 ? 'no changes' : changes.flatMap(renderOne).join('\n');
}
