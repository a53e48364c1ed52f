/**
 * Where a publisher keeps the last sequence number it used per audience, so a
 * restarted node never reuses or lowers one (its peers would refuse the
 * manifest as a rollback). Written before the manifest carrying it leaves.
 */
import type { JsonSublevel } from '../../src/store/db.js';

/** Storage of the last seq per audience peer id. */
export interface SeqStore {
  /** The last seq used for `audience`, if any. */
  get(audience: string): Promise<number | undefined>;
  /** Records `seq` as used for `audience`; resolves once it is durable. */
  put(audience: string, seq: number): Promise<void>;
}

/**
 * Seqs in memory: for tests and for nodes without a data directory (a restart
 * then starts over, and peers refuse until their own state expires).
 */
export class MemorySeqStore implements SeqStore {
  private readonly seqs = new Map<string, number>();

  async get(audience: string): Promise<number | undefined> {
    return this.seqs.get(audience);
  }

  async put(audience: string, seq: number): Promise<void> {
    this.seqs.set(audience, seq);
  }
}

/**
 * Seqs in a LevelDB sublevel of the node store (one key per audience peer id),
 * written with `sync: true`.
 *
 * @example
 * ```ts
 * import { Store } from '../../src/store/db.js';
 * import { LevelSeqStore } from './seq-store.js';
 * const store = new Store('/tmp/toolmesh-data/db');
 * await store.open();
 * const seqs = new LevelSeqStore(store.sublevel('manifest-seq'));
 * await seqs.put('12D3KooW…', 7);
 * ```
 */
export class LevelSeqStore implements SeqStore {
  constructor(private readonly sublevel: JsonSublevel) {}

  async get(audience: string): Promise<number | undefined> {
    const value = await this.sublevel.get(audience);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`manifest seq store: value for ${audience} is not a seq`);
    }
    return value;
  }

  async put(audience: string, seq: number): Promise<void> {
    // classic-level honours `sync`; the sublevel forwards it to the database.
    await this.sublevel.put(audience, seq, { sync: true } as object);
  }
}
