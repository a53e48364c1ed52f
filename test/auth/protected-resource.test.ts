/**
 * RFC 9728 Protected Resource Metadata and the RFC 6750 challenges: the
 * document, the well-known routes (root, path-inserted, per tool server,
 * 404s, CORS), the metadata URL builder, the challenge header formats — and
 * the official MCP SDK client discovering and parsing them.
 */
import t from 'tap';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import {
  bearerChallenge401,
  bearerChallenge403,
  protectedResourceMetadata,
  protectedResourceRoutes,
  resourceMetadataUrl,
  resourceUrl,
} from '../../src/auth/oauth/protected-resource.js';

const IDP = 'https://idp.example.com';

t.test('the metadata document', async (t) => {
  t.same(
    protectedResourceMetadata({
      resource: 'https://gw.example.com/mcp',
      authorizationServers: [IDP],
      scopesSupported: ['mcp:tool:github:read', 'mcp:tool:github:write', 'mcp:tool:github:read'],
      resourceName: 'Toolmesh (BU Payments)',
    }),
    {
      resource: 'https://gw.example.com/mcp',
      authorization_servers: [IDP],
      scopes_supported: ['mcp:tool:github:read', 'mcp:tool:github:write'],
      bearer_methods_supported: ['header'],
      resource_name: 'Toolmesh (BU Payments)',
    },
  );
  const bare = protectedResourceMetadata({ resource: 'https://gw.example.com/mcp', authorizationServers: [IDP], scopesSupported: [] });
  t.notOk('resource_name' in bare, 'resource_name only when given');
  t.throws(() => protectedResourceMetadata({ resource: 'https://gw.example.com/mcp#x', authorizationServers: [IDP], scopesSupported: [] }), /fragment/);
  t.throws(() => protectedResourceMetadata({ resource: '/mcp', authorizationServers: [IDP], scopesSupported: [] }), /resource/);
  t.throws(() => protectedResourceMetadata({ resource: 'https://gw.example.com/mcp', authorizationServers: [], scopesSupported: [] }), /at least one/);
  t.throws(() => protectedResourceMetadata({ resource: 'https://gw.example.com/mcp', authorizationServers: ['idp'], scopesSupported: [] }), /authorizationServers\[0\]/);
});

t.test('metadata URLs (RFC 9728 §3.1: well-known inserted before the path)', async (t) => {
  t.equal(resourceMetadataUrl('https://gw.example.com', '/mcp'), 'https://gw.example.com/.well-known/oauth-protected-resource/mcp');
  t.equal(resourceMetadataUrl('https://gw.example.com/', '/mcp'), 'https://gw.example.com/.well-known/oauth-protected-resource/mcp');
  t.equal(
    resourceMetadataUrl('https://gw.example.com:8443', '/mcp/v2/tools/github/rpc'),
    'https://gw.example.com:8443/.well-known/oauth-protected-resource/mcp/v2/tools/github/rpc',
  );
  t.equal(
    resourceMetadataUrl('https://example.com/toolmesh', '/mcp'),
    'https://example.com/.well-known/oauth-protected-resource/toolmesh/mcp',
    'a base path stays in the inserted path',
  );
  t.equal(resourceUrl('https://gw.example.com/', '/mcp/v1/tools/a/rpc'), 'https://gw.example.com/mcp/v1/tools/a/rpc');
  t.throws(() => resourceMetadataUrl('https://gw.example.com', 'mcp'), /endpointPath/);
});

t.test('challenge headers', async (t) => {
  const url = 'https://gw.example.com/.well-known/oauth-protected-resource/mcp';
  t.equal(bearerChallenge401({ resourceMetadataUrl: url }), `Bearer resource_metadata="${url}"`, 'no token presented');
  t.equal(
    bearerChallenge401({ resourceMetadataUrl: url, error: 'invalid_token', description: 'token expired' }),
    `Bearer resource_metadata="${url}", error="invalid_token", error_description="token expired"`,
  );
  t.equal(
    bearerChallenge401({ resourceMetadataUrl: url, scopes: ['mcp:tool:a:read', 'mcp:tool:b:read'] }),
    `Bearer resource_metadata="${url}", scope="mcp:tool:a:read mcp:tool:b:read"`,
    'scopes to request (MCP: SHOULD)',
  );
  t.equal(
    bearerChallenge403({ resourceMetadataUrl: url, scopes: ['mcp:tool:github:write'] }),
    `Bearer error="insufficient_scope", scope="mcp:tool:github:write", resource_metadata="${url}"`,
  );
  t.equal(
    bearerChallenge403({ resourceMetadataUrl: url, scopes: ['a', 'b', 'a'] }),
    `Bearer error="insufficient_scope", scope="a b", resource_metadata="${url}"`,
    'scopes deduplicated',
  );

  // Quote-escaping, and no header splitting.
  const hostile = bearerChallenge401({ resourceMetadataUrl: url, error: 'invalid_token', description: 'say "hi" \\ bye\r\nSet-Cookie: x=1\u00e9' });
  t.equal(hostile, `Bearer resource_metadata="${url}", error="invalid_token", error_description="say \\"hi\\" \\\\ bye??Set-Cookie: x=1?"`);
  t.notMatch(hostile, /[\r\n]/);

  // The official MCP SDK client reads what we write.
  const asResponse = (value: string) => new Response(null, { status: 401, headers: { 'WWW-Authenticate': value } });
  const parsed401 = extractWWWAuthenticateParams(asResponse(bearerChallenge401({ resourceMetadataUrl: url, error: 'invalid_token', description: 'expired' })));
  t.equal(parsed401.resourceMetadataUrl?.href, url);
  t.equal(parsed401.error, 'invalid_token');
  const parsed403 = extractWWWAuthenticateParams(asResponse(bearerChallenge403({ resourceMetadataUrl: url, scopes: ['mcp:tool:a:read', 'mcp:tool:a:write'] })));
  t.equal(parsed403.error, 'insufficient_scope');
  t.equal(parsed403.scope, 'mcp:tool:a:read mcp:tool:a:write');
  t.equal(parsed403.resourceMetadataUrl?.href, url);
});

t.test('the well-known routes', async (t) => {
  const known = new Set(['/mcp', '/mcp/v1/tools/github/rpc', '/mcp/v2/tools/acme.github/rpc']);
  const asked: string[] = [];
  let base = '';
  const router = protectedResourceRoutes((path) => {
    asked.push(path);
    if (!known.has(path)) return undefined;
    return protectedResourceMetadata({
      resource: resourceUrl(base, path),
      authorizationServers: [IDP],
      scopesSupported: path === '/mcp' ? ['mcp:tool:github:read', 'mcp:tool:github:write'] : ['mcp:tool:github:read'],
    });
  });
  const app = new Koa();
  app.use(router.routes()).use(router.allowedMethods());
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);

  for (const [path, resource] of [
    ['/.well-known/oauth-protected-resource', `${base}/mcp`],
    ['/.well-known/oauth-protected-resource/mcp', `${base}/mcp`],
    ['/.well-known/oauth-protected-resource/mcp/v1/tools/github/rpc', `${base}/mcp/v1/tools/github/rpc`],
    ['/.well-known/oauth-protected-resource/mcp/v2/tools/acme.github/rpc', `${base}/mcp/v2/tools/acme.github/rpc`],
  ] as const) {
    const res = await get(path, { headers: { origin: 'https://app.example' } });
    t.equal(res.status, 200, path);
    t.equal(res.headers.get('access-control-allow-origin'), '*', `${path}: CORS`);
    t.match(res.headers.get('cache-control'), /max-age=\d+/, `${path}: cacheable`);
    t.match(res.headers.get('content-type'), /^application\/json/);
    const doc = (await res.json()) as Record<string, unknown>;
    t.equal(doc.resource, resource, `${path}: resource is that endpoint's URL`);
    t.same(doc.authorization_servers, [IDP]);
    t.same(doc.bearer_methods_supported, ['header']);
  }

  asked.length = 0;
  for (const path of [
    '/.well-known/oauth-protected-resource/mcp/v1/tools/unknown/rpc', // well-formed, no such server
    '/.well-known/oauth-protected-resource/',
    '/.well-known/oauth-protected-resource/admin',
    '/.well-known/oauth-protected-resource/mcp/',
    '/.well-known/oauth-protected-resource/mcp/v01/tools/github/rpc',
    '/.well-known/oauth-protected-resource/mcp/v1/tools/GitHub/rpc',
    '/.well-known/oauth-protected-resource/mcp/v1/tools/github/rpc/extra',
    '/.well-known/oauth-protected-resource/mcp/v1/tools/github',
    '/.well-known/oauth-protected-resource/mcp/v1/tools/a.b.c/rpc',
    '/.well-known/oauth-protected-resource/mcp/v1/tools/%2e%2e/rpc',
    '/.well-known/oauth-protected-resourcemcp',
  ]) {
    const res = await get(path);
    t.equal(res.status, 404, `${path}: 404`);
    await res.body?.cancel();
  }
  t.same(asked, ['/mcp/v1/tools/unknown/rpc'], 'only well-formed endpoint paths reach the lookup');

  const preflight = await get('/.well-known/oauth-protected-resource/mcp', {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'mcp-protocol-version' },
  });
  t.equal(preflight.status, 204, 'preflight');
  t.equal(preflight.headers.get('access-control-allow-origin'), '*');
  t.match(preflight.headers.get('access-control-allow-headers'), /mcp-protocol-version/);
  t.match(preflight.headers.get('access-control-allow-methods'), /GET/);

  const head = await get('/.well-known/oauth-protected-resource/mcp', { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD');
  const post = await get('/.well-known/oauth-protected-resource/mcp', { method: 'POST' });
  t.equal(post.status, 405, 'POST is not allowed');

  // The official MCP SDK client discovers the per-endpoint document (path-inserted first).
  const forTool = await discoverOAuthProtectedResourceMetadata(`${base}/mcp/v1/tools/github/rpc`);
  t.equal(forTool.resource, `${base}/mcp/v1/tools/github/rpc`);
  t.same(forTool.authorization_servers, [IDP]);
  const forAggregate = await discoverOAuthProtectedResourceMetadata(`${base}/mcp`, {
    resourceMetadataUrl: resourceMetadataUrl(base, '/mcp'),
  });
  t.equal(forAggregate.resource, `${base}/mcp`);
  t.same(forAggregate.scopes_supported, ['mcp:tool:github:read', 'mcp:tool:github:write']);
});
