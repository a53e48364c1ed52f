/**
 * Two business units federated over real libp2p on loopback, under a real
 * OpenID Federation trust anchor: Sales calls Support's ticket tool through
 * its own gateway; the call is translated (RFC 8693 exchange at Support's
 * token endpoint), travels over the libp2p link, meets Support's full chain
 * and is audited on both sides under one correlation id. Denials on each
 * side, what the backend sees, and a peer going away.
 */
import t from 'tap';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { planNode, startMeshNode, writeTrust } from '../helpers/mesh.js';
import { removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';
import { startAnchor, type RunningAnchor } from '../../federation/anchor/anchor-server.js';
import type { AuditEntry } from '../../src/audit/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const backend = await startLegacyHttpBackend();
cleanups.push(() => backend.close());

const sales = await planNode('sales', 'example-corp');
const support = await planNode('support', 'example-corp');
const anchorDir = await mkdtemp(join(tmpdir(), 'toolmesh-anchor-'));
cleanups.push(() => removeDir(anchorDir));
const anchor: RunningAnchor = await startAnchor({
  dataDir: anchorDir,
  members: [sales, support].map((p) => ({ entityId: p.entityId, peerId: p.peerId })),
});
cleanups.push(() => anchor.stop());
const trustAnchors = [{ entityId: anchor.entityId, jwks: anchor.jwks }];

const REP = { id: 'rep-agent', secret: 'rep-secret-0123456789abcdef' };
const OUTSIDER = { id: 'outsider', secret: 'outsider-secret-0123456789ab' };

await writeTrust(
  sales,
  [{ plan: support, imports: [{ server: 'tickets', tools: ['echo', 'add'], groups: ['sales-reps'] }] }],
  { trustAnchors },
);
await writeTrust(
  support,
  [
    {
      plan: sales,
      exports: [{ server: 'tickets', tools: ['echo'], access: 'read', groups: ['sales-reps'] }],
      inbound: { groupMapping: { 'sales-reps': ['ticket-readers'] }, scopeCeiling: ['mcp:tool:tickets:read'], maxTokenTtlSeconds: 120 },
    },
  ],
  { trustAnchors },
);

const salesConfig = {
  auth: {
    authorizationServer: {
      clients: [
        { clientId: REP.id, clientSecret: REP.secret, groups: ['sales-reps'], scopes: ['mcp:tool:support.tickets:read', 'mcp:tool:support.tickets:write'] },
        { clientId: OUTSIDER.id, clientSecret: OUTSIDER.secret, groups: ['marketing'], scopes: ['mcp:tool:support.tickets:read'] },
      ],
    },
  },
};
const B: TestNode = await startMeshNode(support, { auth: {} });
cleanups.push(() => removeDir(support.dataDir));
cleanups.push(() => B.stop());
await B.register({ slug: 'tickets', version: '1.0.0', backend: { http: backend.url }, readTools: ['echo'], allowedGroups: ['ticket-readers'] });
let A: TestNode = await startMeshNode(sales, salesConfig);
cleanups.push(() => removeDir(sales.dataDir));
cleanups.push(() => A.stop());

async function token(node: TestNode, client: { id: string; secret: string }, scope: string): Promise<string> {
  const meta = await discover(`${node.url}/oauth`);
  return (await clientCredentials(meta, client, { scope, resource: `${node.url}/mcp` })).access_token;
}

async function toolNames(node: TestNode, bearer: string): Promise<string[]> {
  const { body, headers } = modern('tools/list');
  const res = await rawPost(`${node.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
  return ((res.body?.result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function entries(node: TestNode, correlationId: string): Promise<AuditEntry[]> {
  return (await node.node.audit.query({ correlationId, limit: 100 })) as AuditEntry[];
}

let repToken = '';

t.test('the peer’s exported tool appears in the aggregate as support.tickets__echo, only what is exported and imported', async (t) => {
  // The peer's scopes exist here once its manifest is in: a token asked for before then would lack them.
  const names = await waitFor('remote tools', async () => {
    repToken = await token(A, REP, 'mcp:tool:support.tickets:read mcp:tool:support.tickets:write');
    const n = await toolNames(A, repToken);
    return n.includes('support.tickets__echo') ? n : undefined;
  });
  t.ok(names.includes('support.tickets__echo'));
  t.notOk(names.includes('support.tickets__add'), 'add is imported but not exported: it does not exist here');
});

t.test('an allowed cross-node call with both client eras, audited on both sides under one correlation id', async (t) => {
  const before = backend.calls.get('echo') ?? 0;
  const { body, headers } = modern('tools/call', { name: 'support.tickets__echo', arguments: { text: 'hello from sales' } });
  const res = await rawPost(`${A.url}/mcp`, body, { ...headers, authorization: `Bearer ${repToken}` });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body?.result?.content, [{ type: 'text', text: 'hello from sales' }]);
  t.equal(backend.calls.get('echo'), before + 1, 'the backend on the peer ran it');
  const correlationId = res.headers.get('x-correlation-id')!;
  const atA = await entries(A, correlationId);
  const atB = await waitFor('peer audit', async () => {
    const e = await entries(B, correlationId);
    return e.some((x) => x.kind === 'outcome') ? e : undefined;
  });
  t.same(atA.map((e) => e.kind), ['call', 'outcome'], 'the calling node: intent and outcome');
  t.match(atA[0], { server: 'support.tickets', tool: 'echo', identity: { kind: 'oauth', clientId: REP.id } });
  t.ok(atB.some((e) => e.kind === 'call' && e.server === 'tickets' && e.tool === 'echo'), 'the peer: intent');
  const peerCall = atB.find((e) => e.kind === 'call')!;
  t.match(peerCall.identity, { kind: 'peer', groups: ['ticket-readers'] }, 'the peer saw a translated identity with mapped groups');
  t.match(peerCall.identity?.actor?.[0], { subject: sales.entityId }, 'and the calling node as actor');
});
