/**
 * Configured retention: on a timer, entries older than the hot period are
 * exported to an archive file and then pruned behind a signed retention
 * checkpoint (`AuditLog.prune`), so the retained chain still verifies.
 *
 * The archive file is written under a temporary name, fsynced, then renamed
 * to `audit-<firstSeq>-<lastSeq>.jsonl` (zero-padded, so names sort by seq)
 * and the directory fsynced: `prune` deletes nothing until this resolves, and
 * a crash before the rename leaves only a `.partial` file and every entry.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AuditLog } from './audit-log.js';
import { seqKey } from './chain.js';
import type { PruneResult } from './retention.js';

export interface RetentionOptions {
  /** Entries older than this many days are archived and pruned. */
  hotDays: number;
  /** Where archive files go (created when missing). */
  archiveDir: string;
  /** How often a pass runs; 0: only `runNow()`. */
  intervalSeconds: number;
  /** A pass failed (the next one retries; nothing was deleted unless archived). */
  onError?: (err: unknown) => void;
  /** A pass pruned entries. */
  onPruned?: (result: PruneResult & { file: string }) => void;
}

/** A running retention policy. */
export interface RetentionSchedule {
  /** One pass now (serialised with the timer's): archive and prune what is older than the hot period. */
  runNow(): Promise<PruneResult & { file?: string }>;
  stop(): void;
}

const DAY_MS = 86_400_000;

/**
 * @example
 * ```ts
 * const retention = scheduleRetention(log, { hotDays: 30, archiveDir: '/var/lib/toolmesh/audit-archive', intervalSeconds: 3600 });
 * const { pruned, file } = await retention.runNow();
 * retention.stop();
 * ```
 */
export function scheduleRetention(log: AuditLog, options: RetentionOptions): RetentionSchedule {
  const runNow = async (): Promise<PruneResult & { file?: string }> => {
    let file: string | undefined;
    const result = await log.prune({
      olderThan: new Date(Date.now() - options.hotDays * DAY_MS),
      exportTo: async (lines) => {
        file = await writeArchive(options.archiveDir, lines);
      },
    });
    if (result.pruned > 0 && file !== undefined) options.onPruned?.({ ...result, file });
    return file === undefined ? result : { ...result, file };
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.intervalSeconds > 0) {
    timer = setInterval(() => void runNow().catch((err: unknown) => options.onError?.(err)), options.intervalSeconds * 1000);
    timer.unref();
  }
  return { runNow, stop: () => clearInterval(timer) };
}

/** Writes the lines durably and returns the archive file's path. */
async function writeArchive(dir: string, lines: AsyncIterable<string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const partial = join(dir, `.audit-${randomUUID()}.jsonl.partial`);
  const handle = await open(partial, 'wx', 0o600);
  let first: number | undefined;
  let last: number | undefined;
  try {
    for await (const line of lines) {
      const seq = (JSON.parse(line) as { seq: number }).seq;
      first ??= seq;
      last = seq;
      await handle.write(line);
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(partial, { force: true });
    throw err;
  }
  await handle.close();
  const file = join(dir, `audit-${seqKey(first ?? 0)}-${seqKey(last ?? 0)}.jsonl`);
  await rename(partial, file);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return file;
}
