/**
 * The audit log over a real LevelDB directory: entries chain and verify,
 * the chain continues across reopen without reusing a seq, concurrent
 * appends are group-committed in order, checkpoints are signed by the node
 * key, and the readers (tail, query, export) see durable entries only.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { compactVerify, importJWK } from 'jose';
import { AuditLog } from '../../src/audit/audit-log.js';
import { GENESIS_HASH, entryHash } from '../../src/audit/chain.js';
import { CHECKPOINT_TYP } from '../../src/audit/checkpoint.js';
import { auditIdentity, type AuditEntry, type AuditEntryInput } from '../../src/audit/entry.js';
import { appendSequentially, fixture, intent } from './helpers.js';

t.test('append then verify: seq from 1, prev chains, hash is SHA-256 of the canonical entry', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  const first = await log.append(intent(1));
  const second = await log.append(intent(2, { kind: 'outcome', outcome: 'ok', latencyMs: 12.5, status: 200 }));
  t.equal(first.seq, 1);
  t.equal(first.prev, GENESIS_HASH);
  t.equal(first.node, 'node-a');
  t.equal(first.time, '2026-01-01T00:00:00.000Z');
  t.equal(second.seq, 2);
  t.equal(second.prev, first.hash);
  t.equal(first.hash, entryHash(first as unknown as Record<string, unknown>));
  t.match(first.hash, /^[0-9a-f]{64}$/);
  t.same(log.head, { seq: 2, hash: second.hash });
  const report = await log.verify();
  t.same(report, { ok: true, entries: 2, checkpoints: 0, firstSeq: 1, lastSeq: 2 });
});

t.test('reopen continues the chain: next seq, prev = last hash, no reuse', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 5);
  const last = log.head;
  await log.close();
  const reopened = await f.open();
  t.same(reopened.head, last);
  const next = await reopened.append(intent(6));
  t.equal(next.seq, 6);
  t.equal(next.prev, last.hash);
  t.ok((await reopened.verify()).ok);
  const seqs = (await reopened.query()).map((e) => e.seq);
  t.same(seqs, [1, 2, 3, 4, 5, 6]);
});

t.test('a second opener of the same directory is refused with audit_locked', async (t) => {
  const f = await fixture(t);
  await f.open();
  await t.rejects(AuditLog.open(f.auditDir, { node: 'node-a', identity: f.identity }), { code: 'audit_locked' });
});

t.test('5,000 concurrent appends: seqs 1..5000 contiguous, in call order, verify ok', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 1000 });
  const entries = await Promise.all(Array.from({ length: 5000 }, (_, i) => log.append(intent(i + 1))));
  t.same(
    entries.map((e) => e.seq),
    Array.from({ length: 5000 }, (_, i) => i + 1),
    'each append got the seq of its call order',
  );
  t.ok(entries.every((e, i) => e.correlationId === `corr-${i + 1}`));
  const report = await log.verify();
  t.equal(report.ok, true);
  t.equal(report.entries, 5000);
  t.same((await log.checkpoints()).map((c) => c.seq), [1000, 2000, 3000, 4000, 5000], 'a checkpoint every 1000 entries, however large the batches');
});

t.test('checkpoints are compact JWS (EdDSA) by the node key over {node, seq, hash, time}', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 3 });
  await appendSequentially(log, 7);
  const cps = await log.checkpoints();
  t.same(cps.map((c) => c.seq), [3, 6]);
  const key = await importJWK(f.identity.publicJwk, 'EdDSA');
  for (const cp of cps) {
    const { payload, protectedHeader } = await compactVerify(cp.jws, key);
    t.same(protectedHeader, { alg: 'EdDSA', kid: f.identity.kid, typ: CHECKPOINT_TYP });
    const signed = JSON.parse(new TextDecoder().decode(payload));
    t.same(signed, { node: 'node-a', seq: cp.seq, hash: cp.hash, time: cp.time });
    const [entry] = await log.query({ fromSeq: cp.seq, limit: 1 });
    t.equal(cp.hash, entry!.hash, `checkpoint ${cp.seq} signs the hash of entry ${cp.seq}`);
  }
  const exported = [];
  for await (const line of log.exportCheckpoints()) exported.push(JSON.parse(line));
  t.same(exported, cps);
  await log.close();
  const reopened = await f.open({ checkpointEvery: 3 });
  t.same((await reopened.checkpoints()).map((c) => c.seq), [3, 6, 7], 'close checkpoints the head');
});

t.test('a checkpoint every checkpointIntervalMs when something new is durable', async (t) => {
  const f = await fixture(t);
  const log = await f.open({ checkpointEvery: 1000, checkpointIntervalMs: 25 });
  await log.append(intent(1));
  for (let i = 0; i < 100 && (await log.checkpoints()).length === 0; i++) await sleep(10);
  t.same((await log.checkpoints()).map((c) => c.seq), [1]);
  await sleep(100);
  t.same((await log.checkpoints()).map((c) => c.seq), [1], 'nothing new, no new checkpoint');
  await log.append(intent(2));
  for (let i = 0; i < 100 && (await log.checkpoints()).length === 1; i++) await sleep(10);
  t.same((await log.checkpoints()).map((c) => c.seq), [1, 2]);
  t.ok((await log.verify()).ok);
});

t.test('inputs are reduced to the named fields; malformed ones are refused before taking a seq', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  const sloppy = {
    ...intent(1),
    identity: { ...auditIdentity({ kind: 'apikey', subject: 'acme', tenant: 'acme', groups: ['t'], scopes: ['mcp:admin'], principal: 'p', class: 'tenant' }), token: 'tm_secret' },
    arguments: { password: 'hunter2' },
    detail: { when: new Date('2026-02-02T00:00:00Z'), gone: undefined },
  } as unknown as AuditEntryInput;
  const entry = await log.append(sloppy);
  t.notOk('arguments' in entry);
  t.same(entry.identity, { kind: 'apikey', subject: 'acme', tenant: 'acme', groups: ['t'] });
  t.same(entry.detail, { when: '2026-02-02T00:00:00.000Z' });
  const stored = [];
  for await (const line of log.export()) stored.push(line);
  t.notMatch(stored.join(''), /hunter2|tm_secret|scopes/);

  const bad: Array<[string, unknown]> = [
    ['unknown kind', { ...intent(2), kind: 'other' }],
    ['no correlation id', { ...intent(2), correlationId: '' }],
    ['latency not a number', { ...intent(2), latencyMs: Number.NaN }],
    ['groups not strings', { ...intent(2), identity: { kind: 'oauth', subject: 's', groups: [1] } }],
    ['detail not JSON', { ...intent(2), detail: { n: Number.POSITIVE_INFINITY } }],
  ];
  for (const [name, input] of bad) await t.rejects(log.append(input as AuditEntryInput), { code: 'invalid_entry' }, name);
  t.equal((await log.append(intent(3))).seq, 2, 'refused inputs took no seq');
  t.ok((await log.verify()).ok);
});

t.test('actor chains of translated tokens are recorded', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  const who = auditIdentity(
    { kind: 'peer', subject: 'alice', groups: ['partner-eng'], scopes: [], principal: 'alice', class: 'person', issuer: 'https://peer.example' },
    [{ subject: 'alice', node: 'node-b' }],
  );
  const entry = await log.append({ kind: 'peer', correlationId: 'x', identity: who });
  t.same(entry.identity?.actor, [{ subject: 'alice', node: 'node-b' }]);
  t.ok((await log.verify()).ok);
});

t.test('append after close is refused with audit_closed; close flushes what was queued', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  const pending = Array.from({ length: 50 }, (_, i) => log.append(intent(i)));
  await log.close();
  t.equal((await Promise.all(pending)).length, 50, 'queued appends were made durable by close');
  await t.rejects(log.append(intent(99)), { code: 'audit_closed' });
  const reopened = await f.open();
  t.equal(reopened.head.seq, 50);
});

t.test('tail follows new durable entries until aborted', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 3);
  const abort = new AbortController();
  const seen: AuditEntry[] = [];
  const following = (async () => {
    for await (const entry of log.tail(2, { signal: abort.signal })) {
      seen.push(entry);
      if (seen.length === 6) abort.abort();
    }
  })();
  await sleep(20);
  await Promise.all([4, 5, 6, 7, 8, 9].map((i) => log.append(intent(i))));
  await following;
  t.same(seen.map((e) => e.seq), [2, 3, 4, 5, 6, 7]);
});

t.test('tail ends when the log closes', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 2);
  const seen: number[] = [];
  const following = (async () => {
    for await (const entry of log.tail()) seen.push(entry.seq);
  })();
  await sleep(20);
  await log.close();
  await following;
  t.same(seen, [1, 2]);
});

t.test('query filters by time, identity, server, tool, outcome and kind', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await log.append(intent(1, { server: 'crm' }));
  await log.append(intent(2, { server: 'wiki', kind: 'rejection', outcome: 'rate_limited', reason: 'rate_limited' }));
  await log.append(intent(3, { server: 'crm', kind: 'outcome', outcome: 'ok' }));
  await log.append(intent(4, { server: 'crm', tool: 'delete', kind: 'outcome', outcome: 'isError' }));
  const seqs = async (q: Parameters<AuditLog['query']>[0]) => (await log.query(q)).map((e) => e.seq);
  t.same(await seqs({ server: 'crm' }), [1, 3, 4]);
  t.same(await seqs({ identity: 'user-1' }), [1, 4]);
  t.same(await seqs({ outcome: 'rate_limited' }), [2]);
  t.same(await seqs({ kind: 'outcome', tool: 'lookup' }), [3]);
  t.same(await seqs({ since: '2026-01-01T00:00:01.000Z', until: new Date('2026-01-01T00:00:03.000Z') }), [2, 3]);
  t.same(await seqs({ limit: 2 }), [1, 2]);
  t.same(await seqs({ fromSeq: 3 }), [3, 4]);
  t.same(await seqs({ correlationId: 'corr-4' }), [4]);
});

t.test('export streams JSON lines resumable by seq; each line is the canonical entry', async (t) => {
  const f = await fixture(t);
  const log = await f.open();
  await appendSequentially(log, 2500);
  const lines: string[] = [];
  for await (const line of log.export()) lines.push(line);
  t.equal(lines.length, 2500);
  t.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const entries = lines.map((l) => JSON.parse(l) as AuditEntry);
  entries.forEach((e, i) => {
    if (e.seq !== i + 1 || e.hash !== entryHash(e as unknown as Record<string, unknown>) || e.prev !== (i === 0 ? GENESIS_HASH : entries[i - 1]!.hash)) {
      t.fail(`line ${i + 1} does not chain`);
    }
  });
  const resumed: string[] = [];
  for await (const line of log.export({ fromSeq: 2001 })) resumed.push(line);
  t.same(resumed, lines.slice(2000));
});

t.test('unsynced appends (outcomes): resolved once written, synced by the next synced batch or the sync timer', async (t) => {
  const f = await fixture(t);
  const writes: Array<{ keys: string[]; sync: boolean }> = [];
  const log = await f.open({ syncIntervalMs: 30, writeHook: (ops, sync) => void writes.push({ keys: ops.map((o) => o.key), sync }) });
  const outcome = await log.append(intent(1, { kind: 'outcome', outcome: 'ok' }), { sync: false });
  t.equal(outcome.seq, 1, 'resolved with its seq');
  t.same(writes, [{ keys: ['0000000000000001'], sync: false }], 'written without fsync');
  await sleep(120);
  t.same(writes.at(-1), { keys: ['synced'], sync: true }, 'the sync timer fsyncs what was only written');
  writes.length = 0;
  await Promise.all([log.append(intent(2, { kind: 'outcome' }), { sync: false }), log.append(intent(3))]);
  t.ok(writes.length >= 1 && writes.at(-1)!.sync, 'a batch holding a synced entry is synced, with any unsynced entry in it');
  await sleep(120);
  t.notOk(writes.some((w) => w.keys.includes('synced')), 'no extra sync when a synced batch already covered the unsynced entry');
  t.ok((await log.verify()).ok);
});
