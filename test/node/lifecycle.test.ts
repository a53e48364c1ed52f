/**
 * The node's lifecycle: the registry survives a restart, one node per data
 * directory (`store_locked`), graceful stop drains in-flight calls and leaves
 * no stdio child behind, health/readiness/metrics, admin authentication, and
 * config validation that names the offending field.
 */
import { isAlive } from '../helpers/cli.js';
import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNode } from '../../src/node/node.js';
import { createLogger } from '../../src/node/log.js';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend, fixtureStdio } from '../helpers/backends.js';
import { connect, rawPost, modern } from '../helpers/clients.js';

const silent = createLogger('silent');
const legacy = await startLegacyHttpBackend();
t.teardown(() => legacy.close());

/** A node stopped and its directory removed when the (sub)test ends. */
async function node(tt: { teardown(fn: () => unknown): void }, config: Record<string, unknown> = {}): Promise<{ current: TestNode }> {
  const ref = { current: await startTestNode(config) };
  const dir = ref.current.dataDir;
  tt.teardown(async () => {
    await ref.current.stop();
    await removeDir(dir);
  });
  return ref;
}

function callTool(url: string, name: string, args: Record<string, unknown> = {}) {
  const { body, headers } = modern('tools/call', { name, arguments: args });
  return rawPost(url, body, headers);
}


t.test('the registry survives a restart', async (tt) => {
  const ref = await node(tt);
  await ref.current.register({ slug: 'web', version: '1.0.0', backend: { http: legacy.url }, owner: 'team-a' });
  await ref.current.register({ slug: 'fx', version: '2.1.0', backend: fixtureStdio(), readTools: ['echo'] });
  const oldPid = ref.current.node.backends.states()['fx@2.1.0']?.pid;

  ref.current = await ref.current.restart();
  tt.ok(oldPid !== undefined && !isAlive(oldPid), 'the old node stopped its stdio child');

  const list = await ref.current.admin('GET', '/admin/v1/servers');
  tt.equal(list.status, 200);
  tt.same(
    list.body.servers.map((s: any) => `${s.slug}@${s.version}`).sort(),
    ['fx@2.1.0', 'web@1.0.0'],
    'both servers are listed after the restart',
  );
  const fx = list.body.servers.find((s: any) => s.slug === 'fx');
  tt.equal(fx.tools.find((x: any) => x.name === 'echo')?.access, 'read', 'pinned tool classification kept');
  tt.equal(list.body.servers.find((s: any) => s.slug === 'web').owner, 'team-a');

  const history = await ref.current.admin('GET', '/admin/v1/servers/web');
  tt.same(history.body.history.map((h: any) => h.action), ['register'], 'history kept');

  const web = await callTool(`${ref.current.url}/mcp/v1/tools/web/rpc`, 'echo', { text: 'after restart' });
  tt.equal(web.status, 200);
  tt.equal(web.body.result.content[0].text, 'after restart');
  const client = await connect('legacy', `${ref.current.url}/mcp`);
  const r = await client.callTool('fx__echo', { text: 'stdio after restart' });
  await client.close();
  tt.same(r.content, [{ type: 'text', text: 'stdio after restart' }], 'the stdio server is spawned again on demand');
});

t.test('a second node on the same data directory fails with store_locked', async (tt) => {
  const ref = await node(tt);
  const err = await startNode({ dataDir: ref.current.dataDir, port: 0, logger: silent }).then(
    async (second) => {
      await second.stop();
      return undefined;
    },
    (e: Error & { code?: string }) => e,
  );
  tt.ok(err, 'the second start fails');
  tt.equal(err?.code, 'store_locked');
  tt.match(err?.message, /in use by another process/);
  tt.match(err?.message, ref.current.dataDir, 'the message names the database');

  // The first node is unaffected.
  const health = await fetch(`${ref.current.url}/readyz`);
  tt.equal(health.status, 200, 'the first node still serves');
});

t.test('graceful stop drains an in-flight call and stops stdio children', async (tt) => {
  const tn = await startTestNode();
  tt.teardown(() => removeDir(tn.dataDir));
  await tn.register({ slug: 'fx', version: '1.0.0', backend: fixtureStdio() });
  const pid = tn.node.backends.states()['fx@1.0.0']!.pid!;
  tt.ok(isAlive(pid), 'the stdio child runs');

  const started = Date.now();
  const pending = callTool(`${tn.url}/mcp/v1/tools/fx/rpc`, 'slow', { ms: 500 });
  await sleep(100);
  await tn.node.stop();
  const res = await pending;
  tt.equal(res.status, 200, 'the in-flight call completed');
  tt.equal(res.body?.result?.content?.[0]?.text, 'slept 500');
  tt.ok(Date.now() - started >= 500, 'stop waited for it');

  tt.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'no stdio child is left');
  await tt.rejects(fetch(`${tn.url}/healthz`), 'the listener is closed');
  await tn.node.stop(); // idempotent
});

t.test('health, readiness, metrics and admin authentication', async (tt) => {
  const ref = await node(tt);
  const tn = ref.current;

  const healthz = await fetch(`${tn.url}/healthz`);
  tt.equal(healthz.status, 200);
  tt.same(await healthz.json(), { status: 'ok' });
  const readyz = await fetch(`${tn.url}/readyz`);
  tt.equal(readyz.status, 200);
  tt.same(await readyz.json(), { status: 'ready' });

  const none = await fetch(`${tn.url}/admin/v1/servers`);
  tt.equal(none.status, 401, 'no token: 401');
  tt.equal(((await none.json()) as any).error.code, 'missing_credentials');
  tt.match(none.headers.get('www-authenticate'), /^Bearer/);
  const wrong = await fetch(`${tn.url}/admin/v1/servers`, { headers: { authorization: 'Bearer tmadm_not-the-token' } });
  tt.equal(wrong.status, 401, 'wrong token: 401');
  tt.equal(((await wrong.json()) as any).error.code, 'invalid_token');
  const basic = await fetch(`${tn.url}/admin/v1/servers`, { headers: { authorization: `Basic ${Buffer.from(`admin:${tn.token}`).toString('base64')}` } });
  tt.equal(basic.status, 401, 'the token in another scheme: 401');
  const right = await tn.admin('GET', '/admin/v1/servers');
  tt.equal(right.status, 200, 'the admin token: 200');

  // One MCP request so the counter has a sample.
  const ping = await rawPost(`${tn.url}/mcp`, modern('ping').body, modern('ping').headers);
  tt.equal(ping.status, 200);
  const metrics = await fetch(`${tn.url}/metrics`);
  tt.equal(metrics.status, 200);
  tt.match(metrics.headers.get('content-type'), /^text\/plain/);
  const text = await metrics.text();
  tt.match(text, /# TYPE toolmesh_mcp_requests_total counter/);
  tt.match(text, /^toolmesh_mcp_requests_total\{endpoint="aggregate",method="ping",outcome="ok"\} 1$/m);
  tt.match(text, /^toolmesh_registered_server_versions 0$/m);
});

t.test('config validation names the offending field', async (tt) => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown nested field', { backends: { callTimeoutMS: 5000 } }, /\/backends must NOT have additional properties \(callTimeoutMS\)/],
    ['unknown top-level field', { listn: { port: 1 } }, /\/ must NOT have additional properties \(listn\)/],
    ['wrong type', { listen: { port: '7300' } }, /\/listen\/port must be integer/],
    ['wrong type, deeper', { backends: { stdioRestart: { initialDelayMs: 'soon' } } }, /\/backends\/stdioRestart\/initialDelayMs must be integer/],
    ['out of range', { gateway: { maxBodyBytes: 1 } }, /\/gateway\/maxBodyBytes must be >= 1024/],
  ];
  for (const [name, doc, expected] of cases) {
    const dir = await mkdtemp(join(tmpdir(), 'toolmesh-config-'));
    tt.teardown(() => removeDir(dir));
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify(doc));
    const err = await startNode({ dataDir: dir, port: 0, logger: silent }).then(
      async (n) => {
        await n.stop();
        return undefined;
      },
      (e: Error & { code?: string }) => e,
    );
    tt.ok(err, `${name}: start fails`);
    tt.equal(err?.code, 'invalid_config', `${name}: code`);
    tt.match(err?.message, expected, `${name}: ${err?.message}`);
    tt.match(err?.message, file, `${name}: the message names the file`);
  }

  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-config-'));
  tt.teardown(() => removeDir(dir));
  await writeFile(join(dir, 'config.json'), '{ "listen": ');
  await tt.rejects(startNode({ dataDir: dir, port: 0, logger: silent }), { code: 'invalid_config', message: /not valid JSON/ }, 'invalid JSON is refused');
});
