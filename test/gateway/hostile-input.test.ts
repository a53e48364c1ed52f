/**
 * Hostile and malformed input (PRODUCT.md §2 transport rules, §6 error
 * contract) against both the aggregate `/mcp` and a per-server endpoint.
 *
 * Every refusal is checked for its HTTP status, JSON-RPC `error.code` and
 * `error.data.reason`, and for having left the backend alone: neither its
 * executed-call counter nor the number of HTTP requests it received moves.
 * Prototype-polluting keys must not leak into the (in-process) gateway, and
 * after everything the gateway still serves both official SDK clients.
 */
import t, { type Test } from 'tap';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestNode, removeDir } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { connect, modern, type Era } from '../helpers/clients.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { SessionTokenCodec } from '../../src/gateway/transport/session-token.js';

const LIMIT = 4096;
const backend = await startLegacyHttpBackend();
const tn = await startTestNode({ gateway: { maxBodyBytes: LIMIT } });
t.teardown(async () => {
  await tn.stop();
  await backend.close();
  await removeDir(tn.dataDir);
});
await tn.register({ slug: 'legacy', version: '1.0.0', backend: { http: backend.url } });

const AGGREGATE = `${tn.url}/mcp`;
const PER_SERVER = `${tn.url}/mcp/v1/tools/legacy/rpc`;
const endpoints = [
  { label: 'aggregate /mcp', url: AGGREGATE, echo: 'legacy__echo', key: 'aggregate' },
  { label: 'per-server /mcp/v1/tools/legacy/rpc', url: PER_SERVER, echo: 'echo', key: 'legacy@1' },
] as const;

const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** POSTs `body` with the usual MCP headers; a header set to `null` is left out. */
function post(url: string, body: string | object, headers: Record<string, string | null> = {}): Promise<RawResponse> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...BASE_HEADERS, ...headers })) if (v !== null) merged[k] = v;
  return rawRequest(url, { headers: merged, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** What the backend has seen so far: executed tool calls and HTTP requests. */
function traffic() {
  let calls = 0;
  for (const n of backend.calls.values()) calls += n;
  return { calls, requests: backend.seenHeaders.length };
}

interface Expected {
  status: number;
  code: number;
  reason: string;
}

const PARSE_ERROR: Expected = { status: 400, code: -32700, reason: 'parse_error' };
const INVALID_REQUEST: Expected = { status: 400, code: -32600, reason: 'invalid_request' };
const INVALID_PARAMS: Expected = { status: 400, code: -32602, reason: 'invalid_params' };
const HEADER_MISMATCH: Expected = { status: 400, code: -32020, reason: 'header_mismatch' };
const UNSUPPORTED_VERSION: Expected = { status: 400, code: -32022, reason: 'unsupported_protocol_version' };
const SESSION_INVALID: Expected = { status: 404, code: -32001, reason: 'session_invalid' };
const NOT_FOUND: Expected = { status: 404, code: -32004, reason: 'not_found' };

/** Sends one hostile request and checks the rejection and that the backend saw nothing. */
async function refused(t: Test, what: string, send: () => Promise<RawResponse>, expected: Expected): Promise<RawResponse> {
  const before = traffic();
  const res = await send();
  t.equal(res.status, expected.status, `${what}: HTTP ${expected.status}`);
  t.equal(res.body?.jsonrpc, '2.0', `${what}: a JSON-RPC error body`);
  t.equal(res.body?.error?.code, expected.code, `${what}: code ${expected.code}`);
  t.equal(res.body?.error?.data?.reason, expected.reason, `${what}: reason ${expected.reason}`);
  t.same(traffic(), before, `${what}: nothing reached the backend`);
  return res;
}

/** Opens a legacy session on `url` with a raw initialize; returns the signed token. */
async function legacySession(url: string): Promise<string> {
  const res = await post(url, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'hostile', version: '1.0.0' } },
  });
  const token = res.headers['mcp-session-id'];
  if (res.status !== 200 || typeof token !== 'string') throw new Error(`initialize failed on ${url}: ${res.status} ${res.text}`);
  return token;
}

const sessions: Record<string, string> = {};
for (const ep of endpoints) sessions[ep.url] = await legacySession(ep.url);

/** A legacy-era request on an established session. */
function legacy(url: string, message: object, headers: Record<string, string | null> = {}) {
  return post(url, { jsonrpc: '2.0', ...message }, { 'mcp-session-id': sessions[url]!, 'mcp-protocol-version': '2025-06-18', ...headers });
}

/** A modern-era request (headers derived from the body, as a conforming client sends them). */
function modernPost(url: string, method: string, params: Record<string, unknown> = {}, headers: Record<string, string | null> = {}) {
  const m = modern(method, params);
  return post(url, m.body, { ...m.headers, ...headers });
}

/** Replaces the character at `index` with a different base64url character. */
function flip(token: string, index: number): string {
  const c = token[index]!;
  return token.slice(0, index) + (c === 'A' ? 'B' : 'A') + token.slice(index + 1);
}

for (const ep of endpoints) {
  t.test(`${ep.label}: malformed JSON-RPC`, async (t) => {
    for (const body of ['{"jsonrpc":"2.0",', 'not json', '', '{"jsonrpc":"2.0","id":1,"method":"ping"}}']) {
      const res = await refused(t, `body ${JSON.stringify(body)}`, () => post(ep.url, body), PARSE_ERROR);
      t.equal(res.body?.error && res.body.id, null, 'a parse error answers with id null');
    }

    const one = modern('tools/list').body;
    for (const body of [[one], [one, one], []]) {
      await refused(t, `batch of ${body.length}`, () => post(ep.url, body, modern('tools/list').headers), {
        status: 400,
        code: -32600,
        reason: 'batch_rejected',
      });
    }

    const invalid: [string, string][] = [
      ['a number', '42'],
      ['a string', '"tools/list"'],
      ['null', 'null'],
      ['true', 'true'],
      ['missing jsonrpc', '{"id":1,"method":"tools/list"}'],
      ['jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"tools/list"}'],
      ['jsonrpc as a number', '{"jsonrpc":2.0,"id":1,"method":"tools/list"}'],
      ['object id', '{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}'],
      ['array id', '{"jsonrpc":"2.0","id":[1],"method":"tools/list"}'],
      ['boolean id', '{"jsonrpc":"2.0","id":true,"method":"tools/list"}'],
      ['null id', '{"jsonrpc":"2.0","id":null,"method":"tools/list"}'],
      ['overlong string id', JSON.stringify({ jsonrpc: '2.0', id: 'x'.repeat(300), method: 'tools/list' })],
      ['array params', '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1,2]}'],
      ['string params', '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":"x"}'],
      ['null params', '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}'],
      ['numeric method', '{"jsonrpc":"2.0","id":1,"method":7}'],
      ['empty method', '{"jsonrpc":"2.0","id":1,"method":""}'],
      ['neither request nor response', '{"jsonrpc":"2.0","id":1}'],
      ['empty object', '{}'],
    ];
    for (const [what, body] of invalid) {
      await refused(t, what, () => post(ep.url, body, modern('tools/list').headers), INVALID_REQUEST);
    }
  });

  t.test(`${ep.label}: invalid tools/call params, both eras`, async (t) => {
    const cases: [string, Record<string, unknown>][] = [
      ['no name', { arguments: { text: 'x' } }],
      ['empty name', { name: '', arguments: { text: 'x' } }],
      ['numeric name', { name: 42, arguments: { text: 'x' } }],
      ['array arguments', { name: ep.echo, arguments: ['x'] }],
      ['string arguments', { name: ep.echo, arguments: 'text=x' }],
      ['numeric arguments', { name: ep.echo, arguments: 1 }],
      ['null arguments', { name: ep.echo, arguments: null }],
    ];
    for (const [what, params] of cases) {
      const res = await refused(t, `modern tools/call, ${what}`, () => modernPost(ep.url, 'tools/call', params), INVALID_PARAMS);
      t.equal(res.body?.id, 1, `modern tools/call, ${what}: the error echoes the request id`);
      await refused(t, `legacy tools/call, ${what}`, () => legacy(ep.url, { id: 2, method: 'tools/call', params }), INVALID_PARAMS);
    }

    // A name that is no pinned tool is a tool execution error (as the SDK servers answer it),
    // so a model can correct itself; the backend never sees it.
    const unknown: [string, Record<string, unknown>][] = [
      ['unknown tool', { name: ep.url === AGGREGATE ? 'legacy__nope' : 'nope', arguments: {} }],
      ['__proto__ as tool name', { name: '__proto__', arguments: {} }],
      ['constructor as tool name', { name: ep.url === AGGREGATE ? 'legacy__constructor' : 'constructor', arguments: {} }],
    ];
    if (ep.url === AGGREGATE) {
      unknown.push(['tool name without a slug', { name: 'echo', arguments: { text: 'x' } }]);
      unknown.push(['tool of an unknown slug', { name: 'other__echo', arguments: { text: 'x' } }]);
      unknown.push(['empty slug', { name: '__echo', arguments: { text: 'x' } }]);
    }
    for (const [what, params] of unknown) {
      for (const [era, send] of [
        ['modern', () => modernPost(ep.url, 'tools/call', params)],
        ['legacy', () => legacy(ep.url, { id: 2, method: 'tools/call', params })],
      ] as const) {
        const before = traffic();
        const res = await send();
        t.equal(res.status, 200, `${era} tools/call, ${what}: HTTP 200`);
        t.equal(res.body?.result?.isError, true, `${era} tools/call, ${what}: an isError tool result`);
        t.match(res.body?.result?.content?.[0]?.text, /^Unknown tool: /, `${era} tools/call, ${what}: names the tool`);
        t.equal(res.body?.result?._meta?.['io.toolmesh/reason'], 'unknown_tool');
        t.same(traffic(), before, `${era} tools/call, ${what}: nothing reached the backend`);
      }
    }
  });

  t.test(`${ep.label}: body size limit (${LIMIT} bytes)`, async (t) => {
    const big = JSON.stringify(modern('tools/call', { name: ep.echo, arguments: { text: 'x'.repeat(LIMIT) } }).body);
    t.ok(Buffer.byteLength(big) > LIMIT, 'the body is over the limit');
    const headers = { ...BASE_HEADERS, ...modern('tools/call', { name: ep.echo }).headers };
    const tooLarge: Expected = { status: 413, code: -32600, reason: 'payload_too_large' };
    const res = await refused(t, 'with Content-Length', () => rawRequest(ep.url, { headers, body: big }), tooLarge);
    t.equal(res.body?.error?.data?.limit, LIMIT, 'the error names the limit');

    const chunks: string[] = [];
    for (let i = 0; i < big.length; i += 512) chunks.push(big.slice(i, i + 512));
    const chunked = await refused(t, 'chunked, no Content-Length', () => rawRequest(ep.url, { headers, chunks }), tooLarge);
    t.equal(chunked.body?.error?.data?.limit, LIMIT);

    const huge = Array.from({ length: 64 }, () => 'y'.repeat(16 * 1024));
    await refused(t, 'chunked, 1 MiB of garbage', () => rawRequest(ep.url, { headers, chunks: huge }), tooLarge);

    // Just under the limit is fine (the limit is not off by a wide margin).
    const m = modern('tools/list', { pad: 'p'.repeat(LIMIT - 400) });
    const under = JSON.stringify(m.body);
    t.ok(Buffer.byteLength(under) <= LIMIT && Buffer.byteLength(under) > LIMIT - 400, 'the body is just under the limit');
    const ok = await rawRequest(ep.url, { headers: { ...BASE_HEADERS, ...m.headers }, chunks: [under.slice(0, 100), under.slice(100)] });
    t.equal(ok.status, 200, 'a chunked body under the limit is served');
    t.ok(Array.isArray(ok.body?.result?.tools), 'and answered');
  });

  t.test(`${ep.label}: HTTP-level checks`, async (t) => {
    const m = modern('tools/list');
    for (const type of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/json-seq', 'text/json', 'multipart/form-data']) {
      await refused(t, `Content-Type ${type ?? '(none)'}`, () => post(ep.url, m.body, { ...m.headers, 'content-type': type }), {
        status: 415,
        code: -32600,
        reason: 'unsupported_media_type',
      });
    }
    const utf8 = await post(ep.url, m.body, { ...m.headers, 'content-type': 'application/json; charset=utf-8' });
    t.equal(utf8.status, 200, 'application/json with a charset parameter is accepted');

    for (const accept of [null, 'application/json', 'text/event-stream', 'text/html']) {
      await refused(t, `Accept ${accept ?? '(none)'}`, () => post(ep.url, m.body, { ...m.headers, accept }), {
        status: 406,
        code: -32600,
        reason: 'not_acceptable',
      });
    }

    const originRefused: Expected = { status: 403, code: -32600, reason: 'origin_not_allowed' };
    for (const origin of ['http://evil.example', 'https://evil.example:8443', 'null', 'http://localhost.evil.example', 'file://']) {
      await refused(t, `Origin ${origin}`, () => post(ep.url, m.body, { ...m.headers, origin }), originRefused);
    }
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', tn.url]) {
      const res = await post(ep.url, m.body, { ...m.headers, origin });
      t.equal(res.status, 200, `loopback Origin ${origin} is accepted`);
      t.ok(Array.isArray(res.body?.result?.tools), `Origin ${origin}: tools/list answered`);
    }

    const port = new URL(tn.url).port;
    for (const host of ['evil.example', `evil.example:${port}`, `localhost.evil.example:${port}`, `10.0.0.1:${port}`]) {
      await refused(t, `Host ${host}`, () => post(ep.url, m.body, { ...m.headers, host }), originRefused);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const res = await post(ep.url, m.body, { ...m.headers, host });
      t.equal(res.status, 200, `loopback Host ${host} is accepted`);
    }

    for (const method of ['GET', 'DELETE', 'PUT', 'PATCH']) {
      const headers: Record<string, string> =
        method === 'GET' ? { accept: 'text/event-stream', 'mcp-session-id': sessions[ep.url]! } : { 'mcp-session-id': sessions[ep.url]! };
      const res = await refused(t, `${method}`, () => rawRequest(ep.url, { method, headers }), {
        status: 405,
        code: -32600,
        reason: 'method_not_allowed',
      });
      t.equal(res.headers.allow, 'POST', `${method}: Allow: POST`);
    }
  });

  t.test(`${ep.label}: modern-era header rules`, async (t) => {
    const mismatch = await refused(t, 'Mcp-Method mismatch', () => modernPost(ep.url, 'tools/list', {}, { 'mcp-method': 'tools/call' }), HEADER_MISMATCH);
    t.equal(mismatch.body?.id, 1, 'a refusal after the body was read answers the request id');
    await refused(t, 'Mcp-Method missing', () => modernPost(ep.url, 'tools/list', {}, { 'mcp-method': null }), HEADER_MISMATCH);
    await refused(
      t,
      'Mcp-Method missing on tools/call',
      () => modernPost(ep.url, 'tools/call', { name: ep.echo, arguments: { text: 'x' } }, { 'mcp-method': null }),
      HEADER_MISMATCH,
    );
    await refused(
      t,
      'Mcp-Name mismatch',
      () => modernPost(ep.url, 'tools/call', { name: ep.echo, arguments: { text: 'x' } }, { 'mcp-name': `${ep.echo}x` }),
      HEADER_MISMATCH,
    );
    await refused(
      t,
      'Mcp-Name missing',
      () => modernPost(ep.url, 'tools/call', { name: ep.echo, arguments: { text: 'x' } }, { 'mcp-name': null }),
      HEADER_MISMATCH,
    );
    await refused(
      t,
      'MCP-Protocol-Version header disagrees with _meta',
      () => modernPost(ep.url, 'tools/list', {}, { 'mcp-protocol-version': '2025-06-18' }),
      HEADER_MISMATCH,
    );

    for (const version of ['2099-01-01', '2025-06-18', 'latest']) {
      const body = modern('tools/list').body;
      (body.params._meta as Record<string, unknown>)['io.modelcontextprotocol/protocolVersion'] = version;
      const res = await refused(t, `_meta protocol version ${version}`, () => post(ep.url, body, { 'mcp-method': 'tools/list' }), {
        status: 400,
        code: -32022,
        reason: 'unsupported_protocol_version',
      });
      t.ok(Array.isArray(res.body?.error?.data?.supported), `${version}: data.supported lists the versions`);
      t.ok(res.body?.error?.data?.supported?.includes('2026-07-28'), `${version}: data.supported includes 2026-07-28`);
    }
    const numeric = modern('tools/list').body;
    (numeric.params._meta as Record<string, unknown>)['io.modelcontextprotocol/protocolVersion'] = 20260728;
    await refused(t, '_meta protocol version as a number', () => post(ep.url, numeric, modern('tools/list').headers), INVALID_PARAMS);

    // A modern MCP-Protocol-Version header on a body without the `_meta` envelope.
    await refused(
      t,
      'modern header without the _meta envelope',
      () => post(ep.url, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, modern('tools/list').headers),
      INVALID_PARAMS,
    );
    await refused(
      t,
      'modern header, params absent',
      () => post(ep.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, modern('tools/list').headers),
      INVALID_PARAMS,
    );
    await refused(
      t,
      'initialize is not part of the modern era',
      () => modernPost(ep.url, 'initialize', { protocolVersion: '2026-07-28', capabilities: {}, clientInfo: { name: 'x', version: '1' } }),
      INVALID_REQUEST,
    );
  });

  t.test(`${ep.label}: legacy-era sessions`, async (t) => {
    const list = { jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} };
    await refused(t, 'no Mcp-Session-Id', () => post(ep.url, list, { 'mcp-protocol-version': '2025-06-18' }), INVALID_REQUEST);
    await refused(t, 'no Mcp-Session-Id, no version header', () => post(ep.url, list), INVALID_REQUEST);

    const real = sessions[ep.url]!;
    const good = await post(ep.url, list, { 'mcp-session-id': real });
    t.equal(good.status, 200, 'the real token is accepted');

    const [, payload, mac] = real.split('.') as [string, string, string];
    const forged = `s1.${Buffer.from(JSON.stringify({ pv: '2025-06-18', ep: ep.key, n: 'x', iat: 0, exp: 4102444800 })).toString('base64url')}.${mac}`;
    const bad: [string, string][] = [
      ['garbage', 'not-a-token'],
      ['empty-looking token', 's1..'],
      ['forged payload with a copied MAC', forged],
      ['one payload character changed', flip(real, 3 + Math.floor(payload.length / 2))],
      ['one MAC character changed', flip(real, 4 + payload.length + Math.floor(mac.length / 2))],
      ['MAC removed', `s1.${payload}.`],
      ['wrong token version', `s2.${payload}.${mac}`],
      ['oversized token', `s1.${'A'.repeat(5000)}.${mac}`],
    ];
    for (const [what, token] of bad) {
      await refused(t, what, () => post(ep.url, list, { 'mcp-session-id': token }), SESSION_INVALID);
    }

    const other = endpoints.find((e) => e.url !== ep.url)!;
    await refused(
      t,
      `a token issued by ${other.label}`,
      () => post(ep.url, list, { 'mcp-session-id': sessions[other.url]! }),
      SESSION_INVALID,
    );

    // Expiry: a token that is authentic (signed with this node's session key) but expired.
    const codec = new SessionTokenCodec(Buffer.from(readFileSync(join(tn.dataDir, 'session.key'), 'utf8').trim(), 'base64url'));
    const now = Math.floor(Date.now() / 1000);
    const claims = { pv: '2025-06-18', ep: ep.key, caps: {}, n: 'expired-session', iat: now - 120, exp: now - 60 };
    const alive = codec.sign({ ...claims, exp: now + 60 })!;
    t.equal((await post(ep.url, list, { 'mcp-session-id': alive })).status, 200, 'a token signed with the node key is accepted (control)');
    await refused(t, 'an expired token', () => post(ep.url, list, { 'mcp-session-id': codec.sign(claims)! }), SESSION_INVALID);

    // Another legacy revision on a session is tolerated (SDK servers do, and the conformance suite relies on it) …
    t.equal((await legacy(ep.url, list, { 'mcp-protocol-version': '2025-03-26' })).status, 200, 'another legacy revision is accepted');
    // … an unknown one is not.
    await refused(t, 'an unknown MCP-Protocol-Version on a session', () => legacy(ep.url, list, { 'mcp-protocol-version': '2099-01-01' }), UNSUPPORTED_VERSION);
  });

  t.test(`${ep.label}: notifications and client responses are accepted and not forwarded`, async (t) => {
    const messages: [string, () => Promise<RawResponse>][] = [
      [
        'modern notification',
        () => {
          const m = modern('notifications/initialized');
          const { id: _id, ...body } = m.body;
          return post(ep.url, body, m.headers);
        },
      ],
      ['legacy notifications/initialized', () => legacy(ep.url, { method: 'notifications/initialized' })],
      ['legacy notifications/cancelled for an unknown request', () => legacy(ep.url, { method: 'notifications/cancelled', params: { requestId: 99 } })],
      ['legacy notifications/progress', () => legacy(ep.url, { method: 'notifications/progress', params: { progressToken: 1, progress: 1 } })],
      ['client result response', () => legacy(ep.url, { id: 7, result: {} })],
      ['client error response', () => legacy(ep.url, { id: 8, error: { code: -32601, message: 'no sampling here' } })],
    ];
    for (const [what, send] of messages) {
      const before = traffic();
      const res = await send();
      t.equal(res.status, 202, `${what}: 202 Accepted`);
      t.equal(res.text, '', `${what}: no body`);
      t.same(traffic(), before, `${what}: nothing was forwarded`);
    }
    await refused(t, 'a notification without a session', () => post(ep.url, { jsonrpc: '2.0', method: 'notifications/initialized' }), INVALID_REQUEST);
  });

  t.test(`${ep.label}: prototype-polluting keys`, async (t) => {
    const meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}';
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': ep.echo };
    const cases: [string, string, string | undefined][] = [
      ['__proto__ key in arguments', `"arguments":{"text":"a","__proto__":{"polluted":true}}`, 'a'],
      ['constructor.prototype in arguments', `"arguments":{"text":"b","constructor":{"prototype":{"polluted":true}}}`, 'b'],
      ['__proto__ key in params', `"arguments":{"text":"c"},"__proto__":{"name":"evil","polluted":true}`, 'c'],
      // An inherited-looking `text` is not an own property: the schema's `required` still fails.
      ['required property only under __proto__', `"arguments":{"__proto__":{"text":"d"}}`, undefined],
    ];
    for (const [what, fields, echoed] of cases) {
      const before = backend.calls.get('echo') ?? 0;
      const body = `{"jsonrpc":"2.0","id":1,"__proto__":{"polluted":true},"method":"tools/call","params":{"name":"${ep.echo}",${fields},${meta}}}`;
      const res = await post(ep.url, body, headers);
      t.equal(res.status, 200, `${what}: answered (${res.status})`);
      if (echoed === undefined) {
        t.equal(res.body?.result?.isError, true, `${what}: a schema rejection`);
        t.equal(backend.calls.get('echo') ?? 0, before, `${what}: the backend was not called`);
      } else {
        t.same(res.body?.result?.content, [{ type: 'text', text: echoed }], `${what}: the echo tool ran normally`);
        t.equal(backend.calls.get('echo'), before + 1, `${what}: exactly one call reached the backend`);
      }
      t.equal(({} as Record<string, unknown>).polluted, undefined, `${what}: Object.prototype is untouched`);
      t.equal(({} as Record<string, unknown>).name, undefined, `${what}: Object.prototype has no name`);
    }
    // `_meta` whose protocol version hides behind __proto__ is not a modern claim.
    const hidden = `{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":{"__proto__":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}}`;
    await refused(t, '_meta claim hidden behind __proto__', () => post(ep.url, hidden), INVALID_REQUEST);
    await refused(t, '__proto__ as params', () => post(ep.url, '{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"__proto__":[]}}'), INVALID_REQUEST);

    const after = await modernPost(ep.url, 'tools/call', { name: ep.echo, arguments: { text: 'still alive' } });
    t.equal(after.status, 200, 'the next request is served');
    t.same(after.body?.result?.content, [{ type: 'text', text: 'still alive' }]);
  });
}

t.test('aggregate: unknown methods are 404 / -32601', async (t) => {
  const notFound: Expected = { status: 404, code: -32601, reason: 'method_not_found' };
  for (const method of ['foo/bar', 'tools/delete', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    await refused(t, `modern ${method}`, () => modernPost(AGGREGATE, method), notFound);
    await refused(t, `legacy ${method}`, () => legacy(AGGREGATE, { id: 9, method, params: {} }), notFound);
  }
});

t.test('per-server: an unknown method is the backend’s -32601, and no tool runs', async (t) => {
  const before = traffic().calls;
  const res = await modernPost(PER_SERVER, 'foo/bar');
  t.equal(res.body?.error?.code, -32601, 'method not found');
  t.equal(traffic().calls, before, 'no tool call executed');
});

t.test('per-server: unknown servers and versions are 404 / -32004', async (t) => {
  const cases: [string, string][] = [
    ['unknown slug', `${tn.url}/mcp/v1/tools/nope/rpc`],
    ['unknown major version', `${tn.url}/mcp/v7/tools/legacy/rpc`],
    ['major version 0', `${tn.url}/mcp/v0/tools/legacy/rpc`],
    ['unknown slug, major 2', `${tn.url}/mcp/v2/tools/legacy-two/rpc`],
  ];
  for (const [what, url] of cases) {
    await refused(t, `${what}: modern tools/list`, () => modernPost(url, 'tools/list'), NOT_FOUND);
    await refused(t, `${what}: modern tools/call`, () => modernPost(url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }), NOT_FOUND);
    await refused(
      t,
      `${what}: legacy initialize`,
      () =>
        post(url, {
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
        }),
      NOT_FOUND,
    );
  }
});

t.test('the gateway survived everything: both SDK clients still work', async (t) => {
  for (const era of ['legacy', 'modern'] as Era[]) {
    for (const ep of endpoints) {
      const client = await connect(era, ep.url);
      const before = backend.calls.get('echo') ?? 0;
      const result = await client.callTool(ep.echo, { text: `${era} after the storm` });
      await client.close();
      t.same(result.content, [{ type: 'text', text: `${era} after the storm` }], `${era} client on ${ep.label}`);
      t.equal(backend.calls.get('echo'), before + 1, `${era} on ${ep.label}: the backend executed the call`);
    }
  }
  const health = await fetch(`${tn.url}/healthz`);
  t.equal(health.status, 200, 'healthz is ok');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype still untouched');
});
