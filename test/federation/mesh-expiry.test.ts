/**
 * A peer's tools exist only while its signed manifest is valid and the peer
 * is in our policy: a silent peer's tools disappear when its manifest
 * expires; a peer removed from the policy loses them at once.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { planNode, startMeshNode, startTestAnchor, writeTrust } from '../helpers/mesh.js';
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
const a = await planNode('east');
const b = await planNode('west');
const anchor = await startTestAnchor([a, b]);
cleanups.push(() => anchor.stop());
const trustAnchors = [anchor.pin];
await writeTrust(a, [{ plan: b, imports: [{ server: 'files', tools: '*', groups: ['staff'] }] }], { trustAnchors });
await writeTrust(b, [{ plan: a, exports: [{ server: 'files', tools: '*', access: 'write', groups: ['staff'] }], inbound: { groupMapping: { staff: ['staff'] } } }], { trustAnchors });

// West signs manifests valid for 10 s only (refreshed every ~6.7 s while it runs).
const B: TestNode = await startMeshNode(b, { federation: { manifestTtlSeconds: 10 } });
cleanups.push(() => removeDir(b.dataDir));
cleanups.push(() => B.stop());
await B.register({ slug: 'files', version: '1.0.0', backend: { http: backend.url }, allowedGroups: ['staff'] });
const STAFF = { id: 'staff-agent', secret: 'staff-secret-0123456789abcdef' };
const A: TestNode = await startMeshNode(a, {
  auth: { anonymous: { groups: ['staff'], scopes: [] }, authorizationServer: { clients: [{ clientId: STAFF.id, clientSecret: STAFF.secret, groups: ['staff'], scopes: ['mcp:tool:west.files:write'] }] } },
});
cleanups.push(() => removeDir(a.dataDir));
cleanups.push(() => A.stop());

/** West's servers as East offers them to a staff caller (a token asked for once West's scopes exist here). */
let bearer: string | undefined;
async function remoteSlugs(): Promise<string[]> {
  const { body, headers } = modern('tools/list');
  bearer ??= await staffToken();
  const res = await rawPost(`${A.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
  return [...new Set(((res.body?.result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name.split('__')[0]!))];
}

async function staffToken(): Promise<string | undefined> {
  const meta = await discover(`${A.url}/oauth`);
  const token = await clientCredentials(meta, STAFF, { scope: 'mcp:tool:west.files:write', resource: `${A.url}/mcp` });
  return token.scope?.includes('west.files') ? token.access_token : undefined;
}

t.test('anonymous callers are not offered a peer’s tools', async (t) => {
  await until('West’s tools at East', async () => (await remoteSlugs()).includes('west.files'), 15_000);
  const { body, headers } = modern('tools/list');
  const res = await rawPost(`${A.url}/mcp`, body, headers);
  t.same(((res.body?.result?.tools ?? []) as unknown[]).length, 0, 'the anonymous grant (staff group) sees none of West’s tools');
});

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
  return Date.now() - started;
}

t.test('a silent peer’s tools disappear when its manifest expires', async (t) => {
  await until('West’s tools at East', async () => (await remoteSlugs()).includes('west.files'), 15_000);
  await sleep(8_000); // past the first refresh: East now holds a refreshed manifest
  t.same(await remoteSlugs(), ['west.files'], 'refreshed before expiry: still there');
  await B.stop();
  const gone = await until('the tools to disappear', async () => !(await remoteSlugs()).includes('west.files'), 20_000);
  t.ok(gone <= 15_500, `gone within the manifest lifetime (10 s) and the clock-skew allowance (5 s) after West fell silent (${gone} ms)`);
  // The peer event is written right after the tools go (not awaited by the listing): poll for it.
  const expired = async () => (await A.node.audit.query({ kind: 'peer' })).filter((e) => e.method === 'manifest_expired').length;
  await until('the expiry entry', async () => (await expired()) > 0, 5_000);
  t.equal(await expired(), 1, 'the expiry is audited, once');
});
