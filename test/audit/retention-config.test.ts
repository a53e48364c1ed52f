/**
 * Configured retention on a real node (config.json `audit.retention`):
 * entries older than the hot period are archived to a JSON-lines file and
 * pruned behind a signed retention checkpoint, by the timer or on demand
 * (`POST /admin/v1/audit/prune`, `toolmesh audit prune`); the retained chain
 * still verifies and continues. Without retention configured nothing is
 * pruned, and a bad retention config refuses to start.
 */
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { runCli } from '../helpers/cli.js';
import type { AuditEntry } from '../../src/audit/index.js';

/** A few admin changes: each is an audit entry. */
async function makeEntries(node: TestNode, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await node.admin('POST', '/admin/v1/credentials/keys', { tenant: `t${i}`, scopes: ['mcp:tool:x:read'] });
}

async function archived(dir: string): Promise<{ files: string[]; entries: AuditEntry[] }> {
  const files = (await readdir(dir)).sort();
  const entries: AuditEntry[] = [];
  for (const f of files) for (const line of (await readFile(join(dir, f), 'utf8')).split('\n').filter(Boolean)) entries.push(JSON.parse(line) as AuditEntry);
  return { files, entries };
}

t.test('on demand: older entries are archived, pruned behind a retention checkpoint; the chain verifies and continues', async (t) => {
  // 0.000002 days ≈ 170 ms: entries age out within the test.
  const node = await startTestNode({ audit: { retention: { hotDays: 0.000002, intervalSeconds: 3600, archiveDir: 'archive' } } });
  t.teardown(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  await makeEntries(node, 5);
  const oldHead = node.node.audit.head.seq;
  await sleep(400);
  await makeEntries(node, 1); // young: stays

  const res = await node.admin('POST', '/admin/v1/audit/prune');
  t.equal(res.status, 200);
  t.match(res.body, { pruned: oldHead, fromSeq: 1, toSeq: oldHead, checkpointSeq: oldHead });
  t.match(res.body.file, /archive\/audit-0+1-0+\d+\.jsonl$/, 'the archive file names its seq range');

  const { files, entries } = await archived(join(node.dataDir, 'archive'));
  t.equal(files.length, 1, 'one archive file, no partial left behind');
  t.same(entries.map((e) => e.seq), Array.from({ length: oldHead }, (_, i) => i + 1), 'the archive holds exactly the pruned entries');

  const remaining = (await node.admin('GET', '/admin/v1/audit/entries?limit=10000')).body.entries as AuditEntry[];
  t.ok(remaining.every((e) => e.seq > oldHead), 'pruned entries are gone from the node');
  t.match(remaining.find((e) => e.kind === 'retention'), { detail: { fromSeq: 1, toSeq: oldHead, pruned: oldHead } }, 'the pass itself is recorded');
  t.match(remaining.at(-1), { kind: 'admin', method: 'POST /admin/v1/audit/prune' }, 'and so is who asked for it');
  const verify = (await node.admin('GET', '/admin/v1/audit/verify')).body;
  t.equal(verify.ok, true, 'the retained chain verifies behind the retention checkpoint');

  const cli = await runCli(['audit', 'prune', '--node', node.url, '--token', node.token]);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, /archived and pruned entries|nothing older/, 'the CLI reports the pass');

  await makeEntries(node, 1);
  t.equal((await node.admin('GET', '/admin/v1/audit/verify')).body.ok, true, 'the chain continues after pruning');
});

t.test('on the timer: a pass runs by itself', async (t) => {
  const node = await startTestNode({ audit: { retention: { hotDays: 0.000002, intervalSeconds: 1 } } });
  t.teardown(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  await makeEntries(node, 3);
  let pruned: AuditEntry | undefined;
  for (let i = 0; i < 40 && pruned === undefined; i++) {
    await sleep(100);
    const entries = (await node.admin('GET', '/admin/v1/audit/entries?kind=retention')).body.entries as AuditEntry[];
    pruned = entries[0];
  }
  t.ok(pruned, 'a retention entry appeared without being asked');
  const { entries } = await archived(join(node.dataDir, 'audit-archive'));
  t.ok(entries.length >= 3, 'the default archive directory holds the pruned entries');
  t.equal((await node.admin('GET', '/admin/v1/audit/verify')).body.ok, true);
});

t.test('without retention nothing is pruned: 409 retention_not_configured', async (t) => {
  const node = await startTestNode({});
  t.teardown(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  const res = await node.admin('POST', '/admin/v1/audit/prune');
  t.equal(res.status, 409);
  t.equal(res.body.error?.code ?? res.body.code ?? res.body.error, 'retention_not_configured');
});

t.test('a bad retention config refuses to start, naming the field', async (t) => {
  await t.rejects(startTestNode({ audit: { retention: { hotDays: 0 } } }), /\/audit\/retention\/hotDays/);
  await t.rejects(startTestNode({ audit: { retention: { intervalSeconds: 5 } } }), /\/audit\/retention.*hotDays/);
  await t.rejects(startTestNode({ audit: { keepForever: true } }), /\/audit.*keepForever/);
});

t.test('a changed config is an admin entry at start: its hash and the changed sections, never the values', async (t) => {
  const SECRET = 'client-secret-never-in-the-log-0123456789';
  const config = { auth: { anonymous: true, authorizationServer: { clients: [{ clientId: 'etl', clientSecret: SECRET, scopes: [] }] } } };
  let node = await startTestNode(config);
  const dir = node.dataDir;
  t.teardown(async () => {
    await node.stop();
    await removeDir(dir);
  });
  const configEntries = async () => ((await node.admin('GET', '/admin/v1/audit/entries?kind=admin')).body.entries as AuditEntry[]).filter((e) => e.method === 'config');
  const first = await configEntries();
  t.equal(first.length, 1, 'the first start records the config');
  t.match(first[0], { kind: 'admin', outcome: 'ok', detail: { previous: null } });
  t.match(first[0]?.detail?.sha256, /^[0-9a-f]{64}$/);
  t.notOk(JSON.stringify(first[0]).includes(SECRET), 'no config values in the entry');

  node = await node.restart();
  t.equal((await configEntries()).length, 1, 'an unchanged config is not recorded again');

  await node.stop();
  node = await startTestNode({ ...config, gateway: { maxBodyBytes: 8192 } }, dir);
  const after = await configEntries();
  t.equal(after.length, 2, 'a changed config is recorded');
  t.match(after[1]?.detail, { previous: first[0]?.detail?.sha256, changed: ['gateway'] }, 'naming the changed section');
});
