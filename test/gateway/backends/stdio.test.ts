import t, { type Test } from 'tap';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { StdioBackend, type StdioBackendOptions, type StdioBackendSpec } from '../../../src/gateway/backends/stdio.js';
import type { JsonRpcNotification, RpcOutcome } from '../../../src/mcp/jsonrpc.js';
import { isGatewayError } from '../../../src/gateway/errors.js';

const require = createRequire(import.meta.url);
const EVERYTHING: StdioBackendSpec = {
  command: process.execPath,
  args: [require.resolve('@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
};
const FIXTURE: StdioBackendSpec = {
  command: process.execPath,
  args: [fileURLToPath(new URL('../../fixtures/stdio-server.mjs', import.meta.url))],
};

/** A backend closed when the (sub)test ends, whatever happens. */
function backend(tt: Test, spec: StdioBackendSpec, options: Partial<StdioBackendOptions> = {}): StdioBackend {
  const b = new StdioBackend(spec, { callTimeoutMs: 10_000, ...options });
  tt.teardown(() => b.close());
  return b;
}

function callTool(b: StdioBackend, name: string, args: Record<string, unknown> = {}, extra: object = {}): Promise<RpcOutcome> {
  return b.request({ method: 'tools/call', params: { name, arguments: args }, ...extra });
}

/** The text of the first content block of a successful tools/call. */
function text(outcome: RpcOutcome): string {
  if ('error' in outcome) throw new Error(`unexpected error ${outcome.error.code} ${outcome.error.message}`);
  const content = outcome.result.content as Array<{ type: string; text: string }>;
  return content[0]!.text;
}

async function served(b: StdioBackend): Promise<{ served: number; cancelled: number; pid: number }> {
  return JSON.parse(text(await callTool(b, 'count')));
}

/** Captures a rejection so its `reason` can be asserted. */
async function failure(p: Promise<unknown>): Promise<{ reason?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { reason?: string; message: string };
  }
  throw new Error('expected a rejection');
}

t.test('server-everything: handshake state, a call, progress with the caller token restored', async (tt) => {
  const b = backend(tt, EVERYTHING);
  tt.equal(b.state().status, 'idle');
  await b.start();
  const s = b.state();
  tt.equal(s.status, 'ready');
  tt.equal(s.era, 'legacy');
  tt.equal(s.protocolVersion, '2025-11-25');
  tt.equal(s.serverInfo?.name, 'mcp-servers/everything');
  tt.type(s.pid, 'number');
  tt.equal(s.restarts, 0);

  tt.match(text(await callTool(b, 'get-sum', { a: 2, b: 3 })), /is 5/);

  const seen: JsonRpcNotification[] = [];
  const outcome = await b.request({
    method: 'tools/call',
    params: { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 }, _meta: { progressToken: 'caller-token' } },
    onNotification: (n) => seen.push(n),
  });
  tt.match(text(outcome), /completed/);
  tt.same(
    seen.map((n) => [n.method, n.params?.progressToken, n.params?.progress]),
    [
      ['notifications/progress', 'caller-token', 1],
      ['notifications/progress', 'caller-token', 2],
      ['notifications/progress', 'caller-token', 3],
    ],
  );
});

t.test('fixture: 50 concurrent calls multiplex over one child with correct pairing (lazy start)', async (tt) => {
  const logs: string[] = [];
  const b = backend(tt, FIXTURE, { onLog: (line) => logs.push(line) });
  const texts = await Promise.all(Array.from({ length: 50 }, (_, i) => callTool(b, 'echo', { text: `msg-${i}` }).then(text)));
  tt.same(texts, Array.from({ length: 50 }, (_, i) => `msg-${i}`));
  const count = await served(b);
  tt.equal(count.served, 50, 'the child served exactly the 50 calls');
  tt.equal(count.pid, b.state().pid, 'all on the one child');
  tt.ok(logs.some((l) => l.startsWith('stdio-fixture ready')), 'stderr handed to onLog');
  tt.ok(b.stderrTail().some((l) => l.startsWith('stdio-fixture ready')), 'stderr kept in the tail');
});

t.test('fixture: the child sees a backend token, the caller gets its own back', async (tt) => {
  const b = backend(tt, FIXTURE);
  const seen: unknown[] = [];
  const run = (token: string | number) =>
    b.request({
      method: 'tools/call',
      params: { name: 'progress', arguments: { steps: 2 }, _meta: { progressToken: token } },
      onNotification: (n) => seen.push(n.params?.progressToken),
    });
  const [a, c] = await Promise.all([run('abc'), run(7)]);
  const sawA = JSON.parse(text(a)).sawToken;
  const sawC = JSON.parse(text(c)).sawToken;
  tt.not(sawA, 'abc', 'the caller token does not reach the child');
  tt.not(sawA, sawC, 'tokens are unique per call');
  tt.same(seen.filter((x) => x === 'abc').length, 2);
  tt.same(seen.filter((x) => x === 7).length, 2);
  tt.equal(seen.length, 4);
});

t.test('fixture: server→client ping is answered, other requests get -32601', async (tt) => {
  const b = backend(tt, FIXTURE);
  tt.equal(text(await callTool(b, 'ping-client')), '{}');
  tt.same(JSON.parse(text(await callTool(b, 'ask-client'))), { code: -32601 });
});

t.test('fixture: notify() starts lazily and writes; non-JSON stdout lines are logged, not fatal', async (tt) => {
  const logs: string[] = [];
  const b = backend(tt, FIXTURE, { onLog: (line) => logs.push(line) });
  await b.notify('notifications/roots/list_changed');
  tt.equal(b.state().status, 'ready');
  tt.equal(text(await callTool(b, 'noise')), 'noisy');
  tt.ok(logs.some((l) => l.includes('this is not json-rpc')), 'the stray line reached onLog');
  tt.equal(text(await callTool(b, 'echo', { text: 'still fine' })), 'still fine');
  tt.equal(b.state().restarts, 0);
});

t.test('fixture: list_changed goes to onListChanged listeners', async (tt) => {
  const b = backend(tt, FIXTURE);
  const changed = new Promise<string>((resolve) => b.onListChanged(resolve));
  tt.equal(text(await callTool(b, 'touch')), 'touched');
  tt.equal(await changed, 'notifications/tools/list_changed');
});

t.test('fixture: a killed child fails its call at once and is restarted for the next', async (tt) => {
  const b = backend(tt, FIXTURE);
  await b.start();
  const pid = b.state().pid!;
  const inflight = callTool(b, 'slow', { ms: 10_000 });
  await sleep(100);
  const started = Date.now();
  process.kill(pid, 'SIGKILL');
  const err = await failure(inflight);
  tt.equal(err.reason, 'upstream_unavailable');
  tt.ok(isGatewayError(err));
  tt.ok(Date.now() - started < 1000, 'rejected at once, not at the timeout');
  tt.match(b.state().lastError, /SIGKILL/);

  tt.equal(text(await callTool(b, 'echo', { text: 'after' })), 'after', 'the next call waits for the restart');
  const s = b.state();
  tt.equal(s.status, 'ready');
  tt.equal(s.restarts, 1);
  tt.not(s.pid, pid);
  tt.equal((await served(b)).served, 1, 'a fresh child served it');
});

t.test('fixture: a crashing tool fails with upstream_unavailable, then the child comes back', async (tt) => {
  const b = backend(tt, FIXTURE);
  tt.equal((await failure(callTool(b, 'crash'))).reason, 'upstream_unavailable');
  tt.match(b.state().lastError, /exited with code 1/);
  tt.equal(text(await callTool(b, 'echo', { text: 'ok' })), 'ok');
  tt.equal(b.state().restarts, 1);
});

t.test('fixture: a stdout line over the cap is a protocol fault (kill + restart)', async (tt) => {
  const b = backend(tt, FIXTURE, { maxLineBytes: 64 * 1024 });
  tt.equal(text(await callTool(b, 'big', { bytes: 1000 })).length, 1000);
  const err = await failure(callTool(b, 'big', { bytes: 200_000 }));
  tt.equal(err.reason, 'upstream_unavailable');
  tt.match(b.state().lastError, /protocol fault/);
  tt.equal(text(await callTool(b, 'echo', { text: 'again' })), 'again');
  tt.equal(b.state().restarts, 1);
});

t.test('fixture: timeout rejects with upstream_timeout and cancels upstream', async (tt) => {
  const b = backend(tt, FIXTURE);
  await b.start();
  const started = Date.now();
  const err = await failure(callTool(b, 'slow', { ms: 10_000 }, { timeoutMs: 300 }));
  const elapsed = Date.now() - started;
  tt.equal(err.reason, 'upstream_timeout');
  tt.ok(elapsed >= 290 && elapsed < 1000, `rejected after ${elapsed} ms`);
  tt.equal((await served(b)).cancelled, 1, 'the child saw notifications/cancelled');
  tt.equal(b.state().status, 'ready', 'a timeout does not restart the child');
});

t.test('fixture: abort via AbortSignal cancels upstream and rejects with the reason', async (tt) => {
  const b = backend(tt, FIXTURE);
  await b.start();
  const controller = new AbortController();
  const reason = new Error('client went away');
  const p = callTool(b, 'slow', { ms: 10_000 }, { signal: controller.signal });
  setTimeout(() => controller.abort(reason), 100);
  tt.equal(await failure(p), reason);
  tt.equal((await served(b)).cancelled, 1, 'the child saw notifications/cancelled');

  const already = AbortSignal.abort();
  const err = (await failure(callTool(b, 'echo', { text: 'x' }, { signal: already }))) as Error;
  tt.equal(err.name, 'AbortError');
});

/** A hand-rolled stdio server that misbehaves during the handshake. */
const MISBEHAVING = `
process.stderr.write('l1\\nl2\\nl3\\nl4\\nl5\\n');
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (m.method === 'initialize' && process.argv[1] === 'bad-version') {
      const result = { protocolVersion: '1999-01-01', capabilities: {}, serverInfo: { name: 'old', version: '0' } };
      process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }) + '\\n');
    }
  }
});`;

t.test('a handshake with an unsupported protocol version fails the attempt; stderr tail is bounded', async (tt) => {
  const b = backend(tt, { command: process.execPath, args: ['-e', MISBEHAVING, 'bad-version'] }, { stderrLines: 3, restart: { initialDelayMs: 5_000 } });
  const err = await failure(b.start());
  tt.equal(err.reason, 'upstream_unavailable');
  tt.match(err.message, /unsupported protocol version "1999-01-01"/);
  tt.equal(b.state().status, 'down');
  for (let i = 0; i < 50 && b.stderrTail().at(-1) !== 'l5'; i++) await sleep(10);
  tt.same(b.stderrTail(), ['l3', 'l4', 'l5']);
});

t.test('a server that never answers initialize fails the attempt after the call timeout', async (tt) => {
  const b = backend(tt, { command: process.execPath, args: ['-e', MISBEHAVING, 'silent'] }, { callTimeoutMs: 300, restart: { initialDelayMs: 5_000 } });
  const err = await failure(b.request({ method: 'tools/list' }));
  tt.equal(err.reason, 'upstream_unavailable', 'the queued call fails with the attempt');
  tt.match(b.state().lastError, /handshake failed: .*within 300 ms/);
});

t.test('a missing command is upstream_unavailable, and supervision keeps backing off', async (tt) => {
  const b = backend(tt, { command: '/nonexistent/toolmesh-no-such-server', args: [] }, { restart: { initialDelayMs: 20 } });
  const err = await failure(b.request({ method: 'tools/list' }));
  tt.equal(err.reason, 'upstream_unavailable');
  tt.match(err.message, /ENOENT/);
  tt.equal(b.state().status, 'down');
  tt.equal((await failure(b.start())).reason, 'upstream_unavailable');
  tt.equal((await failure(b.request({ method: 'tools/list' }))).reason, 'upstream_unavailable', 'fails fast while down');
  await sleep(200);
  tt.ok(b.state().restarts! >= 2, `retried ${b.state().restarts} times`);
});

t.test('close() fails pending calls, leaves no live child and is idempotent', async (tt) => {
  const b = new StdioBackend(FIXTURE, { callTimeoutMs: 10_000 });
  await b.start();
  const pid = b.state().pid!;
  const pending = callTool(b, 'slow', { ms: 10_000 });
  await sleep(50);
  const closing = b.close();
  tt.equal((await failure(pending)).reason, 'upstream_unavailable');
  await closing;
  tt.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the child is gone and reaped');
  tt.equal(b.state().status, 'stopped');
  await b.close();
  tt.equal((await failure(callTool(b, 'echo', { text: 'x' }))).reason, 'upstream_unavailable');
});
