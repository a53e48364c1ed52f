/**
 * Group commit: the part of the audit log that makes entries durable.
 *
 * - `append` seals an entry synchronously (seq, prev, hash — so concurrent
 *   appends are chained in call order) and queues it; it resolves only once
 *   the entry is in a LevelDB batch written with `sync: true` — or, for an
 *   entry appended with `{ sync: false }` (a call's outcome, written after the
 *   call happened), once the batch is written at all: it then survives a
 *   killed process, and becomes durable against power loss with the next
 *   synced batch or within `syncIntervalMs`, whichever comes first.
 * - One flush is in flight at a time; whatever queues meanwhile goes into the
 *   next flush as one batch, so throughput grows with concurrency while each
 *   entry still waits for one fsync.
 * - Fail closed: a failed flush rejects each of its entries with
 *   `AuditUnavailableError`, rolls the head back to the last durable entry
 *   and re-chains whatever queued behind it, so sequence numbers stay
 *   contiguous (no gap, no reuse). The log is then `available === false`
 *   until a write succeeds: the next flush, or a probe write on a timer.
 * - Checkpoints ride in the flush batch that reaches `checkpointEvery` new
 *   entries, or in a batch of their own every `checkpointIntervalMs` when
 *   anything new became durable.
 * Every write (flush, probe, retention checkpoint) runs through one
 * exclusive section, so checkpoint decisions never race.
 */
import type { NodeIdentity } from '../node/identity.js';
import { sealEntry, seqKey } from './chain.js';
import { signCheckpoint, type Checkpoint } from './checkpoint.js';
import { normalizeInput, type AuditEntry, type AuditEntryInput } from './entry.js';
import { AuditError, AuditUnavailableError } from './errors.js';
import type { AuditStore, AuditWriteOp, ChainHead } from './store.js';

export interface WriterOptions {
  node: string;
  identity: NodeIdentity;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  retryIntervalMs: number;
  /** How long an entry appended with `{ sync: false }` may stay unsynced when nothing else syncs it. */
  syncIntervalMs: number;
  maxBatch: number;
  now: () => Date;
  writeHook: ((ops: readonly AuditWriteOp[], sync: boolean) => void | Promise<void>) | undefined;
}

/** Options of one `append`. */
export interface AppendOptions {
  /** Wait for fsync (default). False: resolve once written (survives kill -9), synced shortly after. */
  sync?: boolean;
}

interface Pending {
  input: AuditEntryInput;
  sync: boolean;
  time: string;
  entry: AuditEntry;
  json: string;
  resolve: (entry: AuditEntry) => void;
  reject: (err: Error) => void;
}

/** Called with the new state whenever the log becomes (un)available. */
export type AvailabilityListener = (available: boolean, cause?: unknown) => void;

/**
 * Makes entries durable in order, in synced batches; owns the chain head,
 * availability and checkpoint scheduling. Used through `AuditLog`.
 */
export class GroupCommitWriter {
  /** The head including queued entries (what the next append chains to). */
  private assigned: ChainHead;
  /** The head of what is on disk. */
  private durableHead: ChainHead;
  /** The last seq known fsynced (≤ durableHead.seq; less while unsynced entries wait). */
  private syncedSeq: number;
  private syncTimer: NodeJS.Timeout | undefined;
  private lastCheckpointSeq: number;
  private checkpointDue = false;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private isAvailable = true;
  private closed = false;
  private readonly availabilityListeners = new Set<AvailabilityListener>();
  private durableWaiters = new Set<() => void>();
  private readonly checkpointTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: AuditStore,
    head: ChainHead,
    lastCheckpointSeq: number,
    private readonly options: WriterOptions,
  ) {
    this.assigned = { ...head };
    this.durableHead = { ...head };
    this.syncedSeq = head.seq;
    this.lastCheckpointSeq = lastCheckpointSeq;
    if (options.checkpointIntervalMs > 0) {
      this.checkpointTimer = setInterval(() => this.requestCheckpoint(), options.checkpointIntervalMs);
      this.checkpointTimer.unref();
    }
  }

  /** False from a failed write until a write succeeds again. */
  get available(): boolean {
    return this.isAvailable;
  }

  /** The last entry on disk. */
  get durable(): ChainHead {
    return { ...this.durableHead };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Seals the entry now (seq, prev, hash in call order); resolves once it is durable. */
  append(input: AuditEntryInput, options: AppendOptions = {}): Promise<AuditEntry> {
    if (this.closed) return Promise.reject(new AuditError('audit_closed', 'the audit log is closed'));
    let normalized: AuditEntryInput;
    try {
      normalized = normalizeInput(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AuditEntry>((resolve, reject) => {
      const pending = { input: normalized, sync: options.sync !== false, time: this.options.now().toISOString(), resolve, reject } as Pending;
      this.seal(pending);
      this.queue.push(pending);
      this.schedule();
    });
  }

  /** Subscribes to availability changes; returns the unsubscribe function. */
  onAvailabilityChange(listener: AvailabilityListener): () => void {
    this.availabilityListeners.add(listener);
    return () => this.availabilityListeners.delete(listener);
  }

  /** Resolves once an entry after `seq` is durable, or the log closes, or `signal` aborts. */
  waitForDurable(seq: number, signal?: AbortSignal): Promise<void> {
    if (this.durableHead.seq > seq || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.durableWaiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = (): void => {
        if (this.durableHead.seq > seq || this.closed) done();
      };
      this.durableWaiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Runs `fn` with no other write in flight. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes a retention checkpoint at `seq` (already durable) in a synced batch
   * of its own; later checkpoints are only made past it.
   */
  writeRetentionCheckpoint(seq: number, hash: string): Promise<Checkpoint> {
    return this.exclusive(async () => {
      const cp = await signCheckpoint(this.options.identity, { node: this.options.node, seq, hash, time: this.options.now().toISOString(), retention: true });
      try {
        await this.write([{ type: 'put', sublevel: this.store.checkpoints, key: seqKey(seq), value: cp }]);
      } catch (err) {
        this.setAvailable(false, err);
        throw new AuditUnavailableError('the audit log could not write the retention checkpoint', { cause: err });
      }
      this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, seq);
      return cp;
    });
  }

  /** Flushes everything queued, writes a last checkpoint when anything is new, and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkpointTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.syncTimer);
    this.checkpointDue = true;
    this.schedule();
    while (this.flushing !== undefined) await this.flushing;
    await this.lock;
    for (const wake of [...this.durableWaiters]) wake();
  }

  private seal(p: Pending): void {
    const seq = this.assigned.seq + 1;
    const sealed = sealEntry(p.input, { seq, prev: this.assigned.hash, time: p.time, node: this.options.node });
    p.entry = sealed.entry;
    p.json = sealed.json;
    this.assigned = { seq, hash: sealed.entry.hash };
  }

  private requestCheckpoint(): void {
    if (this.durableHead.seq <= this.lastCheckpointSeq) return;
    this.checkpointDue = true;
    this.schedule();
  }

  private checkpointWanted(): boolean {
    return this.checkpointDue && this.durableHead.seq > this.lastCheckpointSeq;
  }

  private schedule(): void {
    if (this.flushing !== undefined || (this.queue.length === 0 && !this.checkpointWanted())) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
      // An entry may have queued between the last flush and this callback.
      if (this.queue.length > 0) this.schedule();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.checkpointWanted()) {
      const ok = await this.exclusive(() => this.flushOnce());
      // A failed checkpoint-only write waits for the retry timer; queued entries get their one attempt now.
      if (!ok && this.queue.length === 0) return;
    }
  }

  private async flushOnce(): Promise<boolean> {
    const batch = this.queue.splice(0, this.options.maxBatch);
    const head = batch.length > 0 ? { seq: batch[batch.length - 1]!.entry.seq, hash: batch[batch.length - 1]!.entry.hash } : this.durableHead;
    const positions = this.checkpointPositions(batch, head);
    let sync = true;
    try {
      const ops: AuditWriteOp[] = batch.map((p) => ({
        type: 'put',
        sublevel: this.store.entries,
        key: seqKey(p.entry.seq),
        value: p.json,
        valueEncoding: 'utf8',
      }));
      const cps = await Promise.all(
        positions.map((at) => signCheckpoint(this.options.identity, { node: this.options.node, seq: at.seq, hash: at.hash, time: this.options.now().toISOString() })),
      );
      for (const cp of cps) ops.push({ type: 'put', sublevel: this.store.checkpoints, key: seqKey(cp.seq), value: cp });
      // A checkpoint or any entry that must be durable syncs the whole batch (and, the log
      // being one file, every unsynced write before it).
      sync = cps.length > 0 || batch.some((p) => p.sync);
      if (ops.length > 0) await this.write(ops, sync);
    } catch (err) {
      this.rollback(batch, err);
      return false;
    }
    this.durableHead = head;
    if (sync) this.syncedSeq = head.seq;
    else this.armSync();
    if (positions.length > 0) {
      this.lastCheckpointSeq = positions[positions.length - 1]!.seq;
      if (this.lastCheckpointSeq === head.seq) this.checkpointDue = false;
    }
    this.setAvailable(true);
    for (const p of batch) p.resolve(p.entry);
    if (batch.length > 0) for (const wake of [...this.durableWaiters]) wake();
    return true;
  }

  /**
   * Where this flush's checkpoints go: every `checkpointEvery` entries after
   * the last checkpoint (so no run of more than that many entries is
   * unsigned, however large the batch), and at the head when one is due.
   */
  private checkpointPositions(batch: Pending[], head: ChainHead): ChainHead[] {
    const positions: ChainHead[] = [];
    const every = this.options.checkpointEvery;
    const firstSeq = head.seq - batch.length + 1;
    for (let at = this.lastCheckpointSeq + every; at <= head.seq; at += every) {
      const entry = batch[at - firstSeq]?.entry;
      if (entry !== undefined) positions.push({ seq: entry.seq, hash: entry.hash });
    }
    const lastPlanned = positions[positions.length - 1]?.seq ?? this.lastCheckpointSeq;
    if (this.checkpointDue && head.seq > lastPlanned) positions.push({ ...head });
    return positions;
  }

  /** Undoes a failed flush: its entries reject, the head returns to disk's, later entries re-chain. */
  private rollback(batch: Pending[], cause: unknown): void {
    this.assigned = { ...this.durableHead };
    for (const p of this.queue) this.seal(p);
    const error = new AuditUnavailableError('the audit log could not make the entry durable', { cause });
    for (const p of batch) p.reject(error);
    this.setAvailable(false, cause);
  }

  private async write(ops: readonly AuditWriteOp[], sync = true): Promise<void> {
    await this.options.writeHook?.(ops, sync);
    await this.store.write(ops, sync);
  }

  /** Unsynced entries are synced within `syncIntervalMs` even when no synced append follows. */
  private armSync(): void {
    if (this.syncTimer !== undefined || this.closed) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      void this.exclusive(async () => {
        const upTo = this.durableHead.seq;
        if (upTo <= this.syncedSeq) return;
        try {
          await this.write([{ type: 'put', sublevel: this.store.meta, key: 'synced', value: { seq: upTo } }]);
          this.syncedSeq = Math.max(this.syncedSeq, upTo);
        } catch (err) {
          this.setAvailable(false, err);
        }
      });
    }, this.options.syncIntervalMs);
    this.syncTimer.unref();
  }

  private setAvailable(available: boolean, cause?: unknown): void {
    if (!available) this.armRetry();
    if (available === this.isAvailable) return;
    this.isAvailable = available;
    if (available) clearTimeout(this.retryTimer);
    for (const listener of [...this.availabilityListeners]) {
      try {
        listener(available, cause);
      } catch {
        // a listener's fault must not break the writer
      }
    }
  }

  /** While unavailable, a small synced probe write on a timer finds out when the disk is back. */
  private armRetry(): void {
    if (this.closed || this.options.retryIntervalMs <= 0) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.isAvailable || this.closed) return;
      void this.exclusive(async () => {
        if (this.isAvailable || this.closed) return;
        try {
          await this.write([{ type: 'put', sublevel: this.store.meta, key: 'probe', value: { time: this.options.now().toISOString() } }]);
          this.setAvailable(true);
          this.schedule();
        } catch (err) {
          this.setAvailable(false, err);
        }
      });
    }, this.options.retryIntervalMs);
    this.retryTimer.unref();
  }
}
