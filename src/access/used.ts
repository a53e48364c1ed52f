/**
 * `used`: who actually called a server, how often, with what outcomes — read
 * from the audit log (PRODUCT.md §8), grouped by caller.
 *
 * Counting rules:
 * - one call = one correlation id. A forwarded call has an intent (`call`)
 *   and an `outcome` entry; a refused one a single `rejection`. The outcome
 *   comes from the `outcome`/`rejection` entry (`ok`, `isError`, `error`, or
 *   the refusal reason); a call with only an intent is `no_outcome` (still
 *   running, or the node stopped mid-call);
 * - a call counts in the window in which it ended (its outcome or rejection
 *   time); one that never ended counts when it started. Intents near `until`
 *   are looked up just past it so a call that ended later is not miscounted;
 * - entries are about the server when they name it, or — for refusals before
 *   routing (no credentials, unknown version) — when they arrived at its
 *   per-server endpoint (`detail.endpoint` `slug@major`);
 * - callers are grouped by credential kind, subject, tenant and issuer
 *   (two issuers may use the same subject for different people); callers
 *   without credentials are one group.
 */
import type { AuditEntry, AuditLog, AuditQuery } from '../audit/index.js';
import type { CredentialKind } from '../auth/identity.js';
import { SLUG_PATTERN } from '../registry/types.js';
import { AccessError } from './errors.js';

/** What to count: one server's calls, optionally within a window. */
export interface UsageQuery {
  slug: string;
  /** Calls that ended at or after this time (ISO 8601 or Date). */
  since?: string | Date;
  /** Calls that ended before this time. */
  until?: string | Date;
}

/** What the report reads. */
export interface UsageDeps {
  audit: Pick<AuditLog, 'query'>;
  /** Whether the slug is (or was) registered: unknown slugs are `not_found`. */
  isKnownSlug: (slug: string) => boolean;
  now?: () => Date;
  /** Stop after reading this many entries (default 1,000,000); the report then says `complete: false`. */
  maxEntries?: number;
}

/** The caller as the audit log recorded it; `kind: 'none'` for calls without credentials. */
export interface UsageIdentity {
  kind: CredentialKind | 'none';
  subject: string;
  tenant?: string;
  issuer?: string;
}

/** One caller's calls in the window. */
export interface CallerUsage {
  identity: UsageIdentity;
  calls: number;
  /** Calls per outcome: `ok`, `isError`, `error`, `no_outcome` or a refusal reason. */
  outcomes: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  /** `tools/call` calls per tool. */
  tools: Record<string, number>;
  /** Calls per MCP method. */
  methods: Record<string, number>;
  /** Server versions the calls reached (routed ones only). */
  versions: string[];
  /** OAuth clients or API key ids the caller used. */
  clientIds: string[];
}

/** The whole `used` answer (the admin API's JSON). */
export interface UsageReport {
  slug: string;
  since?: string;
  until?: string;
  at: string;
  calls: number;
  outcomes: Record<string, number>;
  /** Most calls first. */
  callers: CallerUsage[];
  /** Audit entries read. */
  scanned: number;
  /** False when `maxEntries` stopped the scan early. */
  complete: boolean;
}

const PAGE = 5000;
/** Longer than any call may take (call timeouts are seconds): an outcome is never further from its intent. */
const LOOKAHEAD_MS = 15 * 60_000;
const CALL_KINDS = new Set(['call', 'outcome', 'rejection']);

function bound(value: string | Date | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(ms)) throw new AccessError('invalid_input', `${name}: not a time: ${String(value)}`);
  return new Date(ms);
}

/** Whether an entry is a call (attempt) at `slug`. */
export function concerns(entry: AuditEntry, slug: string): boolean {
  if (!CALL_KINDS.has(entry.kind)) return false;
  if (entry.server !== undefined) return entry.server === slug;
  const endpoint = entry.detail?.endpoint;
  return typeof endpoint === 'string' && endpoint.startsWith(`${slug}@`) && /^\d+$/.test(endpoint.slice(slug.length + 1));
}

async function* scan(audit: UsageDeps['audit'], filter: AuditQuery, budget: { left: number }): AsyncGenerator<AuditEntry> {
  let fromSeq = 1;
  while (budget.left > 0) {
    const page = await audit.query({ ...filter, fromSeq, limit: Math.min(PAGE, budget.left) });
    budget.left -= page.length;
    yield* page;
    if (page.length < PAGE) return;
    fromSeq = page[page.length - 1]!.seq + 1;
  }
}

function identityOf(entry: AuditEntry): UsageIdentity {
  const id = entry.identity;
  if (!id) return { kind: 'none', subject: '(no credentials)' };
  return { kind: id.kind, subject: id.subject, ...(id.tenant !== undefined ? { tenant: id.tenant } : {}), ...(id.issuer !== undefined ? { issuer: id.issuer } : {}) };
}

function keyOf(id: UsageIdentity): string {
  return JSON.stringify([id.kind, id.subject, id.tenant ?? null, id.issuer ?? null]);
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * @example
 * ```ts
 * import { usage } from './used.js';
 * declare const audit: import('../audit/index.js').AuditLog;
 * const report = await usage({ audit, isKnownSlug: () => true }, { slug: 'crm', since: '2026-01-01T00:00:00Z' });
 * for (const c of report.callers) console.log(c.identity.subject, c.calls, c.outcomes);
 * ```
 */
export async function usage(deps: UsageDeps, query: UsageQuery): Promise<UsageReport> {
  if (typeof query.slug !== 'string' || !SLUG_PATTERN.test(query.slug)) throw new AccessError('invalid_input', 'slug: must match [a-z0-9-]{1,63}');
  if (!deps.isKnownSlug(query.slug)) throw new AccessError('not_found', `no server ${query.slug}`);
  const since = bound(query.since, 'since');
  const until = bound(query.until, 'until');
  if (since && until && until < since) throw new AccessError('invalid_input', 'until: must not be before since');
  const budget = { left: deps.maxEntries ?? 1_000_000 };

  /** correlationId → the entry that decides the call: its end, else its intent. */
  const calls = new Map<string, AuditEntry>();
  let scanned = 0;
  for await (const e of scan(deps.audit, { ...(since ? { since } : {}), ...(until ? { until } : {}) }, budget)) {
    scanned++;
    if (!concerns(e, query.slug)) continue;
    const seen = calls.get(e.correlationId);
    if (e.kind === 'call') {
      if (!seen) calls.set(e.correlationId, e);
    } else calls.set(e.correlationId, e); // an end replaces the intent (and a later end an earlier one)
  }
  const complete = budget.left > 0;

  // Intents without an end in the window: did the call end after `until`? Then it belongs to a later window.
  const open = [...calls.values()].filter((e) => e.kind === 'call').map((e) => e.correlationId);
  if (until && open.length > 0 && complete) {
    const pending = new Set(open);
    const ahead = { left: budget.left };
    for await (const e of scan(deps.audit, { since: until, until: new Date(until.getTime() + LOOKAHEAD_MS) }, ahead)) {
      scanned++;
      if (e.kind !== 'call' && pending.has(e.correlationId)) {
        calls.delete(e.correlationId);
        pending.delete(e.correlationId);
        if (pending.size === 0) break;
      }
    }
  }

  const byCaller = new Map<string, CallerUsage & { versionSet: Set<string>; clientSet: Set<string> }>();
  const totals: Record<string, number> = {};
  for (const e of calls.values()) {
    const identity = identityOf(e);
    const key = keyOf(identity);
    let c = byCaller.get(key);
    if (!c) {
      c = { identity, calls: 0, outcomes: {}, firstSeen: e.time, lastSeen: e.time, tools: {}, methods: {}, versions: [], clientIds: [], versionSet: new Set(), clientSet: new Set() };
      byCaller.set(key, c);
    }
    const outcome = e.kind === 'call' ? 'no_outcome' : (e.outcome ?? e.reason ?? 'unknown');
    c.calls++;
    bump(c.outcomes, outcome);
    bump(totals, outcome);
    if (e.time < c.firstSeen) c.firstSeen = e.time;
    if (e.time > c.lastSeen) c.lastSeen = e.time;
    if (e.method !== undefined) bump(c.methods, e.method);
    if (e.tool !== undefined) bump(c.tools, e.tool);
    if (e.version !== undefined) c.versionSet.add(e.version);
    if (e.identity?.clientId !== undefined) c.clientSet.add(e.identity.clientId);
  }
  const callers: CallerUsage[] = [...byCaller.values()]
    .map(({ versionSet, clientSet, ...c }) => ({ ...c, versions: [...versionSet].sort(), clientIds: [...clientSet].sort() }))
    .sort((a, b) => b.calls - a.calls || a.identity.subject.localeCompare(b.identity.subject) || a.identity.kind.localeCompare(b.identity.kind));

  return {
    slug: query.slug,
    ...(since ? { since: since.toISOString() } : {}),
    ...(until ? { until: until.toISOString() } : {}),
    at: (deps.now ?? (() => new Date()))().toISOString(),
    calls: calls.size,
    outcomes: totals,
    callers,
    scanned,
    complete,
  };
}
