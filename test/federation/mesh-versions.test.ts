/**
 * Two nodes over real libp2p under a real trust anchor, for what version
 * pinning and policy churn mean across the link:
 *
 * - a peer's call runs the exact version its export rule allowed, even when a
 *   newer version of the same major is registered (and not exported);
 * - a peer removed from the trust policy and added back gets its tools back
 *   without a restart (its re-sent manifest is current again);
 * - a peer's server has protected-resource metadata (RFC 9728) like a local one.
 */
import t from 'tap';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planNode, startMeshNode, startTestAnchor, waitFor, writeTrust } from '../helpers/mesh.js';
import { removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';

const cleanups: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const backend = await startLegacyHttpBackend();
cleanups.push(() => backend.close());
const a = await planNode('a', 'unit-a');
const b = await planNode('b', 'unit-b');
const anchor = await startTestAnchor([a, b]);
cleanups.push(() => anchor.stop());
const trustAnchors = [anchor.pin];

// B exports only x@1.0.0 to A; it also has x@1.1.0, which A must never reach.
await writeTrust(
  b,
  [
    {
      plan: a,
      exports: [{ server: 'x', versions: '1.0.0', tools: ['echo'], access: 'read', groups: ['reps'] }],
      inbound: { groupMapping: { reps: ['x-readers'] }, scopeCeiling: ['mcp:tool:x:read'], maxTokenTtlSeconds: 120 },
    },
  ],
  { trustAnchors },
);
await writeTrust(a, [{ plan: b, imports: [{ server: 'x', tools: ['echo'], groups: ['reps'] }] }], { trustAnchors });

const B: TestNode = await startMeshNode(b, { auth: {} });
cleanups.push(() => removeDir(b.dataDir));
cleanups.push(() => B.stop());
for (const version of ['1.0.0', '1.1.0']) {
  await B.register({ slug: 'x', version, backend: { http: backend.url }, readTools: ['echo'], allowedGroups: ['x-readers'] });
}
const REP = { id: 'rep', secret: 'rep-secret-0123456789abcdef' };
const A: TestNode = await startMeshNode(a, {
  auth: { authorizationServer: { clients: [{ clientId: REP.id, clientSecret: REP.secret, groups: ['reps'], scopes: ['mcp:tool:b.x:read'] }] } },
});
cleanups.push(() => removeDir(a.dataDir));
cleanups.push(() => A.stop());

async function token(): Promise<string> {
  const meta = await discover(`${A.url}/oauth`);
  return (await clientCredentials(meta, REP, { scope: 'mcp:tool:b.x:read', resource: `${A.url}/mcp` })).access_token;
}

async function toolNames(bearer: string): Promise<string[]> {
  const { body, headers } = modern('tools/list');
  const res = await rawPost(`${A.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
  return ((res.body?.result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name);
}

const bearer = await waitFor('b.x__echo listed at A', async () => {
  const tk = await token();
  return (await toolNames(tk)).includes('b.x__echo') ? tk : undefined;
});

t.test('a peer’s call runs the exact version the export rule allowed, not the newest of its major', async (t) => {
  for (const url of [`${A.url}/mcp`, `${A.url}/mcp/v1/tools/b.x/rpc`]) {
    const name = url.endsWith('/mcp') ? 'b.x__echo' : 'echo';
    const { body, headers } = modern('tools/call', { name, arguments: { text: 'pinned' } });
    const res = await rawPost(url, body, { ...headers, authorization: `Bearer ${bearer}` });
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.same(res.body?.result?.content, [{ type: 'text', text: 'pinned' }]);
    const correlationId = res.headers.get('x-correlation-id')!;
    const atB = await waitFor('B’s intent', async () => {
      const e = await B.node.audit.query({ correlationId, limit: 10 });
      return e.some((x) => x.kind === 'call') ? e : undefined;
    });
    t.match(atB.find((e) => e.kind === 'call'), { server: 'x', version: '1.0.0', tool: 'echo' }, `${name}: B ran x@1.0.0 (x@1.1.0 is registered, not exported)`);
  }
});

t.test('a peer removed from the policy and added back gets its tools back without a restart', async (t) => {
  const peerFile = join(a.trustDir, 'peers', 'b.yaml');
  const saved = await readFile(peerFile, 'utf8');
  await rm(peerFile);
  await waitFor('b.x__echo gone from A', async () => ((await toolNames(bearer)).includes('b.x__echo') ? undefined : true));
  await writeFile(peerFile, saved);
  const names = await waitFor('b.x__echo back at A', async () => {
    const list = await toolNames(bearer);
    return list.includes('b.x__echo') ? list : undefined;
  });
  t.ok(names.includes('b.x__echo'), 'listed again');
  const { body, headers } = modern('tools/call', { name: 'b.x__echo', arguments: { text: 'again' } });
  const res = await rawPost(`${A.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body?.result?.content, [{ type: 'text', text: 'again' }]);
});

t.test('a peer’s server has protected-resource metadata naming its scopes, like a local one', async (t) => {
  const res = await fetch(`${A.url}/.well-known/oauth-protected-resource/mcp/v1/tools/b.x/rpc`);
  t.equal(res.status, 200);
  const meta = (await res.json()) as { resource: string; scopes_supported: string[] };
  t.equal(meta.resource, `${A.url}/mcp`);
  t.ok(meta.scopes_supported.includes('mcp:tool:b.x:read'), 'the remote server’s scopes are listed');
  const root = (await (await fetch(`${A.url}/.well-known/oauth-protected-resource`)).json()) as { scopes_supported: string[] };
  t.ok(root.scopes_supported.includes('mcp:tool:b.x:write'), 'on the root document too');
  t.equal((await fetch(`${A.url}/.well-known/oauth-protected-resource/mcp/v1/tools/b.nothing/rpc`)).status, 404, 'a server that does not exist has none');
});
