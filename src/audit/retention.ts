/**
 * Retention: entries older than the hot period are exported, then cut off
 * behind a signed retention checkpoint so the remaining chain still verifies.
 *
 * Order matters, and each step is safe to crash after:
 * 1. export the old entries (nothing is deleted if the export fails);
 * 2. write a retention checkpoint at the last exported seq K, signing its
 *    hash — the `prev` the first retained entry (K+1) must carry;
 * 3. delete entries up to K, oldest first, in batches. A crash midway leaves
 *    a contiguous run ending at K, which `verify()` checks backwards from the
 *    checkpoint; the next prune deletes it.
 * 4. record the run itself as a `retention` entry.
 */
import { randomUUID } from 'node:crypto';
import { parseSeqKey, seqKey } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import { exportLines, rawEntries } from './reader.js';
import type { AuditStore, AuditWriteOp } from './store.js';
import type { GroupCommitWriter } from './writer.js';

/** Options of `prune`. */
export interface PruneOptions {
  /** Entries appended before this time are pruned (the oldest contiguous run of them). */
  olderThan: Date;
  /** Receives the pruned entries as JSON lines (each ending in `\n`); must resolve only once they are safe. */
  exportTo: (lines: AsyncIterable<string>) => Promise<void>;
}

/** What a prune did. */
export interface PruneResult {
  pruned: number;
  /** The first and last pruned seq (absent when nothing was old enough). */
  fromSeq?: number;
  toSeq?: number;
  /** The retention checkpoint the remaining chain starts behind. */
  checkpoint?: Checkpoint;
}

const DELETE_BATCH = 1000;

/** Runs one retention pass (see the file comment); `AuditLog.prune` serialises calls. */
export async function pruneStore(store: AuditStore, writer: GroupCommitWriter, options: PruneOptions): Promise<PruneResult> {
  const cutoff = options.olderThan.getTime();
  if (Number.isNaN(cutoff)) throw new RangeError('olderThan is not a valid Date');
  const durable = writer.durable.seq;

  // The oldest contiguous run of entries older than the cutoff (times are append times, so this is a prefix).
  let fromSeq: number | undefined;
  let last: { seq: number; hash: string } | undefined;
  for await (const [seq, text] of rawEntries(store, 1, durable)) {
    const entry = JSON.parse(text) as { time: string; hash: string };
    if (!(Date.parse(entry.time) < cutoff)) break;
    fromSeq ??= seq;
    last = { seq, hash: entry.hash };
  }
  if (fromSeq === undefined || last === undefined) return { pruned: 0 };

  await options.exportTo(exportLines(store, fromSeq, last.seq));
  const checkpoint = await writer.writeRetentionCheckpoint(last.seq, last.hash);

  let pruned = 0;
  for (;;) {
    const keys = await store.entries.keys({ lte: seqKey(last.seq), limit: DELETE_BATCH }).all();
    if (keys.length === 0) break;
    const ops: AuditWriteOp[] = keys.map((key) => ({ type: 'del', sublevel: store.entries, key }));
    await store.writeUnsynced(ops);
    pruned += keys.filter((k) => parseSeqKey(k) !== undefined).length;
  }

  await writer.append({
    kind: 'retention',
    correlationId: randomUUID(),
    outcome: 'ok',
    detail: { fromSeq, toSeq: last.seq, pruned, olderThan: options.olderThan.toISOString(), checkpointSeq: checkpoint.seq },
  });
  return { pruned, fromSeq, toSeq: last.seq, checkpoint };
}
