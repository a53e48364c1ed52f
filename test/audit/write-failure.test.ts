/**
 * Fail closed (issue 4): when the disk refuses a write, every entry of that
 * flush rejects with `audit_unavailable`, the log reports itself
 * unavailable, sequence numbers stay contiguous (no gap, no reuse), and the
 * log recovers by itself once writes succeed again.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditWriteOp } from '../../src/audit/store.js';
import { AuditUnavailableError, isAuditUnavailable } from '../../src/audit/errors.js';
import { fixture, intent } from './helpers.js';

function diskFull(): Error {
  return Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
}

t.test('a failing disk rejects appends with audit_unavailable; recovery keeps seqs contiguous', async (t) => {
  const f = await fixture(t);
  let failing = false;
  const log = await f.open({ retryIntervalMs: 0, checkpointEvery: 4, writeHook: () => { if (failing) throw diskFull(); } });
  const changes: boolean[] = [];
  log.onAvailabilityChange((available) => changes.push(available));

  for (let i = 1; i <= 3; i++) await log.append(intent(i));
  failing = true;
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => log.append(intent(100 + i))));
  t.ok(results.every((r) => r.status === 'rejected'), 'every entry of the failed flushes rejects');
  for (const r of results) {
    const reason = (r as PromiseRejectedResult).reason;
    t.ok(reason instanceof AuditUnavailableError && reason.code === 'audit_unavailable' && isAuditUnavailable(reason));
    t.equal((reason as Error & { cause?: { code?: string } }).cause?.code, 'ENOSPC', 'the disk error is kept as the cause');
  }
  t.equal(log.available, false);
  t.same(log.head.seq, 3, 'the head is the last durable entry');
  await t.rejects(log.append(intent(200)), { code: 'audit_unavailable' }, 'still failing: still closed');

  failing = false;
  const next = await log.append(intent(4));
  t.equal(next.seq, 4, 'no gap: the rolled-back seqs are used by the next durable entry');
  t.equal(log.available, true);
  t.same(changes, [false, true]);
  for (let i = 5; i <= 9; i++) await log.append(intent(i));

  const report = await log.verify();
  t.equal(report.ok, true);
  t.equal(report.entries, 9);
  t.same((await log.query()).map((e) => e.correlationId), [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `corr-${i}`), 'no rejected entry was stored');
  t.same((await log.checkpoints()).map((c) => c.seq), [4, 8], 'checkpoints of the failed flushes were not kept');
});

t.test('entries queued behind a failed flush are re-chained and written by the next one', async (t) => {
  const f = await fixture(t);
  let failNext = false;
  const log = await f.open({
    retryIntervalMs: 0,
    writeHook: async (ops: readonly AuditWriteOp[]) => {
      if (!failNext || ops.length === 0) return;
      failNext = false;
      await sleep(30); // a slow failing fsync: more appends queue meanwhile
      throw diskFull();
    },
  });
  await log.append(intent(1));
  failNext = true;
  const doomed = log.append(intent(2));
  await sleep(5);
  const queued = [log.append(intent(3)), log.append(intent(4))];
  await t.rejects(doomed, { code: 'audit_unavailable' });
  const written = await Promise.all(queued);
  t.same(written.map((e) => e.seq), [2, 3], 'the queued entries took the seqs the failed one gave back');
  const [first] = await log.query({ limit: 1 });
  t.equal(written[0]!.prev, first!.hash, 'and chain to the last durable entry');
  t.equal(log.available, true);
  t.ok((await log.verify()).ok);
});

t.test('the log probes the disk by itself and becomes available without new traffic', async (t) => {
  const f = await fixture(t);
  let failing = false;
  const log = await f.open({ retryIntervalMs: 20, writeHook: () => { if (failing) throw diskFull(); } });
  await log.append(intent(1));
  failing = true;
  await t.rejects(log.append(intent(2)), { code: 'audit_unavailable' });
  t.equal(log.available, false);
  await sleep(60);
  t.equal(log.available, false, 'probes keep failing while the disk does');
  const back = new Promise<boolean>((resolve) => log.onAvailabilityChange(resolve));
  failing = false;
  // The log's timers are unref'd (they never keep a process alive): keep this one alive while waiting.
  const keepAlive = setInterval(() => undefined, 1000);
  t.equal(await back, true);
  clearInterval(keepAlive);
  t.equal(log.available, true);
  t.equal((await log.append(intent(3))).seq, 2);
  t.ok((await log.verify()).ok);
});

t.test('a failing checkpoint-only write marks the log unavailable and loses nothing', async (t) => {
  const f = await fixture(t);
  let failing = false;
  const log = await f.open({ retryIntervalMs: 0, checkpointIntervalMs: 20, writeHook: () => { if (failing) throw diskFull(); } });
  await log.append(intent(1));
  failing = true;
  for (let i = 0; i < 50 && log.available; i++) await sleep(10);
  t.equal(log.available, false);
  failing = false;
  t.equal((await log.append(intent(2))).seq, 2);
  for (let i = 0; i < 50 && (await log.checkpoints()).length === 0; i++) await sleep(10);
  t.ok((await log.checkpoints()).length > 0);
  t.ok((await log.verify()).ok);
});
