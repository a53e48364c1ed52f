/**
 * The audit log's own LevelDB directory (kept apart from the registry so its
 * synced group commits never wait behind, or slow down, other writes), with
 * one sublevel per concern:
 * - `entries`: seq (16 digits) → entry JSON;
 * - `checkpoints`: seq (16 digits) → signed checkpoint;
 * - `meta`: small bookkeeping (the write probe of a recovering log).
 */
import { createHash } from 'node:crypto';
import { Level } from 'level';
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level';
import { GENESIS_HASH, parseSeqKey } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import { AuditError } from './errors.js';

type Sublevel = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, unknown>;
type BatchOps = Array<AbstractBatchOperation<Level<string, unknown>, string, unknown>>;

/** One operation of an audit write, as `writeHook` sees it. */
export interface AuditWriteOp {
  type: 'put' | 'del';
  sublevel: Sublevel;
  key: string;
  value?: unknown;
  valueEncoding?: 'utf8' | 'json';
}

/** The chain head: the last seq and its hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The audit database and its sublevels; opened by `AuditLog.open`. */
export class AuditStore {
  readonly db: Level<string, unknown>;
  readonly entries: Sublevel;
  readonly checkpoints: Sublevel;
  readonly meta: Sublevel;

  private constructor(readonly location: string) {
    this.db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    this.entries = this.db.sublevel<string, unknown>('entries', { valueEncoding: 'json' }) as Sublevel;
    this.checkpoints = this.db.sublevel<string, unknown>('checkpoints', { valueEncoding: 'json' }) as Sublevel;
    this.meta = this.db.sublevel<string, unknown>('meta', { valueEncoding: 'json' }) as Sublevel;
  }

  /** Opens (creating if needed) the directory; `AuditError('audit_locked')` when another process holds it. */
  static async open(location: string): Promise<AuditStore> {
    const store = new AuditStore(location);
    try {
      await store.db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new AuditError('audit_locked', `audit database ${location} is in use by another process`, { cause: err });
      }
      throw err;
    }
    return store;
  }

  /**
   * One atomic write, fsynced before it resolves unless `sync` is false (then it
   * is in the operating system's hands: it survives a killed process, and the
   * next synced write makes it durable against power loss too).
   */
  async write(ops: readonly AuditWriteOp[], sync = true): Promise<void> {
    await this.db.batch(ops as unknown as BatchOps, { sync });
  }

  /** One atomic write without fsync (for deletions that are safe to redo). */
  async writeUnsynced(ops: readonly AuditWriteOp[]): Promise<void> {
    await this.db.batch(ops as unknown as BatchOps);
  }

  /** The last entry's seq and hash, if any. */
  async lastEntry(): Promise<ChainHead | undefined> {
    const rows = await this.entries.iterator({ reverse: true, limit: 1, valueEncoding: 'utf8' }).all();
    const [key, value] = rows[0] ?? [];
    if (key === undefined) return undefined;
    const seq = parseSeqKey(key) ?? 0;
    try {
      const hash = (JSON.parse(value as string) as { hash?: unknown }).hash;
      if (typeof hash === 'string') return { seq, hash };
    } catch {
      // fall through: verify() names the entry; the chain still continues after it
    }
    return { seq, hash: createHash('sha256').update(String(value)).digest('hex') };
  }

  /** The newest stored checkpoint (unverified), if any. */
  async lastCheckpoint(): Promise<Checkpoint | undefined> {
    const rows = await this.checkpoints.iterator({ reverse: true, limit: 1 }).all();
    const value = rows[0]?.[1] as Checkpoint | undefined;
    return typeof value?.seq === 'number' && typeof value.hash === 'string' ? value : undefined;
  }

  /**
   * Where the chain continues after a restart: the last entry, or the newest
   * checkpoint if it is further (every entry pruned, or the tail lost): a
   * sequence number covered by a checkpoint is never used again.
   */
  async recoverHead(): Promise<ChainHead> {
    const entry = await this.lastEntry();
    const cp = await this.lastCheckpoint();
    if (cp !== undefined && cp.seq > (entry?.seq ?? 0)) return { seq: cp.seq, hash: cp.hash };
    return entry ?? { seq: 0, hash: GENESIS_HASH };
  }

  async close(): Promise<void> {
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }
}
