/**
 * The aggregate endpoint namespaces resources and prompts as it does tools:
 * prompts `{slug}__{name}`, resource URIs `{slug}+{uri}`; reads and gets route
 * back to the right server, and a caller sees only servers it may read.
 */
import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { startTestNode, removeDir } from '../helpers/node.js';
import { everythingStdio, startLegacyHttpBackend } from '../helpers/backends.js';
import { rawPost, modern } from '../helpers/clients.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';

const tools = await startLegacyHttpBackend();
const tn = await startTestNode();
t.teardown(async () => {
  await tn.stop();
  await tools.close();
  await removeDir(tn.dataDir);
});
await tn.register({ slug: 'everything', version: '1.0.0', backend: everythingStdio() });
await tn.register({ slug: 'plain', version: '1.0.0', backend: { http: tools.url } });

t.test('SDK v1 client: list and read resources, list and get prompts through /mcp', async (t) => {
  const client = new Client({ name: 'agg', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${tn.url}/mcp`)));
  t.teardown(() => client.close());
  const caps = client.getServerCapabilities();
  t.ok(caps?.resources && caps?.prompts, 'the aggregate advertises resources and prompts');

  const { resources } = await client.listResources();
  t.ok(resources.length > 0, `${resources.length} resources`);
  t.ok(resources.every((r) => r.uri.startsWith('everything+') && r.name.startsWith('everything__')), 'every resource is namespaced');
  const first = resources[0]!;
  const read = await client.readResource({ uri: first.uri });
  t.ok(read.contents.length > 0, 'the read reached server-everything');
  t.ok(read.contents.every((c) => c.uri.startsWith('everything+')), 'contents carry the namespaced URI back');

  const { prompts } = await client.listPrompts();
  t.ok(prompts.some((p) => p.name.startsWith('everything__')), 'prompts are namespaced');
  const simple = prompts.find((p) => !p.arguments || p.arguments.every((a) => !a.required));
  if (simple) {
    const got = await client.getPrompt({ name: simple.name });
    t.ok(got.messages.length > 0, `prompt ${simple.name} answered`);
  }
});

t.test('SDK v2 client (2026-07-28) lists resources and prompts too', async (t) => {
  const client = new ClientV2({ name: 'agg2', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new TransportV2(new URL(`${tn.url}/mcp`)));
  t.teardown(() => client.close());
  const { resources } = await client.listResources();
  t.ok(resources.length > 0 && resources.every((r) => r.uri.startsWith('everything+')));
  const read = await client.readResource({ uri: resources[0]!.uri });
  t.ok(read.contents.length > 0);
  const { prompts } = await client.listPrompts();
  t.ok(prompts.length > 0);
});

t.test('names that lead nowhere are invalid params', async (t) => {
  for (const [method, params] of [
    ['resources/read', { uri: 'test://no-namespace' }],
    ['resources/read', { uri: 'nosuch+test://x' }],
    ['prompts/get', { name: 'plain-prompt' }],
    ['prompts/get', { name: 'nosuch__x' }],
  ] as const) {
    const m = modern(method, params);
    const res = await rawPost(`${tn.url}/mcp`, m.body, m.headers);
    t.equal(res.status, 400, `${method} ${JSON.stringify(params)}: 400`);
    t.equal(res.body?.error?.data?.reason, 'invalid_params');
  }
});

t.test('a caller sees and reads only servers it may read', async (t) => {
  const scoped = await startTestNode({ auth: { anonymous: { groups: [], scopes: ['mcp:tool:plain:read'] } } });
  t.teardown(async () => {
    await scoped.stop();
    await removeDir(scoped.dataDir);
  });
  await scoped.register({ slug: 'everything', version: '1.0.0', backend: everythingStdio() });
  const list = modern('resources/list');
  const res = await rawPost(`${scoped.url}/mcp`, list.body, list.headers);
  t.equal(res.status, 200);
  t.same(res.body?.result?.resources, [], 'no scope on everything: none of its resources listed');
  const read = modern('resources/read', { uri: 'everything+demo://resource/static/document/architecture.md' });
  const refused = await rawPost(`${scoped.url}/mcp`, read.body, read.headers);
  t.equal(refused.status, 403);
  t.equal(refused.body?.error?.data?.reason, 'insufficient_scope');
});

t.test('an OAuth token is held to its scopes for everything a server gives, on both endpoints', async (t) => {
  const secret = (id: string) => `${id}-secret-0123456789abcdef`;
  const node = await startTestNode({
    auth: {
      authorizationServer: {
        clients: [
          { clientId: 'unscoped', clientSecret: secret('unscoped'), groups: ['staff'], scopes: [] },
          { clientId: 'elsewhere', clientSecret: secret('elsewhere'), groups: ['staff'], scopes: ['mcp:tool:plain:read'] },
          { clientId: 'reader', clientSecret: secret('reader'), groups: ['staff'], scopes: ['mcp:tool:everything:read'] },
        ],
      },
    },
  });
  t.teardown(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  await node.register({ slug: 'everything', version: '1.0.0', backend: everythingStdio(), allowedGroups: ['staff'] });
  await node.register({ slug: 'plain', version: '1.0.0', backend: { http: tools.url }, allowedGroups: ['staff'] });
  const meta = await discover(`${node.url}/oauth`);
  const bearer = async (id: string, scope?: string) =>
    (await clientCredentials(meta, { id, secret: secret(id) }, { resource: `${node.url}/mcp`, ...(scope ? { scope } : {}) })).access_token;
  const post = async (url: string, method: string, params: Record<string, unknown>, token: string) => {
    const m = modern(method, params);
    return rawPost(url, m.body, { ...m.headers, authorization: `Bearer ${token}` });
  };
  const perServer = `${node.url}/mcp/v1/tools/everything/rpc`;
  for (const [who, token] of [
    ['a token with no scopes', await bearer('unscoped')],
    ['a token scoped to another server', await bearer('elsewhere', 'mcp:tool:plain:read')],
  ] as const) {
    for (const [method, params] of [
      ['resources/list', {}],
      ['resources/templates/list', {}],
      ['prompts/list', {}],
      ['resources/read', { uri: 'demo://resource/static/document/architecture.md' }],
      ['prompts/get', { name: 'simple-prompt' }],
    ] as const) {
      const res = await post(perServer, method, params, token);
      t.equal(res.status, 403, `${who}: ${method} on the server's endpoint is refused`);
      t.equal(res.body?.error?.data?.reason, 'insufficient_scope');
    }
    for (const [method, field] of [['resources/list', 'resources'], ['prompts/list', 'prompts']] as const) {
      const res = await post(`${node.url}/mcp`, method, {}, token);
      t.same(res.body?.result?.[field]?.filter((x: { name: string }) => x.name.startsWith('everything__')), [], `${who}: nothing of everything in the aggregate ${method}`);
    }
  }
  const reader = await bearer('reader', 'mcp:tool:everything:read');
  const listed = await post(perServer, 'resources/list', {}, reader);
  t.equal(listed.status, 200, 'a token with a scope of the server reads it');
  t.ok((listed.body?.result?.resources ?? []).length > 0);
});
