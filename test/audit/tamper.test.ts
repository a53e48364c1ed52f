/**
 * Tampering is evident (issue 4): each case writes 20 entries (checkpoints
 * signed at 5, 10, 15 and 20), closes the log, edits the raw LevelDB
 * directory as someone with disk access would, reopens and expects
 * `verify()` to name the exact first bad position and the kind of damage.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { entryHash } from '../../src/audit/chain.js';
import type { Checkpoint } from '../../src/audit/checkpoint.js';
import type { VerifyProblemKind } from '../../src/audit/verify.js';
import { appendSequentially, fixture, key, openRaw, type RawDb } from './helpers.js';

type Entry = Record<string, unknown> & { seq: number; hash: string; prev: string };

async function get(raw: RawDb, seq: number): Promise<Entry> {
  return (await raw.entries.get(key(seq))) as Entry;
}

/** Rewrites an entry and recomputes its own hash (the attacker knows the algorithm). */
function rehash(entry: Entry): Entry {
  const { hash: _h, ...body } = entry;
  return { ...body, hash: createHash('sha256').update(canonicalize(body) as string).digest('hex') } as Entry;
}

interface Case {
  name: string;
  tamper(raw: RawDb): Promise<void>;
  expect: { seq: number; kind: VerifyProblemKind };
  /** Also check against the checkpoints exported before the tampering. */
  withExported?: boolean;
}

const cases: Case[] = [
  {
    name: 'flip one byte of entry 7',
    async tamper(raw) {
      const text = (await raw.entries.get(key(7), { valueEncoding: 'utf8' })) as string;
      const at = text.indexOf('corr-7') + 3;
      await raw.entries.put(key(7), text.slice(0, at) + 'q' + text.slice(at + 1), { valueEncoding: 'utf8' });
    },
    expect: { seq: 7, kind: 'altered' },
  },
  {
    name: 'change a field of entry 7 (tool)',
    async tamper(raw) {
      await raw.entries.put(key(7), { ...(await get(raw, 7)), tool: 'drop_table' });
    },
    expect: { seq: 7, kind: 'altered' },
  },
  {
    name: 'change entry 7 and recompute its hash',
    async tamper(raw) {
      await raw.entries.put(key(7), rehash({ ...(await get(raw, 7)), outcome: 'ok' }));
    },
    expect: { seq: 7, kind: 'altered' },
  },
  {
    name: 'rewrite the chain consistently from entry 10 on (a signed checkpoint covers 10)',
    async tamper(raw) {
      let prev = (await get(raw, 9)).hash;
      for (let seq = 10; seq <= 20; seq++) {
        const forged = rehash({ ...(await get(raw, seq)), prev, identity: { kind: 'oauth', subject: 'nobody', groups: [] } });
        await raw.entries.put(key(seq), forged);
        prev = forged.hash;
      }
    },
    expect: { seq: 10, kind: 'altered' },
  },
  {
    name: 'entry 7 no longer parses',
    async tamper(raw) {
      await raw.entries.put(key(7), '{"seq":7,', { valueEncoding: 'utf8' });
    },
    expect: { seq: 7, kind: 'altered' },
  },
  {
    name: 'delete entry 7',
    async tamper(raw) {
      await raw.entries.del(key(7));
    },
    expect: { seq: 7, kind: 'missing' },
  },
  {
    name: 'delete entries 7..9',
    async tamper(raw) {
      await raw.entries.batch([7, 8, 9].map((s) => ({ type: 'del' as const, key: key(s) })));
    },
    expect: { seq: 7, kind: 'missing' },
  },
  {
    name: 'delete entry 1 (the head of the chain)',
    async tamper(raw) {
      await raw.entries.del(key(1));
    },
    expect: { seq: 1, kind: 'missing' },
  },
  {
    name: 'swap entries 7 and 8',
    async tamper(raw) {
      const [a, b] = [await get(raw, 7), await get(raw, 8)];
      await raw.entries.batch([
        { type: 'put', key: key(7), value: b },
        { type: 'put', key: key(8), value: a },
      ]);
    },
    expect: { seq: 7, kind: 'reordered' },
  },
  {
    name: 'swap entries 3 and 12',
    async tamper(raw) {
      const [a, b] = [await get(raw, 3), await get(raw, 12)];
      await raw.entries.batch([
        { type: 'put', key: key(3), value: b },
        { type: 'put', key: key(12), value: a },
      ]);
    },
    expect: { seq: 3, kind: 'reordered' },
  },
  {
    name: 'rotate entries 7, 8, 9',
    async tamper(raw) {
      const [a, b, c] = [await get(raw, 7), await get(raw, 8), await get(raw, 9)];
      await raw.entries.batch([
        { type: 'put', key: key(7), value: b },
        { type: 'put', key: key(8), value: c },
        { type: 'put', key: key(9), value: a },
      ]);
    },
    expect: { seq: 7, kind: 'reordered' },
  },
  {
    name: 're-insert a copy of old entry 3 in place of entry 12',
    async tamper(raw) {
      await raw.entries.put(key(12), await get(raw, 3));
    },
    expect: { seq: 12, kind: 'reinserted' },
  },
  {
    name: 're-insert a copy of old entry 3 after the end (key 21)',
    async tamper(raw) {
      await raw.entries.put(key(21), await get(raw, 3));
    },
    expect: { seq: 21, kind: 'reinserted' },
  },
  {
    name: 'delete the tail 18..20 below the newest checkpoint (20)',
    async tamper(raw) {
      await raw.entries.batch([18, 19, 20].map((s) => ({ type: 'del' as const, key: key(s) })));
    },
    expect: { seq: 18, kind: 'truncated' },
  },
  {
    name: 'delete the tail 13..20 and the checkpoints 15 and 20 (caught by the exported checkpoints)',
    withExported: true,
    async tamper(raw) {
      const seqs = [13, 14, 15, 16, 17, 18, 19, 20];
      await raw.entries.batch(seqs.map((s) => ({ type: 'del' as const, key: key(s) })));
      await raw.checkpoints.batch([15, 20].map((s) => ({ type: 'del' as const, key: key(s) })));
    },
    expect: { seq: 13, kind: 'truncated' },
  },
  {
    name: 'corrupt the signature of checkpoint 10',
    async tamper(raw) {
      const cp = (await raw.checkpoints.get(key(10))) as Checkpoint;
      const sig = cp.jws.slice(cp.jws.lastIndexOf('.') + 1);
      const flipped = (sig[5] === 'A' ? 'B' : 'A');
      await raw.checkpoints.put(key(10), { ...cp, jws: cp.jws.slice(0, cp.jws.length - sig.length) + sig.slice(0, 5) + flipped + sig.slice(6) });
    },
    expect: { seq: 10, kind: 'bad_checkpoint' },
  },
  {
    name: 'change the readable hash of checkpoint 10 (the signed one differs)',
    async tamper(raw) {
      const cp = (await raw.checkpoints.get(key(10))) as Checkpoint;
      await raw.checkpoints.put(key(10), { ...cp, hash: (await get(raw, 11)).hash });
    },
    expect: { seq: 10, kind: 'bad_checkpoint' },
  },
  {
    name: 'move checkpoint 10 to key 11',
    async tamper(raw) {
      await raw.checkpoints.put(key(11), await raw.checkpoints.get(key(10)));
    },
    expect: { seq: 11, kind: 'bad_checkpoint' },
  },
];

t.test('an untouched log verifies', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 5 });
  await appendSequentially(log, 20);
  t.same(await log.verify(), { ok: true, entries: 20, checkpoints: 4, firstSeq: 1, lastSeq: 20 });
});

for (const c of cases) {
  t.test(c.name, async (t) => {
    const f = await fixture(t);
    const log = await f.open({ checkpointEvery: 5 });
    await appendSequentially(log, 20);
    t.same((await log.checkpoints()).map((cp) => cp.seq), [5, 10, 15, 20]);
    const exported = await log.checkpoints();
    await log.close();

    const raw = await openRaw(f.auditDir);
    await c.tamper(raw);
    await raw.close();

    const reopened = await f.open({ checkpointEvery: 5 });
    const report = await reopened.verify(c.withExported ? { checkpoints: exported } : {});
    t.equal(report.ok, false);
    t.match(report.firstProblem, { seq: c.expect.seq, kind: c.expect.kind }, report.firstProblem?.detail ?? 'no problem found');
    if (c.withExported) {
      t.equal((await reopened.verify()).ok, true, 'without the exported checkpoints this rewrite goes unnoticed — keep them elsewhere');
    }
  });
}

t.test('a log reopened after its tail was truncated never reuses a checkpointed seq', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 5 });
  await appendSequentially(log, 20);
  await log.close();
  const raw = await openRaw(f.auditDir);
  await raw.entries.batch([18, 19, 20].map((s) => ({ type: 'del' as const, key: key(s) })));
  await raw.close();
  const reopened = await f.open({ checkpointEvery: 5 });
  const next = await reopened.append({ kind: 'admin', correlationId: 'after' });
  t.equal(next.seq, 21, 'continues after the newest checkpoint');
  t.match((await reopened.verify()).firstProblem, { seq: 18, kind: 'missing' });
  t.equal(next.hash, entryHash(next as unknown as Record<string, unknown>));
});
