/**
 * HttpBackend against real servers of both eras: the v1 SDK (legacy, stateful
 * and stateless), the v2 SDK (modern, 2026-07-28) and a scripted raw server for
 * the transport faults and stream shapes the SDKs will not produce on demand.
 */
import t from 'tap';
import type { Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpServer as McpServerV2, createMcpHandler } from '@modelcontextprotocol/server';
import { HttpBackend } from '../../../src/gateway/backends/http.js';
import { SseParser, encodeSseEvent } from '../../../src/gateway/backends/sse.js';
import type { SseEvent } from '../../../src/gateway/backends/sse.js';
import { GatewayError } from '../../../src/gateway/errors.js';
import type { JsonRpcNotification, RpcOutcome } from '../../../src/mcp/jsonrpc.js';
import { LEGACY_PROTOCOL_VERSIONS } from '../../../src/mcp/protocol.js';

// --- servers -----------------------------------------------------------------

/** What a test server saw: every POST's headers and parsed body. */
interface Seen {
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

interface TestServer {
  url: string;
  seen: Seen[];
  server: http.Server;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function listen(server: http.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function stop(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

function v1Server(): McpServerV1 {
  const s = new McpServerV1({ name: 'legacy-test', version: '1.0.0' });
  s.registerTool('echo', { description: 'echo', inputSchema: { msg: z.string() } }, async ({ msg }, extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2 } });
    }
    return { content: [{ type: 'text', text: msg }] };
  });
  s.registerTool('slow', { description: 'slow', inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    await sleep(ms, extra.signal);
    return { content: [{ type: 'text', text: `slept ${ms}` }] };
  });
  return s;
}

/** Legacy stateful: one transport per session, SSE answers (the SDK default). */
async function startLegacyStateful(): Promise<TestServer & { expireSessions(): void; initializes(): number }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const seen: Seen[] = [];
  let initializes = 0;
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    const body = raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : {};
    if (req.method === 'POST') seen.push({ headers: req.headers, body });
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (transport === undefined) {
      if (typeof sid === 'string') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      if (body.method !== 'initialize') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: No valid session ID provided' } }));
        return;
      }
      initializes++;
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => void sessions.set(id, created),
      });
      await v1Server().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    server,
    expireSessions: () => {
      for (const tr of sessions.values()) void tr.close();
      sessions.clear();
    },
    initializes: () => initializes,
  };
}

/** Legacy stateless: a fresh server and transport per request, JSON answers. */
async function startLegacyStateless(): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    const body = raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : {};
    seen.push({ headers: req.headers, body });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const mcp = v1Server();
    res.on('close', () => void transport.close().then(() => mcp.close()));
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/mcp`, seen, server };
}

/** Modern: the v2 SDK's web-standard handler behind node:http. */
async function startModern(port = 0): Promise<TestServer> {
  const handler = createMcpHandler(() => {
    const s = new McpServerV2({ name: 'modern-test', version: '2.0.0' });
    s.registerTool('echo', { description: 'echo', inputSchema: z.object({ msg: z.string() }) }, async ({ msg }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      if (token !== undefined) {
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2 } });
      }
      return { content: [{ type: 'text', text: msg }] };
    });
    s.registerTool('slow', { description: 'slow', inputSchema: z.object({ ms: z.number() }) }, async ({ ms }, ctx) => {
      await sleep(ms, ctx.mcpReq.signal);
      return { content: [{ type: 'text', text: `slept ${ms}` }] };
    });
    return s;
  });
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    seen.push({ headers: req.headers, body: raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : {} });
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const response = await handler.fetch(
      new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers,
        body: raw.length > 0 ? raw : undefined,
        signal: abort.signal,
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body === null) return void res.end();
    try {
      for await (const chunk of response.body) res.write(chunk);
    } catch {
      // client went away
    }
    res.end();
  });
  const bound = await listen(server, port);
  return { url: `http://127.0.0.1:${bound}/mcp`, seen, server };
}

/**
 * Scripted modern-era server: `/500` answers 500, `/garbage` answers 200 text,
 * `/stream` answers tools/call with a server→client ping, a list_changed and a
 * progress notification before the response, split across awkward chunks.
 */
async function startRaw(): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    const body = raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : {};
    seen.push({ headers: req.headers, body });
    if (req.url === '/500') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      return void res.end('internal');
    }
    if (body.method === 'server/discover') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const result = { supportedVersions: ['2026-07-28'], capabilities: {}, resultType: 'complete', _meta: {} };
      return void res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result }));
    }
    if (body.method === undefined || !('id' in body)) {
      res.writeHead(202);
      return void res.end();
    }
    if (req.url === '/garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('<html>not json</html>');
    }
    if (body.method === 'tools/list') {
      res.writeHead(400, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: -32602, message: 'bad params' } }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const token = ((body.params as Record<string, unknown>)._meta as Record<string, unknown>).progressToken;
    const stream =
      ': keep-alive\r\n\r\n' +
      'id: prime\r\ndata:\r\n\r\n' +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', id: 'srv-1', method: 'ping' })) +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', id: 'srv-2', method: 'sampling/createMessage', params: {} })) +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })) +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1 } })) +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', id: 999, result: { wrong: true } })) +
      encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: 'é ok' }] } }));
    const bytes = Buffer.from(stream);
    // Split every 7 bytes: cuts lines, CRLF pairs and the UTF-8 'é'.
    for (let i = 0; i < bytes.length; i += 7) {
      res.write(bytes.subarray(i, i + 7));
      if (i % 70 === 0) await sleep(1);
    }
    res.end();
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

// --- helpers -------------------------------------------------------------------

function text(out: RpcOutcome): string {
  if (!('result' in out)) throw new Error(`expected a result, got ${JSON.stringify(out)}`);
  const content = out.result.content as Array<{ text: string }>;
  return content[0]?.text ?? '';
}

function echo(backend: HttpBackend, msg: string, onNotification?: (n: JsonRpcNotification) => void, token?: string) {
  return backend.request({
    method: 'tools/call',
    params: { name: 'echo', arguments: { msg }, ...(token === undefined ? {} : { _meta: { progressToken: token } }) },
    onNotification,
  });
}

async function rejectsWith(t: Test, p: Promise<unknown>, reason: string): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    t.type(err, GatewayError);
    t.equal((err as GatewayError).reason, reason, (err as Error).message);
    return err as GatewayError;
  }
  t.fail(`expected rejection with ${reason}`);
  throw new Error('unreachable');
}

// --- fixtures ------------------------------------------------------------------

const stateful = await startLegacyStateful();
const stateless = await startLegacyStateless();
const modern = await startModern();
const raw = await startRaw();
t.teardown(async () => {
  await Promise.all([stop(stateful.server), stop(stateless.server), stop(modern.server), stop(raw.server)]);
});

const opts = { callTimeoutMs: 5_000, connectTimeoutMs: 1_000, clientInfo: { name: 'toolmesh-test', version: '0.0.1' } };

// --- era detection and basic calls -----------------------------------------------

t.test('modern v2 server: detected as modern, envelope and mirrored headers sent', async (t) => {
  const backend = new HttpBackend(modern.url, opts);
  t.teardown(() => backend.close());
  t.equal(await backend.detectEra(), 'modern');
  t.match(backend.state(), { status: 'ready', era: 'modern', protocolVersion: '2026-07-28', serverInfo: { name: 'modern-test' } });

  const list = await backend.request({ method: 'tools/list' });
  t.ok('result' in list);
  if ('result' in list) t.same((list.result.tools as Array<{ name: string }>).map((x) => x.name).sort(), ['echo', 'slow']);

  const notes: JsonRpcNotification[] = [];
  const out = await backend.request({
    method: 'tools/call',
    params: { name: 'echo', arguments: { msg: 'hi' }, _meta: { progressToken: 'tok-m', 'x.example/trace': 'abc' } },
    onNotification: (n) => notes.push(n),
    client: { protocolVersion: '2025-06-18', capabilities: { roots: {} }, info: { name: 'the-client', version: '9' } },
  });
  t.equal(text(out), 'hi');
  t.same(notes, [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok-m', progress: 1, total: 2 } }]);

  const call = modern.seen.at(-1) as Seen;
  t.equal(call.headers['mcp-protocol-version'], '2026-07-28');
  t.equal(call.headers['mcp-method'], 'tools/call');
  t.equal(call.headers['mcp-name'], 'echo');
  t.same((call.body.params as Record<string, unknown>)._meta, {
    progressToken: 'tok-m',
    'x.example/trace': 'abc',
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { roots: {} },
    'io.modelcontextprotocol/clientInfo': { name: 'the-client', version: '9' },
  });
  const listSeen = modern.seen.find((s) => s.body.method === 'tools/list') as Seen;
  t.same((listSeen.body.params as Record<string, unknown>)._meta, {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'toolmesh-test', version: '0.0.1' },
  });
  t.notOk(modern.seen.some((s) => s.body.method === 'initialize'), 'no initialize in the modern era');
});

t.test('legacy stateful v1 server: initialize, session, SSE progress, envelope stripped', async (t) => {
  const backend = new HttpBackend(stateful.url, opts);
  t.teardown(() => backend.close());
  t.equal(await backend.detectEra(), 'legacy');
  const state = backend.state();
  t.equal(state.era, 'legacy');
  t.ok(LEGACY_PROTOCOL_VERSIONS.includes(state.protocolVersion as string), `negotiated ${state.protocolVersion}`);
  t.match(state.serverInfo, { name: 'legacy-test' });

  const list = await backend.request({ method: 'tools/list' });
  if ('result' in list) t.same((list.result.tools as Array<{ name: string }>).map((x) => x.name).sort(), ['echo', 'slow']);
  else t.fail('tools/list failed');

  const notes: JsonRpcNotification[] = [];
  const out = await backend.request({
    method: 'tools/call',
    params: {
      name: 'echo',
      arguments: { msg: 'legacy hi' },
      _meta: { progressToken: 'tok-l', 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': {} },
    },
    onNotification: (n) => notes.push(n),
  });
  t.equal(text(out), 'legacy hi');
  t.same(notes.map((n) => n.params?.progressToken), ['tok-l']);

  const call = stateful.seen.at(-1) as Seen;
  t.type(call.headers['mcp-session-id'], 'string');
  t.equal(call.headers['mcp-protocol-version'], state.protocolVersion);
  t.same((call.body.params as Record<string, unknown>)._meta, { progressToken: 'tok-l' });
  t.ok(stateful.seen.some((s) => s.body.method === 'notifications/initialized'));
});

t.test('legacy stateless v1 server: legacy without a session, JSON answers', async (t) => {
  const backend = new HttpBackend(stateless.url, opts);
  t.teardown(() => backend.close());
  t.equal(await backend.detectEra(), 'legacy');
  t.equal(text(await echo(backend, 'stateless')), 'stateless');
  t.equal((stateless.seen.at(-1) as Seen).headers['mcp-session-id'], undefined);
});

t.test('20 concurrent first calls share one detection, on every era', async (t) => {
  for (const [name, srv] of [['modern', modern], ['stateful', stateful], ['stateless', stateless]] as const) {
    const before = srv.seen.filter((s) => s.body.method === 'server/discover').length;
    const backend = new HttpBackend(srv.url, opts);
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => echo(backend, `m${i}`)));
    t.same(outs.map(text), Array.from({ length: 20 }, (_, i) => `m${i}`), `${name}: every call answered by its own response`);
    t.equal(srv.seen.filter((s) => s.body.method === 'server/discover').length - before, 1, `${name}: one probe`);
    await backend.close();
  }
});

// --- sessions --------------------------------------------------------------------

t.test('legacy session expired (404): re-initialize once and retry', async (t) => {
  const backend = new HttpBackend(stateful.url, opts);
  t.teardown(() => backend.close());
  t.equal(text(await echo(backend, 'before')), 'before');
  const inits = stateful.initializes();
  stateful.expireSessions();
  const outs = await Promise.all([echo(backend, 'after1'), echo(backend, 'after2'), echo(backend, 'after3')]);
  t.same(outs.map(text), ['after1', 'after2', 'after3']);
  t.equal(stateful.initializes() - inits, 1, 'concurrent 404s share one re-initialize');
});

// --- failures --------------------------------------------------------------------

t.test('backend down: upstream_unavailable fast, detection retried on the next call', async (t) => {
  const probe = http.createServer();
  const port = await listen(probe);
  await stop(probe);
  const backend = new HttpBackend(`http://127.0.0.1:${port}/mcp`, opts);
  t.teardown(() => backend.close());
  const started = Date.now();
  await rejectsWith(t, backend.request({ method: 'tools/list' }), 'upstream_unavailable');
  t.ok(Date.now() - started < 1_000, 'fails fast');
  t.equal(backend.state().status, 'down');
  t.match(backend.state().lastError, /ECONNREFUSED/);

  const late = await startModern(port);
  t.teardown(() => stop(late.server));
  t.equal(text(await echo(backend, 'back up')), 'back up');
  t.match(backend.state(), { status: 'ready', era: 'modern' });
});

t.test('slow backend: upstream_timeout within timeout + 500 ms; legacy gets notifications/cancelled', async (t) => {
  for (const srv of [modern, stateful]) {
    const backend = new HttpBackend(srv.url, opts);
    await backend.detectEra();
    const started = Date.now();
    const p = backend.request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 5_000 } }, timeoutMs: 300 });
    await rejectsWith(t, p, 'upstream_timeout');
    const took = Date.now() - started;
    t.ok(took >= 290 && took < 800, `settled after ${took} ms`);
    t.equal(backend.state().status, 'ready', 'a slow tool does not mark the backend down');
    await backend.close();
  }
  await sleep(50);
  t.ok(
    stateful.seen.some((s) => s.body.method === 'notifications/cancelled' && (s.body.params as Record<string, unknown>).reason === 'timeout'),
    'legacy server told about the abandoned request',
  );
});

t.test('abort via AbortController rejects with the reason and cancels upstream', async (t) => {
  for (const srv of [modern, stateful]) {
    const backend = new HttpBackend(srv.url, opts);
    await backend.detectEra();
    const ac = new AbortController();
    const reason = new Error('client went away');
    const p = backend.request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 5_000 } }, signal: ac.signal });
    setTimeout(() => ac.abort(reason), 100);
    const started = Date.now();
    await t.rejects(p, reason);
    t.ok(Date.now() - started < 500, 'settles at once');
    // The pool still works after one stream was destroyed.
    t.equal(text(await echo(backend, 'still fine')), 'still fine');
    await t.rejects(backend.request({ method: 'tools/list', signal: AbortSignal.abort(reason) }), reason, 'already aborted');
    await backend.close();
  }
  await sleep(50);
  const cancelled = stateful.seen.find(
    (s) => s.body.method === 'notifications/cancelled' && (s.body.params as Record<string, unknown>).reason === 'client went away',
  );
  t.ok(cancelled, 'legacy server got notifications/cancelled');
  t.type((cancelled?.body.params as Record<string, unknown> | undefined)?.requestId, 'number');
});

t.test('HTTP 500 and non-JSON bodies are upstream_unavailable; a 4xx JSON-RPC error is an outcome', async (t) => {
  const b500 = new HttpBackend(`${raw.url}/500`, opts);
  t.teardown(() => b500.close());
  await rejectsWith(t, b500.request({ method: 'tools/list' }), 'upstream_unavailable');

  const garbage = new HttpBackend(`${raw.url}/garbage`, opts);
  t.teardown(() => garbage.close());
  await rejectsWith(t, garbage.request({ method: 'tools/call', params: { name: 'x' } }), 'upstream_unavailable');

  const ok = new HttpBackend(`${raw.url}/stream`, opts);
  t.teardown(() => ok.close());
  t.same(await ok.request({ method: 'tools/list' }), { error: { code: -32602, message: 'bad params' } });
});

t.test('SSE stream: server requests answered, list_changed routed, chunking survived', async (t) => {
  const backend = new HttpBackend(`${raw.url}/stream`, opts);
  t.teardown(() => backend.close());
  const changed: string[] = [];
  backend.onListChanged((m) => changed.push(m));
  const notes: JsonRpcNotification[] = [];
  const out = await echo(backend, 'ignored', (n) => notes.push(n), 'tok-r');
  t.equal(text(out), 'é ok');
  t.same(notes, [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok-r', progress: 1 } }]);
  t.same(changed, ['notifications/tools/list_changed']);
  await sleep(100);
  const replies = raw.seen.filter((s) => s.body.id === 'srv-1' || s.body.id === 'srv-2').map((s) => s.body);
  t.same(
    replies.sort((a, b) => String(a.id).localeCompare(String(b.id))),
    [
      { jsonrpc: '2.0', id: 'srv-1', result: {} },
      { jsonrpc: '2.0', id: 'srv-2', error: { code: -32601, message: 'Method not found: sampling/createMessage' } },
    ],
  );
});

t.test('closed backend refuses calls', async (t) => {
  const backend = new HttpBackend(modern.url, opts);
  await backend.detectEra();
  await backend.close();
  t.equal(backend.state().status, 'stopped');
  await rejectsWith(t, backend.request({ method: 'tools/list' }), 'upstream_unavailable');
});

// --- the SSE parser on its own ------------------------------------------------------

t.test('SseParser: spec line handling', async (t) => {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  p.push('\uFEFFdata: a\r');
  p.push('\ndata:b\n\n'); // CR then LF across chunks is one line end
  p.push(': comment\nevent: custom\nid: 7\nretry: 250\ndata\n\n');
  p.push('id: 8\n\n'); // no data: nothing dispatched
  p.push(Buffer.from('data: \u00e9'.normalize()).subarray(0, 7));
  p.push(Buffer.from('data: \u00e9').subarray(7));
  p.push('\r\rdata: unterminated');
  p.end();
  t.same(events, [
    { event: 'message', data: 'a\nb', id: undefined, retry: undefined },
    { event: 'custom', data: '', id: '7', retry: 250 },
    { event: 'message', data: '\u00e9', id: '8', retry: 250 },
  ]);
  t.equal(encodeSseEvent('x\ny', 'message', '1'), 'id: 1\nevent: message\ndata: x\ndata: y\n\n');
  const small = new SseParser(() => {}, { maxBufferedChars: 8 });
  t.throws(() => small.push('data: 0123456789'), { code: 'SSE_OVERFLOW' });
});
