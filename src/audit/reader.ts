/**
 * Reading the audit log: follow (`audit tail`), filter (`audit query`) and
 * stream out (`audit export`). Only durable entries are ever read.
 *
 * Reads go in pages of `PAGE` entries with `.all()`, so no LevelDB iterator
 * stays open while a consumer holds the generator (a slow HTTP client, a
 * prune or a close in between are all harmless), and every stream can
 * resume from the next seq.
 */
import { parseSeqKey, seqKey } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import type { AuditEntry, AuditKind } from './entry.js';
import type { AuditStore } from './store.js';
import type { GroupCommitWriter } from './writer.js';

const PAGE = 1000;

/** Filters of `query`: every given filter must match. */
export interface AuditQuery {
  /** Entries at or after this time (a Date or an ISO 8601 string). */
  since?: Date | string;
  /** Entries before this time. */
  until?: Date | string;
  /** The caller's subject. */
  identity?: string;
  tenant?: string;
  server?: string;
  tool?: string;
  outcome?: string;
  kind?: AuditKind;
  correlationId?: string;
  /** Start the scan at this seq (for paging: the last seen seq + 1). */
  fromSeq?: number;
  /** At most this many entries (default 1000). */
  limit?: number;
}

/** Options of `tail`. */
export interface TailOptions {
  /** Ends the iteration (the iterator then returns). */
  signal?: AbortSignal;
}

/** Raw stored lines of seqs in [from, to], page by page, as `[seq, text]`. */
export async function* rawEntries(store: AuditStore, from: number, to = Number.MAX_SAFE_INTEGER): AsyncGenerator<[number, string]> {
  let next = Math.max(1, from);
  while (next <= to) {
    const rows = await store.entries.iterator({ gte: seqKey(next), lte: seqKey(to), limit: PAGE, valueEncoding: 'utf8' }).all();
    for (const [key, value] of rows) {
      const seq = parseSeqKey(key);
      if (seq !== undefined) yield [seq, value as string];
    }
    if (rows.length < PAGE) return;
    next = (parseSeqKey(rows[rows.length - 1]![0]) ?? to) + 1;
  }
}

/** Every durable entry from `fromSeq`, then each new one as it becomes durable, until the log closes or `signal` aborts. */
export async function* tailEntries(store: AuditStore, writer: GroupCommitWriter, fromSeq: number, options: TailOptions = {}): AsyncGenerator<AuditEntry> {
  let next = Math.max(1, fromSeq);
  for (;;) {
    if (options.signal?.aborted || writer.isClosed) return;
    const durable = writer.durable.seq;
    if (next <= durable) {
      try {
        for await (const [seq, text] of rawEntries(store, next, durable)) {
          yield JSON.parse(text) as AuditEntry;
          next = seq + 1;
          if (options.signal?.aborted || writer.isClosed) return;
        }
      } catch (err) {
        if (writer.isClosed) return; // the database closed under a page read
        throw err;
      }
      next = Math.max(next, durable + 1);
      continue;
    }
    await writer.waitForDurable(next - 1, options.signal);
  }
}

function timeBound(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not a time: ${String(value)}`);
  return ms;
}

/** Entries matching every filter, oldest first. */
export async function queryEntries(store: AuditStore, q: AuditQuery = {}): Promise<AuditEntry[]> {
  const since = timeBound(q.since);
  const until = timeBound(q.until);
  const limit = q.limit ?? 1000;
  const out: AuditEntry[] = [];
  if (limit <= 0) return out;
  for await (const [, text] of rawEntries(store, q.fromSeq ?? 1)) {
    let e: AuditEntry;
    try {
      e = JSON.parse(text) as AuditEntry;
    } catch {
      continue; // damaged: verify() reports it
    }
    const time = Date.parse(e.time);
    if (since !== undefined && !(time >= since)) continue;
    if (until !== undefined && !(time < until)) continue;
    if (q.identity !== undefined && e.identity?.subject !== q.identity) continue;
    if (q.tenant !== undefined && e.identity?.tenant !== q.tenant) continue;
    if (q.server !== undefined && e.server !== q.server) continue;
    if (q.tool !== undefined && e.tool !== q.tool) continue;
    if (q.outcome !== undefined && e.outcome !== q.outcome) continue;
    if (q.kind !== undefined && e.kind !== q.kind) continue;
    if (q.correlationId !== undefined && e.correlationId !== q.correlationId) continue;
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}

/** JSON lines (each ending in `\n`) of the durable entries from `fromSeq`: the text exactly as stored. */
export async function* exportLines(store: AuditStore, fromSeq = 1, toSeq?: number): AsyncGenerator<string> {
  for await (const [, text] of rawEntries(store, fromSeq, toSeq)) yield text + '\n';
}

/** Every stored checkpoint, oldest first (as stored: `verify()` checks them). */
export async function listCheckpoints(store: AuditStore): Promise<Checkpoint[]> {
  const rows = await store.checkpoints.iterator().all();
  return rows.map(([, value]) => value as Checkpoint);
}
