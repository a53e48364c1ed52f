/**
 * When the upstream fails (PRODUCT.md §2, §6): a stdio child that dies mid-call
 * or crashes, an HTTP backend that goes away or is too slow, a client that
 * hangs up mid-call, and registrations against unreachable or forbidden URLs.
 * Callers get the stable reasons (`upstream_unavailable` 502 / `upstream_timeout`
 * 504, JSON-RPC -32011) promptly, and the gateway recovers.
 */
import { freePort } from '../../scripts/lib/ports.js';
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend, fixtureStdio } from '../helpers/backends.js';
import { startJsonSchemaBackend } from '../helpers/json-schema-backend.js';
import { rawPost, modern } from '../helpers/clients.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';

const nodes: TestNode[] = [];
async function node(config: Record<string, unknown> = {}): Promise<TestNode> {
  const tn = await startTestNode(config);
  nodes.push(tn);
  return tn;
}
t.teardown(async () => {
  for (const tn of nodes) {
    await tn.stop();
    await removeDir(tn.dataDir);
  }
});

/** A loopback port nothing listens on. */

/** A modern-era tools/call through the gateway, raw, so the HTTP status is visible. */
function call(url: string, name: string, args: Record<string, unknown> = {}) {
  const { body, headers } = modern('tools/call', { name, arguments: args });
  return rawPost(url, body, headers);
}

function text(res: { body: any }): string {
  return res.body?.result?.content?.[0]?.text;
}

const main = await node();
await main.register({ slug: 'fx', version: '1.0.0', backend: fixtureStdio() });
const FX = `${main.url}/mcp/v1/tools/fx/rpc`;
const fxState = () => main.node.backends.states()['fx@1.0.0']!;

async function fxCount(): Promise<{ served: number; cancelled: number; pid: number }> {
  const res = await call(FX, 'count');
  if (res.status !== 200) throw new Error(`count failed: ${res.status} ${res.text}`);
  return JSON.parse(text(res));
}

t.test('stdio child killed mid-call: the caller gets upstream_unavailable at once, the next call succeeds', async (tt) => {
  const before = await fxCount();
  const pid = fxState().pid!;
  tt.equal(pid, before.pid, 'the state reports the live child pid');
  const restartsBefore = fxState().restarts ?? 0;

  const pending = call(FX, 'slow', { ms: 3000 });
  await sleep(300); // the call is now inside the child
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const res = await pending;
  const elapsed = Date.now() - killedAt;
  tt.equal(res.status, 502, 'HTTP 502');
  tt.equal(res.body?.error?.code, -32011, 'JSON-RPC -32011');
  tt.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  tt.ok(elapsed < 1500, `answered ${elapsed} ms after the kill, not after the 3 s sleep`);

  const echo = await call(FX, 'echo', { text: 'back' });
  tt.equal(echo.status, 200, 'the next call succeeds');
  tt.equal(text(echo), 'back');
  const state = fxState();
  tt.ok((state.restarts ?? 0) >= restartsBefore + 1, `restarted (${state.restarts} restarts)`);
  tt.not(state.pid, pid, 'a new child');
  tt.equal(state.status, 'ready');
  tt.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the killed child was reaped');
});

t.test('a crashing tool: upstream_unavailable, then recovery', async (tt) => {
  const pid = fxState().pid!;
  const res = await call(FX, 'crash');
  tt.equal(res.status, 502);
  tt.equal(res.body?.error?.code, -32011);
  tt.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  tt.match(res.body?.error?.message, /exited with code 1/, 'the message says what happened');

  const echo = await call(FX, 'echo', { text: 'again' });
  tt.equal(echo.status, 200, 'the next call succeeds');
  tt.equal(text(echo), 'again');
  tt.not(fxState().pid, pid, 'served by a restarted child');
});

t.test('a client that disconnects mid-call cancels the call upstream', async (tt) => {
  const before = await fxCount();
  const controller = new AbortController();
  const { body, headers } = modern('tools/call', { name: 'slow', arguments: { ms: 5000 } });
  const pending = fetch(FX, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  await sleep(300);
  controller.abort();
  await tt.rejects(pending, { name: 'AbortError' });

  let after = await fxCount();
  for (let i = 0; i < 50 && after.cancelled <= before.cancelled; i++) {
    await sleep(50);
    after = await fxCount();
  }
  tt.equal(after.pid, before.pid, 'same child: nothing crashed');
  tt.ok(after.cancelled >= before.cancelled + 1, `the server saw the cancellation (cancelled ${before.cancelled} → ${after.cancelled})`);
});

t.test('legacy notifications/cancelled cancels the call upstream, only from the caller that made it', async (tt) => {
  const secret = (id: string) => `${id}-secret-0123456789abcdef`;
  const tn = await node({
    auth: { authorizationServer: { clients: ['alice', 'mallory'].map((id) => ({ clientId: id, clientSecret: secret(id), groups: ['fx'], scopes: ['mcp:tool:fx:write'] })) } },
  });
  await tn.register({ slug: 'fx', version: '1.0.0', backend: fixtureStdio(), allowedGroups: ['fx'] });
  const url = `${tn.url}/mcp/v1/tools/fx/rpc`;
  const meta = await discover(`${tn.url}/oauth`);
  const bearer = async (id: string) => (await clientCredentials(meta, { id, secret: secret(id) }, { scope: 'mcp:tool:fx:write', resource: `${tn.url}/mcp` })).access_token;
  const [alice, mallory] = [await bearer('alice'), await bearer('mallory')];
  const post = (message: object, token: string, session?: string) =>
    rawPost(url, { jsonrpc: '2.0', ...message }, {
      authorization: `Bearer ${token}`,
      ...(session ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } : {}),
    });
  const init = await post({ id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }, alice);
  const session = init.headers.get('mcp-session-id')!;
  const cancelled = async () => JSON.parse(text(await post({ id: 9, method: 'tools/call', params: { name: 'count', arguments: {} } }, alice, session))).cancelled as number;
  const before = await cancelled();

  const slow = post({ id: 42, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1500 } } }, alice, session);
  await sleep(300);
  // Mallory has seen Alice's session id: her cancellation must not reach Alice's call.
  await post({ method: 'notifications/cancelled', params: { requestId: 42 } }, mallory, session);
  const done = await slow;
  tt.equal(done.status, 200, 'another caller’s notifications/cancelled is ignored');
  tt.equal(await cancelled(), before, 'nothing was cancelled upstream');

  const again = post({ id: 43, method: 'tools/call', params: { name: 'slow', arguments: { ms: 5000 } } }, alice, session);
  await sleep(300);
  await post({ method: 'notifications/cancelled', params: { requestId: 43 } }, alice, session);
  const res = await again;
  tt.not(res.status, 200, `the caller's own cancellation ends the call (HTTP ${res.status})`);
  let after = await cancelled();
  for (let i = 0; i < 50 && after <= before; i++) {
    await sleep(50);
    after = await cancelled();
  }
  tt.equal(after, before + 1, 'the server saw one cancellation');
});

t.test('an HTTP backend that goes down: 502 upstream_unavailable within seconds', async (tt) => {
  const web = await startLegacyHttpBackend();
  let closed = false;
  tt.teardown(() => (closed ? undefined : web.close()));
  await main.register({ slug: 'web', version: '1.0.0', backend: { http: web.url } });
  const url = `${main.url}/mcp/v1/tools/web/rpc`;
  const ok = await call(url, 'echo', { text: 'up' });
  tt.equal(ok.status, 200);
  tt.equal(text(ok), 'up');

  await web.close();
  closed = true;
  const started = Date.now();
  const res = await call(url, 'echo', { text: 'down' });
  const elapsed = Date.now() - started;
  tt.equal(res.status, 502, 'HTTP 502');
  tt.equal(res.body?.error?.code, -32011);
  tt.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  tt.ok(elapsed < 3000, `answered in ${elapsed} ms`);
  tt.equal(main.node.backends.states()['web@1.0.0']?.status, 'down', 'the backend is marked down');
});

t.test('an HTTP backend slower than backends.callTimeoutMs: 504 upstream_timeout', async (tt) => {
  const web = await startLegacyHttpBackend();
  tt.teardown(() => web.close());
  const tn = await node({ backends: { callTimeoutMs: 800 } });
  await tn.register({ slug: 'slow', version: '1.0.0', backend: { http: web.url } });
  const url = `${tn.url}/mcp/v1/tools/slow/rpc`;

  const started = Date.now();
  const res = await call(url, 'slow', { ms: 10_000 });
  const elapsed = Date.now() - started;
  tt.equal(res.status, 504, 'HTTP 504');
  tt.equal(res.body?.error?.code, -32011);
  tt.equal(res.body?.error?.data?.reason, 'upstream_timeout');
  tt.equal(res.body?.error?.message, 'backend did not answer tools/call within 800 ms', 'the gateway\'s own deadline decided');
  tt.ok(elapsed >= 780, `not before the timeout (${elapsed} ms)`);
  tt.ok(elapsed < 3000, `answered in ${elapsed} ms, close to the 800 ms timeout`);

  // A slow tool is not a down backend: the next quick call goes through.
  const ok = await call(url, 'echo', { text: 'still here' });
  tt.equal(ok.status, 200);
  tt.equal(text(ok), 'still here');
});

t.test('an HTTP backend answering more than 16 MiB of JSON: 502 upstream_unavailable, memory bounded', async (tt) => {
  const big = await startJsonSchemaBackend([
    { name: 'huge', inputSchema: { type: 'object' }, pad: 17 * 1024 * 1024 },
    { name: 'fits', inputSchema: { type: 'object' }, pad: 15 * 1024 * 1024 },
  ]);
  tt.teardown(() => big.close());
  await main.register({ slug: 'big', version: '1.0.0', backend: { http: big.url } });
  const url = `${main.url}/mcp/v1/tools/big/rpc`;
  const res = await call(url, 'huge');
  tt.equal(res.status, 502);
  tt.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  tt.match(res.body?.error?.message, /more than 16777216 bytes/);
  const ok = await call(url, 'fits');
  tt.equal(ok.status, 200, 'an answer under the limit is relayed');
  tt.ok(text(ok).length > 15 * 1024 * 1024);
});

t.test('registration against an unreachable backend: 502 backend_unreachable', async (tt) => {
  const port = await freePort();
  const res = await main.admin('POST', '/admin/v1/servers', { slug: 'gone', version: '1.0.0', backend: { http: `http://127.0.0.1:${port}/mcp` } });
  tt.equal(res.status, 502);
  tt.equal(res.body?.error?.code, 'backend_unreachable');
  const lookup = await main.admin('GET', '/admin/v1/servers/gone');
  tt.equal(lookup.status, 404, 'nothing was registered');
});

t.test('registration against a cloud metadata address: 400 ssrf_blocked', async (tt) => {
  for (const url of ['http://169.254.169.254/', 'http://169.254.169.254/latest/meta-data/']) {
    const res = await main.admin('POST', '/admin/v1/servers', { slug: 'meta', version: '1.0.0', backend: { http: url } });
    tt.equal(res.status, 400, url);
    tt.equal(res.body?.error?.code, 'ssrf_blocked', url);
  }
});

t.test('with backends.allowLoopback false, loopback backends are refused: 400 ssrf_blocked', async (tt) => {
  const web = await startLegacyHttpBackend();
  tt.teardown(() => web.close());
  const tn = await node({ backends: { allowLoopback: false } });
  const port = new URL(web.url).port;
  for (const url of [web.url, `http://localhost:${port}/mcp`, `http://[::1]:${port}/mcp`]) {
    const res = await tn.admin('POST', '/admin/v1/servers', { slug: 'loop', version: '1.0.0', backend: { http: url } });
    tt.equal(res.status, 400, url);
    tt.equal(res.body?.error?.code, 'ssrf_blocked', url);
  }
  tt.equal(web.calls.size, 0);
  tt.equal(web.seenHeaders.length, 0, 'the backend was never contacted');
});
