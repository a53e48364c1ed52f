/**
 * The tamper-evident, durable audit log (PRODUCT.md §8): one LevelDB
 * directory of its own, a hash chain of entries made durable by group
 * commit, signed checkpoints, verification, reading and retention.
 *
 * The parts live next door: `writer.ts` (group commit, fail closed,
 * checkpoints), `verify.ts`, `reader.ts`, `retention.ts`, `chain.ts`.
 */
import type { JWK } from 'jose';
import type { NodeIdentity } from '../node/identity.js';
import type { Checkpoint } from './checkpoint.js';
import type { AuditEntry, AuditEntryInput } from './entry.js';
import { exportLines, listCheckpoints, queryEntries, tailEntries, type AuditQuery, type TailOptions } from './reader.js';
import { pruneStore, type PruneOptions, type PruneResult } from './retention.js';
import { AuditStore, type AuditWriteOp, type ChainHead } from './store.js';
import { verifyStore, type VerifyOptions, type VerifyReport } from './verify.js';
import { GroupCommitWriter, type AppendOptions, type AvailabilityListener } from './writer.js';

/** Options of `AuditLog.open`. */
export interface AuditLogOptions {
  /** The node name recorded in every entry and checkpoint. */
  node: string;
  /** Signs checkpoints (kid = identity.kid); its public key verifies them. */
  identity: NodeIdentity;
  /** A checkpoint at least every this many entries (default 1000). */
  checkpointEvery?: number;
  /** A checkpoint at least this often when anything new is durable (default 10000 ms; 0 disables). */
  checkpointIntervalMs?: number;
  /** While unavailable, probe the disk this often (default 1000 ms; 0: only appends retry). */
  retryIntervalMs?: number;
  /** An entry appended with `{ sync: false }` is fsynced within this long (default 100 ms). */
  syncIntervalMs?: number;
  /** At most this many entries per synced batch (default 2048). */
  maxBatch?: number;
  /** The clock (tests freeze it). */
  now?: () => Date;
  /** Test injection: sees each write (and whether it is synced) before it happens; throw to simulate a failing disk. */
  writeHook?: (ops: readonly AuditWriteOp[], sync: boolean) => void | Promise<void>;
}

/**
 * @example
 * ```ts
 * import { AuditLog } from './audit-log.js';
 * import { loadOrCreateIdentity } from '../node/identity.js';
 * const { identity } = await loadOrCreateIdentity('/tmp/node-data');
 * const log = await AuditLog.open('/tmp/node-data/audit', { node: 'node-a', identity });
 * const entry = await log.append({ kind: 'call', correlationId: 'c-1', server: 'web', tool: 'search' }); // durable now
 * const report = await log.verify(); // { ok: true, entries: 1, … }
 * await log.close();
 * console.log(entry.seq, report.ok);
 * ```
 */
export class AuditLog {
  /** Prunes run one at a time. */
  private pruning: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: AuditStore,
    private readonly writer: GroupCommitWriter,
    private readonly identity: NodeIdentity,
  ) {}

  /**
   * Opens (creating if needed) the log in `dir`. The chain continues from the
   * last durable entry (or the newest checkpoint past it), so after a crash
   * no sequence number is reused. Throws `AuditError('audit_locked')` when
   * another process holds the directory.
   */
  static async open(dir: string, options: AuditLogOptions): Promise<AuditLog> {
    const store = await AuditStore.open(dir);
    try {
      const head = await store.recoverHead();
      const lastCheckpoint = await store.lastCheckpoint();
      const writer = new GroupCommitWriter(store, head, lastCheckpoint?.seq ?? 0, {
        node: options.node,
        identity: options.identity,
        checkpointEvery: positive(options.checkpointEvery, 1000, 'checkpointEvery'),
        checkpointIntervalMs: nonNegative(options.checkpointIntervalMs, 10_000, 'checkpointIntervalMs'),
        retryIntervalMs: nonNegative(options.retryIntervalMs, 1000, 'retryIntervalMs'),
        syncIntervalMs: nonNegative(options.syncIntervalMs, 100, 'syncIntervalMs'),
        maxBatch: positive(options.maxBatch, 2048, 'maxBatch'),
        now: options.now ?? (() => new Date()),
        writeHook: options.writeHook,
      });
      return new AuditLog(store, writer, options.identity);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /**
   * Records an entry; resolves once it is durable (fsynced), with its seq,
   * time, prev and hash. Rejects with `AuditUnavailableError`
   * (`audit_unavailable`) when it could not be written, `AuditError`
   * `audit_closed` after `close()`, `invalid_entry` for a malformed input.
   * The caller must not proceed (proxy the call) unless this resolves.
   * With `{ sync: false }` it resolves once written (it survives a killed
   * process) and is fsynced within `syncIntervalMs` or with the next synced
   * entry: for records of what already happened, such as a call's outcome.
   */
  append(input: AuditEntryInput, options?: AppendOptions): Promise<AuditEntry> {
    return this.writer.append(input, options);
  }

  /** False from a failed write until a write succeeds again (the log retries by itself). */
  get available(): boolean {
    return this.writer.available;
  }

  /** The last durable entry's seq and hash. */
  get head(): ChainHead {
    return this.writer.durable;
  }

  /** Calls `listener` whenever `available` changes; returns the unsubscribe function. */
  onAvailabilityChange(listener: AvailabilityListener): () => void {
    return this.writer.onAvailabilityChange(listener);
  }

  /** Every stored checkpoint, oldest first. */
  checkpoints(): Promise<Checkpoint[]> {
    return listCheckpoints(this.store);
  }

  /** The checkpoints as JSON lines (each ending in `\n`), to keep somewhere an attacker of this disk cannot reach. */
  async *exportCheckpoints(): AsyncGenerator<string> {
    for (const cp of await listCheckpoints(this.store)) yield JSON.stringify(cp) + '\n';
  }

  /**
   * Checks the whole retained chain and every checkpoint; names the first
   * altered, missing, reordered or reinserted entry, a truncated tail or a
   * bad checkpoint. Entries not yet durable are not included.
   */
  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyStore(this.store, options.publicJwk ?? (this.identity.publicJwk as JWK), options.checkpoints);
  }

  /** Durable entries from `fromSeq`, then new ones as they become durable, until `close()` or `signal` aborts. */
  tail(fromSeq = 1, options: TailOptions = {}): AsyncGenerator<AuditEntry> {
    return tailEntries(this.store, this.writer, fromSeq, options);
  }

  /** Entries matching every given filter, oldest first, at most `limit` (default 1000). */
  query(filter: AuditQuery = {}): Promise<AuditEntry[]> {
    return queryEntries(this.store, filter);
  }

  /** Durable entries from `fromSeq` as JSON lines (each ending in `\n`), streamed; resume with the last seq + 1. */
  export(options: { fromSeq?: number; toSeq?: number } = {}): AsyncGenerator<string> {
    return exportLines(this.store, options.fromSeq ?? 1, options.toSeq);
  }

  /** Exports, then deletes, the entries older than `olderThan` behind a signed retention checkpoint. */
  prune(options: PruneOptions): Promise<PruneResult> {
    const run = this.pruning.then(() => pruneStore(this.store, this.writer, options));
    this.pruning = run.catch(() => undefined);
    return run;
  }

  /** Flushes queued entries, writes a final checkpoint, ends tails and closes the database. */
  async close(): Promise<void> {
    await this.writer.close();
    await this.store.close();
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be zero or more`);
  return value;
}
