/**
 * The node's embedded OAuth 2.0 authorization server (PRODUCT.md §4), served
 * from a plain node:http server as the node's listener will: `/oauth*` and
 * the root RFC 8414 metadata route go to `handle`.
 *
 * Evidence, in order: discovery; client_credentials for a configured agent
 * (JWT, aud, typ, groups, scopes ∩ allowed ∩ supported, wrong secret refused);
 * open registration for public clients only; the authorization-code + PKCE
 * flow driven like a browser (login page, wrong password, CSRF, implicit
 * consent); keys and registrations surviving a restart; and the unchanged
 * MCP SDK v1 client going 401 → resource metadata → registration → PKCE →
 * token → retry against a protected MCP server.
 */
import t from 'tap';
import { InMemoryOAuthProvider } from '../helpers/oauth-flows.js';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createAuthorizationServer, hashPassword, type AuthorizationServer, type AuthorizationServerConfig } from '../../src/auth/oauth/authorization-server/index.js';
import { TestBrowser, loginForm, type Landing } from './oauth-browser.js';

const READ = 'mcp:tool:weather:read';
const WRITE = 'mcp:tool:weather:write';
const ADMIN = 'mcp:admin';
const PASSWORD = 'correct horse battery staple';
const AGENT_SECRET = 'agent-secret-0123456789abcdef';
const HASHED_AGENT_SECRET = 'hashed-agent-secret-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:1/callback';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function json(res: Response): Promise<any> {
  return JSON.parse(await res.text());
}

// ---------------------------------------------------------------------------
// The protected resource (stands in for the gateway's 401/PRM part) and the AS.

let supported = [READ, WRITE, ADMIN];
let as: AuthorizationServer;
let issuer: string;
let asUrl: string;
let rsUrl: string;
let resource: string;
const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-as-'));

async function verify(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, as.localKeys(), { issuer, audience: resource, typ: 'at+jwt', algorithms: ['ES256'], requiredClaims: ['exp', 'iat', 'sub'] });
  return payload;
}

function mcpServer(): McpServer {
  const server = new McpServer({ name: 'weather', version: '1.0.0' });
  server.registerTool('forecast', { description: 'Tomorrow’s weather', inputSchema: { city: z.string() } }, async ({ city }) => ({
    content: [{ type: 'text', text: `Sunny in ${city}` }],
  }));
  return server;
}

/** 401 + RFC 9728 metadata unless the bearer verifies against the AS's local keys; then a stateless MCP server. */
async function protectedResource(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const prm = `${rsUrl}/.well-known/oauth-protected-resource/mcp`;
  if (path === '/.well-known/oauth-protected-resource/mcp') {
    const body = JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: [READ], bearer_methods_supported: ['header'] });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  if (path !== '/mcp') return void res.writeHead(404).end();
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  let claims: JWTPayload | undefined;
  try {
    if (bearer) claims = await verify(bearer);
  } catch {
    claims = undefined;
  }
  if (!claims) {
    res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${prm}"`, 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
    return;
  }
  if (!String(claims.scope ?? '').split(' ').includes(READ)) {
    res.writeHead(403, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${READ}", resource_metadata="${prm}"` }).end();
    return;
  }
  const server = mcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

function asListener(req: IncomingMessage, res: ServerResponse): void {
  if (as.owns((req.url ?? '/').split('?')[0]!)) return as.handle(req, res);
  res.writeHead(404).end();
}

const rs = createServer((req, res) => void protectedResource(req, res).catch(() => res.destroy()));
const asServer = createServer(asListener);
rsUrl = await listen(rs);
asUrl = await listen(asServer);
resource = `${rsUrl}/mcp`;

const baseConfig = async (): Promise<AuthorizationServerConfig> => ({
  issuer: `${asUrl}/oauth`,
  resource,
  users: [
    { username: 'ada', passwordHash: await hashPassword(PASSWORD), groups: ['eng', 'weather-team'], scopes: [READ, 'mcp:tool:gone:read'] },
  ],
  clients: [
    { clientId: 'agent-1', clientSecret: AGENT_SECRET, groups: ['bots'], scopes: [READ, WRITE, 'mcp:tool:later:read'] },
    { clientId: 'agent-2', clientSecretHash: await hashPassword(HASHED_AGENT_SECRET), groups: ['bots', 'ops'], scopes: [ADMIN] },
  ],
  scopesSupported: () => supported,
  accessTokenTtlSeconds: 300,
  dataDir,
});
const config = await baseConfig();
as = await createAuthorizationServer(config);
issuer = as.issuer;

t.teardown(async () => {
  await as.close();
  await close(asServer);
  await close(rs);
  await rm(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------

function clientCredentials(clientId: string, secret: string, params: Record<string, string>): Promise<Response> {
  return fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
}

async function register(metadata: Record<string, unknown>): Promise<Response> {
  return fetch(`${issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
}

async function registerPublicClient(name = 'Test client'): Promise<string> {
  const res = await register({
    client_name: name,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  return (await json(res)).client_id;
}

function authorizeUrl(clientId: string, challenge: string, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: `${READ} ${WRITE} ${ADMIN} mcp:tool:unknown:read`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-123',
    resource,
    ...extra,
  });
  return `${issuer}/auth?${params}`;
}

/** Opens the authorize URL and lands on the login page. */
async function openLogin(browser: TestBrowser, url: string): Promise<{ landing: Landing; action: string }> {
  const landing = await browser.navigate(url);
  const form = loginForm(landing.body, landing.url);
  if (!form) throw new Error(`no login form at ${landing.url} (${landing.response.status}): ${landing.body.slice(0, 300)}`);
  return { landing, action: form.action };
}

async function exchange(clientId: string, code: string, verifier: string, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT_URI, code_verifier: verifier, resource, ...extra }),
  });
}

// ---------------------------------------------------------------------------

t.test('discovery: OIDC document under the issuer and the RFC 8414 document at the node root', async (t) => {
  const oidc = await fetch(`${issuer}/.well-known/openid-configuration`);
  t.equal(oidc.status, 200);
  const doc = await json(oidc);
  t.equal(doc.issuer, issuer);
  t.equal(doc.authorization_endpoint, `${issuer}/auth`);
  t.equal(doc.token_endpoint, `${issuer}/token`);
  t.equal(doc.registration_endpoint, `${issuer}/reg`);
  t.equal(doc.jwks_uri, `${issuer}/jwks`);
  t.same(doc.code_challenge_methods_supported, ['S256']);
  t.same(doc.response_types_supported, ['code']);
  t.ok(doc.grant_types_supported.includes('client_credentials'));
  t.ok(doc.grant_types_supported.includes('authorization_code'));
  t.ok(doc.token_endpoint_auth_methods_supported.includes('none'));
  t.ok(doc.scopes_supported.includes(READ), 'the registry-derived scopes are advertised');

  t.equal(as.metadataPath, '/.well-known/oauth-authorization-server/oauth');
  t.ok(as.owns('/oauth') && as.owns('/oauth/token') && as.owns(as.metadataPath));
  t.notOk(as.owns('/oauthx') || as.owns('/mcp') || as.owns('/.well-known/oauth-authorization-server'));
  const rfc8414 = await fetch(`${asUrl}/.well-known/oauth-authorization-server/oauth`);
  t.equal(rfc8414.status, 200);
  const meta = await json(rfc8414);
  t.equal(meta.issuer, issuer);
  t.equal(meta.token_endpoint, `${issuer}/token`);
  t.equal(meta.registration_endpoint, `${issuer}/reg`);

  // Endpoints come from the issuer, not from what the request claims to be.
  const spoofed = await json(await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } }));
  t.equal(spoofed.token_endpoint, `${issuer}/token`);

  const jwks = await json(await fetch(`${issuer}/jwks`));
  t.equal(jwks.keys.length, 1);
  t.equal(jwks.keys[0].kty, 'EC');
  t.notOk(jwks.keys[0].d, 'no private part published');

  t.equal((await fetch(`${asUrl}/oauth-not-really`)).status, 404);
});

t.test('signing keys and the cookie key are kept in the data dir with mode 0600', async (t) => {
  for (const file of ['oauth-signing.jwks', 'oauth-cookies.key']) {
    t.equal(statSync(join(dataDir, file)).mode & 0o777, 0o600, file);
  }
});

t.test('client_credentials: an ES256 at+jwt for the resource, with groups and scopes ∩ allowed ∩ supported', async (t) => {
  const res = await clientCredentials('agent-1', AGENT_SECRET, { scope: `${READ} ${WRITE} ${ADMIN} mcp:tool:later:read` });
  t.equal(res.status, 200);
  const body = await json(res);
  t.equal(body.token_type, 'Bearer');
  t.equal(body.expires_in, 300);
  t.equal(body.scope, `${READ} ${WRITE}`, 'mcp:admin is not allowed for agent-1; mcp:tool:later:read is not supported (yet)');
  t.notOk(body.refresh_token);
  const header = decodeProtectedHeader(body.access_token);
  t.equal(header.typ, 'at+jwt');
  t.equal(header.alg, 'ES256');
  const claims = await verify(body.access_token);
  t.equal(claims.aud, resource, 'aud = resource even though the request named none');
  t.equal(claims.sub, 'agent-1');
  t.equal(claims.client_id, 'agent-1');
  t.same(claims.groups, ['bots']);
  t.equal(claims.scope, `${READ} ${WRITE}`);
  t.equal((claims.exp as number) - (claims.iat as number), 300);

  // Scopes follow the registry at request time.
  supported = [...supported, 'mcp:tool:later:read'];
  t.teardown(() => void (supported = supported.filter((s) => s !== 'mcp:tool:later:read')));
  const later = await json(await clientCredentials('agent-1', AGENT_SECRET, { scope: 'mcp:tool:later:read', resource }));
  t.equal(later.scope, 'mcp:tool:later:read');
  t.equal((await verify(later.access_token)).scope, 'mcp:tool:later:read');
});

t.test('client_credentials with a hashed secret; post auth works too', async (t) => {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'agent-2', client_secret: HASHED_AGENT_SECRET, scope: `${ADMIN} ${READ}` }),
  });
  t.equal(res.status, 200);
  const body = await json(res);
  t.equal(body.scope, ADMIN);
  const claims = await verify(body.access_token);
  t.same(claims.groups, ['bots', 'ops']);
  // Second request: served from the verified-secret cache, same answer.
  t.equal((await clientCredentials('agent-2', HASHED_AGENT_SECRET, { scope: ADMIN })).status, 200);
});

t.test('client_credentials refusals: wrong secret, unknown client, other resource, nothing allowed', async (t) => {
  for (const [id, secret] of [
    ['agent-1', 'wrong-secret-0123456789'],
    ['agent-1', AGENT_SECRET.slice(0, -1)],
    ['agent-2', 'wrong-secret-0123456789'],
    ['agent-2', 'x'],
    ['nobody', AGENT_SECRET],
  ] as const) {
    const res = await clientCredentials(id, secret, { scope: READ });
    t.equal(res.status, 401, `${id} with a bad secret`);
    const body = await json(res);
    t.equal(body.error, 'invalid_client');
    t.notOk(body.access_token);
  }
  // The hashed-secret cache never admits a different secret after a good one.
  t.equal((await clientCredentials('agent-2', HASHED_AGENT_SECRET, {})).status, 200);
  t.equal((await clientCredentials('agent-2', `${HASHED_AGENT_SECRET}x`, {})).status, 401);

  const other = await clientCredentials('agent-1', AGENT_SECRET, { scope: READ, resource: 'https://elsewhere.example/mcp' });
  t.equal(other.status, 400);
  t.equal((await json(other)).error, 'invalid_target');

  const none = await json(await clientCredentials('agent-1', AGENT_SECRET, { scope: ADMIN }));
  t.notOk(none.scope, 'a scope the agent is not allowed is not granted');
  t.equal((await verify(none.access_token)).scope, undefined);

  // A configured agent cannot use the browser flow.
  const { challenge } = pkce();
  const landing = await new TestBrowser().navigate(authorizeUrl('agent-1', challenge));
  t.notOk(loginForm(landing.body, landing.url), 'no login page for an agent client');
});

t.test('open registration is for public clients with loopback-http or https redirect URIs only', async (t) => {
  const ok = await register({ redirect_uris: ['http://localhost:4711/cb', 'https://app.example/cb'], token_endpoint_auth_method: 'none', client_name: 'x' });
  t.equal(ok.status, 201);
  const client = await json(ok);
  t.ok(client.client_id);
  t.notOk(client.client_secret, 'public: no secret');
  t.equal(client.token_endpoint_auth_method, 'none');
  t.notOk(client.registration_access_token);

  const omitted = await register({ redirect_uris: ['http://127.0.0.1:9/cb'] });
  t.equal(omitted.status, 201, 'token_endpoint_auth_method defaults to none');
  t.equal((await json(omitted)).token_endpoint_auth_method, 'none');

  const withScope = await register({ redirect_uris: ['http://127.0.0.1:9/cb'], scope: `${READ} mcp:tool:other:write` });
  t.equal(withScope.status, 201, 'registry scopes in the registration do not refuse it (the grant decides)');

  const refused: [string, Record<string, unknown>, string][] = [
    ['confidential', { redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
    ['client_credentials', { redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['client_credentials'], response_types: [] }, 'invalid_client_metadata'],
    ['implicit', { redirect_uris: ['https://app.example/cb'], response_types: ['id_token'], grant_types: ['implicit'] }, 'invalid_client_metadata'],
    ['http non-loopback', { redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri'],
    ['custom scheme', { redirect_uris: ['myapp://cb'] }, 'invalid_redirect_uri'],
    ['no redirect uri', { redirect_uris: [] }, 'invalid_redirect_uri'],
  ];
  for (const [name, metadata, error] of refused) {
    const res = await register(metadata);
    t.equal(res.status, 400, name);
    t.equal((await json(res)).error, error, name);
  }
});

t.test('authorization code + PKCE, driven like a browser, with a dynamically registered public client', async (t) => {
  const clientId = await registerPublicClient('Test <b>client</b> & "friends"');
  const { verifier, challenge } = pkce();
  const browser = new TestBrowser();

  const { landing, action } = await openLogin(browser, authorizeUrl(clientId, challenge));
  t.equal(landing.response.status, 200);
  t.match(landing.url, new RegExp(`^${issuer}/interaction/[A-Za-z0-9_-]+$`));
  t.match(landing.body, 'Test &lt;b&gt;client&lt;/b&gt; &amp; &quot;friends&quot;', 'client name is HTML-escaped');
  t.notMatch(landing.body, '<b>client</b>');
  t.match(landing.response.headers.get('content-security-policy') ?? '', "frame-ancestors 'none'");
  t.equal(landing.response.headers.get('cache-control'), 'no-store');

  const done = await browser.submit(action, { username: 'ada', password: PASSWORD });
  t.ok(done.redirectedTo, `ends at the redirect_uri (hops: ${done.hops.map((h) => `${h.status} ${h.url}`).join(' → ')})`);
  const callback = done.redirectedTo!;
  t.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
  t.equal(callback.searchParams.get('state'), 'st-123');
  t.equal(callback.searchParams.get('iss'), issuer);
  const code = callback.searchParams.get('code');
  t.ok(code, 'an authorization code');

  // PKCE: the wrong verifier is refused (and burns nothing we need: the code stays usable until consumed).
  const wrong = await exchange(clientId, code!, pkce().verifier);
  t.equal(wrong.status, 400);
  t.equal((await json(wrong)).error, 'invalid_grant');

  const res = await exchange(clientId, code!, verifier);
  t.equal(res.status, 200);
  const tokens = await json(res);
  t.equal(tokens.scope, READ, 'requested ∩ supported ∩ the user’s scopes (ada may not write or administer)');
  t.ok(tokens.refresh_token, 'a refresh token for a client registered for it');
  const claims = await verify(tokens.access_token);
  t.equal(claims.sub, 'ada');
  t.equal(claims.client_id, clientId);
  t.equal(claims.aud, resource);
  t.equal(claims.scope, READ);
  t.same(claims.groups, ['eng', 'weather-team']);
  t.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');

  const refresh = (refreshToken: string) =>
    fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken, resource }),
    });
  const refreshed = await refresh(tokens.refresh_token);
  t.equal(refreshed.status, 200);
  const again = await json(refreshed);
  const againClaims = await verify(again.access_token);
  t.equal(againClaims.sub, 'ada');
  t.equal(againClaims.scope, READ);
  t.ok(again.refresh_token, 'rotated');

  // Replaying a code is refused and revokes what it produced (RFC 6749 §4.1.2).
  const replay = await exchange(clientId, code!, verifier);
  t.equal(replay.status, 400, 'a code is single-use');
  t.equal((await json(replay)).error, 'invalid_grant');
  const revoked = await refresh(again.refresh_token);
  t.equal(revoked.status, 400);
  t.equal((await json(revoked)).error, 'invalid_grant', 'the grant’s refresh token is revoked');

  // Signed in: the next authorization needs no password (session cookie) and consent stays implicit.
  const second = pkce();
  const silent = await browser.navigate(authorizeUrl(clientId, second.challenge, { state: 'st-2' }));
  t.ok(silent.redirectedTo?.searchParams.get('code'), 'a code without a login page');
  t.equal(silent.redirectedTo?.searchParams.get('state'), 'st-2');

  // …but a client new to this browser session (any page can register one) needs the password again.
  const stranger = await registerPublicClient('Look-alike client');
  const { landing: asked } = await openLogin(browser, authorizeUrl(stranger, pkce().challenge));
  t.equal(asked.response.status, 200, 'the login page, not a silent code');
  t.match(asked.body, 'Look-alike client');
  t.notOk(asked.redirectedTo);
});

t.test('without a resource parameter the token is still for the gateway', async (t) => {
  const clientId = await registerPublicClient();
  const { verifier, challenge } = pkce();
  const browser = new TestBrowser();
  const url = new URL(authorizeUrl(clientId, challenge));
  url.searchParams.delete('resource');
  const { action } = await openLogin(browser, url.href);
  const done = await browser.submit(action, { username: 'ada', password: PASSWORD });
  const code = done.redirectedTo?.searchParams.get('code');
  t.ok(code);
  const body = new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code: code!, redirect_uri: REDIRECT_URI, code_verifier: verifier });
  const res = await fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  t.equal(res.status, 200);
  t.equal((await verify((await json(res)).access_token)).aud, resource);
});

t.test('PKCE is required: an authorization request without a code challenge is refused', async (t) => {
  const clientId = await registerPublicClient();
  const url = new URL(authorizeUrl(clientId, 'x'));
  url.searchParams.delete('code_challenge');
  url.searchParams.delete('code_challenge_method');
  const landing = await new TestBrowser().navigate(url.href);
  t.equal(landing.redirectedTo?.searchParams.get('error'), 'invalid_request');
  t.notOk(landing.redirectedTo?.searchParams.get('code'));

  const plain = new URL(authorizeUrl(clientId, 'x'.repeat(43), { code_challenge_method: 'plain' }));
  const refused = await new TestBrowser().navigate(plain.href);
  t.ok(refused.redirectedTo?.searchParams.get('error'), 'plain is not accepted');
  t.notOk(refused.redirectedTo?.searchParams.get('code'));
});

t.test('wrong password: the form again, no code; five failures end the attempt with access_denied', async (t) => {
  const clientId = await registerPublicClient();
  const { challenge } = pkce();
  const browser = new TestBrowser();
  const { action } = await openLogin(browser, authorizeUrl(clientId, challenge));

  for (const [username, password] of [
    ['ada', 'not the password'],
    ['nobody', PASSWORD],
    ['ada', ''],
    ['ADA', PASSWORD],
  ] as const) {
    const attempt = await browser.submit(action, { username, password });
    t.equal(attempt.response.status, 200, `${username}: the page again`);
    t.equal(attempt.hops.length, 1, 'no redirect');
    t.notOk(attempt.redirectedTo);
    t.match(attempt.body, 'Invalid username or password.');
    t.ok(loginForm(attempt.body, attempt.url), 'the form is shown again');
  }
  const last = await browser.submit(action, { username: 'ada', password: 'still wrong' });
  t.equal(last.redirectedTo?.searchParams.get('error'), 'access_denied');
  t.notOk(last.redirectedTo?.searchParams.get('code'));
});

t.test('the login form only works with the interaction cookie of the browser that opened it (CSRF)', async (t) => {
  const clientId = await registerPublicClient();
  const { challenge } = pkce();
  const victim = new TestBrowser();
  const { action } = await openLogin(victim, authorizeUrl(clientId, challenge));

  const attacker = new TestBrowser();
  const forged = await attacker.submit(action, { username: 'ada', password: PASSWORD });
  t.equal(forged.response.status, 400);
  t.notOk(forged.redirectedTo);

  // Another interaction's cookie does not unlock this uid either.
  const { action: otherAction } = await openLogin(attacker, authorizeUrl(clientId, challenge));
  t.not(otherAction, action);
  const crossed = await attacker.submit(action, { username: 'ada', password: PASSWORD });
  t.equal(crossed.response.status, 400);
  t.notOk(crossed.redirectedTo);

  const json415 = await victim.request(action, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.equal(json415.status, 415);

  const cancelled = await victim.navigate(`${action}/abort`);
  t.equal(cancelled.redirectedTo?.searchParams.get('error'), 'access_denied');
});

t.test('a restart keeps the signing keys and the registered clients', async (t) => {
  const clientId = await registerPublicClient();
  const before = await json(await clientCredentials('agent-1', AGENT_SECRET, { scope: READ }));
  await as.close();
  const restarted = await createAuthorizationServer(await baseConfig());
  as = restarted; // the file's teardown closes it
  t.ok(await verify(before.access_token), 'a token from before the restart verifies with the new instance');
  const { challenge } = pkce();
  const { landing } = await openLogin(new TestBrowser(), authorizeUrl(clientId, challenge));
  t.equal(landing.response.status, 200, 'the client registered before the restart is still known');
  t.equal(statSync(join(dataDir, 'oauth-clients.json')).mode & 0o777, 0o600);
});

t.test('an https issuer behind a TLS-terminating proxy: secure cookies, URLs from the issuer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-as-https-'));
  const https = await createAuthorizationServer({ ...(await baseConfig()), issuer: 'https://gw.example/oauth', resource: 'https://gw.example/mcp', dataDir: dir });
  const server = createServer((req, res) => https.handle(req, res));
  const url = await listen(server);
  t.teardown(async () => {
    await https.close();
    await close(server);
    await rm(dir, { recursive: true, force: true });
  });
  const reg = await fetch(`${url}/oauth/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'] }),
  });
  t.equal(reg.status, 201);
  const clientId = (await json(reg)).client_id;
  const { challenge } = pkce();
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: challenge, code_challenge_method: 'S256' });
  const res = await fetch(`${url}/oauth/auth?${q}`, { redirect: 'manual', headers: { host: 'evil.example' } });
  t.equal(res.status, 303);
  t.match(res.headers.get('location') ?? '', /^\/oauth\/interaction\/[A-Za-z0-9_-]+$/, 'a path on the issuer, whatever the Host header said');
  const cookies = res.headers.getSetCookie();
  t.ok(cookies.length > 0);
  for (const c of cookies) t.match(c.toLowerCase(), /; secure/, `secure: ${c.split('=')[0]}`);
  const meta = await json(await fetch(`${url}/.well-known/oauth-authorization-server/oauth`));
  t.equal(meta.issuer, 'https://gw.example/oauth');
  t.equal(meta.token_endpoint, 'https://gw.example/oauth/token');

  // …and an http issuer's cookies are not marked secure (browsers would drop them).
  const plain = await fetch(authorizeUrl(await registerPublicClient(), challenge), { redirect: 'manual' });
  for (const c of plain.headers.getSetCookie()) t.notMatch(c.toLowerCase(), /; secure/);
});

t.test('config errors name the field', async (t) => {
  const good = await baseConfig();
  const cases: [string, Partial<AuthorizationServerConfig>, RegExp][] = [
    ['bad hash', { users: [{ username: 'x', passwordHash: 'md5$abc', groups: [], scopes: [] }] }, /users\/0\/passwordHash/],
    ['dup user', { users: [good.users[0]!, good.users[0]!] }, /users\/1\/username: duplicate/],
    ['both secrets', { clients: [{ clientId: 'a', clientSecret: AGENT_SECRET, clientSecretHash: good.users[0]!.passwordHash, groups: [], scopes: [] }] }, /clients\/0: set exactly one/],
    ['short secret', { clients: [{ clientId: 'a', clientSecret: 'short', groups: [], scopes: [] }] }, /clients\/0\/clientSecret/],
    ['issuer without path', { issuer: asUrl }, /issuer/],
    ['bad scope', { users: [{ ...good.users[0]!, scopes: ['has space'] }] }, /users\/0\/scopes/],
    ['agent named like a user', { clients: [{ clientId: 'ada', clientSecret: AGENT_SECRET, groups: [], scopes: [] }] }, /clients\/0\/clientId: "ada" is also a username/],
  ];
  for (const [name, patch, message] of cases) {
    await t.rejects(createAuthorizationServer({ ...good, ...patch }), { code: 'invalid_config', message }, name);
  }
  await t.rejects(
    createAuthorizationServer({ ...good, users: [{ username: 'x', passwordHash: 'nope', groups: [], scopes: [] }] }, { configPath: '/auth/authorizationServer/' }),
    { code: 'invalid_config', message: /^\/auth\/authorizationServer\/users\/0\/passwordHash: / },
    'paths are relative to the config file when told where the section lives',
  );
});

// ---------------------------------------------------------------------------
// The real thing: an unchanged MCP SDK v1 client.

t.test('MCP SDK v1 client: 401 → resource metadata → registration → PKCE → token → tools', async (t) => {
  const provider = new InMemoryOAuthProvider();
  const mcpUrl = new URL(`${rsUrl}/mcp`);

  const first = new Client({ name: 'sdk-test', version: '1.0.0' });
  const refused = await first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.ok(refused instanceof UnauthorizedError, 'the first connect needs authorization');
  t.ok(provider.clientInformation()?.client_id, 'registered dynamically');
  const authorizationUrl = provider.authorizationUrl;
  t.ok(authorizationUrl, 'sent to the authorization endpoint');
  t.equal(`${authorizationUrl!.origin}${authorizationUrl!.pathname}`, `${issuer}/auth`);
  t.equal(authorizationUrl!.searchParams.get('code_challenge_method'), 'S256');
  t.equal(authorizationUrl!.searchParams.get('resource'), resource);
  t.equal(authorizationUrl!.searchParams.get('scope'), READ, 'scope from the resource metadata');

  // The person signs in.
  const browser = new TestBrowser();
  const { action } = await openLogin(browser, authorizationUrl!.href);
  const done = await browser.submit(action, { username: 'ada', password: PASSWORD });
  const code = done.redirectedTo?.searchParams.get('code');
  t.ok(code, 'the browser ends at the client’s redirect_uri with a code');

  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(code!);
  const tokens = provider.tokens();
  t.ok(tokens?.access_token);
  const claims = await verify(tokens!.access_token);
  t.equal(claims.sub, 'ada');
  t.equal(claims.scope, READ);

  const client = new Client({ name: 'sdk-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  const { tools } = await client.listTools();
  t.same(
    tools.map((tool) => tool.name),
    ['forecast'],
  );
  const result = await client.callTool({ name: 'forecast', arguments: { city: 'Lyon' } });
  t.same(result.content, [{ type: 'text', text: 'Sunny in Lyon' }]);
});
