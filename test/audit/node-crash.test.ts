/**
 * kill -9 of a whole node under load (issue 4): the real `toolmesh start`
 * child serves concurrent tools/call traffic and is SIGKILLed at a random
 * moment, ten times, restarting on the same data directory each time.
 * Afterwards the audit chain verifies, sequence numbers are unique and
 * contiguous, and every request that got an answer has its entries: a
 * forwarded call its intent and its outcome, a refusal its rejection.
 *
 * The CLI runs from dist/ (`npm test` builds it in pretest).
 */
import t from 'tap';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNodeProcess, type NodeProcess } from '../helpers/cli.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';
import { removeDir } from '../helpers/node.js';
import { AuditLog, type AuditEntry } from '../../src/audit/index.js';
import { loadOrCreateIdentity } from '../../src/node/identity.js';

const ROUNDS = 10;
const WORKERS = 8;

interface Answered {
  correlationId: string;
  status: number;
}

const backend = await startLegacyHttpBackend();
const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-node-crash-'));
t.teardown(async () => {
  await backend.close();
  await removeDir(dataDir);
});
const unlimited = { perMinute: 1e9, burst: 1e9 };
await writeFile(
  join(dataDir, 'config.json'),
  JSON.stringify({ auth: { anonymous: true }, rateLimits: { person: unlimited, agent: unlimited, tenant: unlimited }, backends: { driftCheckIntervalMs: 0 } }),
);

/** Calls until `stop` is set; keeps every answer (with its correlation id), ignores refused connections. */
async function load(url: string, answered: Answered[], state: { stop: boolean }, worker: number): Promise<void> {
  for (let i = 0; !state.stop; i++) {
    // Every fifth call breaks the schema: a refusal that must be recorded too.
    const args = i % 5 === 4 ? { text: 42 } : { text: `w${worker}-${i}` };
    const { body, headers } = modern('tools/call', { name: 'echo', arguments: args }, i);
    try {
      const res = await rawPost(`${url}/mcp/v1/tools/crm/rpc`, body, headers);
      const correlationId = res.headers.get('x-correlation-id');
      if (correlationId) answered.push({ correlationId, status: res.status });
    } catch {
      return; // the node died under this request: it was never answered
    }
  }
}

t.test(`${ROUNDS} kill -9 under load: the chain verifies, seqs are contiguous, every answer has its entries`, async (t) => {
  const answered: Answered[] = [];
  let node: NodeProcess | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    node = await startNodeProcess(dataDir);
    if (round === 0) {
      const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
      const added = await rawPost(`${node.url}/admin/v1/servers`, { slug: 'crm', version: '1.0.0', backend: { http: backend.url } }, { authorization: `Bearer ${token}` });
      t.equal(added.status, 201, 'server registered');
    }
    const state = { stop: false };
    const workers = Array.from({ length: WORKERS }, (_, w) => load(node!.url, answered, state, w));
    // Kill at a random moment once calls are flowing (a loaded machine starts the node slowly).
    const flowing = answered.length + 10;
    for (let waited = 0; answered.length < flowing && waited < 15_000; waited += 20) await sleep(20);
    await sleep(Math.floor(Math.random() * 300));
    node.child.kill('SIGKILL');
    t.equal(await node.exited, 'SIGKILL', `round ${round + 1}: killed`);
    state.stop = true;
    await Promise.all(workers);
  }
  t.ok(answered.length >= ROUNDS * 10, `answers under load before the kills (${answered.length})`);

  // The last node is dead: the test opens the directory itself (LevelDB is single-process).
  const { identity } = await loadOrCreateIdentity(dataDir);
  const log = await AuditLog.open(join(dataDir, 'audit'), { node: 'verifier', identity, checkpointIntervalMs: 0 });
  t.teardown(() => log.close());
  const report = await log.verify();
  t.ok(report.ok, `the chain verifies (${report.entries} entries, ${report.checkpoints} checkpoints)`);

  const entries: AuditEntry[] = [];
  for await (const line of log.export()) entries.push(JSON.parse(line) as AuditEntry);
  const seqs = entries.map((e) => e.seq);
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'sequence numbers 1..N, each once');

  const byCorrelation = new Map<string, string[]>();
  for (const e of entries) {
    if (e.correlationId === undefined) continue;
    byCorrelation.set(e.correlationId, [...(byCorrelation.get(e.correlationId) ?? []), e.kind]);
  }
  const missing: string[] = [];
  let forwarded = 0;
  let refused = 0;
  for (const a of answered) {
    const kinds = byCorrelation.get(a.correlationId) ?? [];
    const complete = a.status === 200 && kinds.includes('call') ? kinds.includes('outcome') : kinds.includes('rejection') || kinds.includes('outcome');
    if (kinds.includes('call')) forwarded++;
    else refused++;
    if (!complete) missing.push(`${a.correlationId} (${a.status}): ${kinds.join(',') || 'no entries'}`);
  }
  t.same(missing, [], `every answered request has its entries (${forwarded} forwarded, ${refused} refused)`);
  t.ok(forwarded > 0 && refused > 0, 'both forwarded calls and refusals were answered');
});
