/**
 * OAuth end to end against real nodes (PRODUCT.md §3, §4, §5, §6): the
 * embedded authorization server, a corporate IdP (oidc-provider) trusted
 * under `auth.issuers`, real SDK backends registered as `crm` (legacy era),
 * `billing` (modern era) and `hr` (modern era, group `eng` only).
 *
 *  1. no credentials → 401 + RFC 9728 pointer; the metadata and the AS are discoverable
 *  2. the unchanged MCP SDK v1 client runs the whole MCP authorization flow
 *  3. an agent's client_credentials token: read yes, write 403 insufficient_scope
 *  4. a scope of one server never opens another, whatever the route or encoding;
 *     per-tool and aggregate endpoints decide alike; tools/list = what may be called
 *  5. the corporate IdP's tokens (groups from its claim); untrusted IdP, query
 *     string token and ID token refused
 *  6. admin API: mcp:admin, bootstrap token rotation and disabling (across a restart)
 *  7. initialize with wanted tools
 *  8. no credential ever reaches a backend
 *
 * Every hostile case asserts that no backend executed a call or even received a request.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { hashPassword } from '../../src/auth/oauth/authorization-server/index.js';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend, startModernHttpBackend, type TestBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';
import { clientCredentials, discover, idpPersonTokens, InMemoryOAuthProvider, personToken, signIn, type AsMetadata } from '../helpers/oauth-flows.js';
import { TestBrowser } from '../auth/oauth-browser.js';
import { startIdp } from '../auth/oidc-idp.js';

const ALICE = { username: 'alice', password: 'alice-correct-horse-42' };
const DANA = { username: 'dana', password: 'dana-battery-staple-42' };
const AGENT = { id: 'agent-1', secret: '0123456789abcdef0123' };
const CRM_READ = 'mcp:tool:crm:read';
const CRM_WRITE = 'mcp:tool:crm:write';
const BILLING_READ = 'mcp:tool:billing:read';
const BILLING_WRITE = 'mcp:tool:billing:write';
const HR_READ = 'mcp:tool:hr:read';
const LEGACY_VERSION = '2025-06-18';

// ---------------------------------------------------------------------------
// Backends, the corporate IdP, the node.

const backends: Record<'crm' | 'billing' | 'hr', TestBackend> = {
  crm: await startLegacyHttpBackend(), // echo (read), add, slow, progress
  billing: await startModernHttpBackend(), // echo (read), progress, slow
  hr: await startModernHttpBackend(), // echo (read), progress, slow; group eng only
};
/** Arguments that make each tool succeed. */
const ARGS: Record<string, Record<string, unknown>> = { echo: { text: 'hi' }, add: { a: 2, b: 3 }, slow: { ms: 1 }, progress: { steps: 1 } };
const TOOLS: Record<keyof typeof backends, string[]> = {
  crm: ['echo', 'add', 'slow', 'progress'],
  billing: ['echo', 'progress', 'slow'],
  hr: ['echo', 'progress', 'slow'],
};

// The IdP must name the node's resource, known once the node listens: its helper reads `resource` per request.
const corpOptions = { resource: 'http://127.0.0.1:9/mcp', scope: `${CRM_READ} ${HR_READ}` };
const corp = await startIdp(corpOptions);

const config = {
  auth: {
    authorizationServer: {
      users: [
        { username: ALICE.username, passwordHash: await hashPassword(ALICE.password), groups: ['sales'], scopes: [CRM_READ, CRM_WRITE, BILLING_READ] },
        { username: DANA.username, passwordHash: await hashPassword(DANA.password), groups: ['platform'], scopes: ['mcp:admin'] },
      ],
      clients: [{ clientId: AGENT.id, clientSecret: AGENT.secret, groups: ['ops'], scopes: [CRM_READ] }],
    },
    issuers: [{ issuer: corp.issuer, typ: 'at+jwt' }],
    allowInsecureIssuers: true,
  },
  // Generous limits: this file is about identity, not rate limiting.
  rateLimits: { person: { perMinute: 100_000, burst: 10_000 }, agent: { perMinute: 100_000, burst: 10_000 } },
};
let tn: TestNode = await startTestNode(config);
const firstDataDir = tn.dataDir;
corpOptions.resource = `${tn.url}/mcp`;
let third: Awaited<ReturnType<typeof startIdp>> | undefined;

t.teardown(async () => {
  await tn.stop();
  await Promise.all(Object.values(backends).map((b) => b.close()));
  await corp.close();
  await third?.close();
  await removeDir(firstDataDir);
});

await tn.register({ slug: 'crm', version: '1.0.0', backend: { http: backends.crm.url }, readTools: ['echo'] });
await tn.register({ slug: 'billing', version: '1.0.0', backend: { http: backends.billing.url }, readTools: ['echo'] });
await tn.register({ slug: 'hr', version: '1.0.0', backend: { http: backends.hr.url }, readTools: ['echo'], allowedGroups: ['eng'] });

const URL_ = tn.url;
const RESOURCE = `${URL_}/mcp`;
const AGGREGATE = `${URL_}/mcp`;
const PRM = `${URL_}/.well-known/oauth-protected-resource/mcp`;
const ISSUER = `${URL_}/oauth`;
const perTool = (slug: string) => `${URL_}/mcp/v1/tools/${slug}/rpc`;

/** Every credential a test presents; test 8 checks none reached a backend. */
const secrets = new Set<string>();
const keep = <T extends string | undefined>(s: T): T => {
  if (s) secrets.add(s);
  return s;
};

const asMeta: AsMetadata = await discover(ISSUER);
const aliceToken = keep((await personToken(asMeta, ALICE, { scope: `${CRM_READ} ${CRM_WRITE} ${BILLING_READ} ${BILLING_WRITE} mcp:admin`, resource: RESOURCE })).access_token);

// ---------------------------------------------------------------------------
// Calls and traffic.

type Res = { status: number; headers: Headers; body: any; text: string };
const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** rawPost, with an SSE answer (a tool relaying progress) reduced to its final JSON-RPC response. */
async function post(url: string, body: object | string, headers: Record<string, string>): Promise<Res> {
  const res = await rawPost(url, body, headers);
  if (res.body === undefined && /^(event|data):/m.test(res.text)) {
    const messages = res.text
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => JSON.parse(line.slice(5)));
    res.body = messages.find((m) => 'result' in m || 'error' in m);
  }
  return res;
}

/** A modern-era (2026-07-28) request. */
function modernCall(url: string, token: string | undefined, method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Res> {
  const m = modern(method, params);
  return post(url, m.body, { ...m.headers, ...bearer(token), ...headers });
}

/** A legacy-era initialize. */
function initialize(url: string, token: string | undefined, meta?: Record<string, unknown>): Promise<Res> {
  return rawPost(
    url,
    { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY_VERSION, capabilities: {}, clientInfo: { name: 'e2e', version: '1.0.0' }, ...(meta ? { _meta: meta } : {}) } },
    bearer(token),
  );
}

/** A legacy-era request on a session; `sessionToken` opens the session, `token` sends the request. */
async function legacyCall(url: string, token: string | undefined, method: string, params: Record<string, unknown> = {}, sessionToken = token): Promise<Res> {
  const init = await initialize(url, sessionToken);
  const session = init.headers.get('mcp-session-id');
  if (!session) return init; // the refusal of the handshake is the answer
  return post(url, { jsonrpc: '2.0', id: 1, method, params }, { 'mcp-session-id': session, 'mcp-protocol-version': LEGACY_VERSION, ...bearer(token) });
}

/** A POST whose request-target is `path` exactly as written (no URL parsing, no dot-segment removal). */
function literalPost(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string; body: any }> {
  const { hostname, port } = new URL(URL_);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method: 'POST', agent: false, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: any;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function traffic(): Record<string, { calls: number; requests: number }> {
  const out: Record<string, { calls: number; requests: number }> = {};
  for (const [slug, b] of Object.entries(backends)) {
    let calls = 0;
    for (const n of b.calls.values()) calls += n;
    out[slug] = { calls, requests: b.seenHeaders.length };
  }
  return out;
}

/** Runs `send` and asserts that no backend executed anything or even received a request. */
async function untouched<T>(t: Test, what: string, send: () => Promise<T>): Promise<T> {
  const before = traffic();
  const res = await send();
  t.same(traffic(), before, `${what}: no backend saw anything`);
  return res;
}

function assertRpcError(t: Test, res: Res, status: number, reason: string, code: number, what: string): void {
  t.equal(res.status, status, `${what}: HTTP ${status} (${res.text.slice(0, 160)})`);
  t.equal(res.body?.jsonrpc, '2.0', `${what}: a JSON-RPC body`);
  t.equal(res.body?.error?.code, code, `${what}: code ${code}`);
  t.equal(res.body?.error?.data?.reason, reason, `${what}: reason ${reason}`);
  t.notOk(res.body?.result, `${what}: no result`);
}

function assertInsufficientScope(t: Test, res: Res, scope: string, what: string): void {
  assertRpcError(t, res, 403, 'insufficient_scope', -32003, what);
  const challenge = res.headers.get('www-authenticate') ?? '';
  t.match(challenge, /^Bearer /, `${what}: a Bearer challenge`);
  t.match(challenge, 'error="insufficient_scope"', `${what}: error="insufficient_scope"`);
  t.match(challenge, `scope="${scope}"`, `${what}: scope="${scope}"`);
  t.match(challenge, `resource_metadata="${PRM}"`, `${what}: resource_metadata`);
}

function assertUnauthorized(t: Test, res: Res, reason: 'missing_credentials' | 'invalid_token', what: string): void {
  assertRpcError(t, res, 401, reason, -32001, what);
  const challenge = res.headers.get('www-authenticate') ?? '';
  if (reason === 'missing_credentials') t.equal(challenge, `Bearer resource_metadata="${PRM}"`, `${what}: WWW-Authenticate`);
  else {
    t.match(challenge, new RegExp(`^Bearer resource_metadata="${PRM.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`), `${what}: WWW-Authenticate points at the metadata`);
    t.match(challenge, 'error="invalid_token"', `${what}: error="invalid_token"`);
  }
  t.notOk(res.headers.get('mcp-session-id'), `${what}: no session`);
}

/** allowed | isError:<reason> | <status> <reason>: what the gateway decided for one call. */
function decision(res: Res): string {
  if (res.status === 200 && res.body?.result) {
    if (res.body.result.isError) return `isError:${res.body.result._meta?.['io.toolmesh/reason'] ?? 'tool'}`;
    return 'allowed';
  }
  return `${res.status} ${res.body?.error?.data?.reason ?? '?'}`;
}

const names = (res: Res): string[] => (res.body?.result?.tools ?? []).map((tool: { name: string }) => tool.name).sort();
const scopesOf = (token: string): string[] => String(decodeJwt(token).scope ?? '').split(' ').filter(Boolean).sort();

// ---------------------------------------------------------------------------

t.test('1. no credentials: 401 missing_credentials pointing at RFC 9728 metadata that names the embedded AS', async (t) => {
  const aliceSession = (await initialize(perTool('crm'), aliceToken)).headers.get('mcp-session-id')!;
  t.ok(aliceSession, 'a session opened with a token, to try it without one');
  for (const [label, url, tool] of [
    ['aggregate', AGGREGATE, 'crm__echo'],
    ['per-tool crm', perTool('crm'), 'echo'],
    ['per-tool billing', perTool('billing'), 'echo'],
  ] as const) {
    for (const [what, send] of [
      ['legacy initialize', () => initialize(url, undefined)],
      ['modern tools/list', () => modernCall(url, undefined, 'tools/list')],
      ['modern tools/call', () => modernCall(url, undefined, 'tools/call', { name: tool, arguments: ARGS.echo })],
      ['modern server/discover', () => modernCall(url, undefined, 'server/discover')],
    ] as const) {
      const res = await untouched(t, `${label} ${what}`, send);
      assertUnauthorized(t, res, 'missing_credentials', `${label} ${what}`);
    }
  }
  // A session is not a credential: an established session without a token is still 401.
  const crmSession = await untouched(t, 'legacy tools/call on a session without a token', () =>
    rawPost(perTool('crm'), { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: ARGS.echo } }, { 'mcp-session-id': aliceSession, 'mcp-protocol-version': LEGACY_VERSION }),
  );
  assertUnauthorized(t, crmSession, 'missing_credentials', 'legacy tools/call on a session without a token');
  const emptyBearer = await untouched(t, 'empty Bearer', () => modernCall(AGGREGATE, undefined, 'tools/list', {}, { authorization: 'Bearer ' }));
  assertUnauthorized(t, emptyBearer, 'invalid_token', 'an empty Bearer');
  const basic = await untouched(t, 'Basic credentials', () => modernCall(AGGREGATE, undefined, 'tools/list', {}, { authorization: `Basic ${Buffer.from('alice:x').toString('base64')}` }));
  assertUnauthorized(t, basic, 'invalid_token', 'Basic credentials');

  // The pointer: RFC 9728 metadata naming the embedded authorization server.
  const prm = await fetch(PRM);
  t.equal(prm.status, 200, 'the resource_metadata URL serves');
  const doc = (await prm.json()) as Record<string, any>;
  t.equal(doc.resource, RESOURCE, 'resource = the gateway’s MCP resource URI');
  t.same(doc.authorization_servers, [ISSUER, corp.issuer], 'the embedded AS first, then the trusted corporate IdP, each once');
  t.same(doc.bearer_methods_supported, ['header']);
  for (const scope of ['mcp:admin', CRM_READ, CRM_WRITE, BILLING_READ, BILLING_WRITE, HR_READ]) t.ok(doc.scopes_supported.includes(scope), `scopes_supported has ${scope}`);
  const root = (await (await fetch(`${URL_}/.well-known/oauth-protected-resource`)).json()) as Record<string, any>;
  t.equal(root.resource, RESOURCE, 'the root form names the same resource');

  // The authorization server is discoverable from there (RFC 8414 path-inserted, and OIDC discovery).
  const asDoc = (await (await fetch(`${URL_}/.well-known/oauth-authorization-server/oauth`)).json()) as Record<string, any>;
  t.equal(asDoc.issuer, ISSUER);
  t.equal(asDoc.token_endpoint, `${ISSUER}/token`);
  t.equal(asDoc.authorization_endpoint, `${ISSUER}/auth`);
  t.equal(asDoc.registration_endpoint, `${ISSUER}/reg`);
  t.same(asDoc.code_challenge_methods_supported, ['S256']);
  t.ok(asDoc.grant_types_supported.includes('client_credentials'));
  t.ok(asDoc.scopes_supported.includes(CRM_WRITE), 'registry scopes advertised by the AS');
  const oidc = (await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json()) as Record<string, any>;
  t.equal(oidc.issuer, ISSUER);
  t.equal(oidc.jwks_uri, `${ISSUER}/jwks`);
});

t.test('2. MCP SDK v1 client: 401 → PRM → AS metadata → registration → PKCE → login as alice → token → tools', async (t) => {
  const provider = new InMemoryOAuthProvider();
  const before = traffic();
  const first = new Client({ name: 'sdk-e2e', version: '1.0.0' });
  const refused = await first.connect(new StreamableHTTPClientTransport(new URL(AGGREGATE), { authProvider: provider })).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.ok(refused instanceof UnauthorizedError, 'the first connect needs authorization');
  t.same(traffic(), before, 'nothing reached a backend before authorization');
  t.ok(provider.clientInformation()?.client_id, 'registered dynamically at the embedded AS');
  const authorizationUrl = provider.authorizationUrl!;
  t.ok(authorizationUrl, 'sent to the authorization endpoint');
  t.equal(`${authorizationUrl.origin}${authorizationUrl.pathname}`, `${ISSUER}/auth`, 'the AS named by the metadata');
  t.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256', 'PKCE');
  t.ok(authorizationUrl.searchParams.get('code_challenge'));
  t.equal(authorizationUrl.searchParams.get('resource'), RESOURCE, 'RFC 8707 resource = the gateway');

  const code = await signIn(new TestBrowser(), authorizationUrl.href, ALICE);
  const transport = new StreamableHTTPClientTransport(new URL(AGGREGATE), { authProvider: provider });
  await transport.finishAuth(code);
  const accessToken = keep(provider.tokens()?.access_token);
  keep(provider.tokens()?.refresh_token);
  t.ok(accessToken, 'a token');
  const claims = decodeJwt(accessToken!);
  t.equal(claims.sub, 'alice');
  t.equal(claims.iss, ISSUER);
  t.equal(claims.aud, RESOURCE);
  t.same(claims.groups, ['sales']);
  t.same(scopesOf(accessToken!), [BILLING_READ, CRM_READ, CRM_WRITE].sort(), 'requested (all of scopes_supported) ∩ alice’s scopes');

  const client = new Client({ name: 'sdk-e2e', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  const { tools } = await client.listTools();
  t.same(
    tools.map((tool) => tool.name).sort(),
    ['billing__echo', 'crm__add', 'crm__echo', 'crm__progress', 'crm__slow'],
    'alice sees crm (read and write tools) and billing’s read tool only',
  );
  const crmAdds = backends.crm.calls.get('add') ?? 0;
  const billingEchoes = backends.billing.calls.get('echo') ?? 0;
  t.same((await client.callTool({ name: 'crm__add', arguments: { a: 20, b: 22 } })).content, [{ type: 'text', text: '42' }], 'a crm write tool');
  t.same((await client.callTool({ name: 'billing__echo', arguments: { text: 'invoice' } })).content, [{ type: 'text', text: 'invoice' }], 'a billing read tool');
  t.equal(backends.crm.calls.get('add'), crmAdds + 1);
  t.equal(backends.billing.calls.get('echo'), billingEchoes + 1);

  // The same provider (now holding a token) on a per-tool endpoint: the one resource covers it.
  const perToolClient = new Client({ name: 'sdk-e2e', version: '1.0.0' });
  await perToolClient.connect(new StreamableHTTPClientTransport(new URL(perTool('billing')), { authProvider: provider }));
  t.teardown(() => perToolClient.close());
  t.same((await perToolClient.listTools()).tools.map((tool) => tool.name), ['echo'], 'per-tool billing: the read tool only');
  t.same((await perToolClient.callTool({ name: 'echo', arguments: { text: 'per-tool' } })).content, [{ type: 'text', text: 'per-tool' }]);
});

t.test('3. client_credentials (agent-1): a crm read tool yes, a crm write tool 403 insufficient_scope', async (t) => {
  const tokens = await clientCredentials(asMeta, AGENT, { scope: `${CRM_READ} ${CRM_WRITE} mcp:admin` });
  const token = keep(tokens.access_token);
  t.equal(tokens.scope, CRM_READ, 'only what agent-1 may have');
  const claims = decodeJwt(token);
  t.equal(claims.sub, AGENT.id);
  t.equal(claims.client_id, AGENT.id);
  t.equal(claims.aud, RESOURCE, 'audience = the gateway without asking');
  t.same(claims.groups, ['ops']);

  t.same(names(await modernCall(AGGREGATE, token, 'tools/list')), ['crm__echo'], 'tools/list: crm__echo only');
  t.same(names(await modernCall(perTool('crm'), token, 'tools/list')), ['echo']);
  t.same(names(await modernCall(perTool('billing'), token, 'tools/list')), [], 'billing: nothing');

  const echoes = backends.crm.calls.get('echo') ?? 0;
  const ok = await modernCall(AGGREGATE, token, 'tools/call', { name: 'crm__echo', arguments: { text: 'agent' } });
  t.equal(decision(ok), 'allowed');
  t.same(ok.body.result.content, [{ type: 'text', text: 'agent' }]);
  const okLegacy = await legacyCall(perTool('crm'), token, 'tools/call', { name: 'echo', arguments: { text: 'agent-legacy' } });
  t.same(okLegacy.body?.result?.content, [{ type: 'text', text: 'agent-legacy' }], 'legacy era, per-tool endpoint');
  t.equal(backends.crm.calls.get('echo'), echoes + 2);

  for (const [what, send] of [
    ['aggregate crm__add (modern)', () => modernCall(AGGREGATE, token, 'tools/call', { name: 'crm__add', arguments: ARGS.add })],
    ['per-tool add (modern)', () => modernCall(perTool('crm'), token, 'tools/call', { name: 'add', arguments: ARGS.add })],
    ['per-tool add (legacy)', () => legacyCall(perTool('crm'), token, 'tools/call', { name: 'add', arguments: ARGS.add })],
    ['aggregate crm__progress (legacy)', () => legacyCall(AGGREGATE, token, 'tools/call', { name: 'crm__progress', arguments: ARGS.progress })],
  ] as const) {
    const res = await untouched(t, what, send);
    assertInsufficientScope(t, res, CRM_WRITE, what);
  }
  const other = await untouched(t, 'billing__echo', () => modernCall(AGGREGATE, token, 'tools/call', { name: 'billing__echo', arguments: ARGS.echo }));
  assertInsufficientScope(t, other, BILLING_READ, 'agent-1 on billing__echo');
});

t.test('4. a scope of crm never opens billing, by any route or encoding; both endpoints decide alike', async (t) => {
  const crmOnly = keep((await personToken(asMeta, ALICE, { scope: CRM_WRITE, resource: RESOURCE })).access_token);
  t.same(scopesOf(crmOnly), [CRM_WRITE], 'a token with only mcp:tool:crm:write');

  // The canonical routes: 403 naming the billing scope, never reaching billing.
  for (const [what, send, scope] of [
    ['per-tool billing echo (modern)', () => modernCall(perTool('billing'), crmOnly, 'tools/call', { name: 'echo', arguments: ARGS.echo }), BILLING_READ],
    ['per-tool billing echo (legacy)', () => legacyCall(perTool('billing'), crmOnly, 'tools/call', { name: 'echo', arguments: ARGS.echo }), BILLING_READ],
    ['per-tool billing progress (modern)', () => modernCall(perTool('billing'), crmOnly, 'tools/call', { name: 'progress', arguments: ARGS.progress }), BILLING_WRITE],
    ['per-tool billing, trailing slash', () => modernCall(`${perTool('billing')}/`, crmOnly, 'tools/call', { name: 'echo', arguments: ARGS.echo }), BILLING_READ],
    ['aggregate billing__echo (modern)', () => modernCall(AGGREGATE, crmOnly, 'tools/call', { name: 'billing__echo', arguments: ARGS.echo }), BILLING_READ],
    ['aggregate billing__echo (legacy)', () => legacyCall(AGGREGATE, crmOnly, 'tools/call', { name: 'billing__echo', arguments: ARGS.echo }), BILLING_READ],
    ['aggregate billing__progress (modern)', () => modernCall(AGGREGATE, crmOnly, 'tools/call', { name: 'billing__progress', arguments: ARGS.progress }), BILLING_WRITE],
    ['aggregate /mcp/ billing__echo', () => modernCall(`${AGGREGATE}/`, crmOnly, 'tools/call', { name: 'billing__echo', arguments: ARGS.echo }), BILLING_READ],
  ] as const) {
    const res = await untouched(t, what, send);
    assertInsufficientScope(t, res, scope, what);
  }

  // Slug encodings in the path: no such endpoint.
  for (const path of ['/mcp/v1/tools/Billing/rpc', '/mcp/v1/tools/BILLING/rpc', '/mcp/v1/tools/%62illing/rpc', '/mcp/v1/tools/billing%2F/rpc', '/mcp/v1/tools/crm%2F..%2Fbilling/rpc', '/mcp/v1/tools/%2e%2e%2fbilling/rpc', '/mcp/v01/tools/billing/rpc', '/mcp/v1/tools/billing /rpc'.replace(' ', '%20'), '/mcp/v1/tools/.billing/rpc']) {
    const res = await untouched(t, path, () => modernCall(`${URL_}${path}`, crmOnly, 'tools/call', { name: 'echo', arguments: ARGS.echo }));
    assertRpcError(t, res, 404, 'not_found', -32004, path);
  }
  // Dot segments, sent literally (any URL parser, fetch's included, would resolve them first).
  for (const path of ['/mcp/v1/tools/crm/../billing/rpc', '/mcp/v1/tools/crm/%2e%2e/billing/rpc', '/mcp/v1/tools/./billing/rpc', '/mcp/../mcp/v1/tools/billing/rpc', '//mcp/v1/tools/billing/rpc', '/mcp/v1/tools/billing/rpc/..']) {
    const m = modern('tools/call', { name: 'echo', arguments: ARGS.echo });
    const res = await untouched(t, `literal ${path}`, () =>
      literalPost(path, { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...m.headers, authorization: `Bearer ${crmOnly}` }, JSON.stringify(m.body)),
    );
    t.ok(res.status === 404, `literal ${path}: no such endpoint (${res.status} ${res.text.slice(0, 120)})`);
    t.notOk(res.body?.result, `literal ${path}: no result`);
  }
  // Tool names on the aggregate that are not `billing__<tool>` exactly: unknown, never billing's.
  for (const name of ['billing%5F%5Fecho', 'billing%5f%5fecho', 'Billing__echo', 'BILLING__echo', 'billing\uff3f\uff3fecho', 'bi\u0301lling__echo', ' billing__echo', 'billing__echo ', 'billing__Echo', 'billing___echo', 'crm__billing__echo', 'billing__', '__billing__echo', 'billing.echo', 'x.billing__echo']) {
    // Modern era too where the name fits in an Mcp-Name header (Latin-1); the legacy era always.
    if (/^[\x20-\x7e]*$/.test(name)) {
      const res = await untouched(t, `name ${JSON.stringify(name)} (modern)`, () => modernCall(AGGREGATE, crmOnly, 'tools/call', { name, arguments: ARGS.echo }));
      t.not(decision(res), 'allowed', `name ${JSON.stringify(name)} (modern): refused (${decision(res)})`);
    }
    const res = await untouched(t, `name ${JSON.stringify(name)} (legacy)`, () => legacyCall(AGGREGATE, crmOnly, 'tools/call', { name, arguments: ARGS.echo }));
    t.not(decision(res), 'allowed', `name ${JSON.stringify(name)} (legacy): refused (${decision(res)})`);
  }
  // Nor a billing tool name on the crm endpoint.
  for (const name of ['billing__echo', '../billing/echo', 'billing/echo']) {
    const res = await untouched(t, `crm endpoint, name ${name}`, () => modernCall(perTool('crm'), crmOnly, 'tools/call', { name, arguments: ARGS.echo }));
    t.equal(decision(res), 'isError:unknown_tool', `crm endpoint, name ${name}: unknown tool`);
  }
  // The header-only route: Mcp-Name saying billing while the body names crm (and vice versa) is not a way in.
  const mismatch = await untouched(t, 'Mcp-Name mismatch', () =>
    modernCall(AGGREGATE, crmOnly, 'tools/call', { name: 'billing__echo', arguments: ARGS.echo }, { 'mcp-name': 'crm__echo' }),
  );
  t.not(decision(mismatch), 'allowed', `Mcp-Name crm__echo over a billing__echo body: ${decision(mismatch)}`);

  // Identical decisions on both endpoints, and tools/list on each = exactly what may be called.
  const agentToken = keep((await clientCredentials(asMeta, AGENT, { scope: CRM_READ })).access_token);
  const credentials: [string, string][] = [
    ['alice (crm rw, billing r)', aliceToken],
    ['crm:write only', crmOnly],
    ['agent-1 (crm r)', agentToken],
  ];
  for (const [who, token] of credentials) {
    const aggregateList = names(await modernCall(AGGREGATE, token, 'tools/list'));
    const aggregateLegacyList = names(await legacyCall(AGGREGATE, token, 'tools/list'));
    t.same(aggregateLegacyList, aggregateList, `${who}: both eras list the same on /mcp`);
    const allowedOnAggregate: string[] = [];
    for (const [slug, tools] of Object.entries(TOOLS)) {
      const listed = await modernCall(perTool(slug), token, 'tools/list');
      const perToolList = listed.status === 200 ? names(listed) : [];
      const allowedHere: string[] = [];
      for (const tool of tools) {
        const perToolDecision = decision(await modernCall(perTool(slug), token, 'tools/call', { name: tool, arguments: ARGS[tool] }));
        const aggregateDecision = decision(await modernCall(AGGREGATE, token, 'tools/call', { name: `${slug}__${tool}`, arguments: ARGS[tool] }));
        const legacyDecision = decision(await legacyCall(perTool(slug), token, 'tools/call', { name: tool, arguments: ARGS[tool] }));
        t.equal(aggregateDecision, perToolDecision, `${who} ${slug}/${tool}: same decision on /mcp and per-tool (${perToolDecision})`);
        t.equal(legacyDecision, perToolDecision, `${who} ${slug}/${tool}: same decision in the legacy era`);
        if (perToolDecision === 'allowed') {
          allowedHere.push(tool);
          allowedOnAggregate.push(`${slug}__${tool}`);
        }
      }
      t.same(perToolList, [...allowedHere].sort(), `${who}: tools/list on ${slug} = the tools it may call`);
    }
    t.same(aggregateList, allowedOnAggregate.sort(), `${who}: tools/list on /mcp = the tools it may call`);
  }
});

t.test('5. the corporate IdP is trusted (groups from its claim); untrusted IdP, query-string token and ID token are not', async (t) => {
  const person = await idpPersonTokens(corp.issuer, 'erin', { scope: `${CRM_READ} ${HR_READ}`, resource: RESOURCE });
  const token = keep(person.access_token);
  const idToken = keep(person.id_token);
  const claims = decodeJwt(token);
  t.equal(claims.iss, corp.issuer);
  t.equal(claims.aud, RESOURCE, 'issued for the gateway');
  t.same(claims.groups, ['eng', 'mcp-users'], 'the IdP puts the person’s groups in the token');
  t.same(scopesOf(token), [CRM_READ, HR_READ].sort());

  t.same(names(await modernCall(AGGREGATE, token, 'tools/list')), ['crm__echo', 'hr__echo'], 'erin sees crm__echo and hr__echo (group eng)');
  const hrEchoes = backends.hr.calls.get('echo') ?? 0;
  const hr = await modernCall(AGGREGATE, token, 'tools/call', { name: 'hr__echo', arguments: { text: 'from-corp' } });
  t.same(hr.body?.result?.content, [{ type: 'text', text: 'from-corp' }], 'hr (allowed group eng) answers');
  const hrLegacy = await legacyCall(perTool('hr'), token, 'tools/call', { name: 'echo', arguments: { text: 'from-corp-legacy' } });
  t.same(hrLegacy.body?.result?.content, [{ type: 'text', text: 'from-corp-legacy' }], 'per-tool, legacy era');
  t.equal(backends.hr.calls.get('echo'), hrEchoes + 2);
  const hrWrite = await untouched(t, 'corp person: hr__progress', () => modernCall(AGGREGATE, token, 'tools/call', { name: 'hr__progress', arguments: ARGS.progress }));
  assertInsufficientScope(t, hrWrite, 'mcp:tool:hr:write', 'corp person: hr__progress');

  // The same scopes without the group (a client-credentials token carries no groups claim): hr refuses.
  const corpAgent = keep(await corp.clientCredentialsToken(`${CRM_READ} ${HR_READ}`));
  t.equal(decodeJwt(corpAgent).groups, undefined, 'no groups in the corporate agent token');
  t.same(names(await modernCall(AGGREGATE, corpAgent, 'tools/list')), ['crm__echo'], 'the corporate agent: crm__echo only');
  const noGroup = await untouched(t, 'corp agent: hr__echo', () => modernCall(AGGREGATE, corpAgent, 'tools/call', { name: 'hr__echo', arguments: ARGS.echo }));
  assertRpcError(t, noGroup, 403, 'forbidden', -32003, 'corp agent on hr (not in group eng)');
  // Alice is not in eng either, and has no hr scope.
  const aliceHr = await untouched(t, 'alice: hr__echo', () => modernCall(AGGREGATE, aliceToken, 'tools/call', { name: 'hr__echo', arguments: ARGS.echo }));
  t.equal(aliceHr.status, 403, 'alice on hr: 403');
  const crmViaCorp = await modernCall(perTool('crm'), corpAgent, 'tools/call', { name: 'echo', arguments: { text: 'corp-agent' } });
  t.same(crmViaCorp.body?.result?.content, [{ type: 'text', text: 'corp-agent' }], 'the corporate agent on crm (no groups required)');

  // An IdP nobody configured, with a perfectly good token for this very resource.
  third = await startIdp({ resource: RESOURCE, scope: `${CRM_READ} ${CRM_WRITE}` });
  const foreign = keep(await third.clientCredentialsToken(CRM_READ));
  t.equal(decodeJwt(foreign).aud, RESOURCE);
  const untrusted = await untouched(t, 'untrusted IdP', () => modernCall(AGGREGATE, foreign, 'tools/call', { name: 'crm__echo', arguments: ARGS.echo }));
  assertUnauthorized(t, untrusted, 'invalid_token', 'untrusted IdP');
  t.equal(untrusted.body?.error?.data?.detail, 'untrusted_issuer');
  // …nor by claiming to be the corporate IdP (its keys sign it, not the IdP's).
  const now = Math.floor(Date.now() / 1000);
  const impostor = keep(await third.sign({ iss: corp.issuer, aud: RESOURCE, sub: 'mallory', scope: `${CRM_READ} ${HR_READ}`, groups: ['eng'], iat: now, exp: now + 300, client_id: 'x' }));
  const impersonated = await untouched(t, 'impostor', () => modernCall(AGGREGATE, impostor, 'tools/call', { name: 'hr__echo', arguments: ARGS.echo }));
  assertUnauthorized(t, impersonated, 'invalid_token', 'a token signed by another key, claiming the corporate issuer');
  // …nor an embedded-AS lookalike at another origin.
  const lookalike = keep(await third.sign({ iss: ISSUER, aud: RESOURCE, sub: 'alice', scope: CRM_WRITE, iat: now, exp: now + 300 }));
  const lookalikeRes = await untouched(t, 'embedded-AS lookalike', () => modernCall(AGGREGATE, lookalike, 'tools/call', { name: 'crm__add', arguments: ARGS.add }));
  assertUnauthorized(t, lookalikeRes, 'invalid_token', 'a token claiming the embedded issuer, signed elsewhere');

  // Tokens in the query string: refused, even valid ones, with or without a header.
  for (const [what, url, header] of [
    ['?access_token= alone', `${AGGREGATE}?access_token=${token}`, undefined],
    ['?access_token= plus a header', `${AGGREGATE}?access_token=${token}`, token],
    ['per-tool ?access_token=', `${perTool('crm')}?access_token=${aliceToken}`, undefined],
    ['?token=', `${AGGREGATE}?token=${aliceToken}`, undefined],
    ['?x=1&access_token=', `${AGGREGATE}?x=1&access_token=${aliceToken}`, undefined],
  ] as const) {
    const res = await untouched(t, what, () => modernCall(url, header, 'tools/call', { name: url.startsWith(AGGREGATE + '?') ? 'crm__echo' : 'echo', arguments: ARGS.echo }));
    assertUnauthorized(t, res, 'invalid_token', what);
  }
  // A form-encoded access_token (RFC 6750 §2.2) is not a credential either.
  const form = await untouched(t, 'form body token', () =>
    rawPost(AGGREGATE, `access_token=${token}`, { 'content-type': 'application/x-www-form-urlencoded' }),
  );
  t.not(form.status, 200, `a form-encoded token is refused (${form.status})`);

  // The ID token of the same sign-in: not an access token.
  t.ok(idToken, 'the IdP issued an ID token');
  t.ok(decodeJwt(idToken!).nonce, 'with a nonce');
  const id = await untouched(t, 'ID token', () => modernCall(AGGREGATE, idToken, 'tools/call', { name: 'crm__echo', arguments: ARGS.echo }));
  assertUnauthorized(t, id, 'invalid_token', 'an ID token as bearer');
  t.equal(id.body?.error?.data?.detail, 'not_access_token');
  // The embedded AS's ID token is not one either (openid flow at the node).
  const withId = await personToken(asMeta, ALICE, { scope: `openid ${CRM_READ}`, resource: RESOURCE });
  keep(withId.access_token);
  if (withId.id_token) {
    keep(withId.id_token);
    const embeddedId = await untouched(t, 'embedded ID token', () => modernCall(AGGREGATE, withId.id_token, 'tools/call', { name: 'crm__echo', arguments: ARGS.echo }));
    assertUnauthorized(t, embeddedId, 'invalid_token', 'the embedded AS’s ID token as bearer');
  }
});

t.test('7. initialize with wanted tools: refused if any is not callable, a session otherwise', async (t) => {
  const meta = (tools: unknown) => ({ 'io.toolmesh/wantedTools': tools });
  for (const [what, url, token, wanted, refusedTools] of [
    ['alice, aggregate, billing__progress', AGGREGATE, aliceToken, ['crm__add', 'billing__progress'], ['billing__progress']],
    ['alice, aggregate, hr__echo', AGGREGATE, aliceToken, ['hr__echo'], ['hr__echo']],
    ['alice, aggregate, unknown', AGGREGATE, aliceToken, ['crm__echo', 'nope__x'], ['nope__x']],
    ['alice, per-tool billing, progress', perTool('billing'), aliceToken, ['echo', 'progress'], ['progress']],
    ['alice, per-tool crm, aggregate-style name', perTool('crm'), aliceToken, ['crm__echo'], ['crm__echo']],
  ] as const) {
    const res = await untouched(t, what, () => initialize(url, token, meta(wanted)));
    assertRpcError(t, res, 403, 'forbidden', -32003, what);
    t.same(res.body?.error?.data?.tools, refusedTools, `${what}: names what is refused`);
    t.notOk(res.headers.get('mcp-session-id'), `${what}: no session`);
  }
  const agentToken = keep((await clientCredentials(asMeta, AGENT, { scope: CRM_READ })).access_token);
  const agentRefused = await untouched(t, 'agent-1 crm__add', () => initialize(AGGREGATE, agentToken, meta(['crm__echo', 'crm__add'])));
  assertRpcError(t, agentRefused, 403, 'forbidden', -32003, 'agent-1 wanting crm__add');

  for (const [what, url, token, wanted] of [
    ['alice, aggregate', AGGREGATE, aliceToken, ['crm__add', 'crm__echo', 'billing__echo']],
    ['alice, per-tool billing', perTool('billing'), aliceToken, ['echo']],
    ['agent-1, aggregate', AGGREGATE, agentToken, ['crm__echo']],
    ['alice, nothing wanted', AGGREGATE, aliceToken, []],
  ] as const) {
    const res = await untouched(t, what, () => initialize(url, token, meta(wanted)));
    t.equal(res.status, 200, `${what}: 200`);
    t.ok(res.body?.result?.protocolVersion, `${what}: initialized`);
    t.ok(res.headers.get('mcp-session-id'), `${what}: a session`);
  }
  const bad = await untouched(t, 'not an array', () => initialize(AGGREGATE, aliceToken, meta('crm__echo')));
  assertRpcError(t, bad, 400, 'invalid_params', -32602, 'wantedTools not an array');
  // Without credentials the handshake is refused before wanted tools are even looked at.
  const anonymous = await untouched(t, 'anonymous wanting tools', () => initialize(AGGREGATE, undefined, meta(['crm__echo'])));
  assertUnauthorized(t, anonymous, 'missing_credentials', 'anonymous wanting tools');
});

t.test('6. admin API: mcp:admin or nothing; bootstrap token rotation and disabling survive a restart', async (t) => {
  const get = async (token: string | undefined, method = 'GET', path = '/admin/v1/servers') => {
    const res = await fetch(`${URL_}${path}`, { method, headers: bearer(token) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  t.equal((await get(undefined)).status, 401, 'no credentials: 401');
  t.notOk(scopesOf(aliceToken).includes('mcp:admin'), 'alice asked for mcp:admin and did not get it');
  const aliceAdmin = await get(aliceToken);
  t.equal(aliceAdmin.status, 403, 'alice without mcp:admin: 403');
  t.equal(aliceAdmin.body?.error?.code, 'forbidden');
  const agentToken = keep((await clientCredentials(asMeta, AGENT, { scope: `${CRM_READ} mcp:admin` })).access_token);
  t.equal((await get(agentToken)).status, 403, 'agent-1 without mcp:admin: 403');

  const danaToken = keep((await personToken(asMeta, DANA, { scope: 'mcp:admin', resource: RESOURCE })).access_token);
  t.same(scopesOf(danaToken), ['mcp:admin']);
  const listed = await get(danaToken);
  t.equal(listed.status, 200, 'a token with mcp:admin: 200');
  t.ok(JSON.stringify(listed.body).includes('"crm"') && JSON.stringify(listed.body).includes('"billing"'), 'the servers are listed');
  // mcp:admin is about the admin API: it opens no tool.
  t.same(names(await modernCall(AGGREGATE, danaToken, 'tools/list')), [], 'mcp:admin lists no tools');
  const danaCall = await untouched(t, 'dana crm__echo', () => modernCall(AGGREGATE, danaToken, 'tools/call', { name: 'crm__echo', arguments: ARGS.echo }));
  assertInsufficientScope(t, danaCall, CRM_READ, 'mcp:admin on a tool');
  // A token of an untrusted issuer is no admin either.
  t.equal((await get(await third!.sign({ iss: third!.issuer, aud: RESOURCE, sub: 'x', scope: 'mcp:admin', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 }))).status, 401, 'a foreign mcp:admin token: 401');

  // The bootstrap token, rotated.
  const original = keep(tn.token);
  t.equal((await get(original)).status, 200, 'the bootstrap token works');
  const rotated = await get(original, 'POST', '/admin/v1/credentials/bootstrap/rotate');
  t.equal(rotated.status, 200, 'rotate');
  const fresh = keep(rotated.body?.token as string);
  t.match(fresh, /^tmadm_/, 'a new token');
  t.not(fresh, original);
  t.equal((await get(original)).status, 401, 'the old bootstrap token is refused');
  t.equal((await get(fresh)).status, 200, 'the new one is accepted');
  t.equal(readFileSync(join(tn.dataDir, 'admin.token'), 'utf8').trim(), fresh, 'admin.token holds the new token');
  t.equal((await get(aliceToken, 'POST', '/admin/v1/credentials/bootstrap/rotate')).status, 403, 'alice cannot rotate it');

  // Disabled: refused now, and after a restart.
  const disabled = await get(danaToken, 'POST', '/admin/v1/credentials/bootstrap/disable');
  t.equal(disabled.status, 200, 'an admin identity disables the bootstrap token');
  t.same(disabled.body, { disabled: true });
  t.equal((await get(fresh)).status, 401, 'the bootstrap token is refused once disabled');
  t.equal((await get(danaToken)).status, 200, 'the admin identity still works');
  t.equal((await get(fresh, 'POST', '/admin/v1/credentials/bootstrap/rotate')).status, 401, 'nor can it rotate itself back');

  tn = await tn.restart();
  const url = tn.url;
  const getAfter = async (token: string | undefined) => (await fetch(`${url}/admin/v1/servers`, { headers: bearer(token) })).status;
  t.equal(await getAfter(fresh), 401, 'after a restart: the last bootstrap token is still refused');
  t.equal(await getAfter(original), 401, 'after a restart: the first one too');
  t.equal(await getAfter(keep(tn.token)), 401, 'after a restart: whatever admin.token now holds is refused');
  t.equal(tn.node.createdAdminToken, undefined, 'no bootstrap token is announced on a start where it is disabled');
  const danaAgain = keep((await personToken(await discover(`${url}/oauth`), DANA, { scope: 'mcp:admin', resource: `${url}/mcp` })).access_token);
  t.equal(await getAfter(danaAgain), 200, 'after a restart: an mcp:admin token works');
  t.equal(await getAfter(danaToken), 401, 'a token for the old resource URI is not valid here');
});

t.test('8. no backend ever saw a caller’s Authorization header, cookie or token', async (t) => {
  t.ok(secrets.size >= 10, `${secrets.size} credentials were presented in this file`);
  for (const [slug, backend] of Object.entries(backends)) {
    t.ok(backend.seenHeaders.length > 0, `${slug}: received ${backend.seenHeaders.length} requests`);
    let leaks = 0;
    for (const headers of backend.seenHeaders) {
      if (headers.authorization !== undefined || headers.cookie !== undefined || headers['proxy-authorization'] !== undefined) leaks++;
      const values = Object.values(headers).flat().filter((v): v is string => typeof v === 'string');
      for (const secret of secrets) for (const value of values) if (value.includes(secret) || (secret.length > 40 && value.includes(secret.split('.')[1] ?? secret))) leaks++;
    }
    t.equal(leaks, 0, `${slug}: no credential in any request header`);
  }
});
