/**
 * Retention (issue 4): entries older than the hot period are exported, then
 * pruned behind a signed retention checkpoint, and the remaining chain still
 * verifies — while tampering with what remains is still caught.
 */
import t from 'tap';
import { GENESIS_HASH, entryHash } from '../../src/audit/chain.js';
import type { AuditEntry } from '../../src/audit/entry.js';
import type { AuditLog } from '../../src/audit/audit-log.js';
import { appendSequentially, fixture, key, openRaw } from './helpers.js';

/** The time entry `seq` was appended (the frozen clock advances on every reading, checkpoints included). */
async function timeOf(log: AuditLog, seq: number): Promise<Date> {
  const [entry] = await log.query({ fromSeq: seq, limit: 1 });
  return new Date(entry!.time);
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

t.test('prune exports then deletes old entries; the rest still verifies', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 7 });
  await appendSequentially(log, 30);
  let exported: string[] = [];
  const result = await log.prune({ olderThan: await timeOf(log, 11), exportTo: async (lines) => void (exported = await collect(lines)) });
  t.match(result, { pruned: 10, fromSeq: 1, toSeq: 10, checkpoint: { seq: 10, retention: true } });

  const entries = exported.map((line) => JSON.parse(line) as AuditEntry);
  t.same(entries.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  entries.forEach((e, i) => {
    t.equal(e.hash, entryHash(e as unknown as Record<string, unknown>), `exported entry ${e.seq} matches its hash`);
    t.equal(e.prev, i === 0 ? GENESIS_HASH : entries[i - 1]!.hash, `exported entry ${e.seq} chains`);
  });
  t.equal(result.checkpoint!.hash, entries[9]!.hash, 'the retention checkpoint signs the last exported hash');

  const report = await log.verify();
  t.equal(report.ok, true, JSON.stringify(report.firstProblem));
  t.equal(report.firstSeq, 11);
  t.equal(report.lastSeq, 31, 'the prune itself is recorded as entry 31');
  const [record] = await log.query({ kind: 'retention' });
  t.match(record, { seq: 31, kind: 'retention', detail: { fromSeq: 1, toSeq: 10, pruned: 10, checkpointSeq: 10 } });
  t.same((await log.query({ limit: 1 })).map((e) => e.seq), [11]);

  await log.close();
  const reopened = await f.open({ checkpointEvery: 7 });
  t.equal((await reopened.append({ kind: 'admin', correlationId: 'after' })).seq, 32);
  t.ok((await reopened.verify()).ok, 'and after a restart');
});

t.test('a second prune moves the anchor forward', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 20);
  await log.prune({ olderThan: await timeOf(log, 6), exportTo: async (lines) => void (await collect(lines)) });
  const second = await log.prune({ olderThan: await timeOf(log, 13), exportTo: async (lines) => void (await collect(lines)) });
  t.match(second, { pruned: 7, fromSeq: 6, toSeq: 12 });
  const report = await log.verify();
  t.equal(report.ok, true);
  t.equal(report.firstSeq, 13);
});

t.test('nothing old enough: nothing pruned, nothing exported', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 5);
  let called = false;
  const result = await log.prune({ olderThan: await timeOf(log, 1), exportTo: async () => void (called = true) });
  t.same(result, { pruned: 0 });
  t.equal(called, false);
});

t.test('a failed export deletes nothing', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 10);
  await t.rejects(
    log.prune({ olderThan: await timeOf(log, 6), exportTo: async () => { throw new Error('bucket unreachable'); } }),
    { message: 'bucket unreachable' },
  );
  t.equal((await log.query()).length, 10);
  t.equal((await log.checkpoints()).length, 0);
  t.ok((await log.verify()).ok);
});

t.test('pruning every entry: only the retention record remains, and the chain continues after a restart', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 10);
  await log.prune({ olderThan: new Date('2100-01-01T00:00:00Z'), exportTo: async (lines) => void (await collect(lines)) });
  t.same((await log.query()).map((e) => [e.seq, e.kind]), [[11, 'retention']]);
  t.ok((await log.verify()).ok);
  await log.close();
  const reopened = await f.open();
  const next = await reopened.append({ kind: 'admin', correlationId: 'x' });
  t.equal(next.seq, 12);
  const report = await reopened.verify();
  t.same(report, { ok: true, entries: 2, checkpoints: 2, firstSeq: 11, lastSeq: 12 });
});

t.test('tampering after a prune is still caught', async (t) => {
  const table: Array<{ name: string; seqs: number[]; expect: { seq: number; kind: string } }> = [
    { name: 'the first retained entry deleted', seqs: [11], expect: { seq: 11, kind: 'missing' } },
    { name: 'a later entry deleted', seqs: [15], expect: { seq: 15, kind: 'missing' } },
  ];
  for (const c of table) {
    const f = await fixture(t);
    const log = await f.open();
    await appendSequentially(log, 20);
    await log.prune({ olderThan: await timeOf(log, 11), exportTo: async (lines) => void (await collect(lines)) });
    await log.close();
    const raw = await openRaw(f.auditDir);
    for (const s of c.seqs) await raw.entries.del(key(s));
    await raw.close();
    const reopened = await f.open();
    t.match((await reopened.verify()).firstProblem, c.expect, c.name);
    await reopened.close();
  }
});

t.test('a prune interrupted after its checkpoint leaves a run the checkpoint still vouches for', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 20);
  let exported: string[] = [];
  await log.prune({ olderThan: await timeOf(log, 11), exportTo: async (lines) => void (exported = await collect(lines)) });
  await log.close();

  // Put back entries 5..10 as if the deletions had not reached them before a crash.
  const raw = await openRaw(f.auditDir);
  for (const line of exported.slice(4)) await raw.entries.put(key(JSON.parse(line).seq), line.trimEnd(), { valueEncoding: 'utf8' });
  await raw.close();
  let reopened = await f.open();
  const report = await reopened.verify();
  t.equal(report.ok, true, JSON.stringify(report.firstProblem));
  t.equal(report.firstSeq, 5);

  // A leftover run that does not reach the checkpoint has a hole.
  await reopened.close();
  const raw2 = await openRaw(f.auditDir);
  await raw2.entries.del(key(9));
  await raw2.close();
  reopened = await f.open();
  t.match((await reopened.verify()).firstProblem, { seq: 9, kind: 'missing' });

  // The next prune clears the leftovers.
  const again = await reopened.prune({ olderThan: await timeOf(reopened, 13), exportTo: async (lines) => void (await collect(lines)) });
  t.match(again, { fromSeq: 5, toSeq: 12 });
  t.ok((await reopened.verify()).ok);
});
