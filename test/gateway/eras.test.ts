/**
 * Both MCP eras end to end: the official v1 (legacy) and v2 (2026-07-28)
 * clients, unchanged, list and call tools through the aggregate and the
 * per-server endpoints, against a legacy HTTP backend, a modern HTTP backend
 * and server-everything over stdio — with progress relayed over SSE.
 */
import t from 'tap';
import { startTestNode, removeDir } from '../helpers/node.js';
import { startLegacyHttpBackend, startModernHttpBackend, everythingStdio } from '../helpers/backends.js';
import { connect, type Era } from '../helpers/clients.js';

const legacy = await startLegacyHttpBackend();
const modernBackend = await startModernHttpBackend();
const tn = await startTestNode();
t.teardown(async () => {
  await tn.stop();
  await legacy.close();
  await modernBackend.close();
  await removeDir(tn.dataDir);
});

await tn.register({ slug: 'legacy', version: '1.0.0', backend: { http: legacy.url } });
await tn.register({ slug: 'modern', version: '2.0.0', backend: { http: modernBackend.url } });
await tn.register({ slug: 'everything', version: '1.0.0', backend: everythingStdio(), readTools: ['echo'] });

const eras: Era[] = ['legacy', 'modern'];

for (const era of eras) {
  t.test(`${era} client on the aggregate endpoint sees every server's tools, namespaced`, async (t) => {
    const client = await connect(era, `${tn.url}/mcp`);
    t.teardown(() => client.close());
    const { tools } = await client.listTools();
    const names = tools.map((x) => x.name);
    t.ok(names.includes('legacy__echo'));
    t.ok(names.includes('modern__echo'));
    t.ok(names.includes('everything__get-sum'));
    t.ok(names.every((n) => /^[a-z0-9-]+__/.test(n)), 'every name is {slug}__{tool}');

    const before = legacy.calls.get('echo') ?? 0;
    const r1 = await client.callTool('legacy__echo', { text: `hello from ${era}` });
    t.same(r1.content, [{ type: 'text', text: `hello from ${era}` }]);
    t.equal(legacy.calls.get('echo'), before + 1, 'the legacy backend executed the call');

    const r2 = await client.callTool('modern__echo', { text: 'to modern' });
    t.same(r2.content, [{ type: 'text', text: 'to modern' }]);

    const r3 = await client.callTool('everything__get-sum', { a: 2, b: 40 });
    t.match(r3.content[0].text, /42/);
  });

  for (const [slug, major] of [
    ['legacy', 1],
    ['modern', 2],
  ] as const) {
    t.test(`${era} client on /mcp/v${major}/tools/${slug}/rpc relays progress`, async (t) => {
      const client = await connect(era, `${tn.url}/mcp/v${major}/tools/${slug}/rpc`);
      t.teardown(() => client.close());
      const { tools } = await client.listTools();
      t.same(tools.map((x) => x.name).sort(), slug === 'legacy' ? ['add', 'echo', 'progress', 'slow'] : ['echo', 'progress', 'slow']);
      const progress: number[] = [];
      const result = await client.callTool('progress', { steps: 3 }, (p) => progress.push(p.progress));
      t.same(result.content, [{ type: 'text', text: 'done 3' }]);
      t.same(progress, [1, 2, 3], 'every progress notification arrived, in order');
    });
  }

  t.test(`${era} client reaches server-everything over stdio with progress`, async (t) => {
    const client = await connect(era, `${tn.url}/mcp/v1/tools/everything/rpc`);
    t.teardown(() => client.close());
    const progress: number[] = [];
    const result = await client.callTool('trigger-long-running-operation', { duration: 0.3, steps: 3 }, (p) => progress.push(p.progress));
    t.match(result.content[0].text, /completed/);
    t.same(progress, [1, 2, 3]);
    const echo = await client.callTool('echo', { message: 'stdio' });
    t.same(echo.content, [{ type: 'text', text: 'Echo: stdio' }]);
  });
}

t.test('backends never see client credentials or session ids', async (t) => {
  const client = await connect('legacy', `${tn.url}/mcp/v1/tools/legacy/rpc`);
  await client.callTool('echo', { text: 'x' });
  await client.close();
  // A real credential: a tenant API key for a server in that tenant's namespace.
  await tn.register({ slug: 'tenant-modern', version: '2.0.0', backend: { http: modernBackend.url }, namespace: 'acme' });
  const issued = await tn.admin('POST', '/admin/v1/credentials/keys', { tenant: 'acme', scopes: ['mcp:tool:tenant-modern:write'] });
  t.equal(issued.status, 201, 'API key issued');
  const res = await fetch(`${tn.url}/mcp/v2/tools/tenant-modern/rpc`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${issued.body.key}`,
      cookie: 'sid=caller-cookie',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'y' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  t.equal(res.status, 200, 'the tenant called its tool');
  t.match(await res.text(), /"text":"y"/);
  for (const headers of [...legacy.seenHeaders, ...modernBackend.seenHeaders]) {
    t.notOk(headers.authorization, 'no Authorization header reached a backend');
    t.notOk(headers.cookie, 'no Cookie reached a backend');
    if (typeof headers['mcp-session-id'] === 'string') t.notMatch(headers['mcp-session-id'], /^s1\./, 'gateway session tokens stay at the gateway');
  }
});
