/**
 * A three-node mesh over real libp2p on loopback, under two real OpenID
 * Federation trust anchors (Example Corp's and a partner's): Sales and
 * Support are business units, Acme a partner org.
 *
 * - Sales calls Support's ticket tools through its own gateway, with both
 *   client eras; the call is translated (RFC 8693 exchange at Support's token
 *   endpoint), travels over the libp2p link, meets Support's full chain and is
 *   audited on both sides under one correlation id. The backend never sees a
 *   caller's credential.
 * - Denials on each side: not imported (Sales), group not exported (Support),
 *   scope above the ceiling (Support's token endpoint), each audited where it
 *   was decided.
 * - The partner sees only what Sales exports to it.
 * - A policy edit adds and removes a tool live.
 * - A peer killed mid-call fails fast, and is used again once it is back.
 */
import t from 'tap';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, writeFile } from 'node:fs/promises';
import { planNode, startMeshNode, startTestAnchor, writeTrust, type NodePlan, type PeerSpec, type TestAnchor, waitFor } from '../helpers/mesh.js';
import { removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { connect, modern, rawPost } from '../helpers/clients.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';
import { TokenExchangeClient } from '../../federation/token-exchange/index.js';
import type { AuditEntry } from '../../src/audit/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function anchorFor(members: NodePlan[]): Promise<TestAnchor> {
  const anchor = await startTestAnchor(members);
  cleanups.push(() => anchor.stop());
  return anchor;
}

const backend = await startLegacyHttpBackend();
cleanups.push(() => backend.close());

const sales = await planNode('sales', 'example-corp');
const support = await planNode('support', 'example-corp');
const acme = await planNode('acme', 'acme');
const corpAnchor = await anchorFor([sales, support]);
const acmeAnchor = await anchorFor([acme]);
const pin = (a: TestAnchor) => a.pin;

const REP = { id: 'rep', secret: 'rep-secret-0123456789abcdef' };
const INTERN = { id: 'intern', secret: 'intern-secret-0123456789abcd' };
const OUTSIDER = { id: 'outsider', secret: 'outsider-secret-0123456789ab' };
const PARTNER = { id: 'partner-agent', secret: 'partner-secret-0123456789abc' };
const TICKETS = ['mcp:tool:support.tickets:read', 'mcp:tool:support.tickets:write'];

const supportSeesSales = (exported: string[]): PeerSpec => ({
  plan: sales,
  exports: [
    { server: 'tickets', tools: exported, access: 'read', groups: ['sales-reps'] },
    { server: 'tickets', tools: ['add'], access: 'write', groups: ['sales-reps'] },
  ],
  // Interns are mapped, but no export rule names them: Support refuses their calls.
  inbound: { groupMapping: { 'sales-reps': ['ticket-readers'], 'sales-interns': ['ticket-readers'] }, scopeCeiling: ['mcp:tool:tickets:read'], maxTokenTtlSeconds: 120 },
});
await writeTrust(
  sales,
  [
    { plan: support, imports: [{ server: 'tickets', tools: ['echo', 'add', 'slow', 'progress'], groups: ['sales-reps', 'sales-interns'] }] },
    {
      plan: acme,
      exports: [{ server: 'crm', tools: ['echo'], access: 'read', groups: ['partners'] }],
      inbound: { groupMapping: { partners: ['crm-partners'] }, scopeCeiling: ['mcp:tool:crm:read'], maxTokenTtlSeconds: 60 },
    },
  ],
  { trustAnchors: [pin(corpAnchor), pin(acmeAnchor)] },
);
await writeTrust(support, [supportSeesSales(['echo', 'slow'])], { trustAnchors: [pin(corpAnchor)] });
// Acme's own anchor is listed too: it is where Acme's node says its statements come from.
await writeTrust(acme, [{ plan: sales, alias: 'excorp-sales', imports: [{ server: 'crm', tools: '*', groups: ['partners'] }] }], { trustAnchors: [pin(acmeAnchor), pin(corpAnchor)] });

const clients = (list: Array<{ c: { id: string; secret: string }; groups: string[]; scopes: string[] }>) => ({
  auth: { authorizationServer: { clients: list.map(({ c, groups, scopes }) => ({ clientId: c.id, clientSecret: c.secret, groups, scopes })) } },
});
const SUPPORT_CONFIG = { auth: {}, gateway: { drainTimeoutMs: 100 } };
let B: TestNode = await startMeshNode(support, SUPPORT_CONFIG);
cleanups.push(() => removeDir(support.dataDir));
cleanups.push(() => B.stop());
await B.register({ slug: 'tickets', version: '1.0.0', backend: { http: backend.url }, readTools: ['echo', 'slow', 'progress'], allowedGroups: ['ticket-readers'] });
const A: TestNode = await startMeshNode(
  sales,
  clients([
    { c: REP, groups: ['sales-reps'], scopes: TICKETS },
    { c: INTERN, groups: ['sales-interns'], scopes: TICKETS },
    { c: OUTSIDER, groups: ['marketing'], scopes: TICKETS },
  ]),
);
cleanups.push(() => removeDir(sales.dataDir));
cleanups.push(() => A.stop());
await A.register({ slug: 'crm', version: '2.0.0', backend: { http: backend.url }, readTools: ['echo'], allowedGroups: ['crm-partners'] });
const C: TestNode = await startMeshNode(acme, clients([{ c: PARTNER, groups: ['partners'], scopes: ['mcp:tool:excorp-sales.crm:read'] }]));
cleanups.push(() => removeDir(acme.dataDir));
cleanups.push(() => C.stop());

async function token(node: TestNode, client: { id: string; secret: string }, scopes: string[]): Promise<string> {
  const meta = await discover(`${node.url}/oauth`);
  return (await clientCredentials(meta, client, { scope: scopes.join(' '), resource: `${node.url}/mcp` })).access_token;
}

async function toolNames(node: TestNode, bearer: string): Promise<string[]> {
  const { body, headers } = modern('tools/list');
  const res = await rawPost(`${node.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
  return ((res.body?.result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name).sort();
}

async function callTool(node: TestNode, bearer: string, name: string, args: Record<string, unknown>) {
  const { body, headers } = modern('tools/call', { name, arguments: args });
  return rawPost(`${node.url}/mcp`, body, { ...headers, authorization: `Bearer ${bearer}` });
}


const entries = (node: TestNode, correlationId: string): Promise<AuditEntry[]> => node.node.audit.query({ correlationId, limit: 100 });

/** Tokens are asked for once the peer's tools (and so their scopes) exist here. */
async function tokenOnceListed(node: TestNode, client: { id: string; secret: string }, scopes: string[], tool: string): Promise<string> {
  return waitFor(`${tool} at ${node.url}`, async () => {
    const bearer = await token(node, client, scopes);
    return (await toolNames(node, bearer)).includes(tool) ? bearer : undefined;
  });
}

const repToken = await tokenOnceListed(A, REP, TICKETS, 'support.tickets__echo');
const internToken = await token(A, INTERN, TICKETS);
const outsiderToken = await token(A, OUTSIDER, TICKETS);

t.test('Sales sees exactly the tools Support exports and Sales imports, as support.tickets__{tool}', async (t) => {
  t.same(await toolNames(A, repToken), ['support.tickets__add', 'support.tickets__echo', 'support.tickets__slow'], 'progress is imported but not exported');
  t.same(await toolNames(A, outsiderToken), [], 'a group the import policy does not name sees none');
  const metrics = await (await fetch(`${A.url}/metrics`)).text();
  t.match(metrics, /toolmesh_peers_pinned 2/, 'metrics: two pinned peers');
  t.match(metrics, /toolmesh_remote_server_versions 1/, 'metrics: one remote server version offered');
  const peers = (await A.admin('GET', '/admin/v1/peers')).body;
  t.match(peers.peers.find((p: { alias: string }) => p.alias === 'support'), { status: 'connected', trusted: true, received: { tools: 3 } }, 'the admin API reports the link, its trust and the manifest');
});

t.test('an allowed cross-node call, audited on both sides under one correlation id; the backend sees no credential', async (t) => {
  const before = backend.calls.get('echo') ?? 0;
  const headersBefore = backend.seenHeaders.length;
  const res = await callTool(A, repToken, 'support.tickets__echo', { text: 'hello from sales' });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body?.result?.content, [{ type: 'text', text: 'hello from sales' }]);
  t.equal(backend.calls.get('echo'), before + 1, 'the backend behind Support ran it');
  const correlationId = res.headers.get('x-correlation-id')!;
  const atA = await entries(A, correlationId);
  const atB = await waitFor('Support’s outcome entry', async () => {
    const e = await entries(B, correlationId);
    return e.some((x) => x.kind === 'outcome') ? e : undefined;
  });
  t.same(atA.map((e) => e.kind), ['call', 'outcome'], 'Sales: intent and outcome');
  t.match(atA[0], { server: 'support.tickets', tool: 'echo', identity: { kind: 'oauth', clientId: REP.id } });
  t.ok(atB.some((e) => e.kind === 'peer' && e.method === 'token_exchange' && e.outcome === 'ok'), 'the first call’s token exchange is audited at Support under the same id');
  const peerCall = atB.find((e) => e.kind === 'call')!;
  t.match(peerCall, { server: 'tickets', version: '1.0.0', tool: 'echo' }, 'Support: the intent for its own server');
  t.match(peerCall.identity, { kind: 'peer', subject: 'example-corp:rep', groups: ['ticket-readers'] }, 'a translated identity with mapped groups');
  t.match(peerCall.identity?.actor?.[0], { subject: sales.entityId }, 'the calling node as actor');
  t.equal(peerCall.argsHash === undefined, false, 'arguments hashed, not stored');
  const seen = backend.seenHeaders.slice(headersBefore);
  t.ok(seen.length > 0);
  t.notOk(JSON.stringify(seen).includes(repToken), 'the caller’s token never reaches the backend');
  t.notOk(seen.some((h) => h.authorization !== undefined), 'no Authorization header reaches the backend at all');
});

t.test('the legacy-era SDK client calls the peer’s tool through the per-server endpoint', async (t) => {
  const client = await connect('legacy', `${A.url}/mcp/v1/tools/support.tickets/rpc`, { authorization: `Bearer ${repToken}` });
  t.teardown(() => client.close());
  const listed = await client.listTools();
  t.same(listed.tools.map((x) => x.name).sort(), ['add', 'echo', 'slow']);
  const result = await client.callTool('echo', { text: 'legacy era' });
  t.same(result.content, [{ type: 'text', text: 'legacy era' }]);
  const modernClient = await connect('modern', `${A.url}/mcp/v1/tools/support.tickets/rpc`, { authorization: `Bearer ${repToken}` });
  t.teardown(() => modernClient.close());
  t.same((await modernClient.callTool('echo', { text: 'modern era' })).content, [{ type: 'text', text: 'modern era' }]);
});

t.test('schema validation against the manifest’s schema happens before anything leaves Sales', async (t) => {
  const before = backend.calls.get('echo') ?? 0;
  const res = await callTool(A, repToken, 'support.tickets__echo', { text: 42 });
  t.equal(res.status, 200);
  t.equal(res.body?.result?.isError, true);
  t.equal(res.body?.result?._meta?.['io.toolmesh/reason'], 'schema_reject');
  const correlationId = res.headers.get('x-correlation-id')!;
  t.same((await entries(B, correlationId)).length, 0, 'Support never heard of it');
  t.equal(backend.calls.get('echo'), before);
});

t.test('denials on each side: 403 trust_denied, audited where decided', async (t) => {
  const before = backend.calls.get('echo') ?? 0;
  // Sales: the import policy does not name the outsider's group.
  const outsider = await callTool(A, outsiderToken, 'support.tickets__echo', { text: 'x' });
  t.equal(outsider.status, 403);
  t.equal(outsider.body?.error?.data?.reason, 'trust_denied');
  const oc = outsider.headers.get('x-correlation-id')!;
  t.match(await entries(A, oc), [{ kind: 'rejection', reason: 'trust_denied' }], 'Sales recorded its refusal');
  t.same(await entries(B, oc), [], 'nothing reached Support');

  // Support: interns are not in any export rule.
  const intern = await callTool(A, internToken, 'support.tickets__echo', { text: 'x' });
  t.equal(intern.status, 403, JSON.stringify(intern.body));
  t.equal(intern.body?.error?.data?.reason, 'trust_denied');
  const ic = intern.headers.get('x-correlation-id')!;
  const atB = await waitFor('Support’s refusal', async () => {
    const e = await entries(B, ic);
    return e.some((x) => x.kind === 'rejection') ? e : undefined;
  });
  t.match(atB.find((e) => e.kind === 'rejection'), { reason: 'trust_denied', detail: { peer: 'sales', cause: 'group_not_allowed' } }, 'Support recorded its refusal');

  // Support's token endpoint: `add` needs tickets:write, above the ceiling (tickets:read).
  const write = await callTool(A, repToken, 'support.tickets__add', { a: 1, b: 2 });
  t.equal(write.status, 403, JSON.stringify(write.body));
  t.equal(write.body?.error?.data?.reason, 'trust_denied');
  const wc = write.headers.get('x-correlation-id')!;
  const exchange = await waitFor('the refused exchange', async () => (await entries(B, wc)).find((e) => e.method === 'token_exchange'));
  t.match(exchange, { kind: 'peer', outcome: 'trust_denied', detail: { peer: 'sales', error: 'invalid_scope' } }, 'the wider scope was refused at the token endpoint');
  t.equal(backend.calls.get('echo'), before, 'no refused call reached the backend');
});

t.test('a translated token that leaks is useless outside the federation link', async (t) => {
  // Exchange one exactly as Sales would (Sales' key is at hand in this test), then present it over plain HTTP.
  const client = new TokenExchangeClient({ node: sales.identity, issuer: sales.entityId, namespace: 'example-corp', allowInsecureLoopback: true });
  const caller = { kind: 'oauth', subject: 'rep', groups: ['sales-reps'], scopes: ['mcp:tool:tickets:read'], principal: 'oauth:rep', class: 'agent' } as const;
  const issued = await client.exchange({ peer: { entityId: support.entityId, tokenEndpoint: `${support.entityId}/federation/token` }, identity: { ...caller, groups: [...caller.groups], scopes: [...caller.scopes] }, scopes: ['mcp:tool:tickets:read'] });
  t.ok(issued.accessToken, 'Support issued a token');
  const { body, headers } = modern('tools/call', { name: 'echo', arguments: { text: 'sneaky' } });
  const res = await rawPost(`${B.url}/mcp/v1/tools/tickets/rpc`, body, { ...headers, authorization: `Bearer ${issued.accessToken}` });
  t.equal(res.status, 401);
  t.equal(res.body?.error?.data?.reason, 'invalid_token');
});

t.test('the partner sees only what Sales exports to it, and calls it', async (t) => {
  const partnerToken = await tokenOnceListed(C, PARTNER, ['mcp:tool:excorp-sales.crm:read'], 'excorp-sales.crm__echo');
  t.same(await toolNames(C, partnerToken), ['excorp-sales.crm__echo'], 'echo only: add, slow and progress of crm stay private');
  const res = await callTool(C, partnerToken, 'excorp-sales.crm__echo', { text: 'from acme' });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body?.result?.content, [{ type: 'text', text: 'from acme' }]);
  const atSales = await waitFor('Sales’ entry for the partner call', async () => {
    const e = await entries(A, res.headers.get('x-correlation-id')!);
    return e.find((x) => x.kind === 'call');
  });
  t.match(atSales.identity, { kind: 'peer', subject: 'acme:partner-agent', groups: ['crm-partners'] }, 'the partner’s caller, translated');
  t.same(await toolNames(A, repToken).then((n) => n.filter((x) => x.startsWith('acme.'))), [], 'Acme exports nothing to Sales');
});

t.test('a policy edit applies live: a tool is added, then removed', async (t) => {
  const file = join(support.trustDir, 'peers', 'sales.yaml');
  const original = await readFile(file, 'utf8');
  await writeTrust(support, [supportSeesSales(['echo', 'slow', 'progress'])], { trustAnchors: [pin(corpAnchor)] });
  await waitFor('progress at Sales', async () => ((await toolNames(A, repToken)).includes('support.tickets__progress') ? true : undefined));
  const res = await callTool(A, repToken, 'support.tickets__progress', { steps: 2 });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body?.result?.content, [{ type: 'text', text: 'done 2' }]);
  const applied = (await B.node.audit.query({ kind: 'admin' })).filter((e) => e.method === 'trust-policy');
  t.ok(applied.length >= 2, 'the change is an admin entry at Support');
  await writeFile(file, original);
  await waitFor('progress gone at Sales', async () => (!(await toolNames(A, repToken)).includes('support.tickets__progress') ? true : undefined));
  const gone = await callTool(A, repToken, 'support.tickets__progress', { steps: 1 });
  t.equal(gone.body?.result?._meta?.['io.toolmesh/reason'], 'unknown_tool', 'removed: an unknown tool again');
});

t.test('a peer killed mid-call: the call fails cleanly, later ones fail fast, and it is used again once back', async (t) => {
  const started = Date.now();
  const inFlight = callTool(A, repToken, 'support.tickets__slow', { ms: 5000 });
  await sleep(300);
  await B.stop();
  const res = await inFlight;
  t.equal(res.status, 502, JSON.stringify(res.body));
  t.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  t.ok(Date.now() - started < 4000, `answered before the tool would have finished (${Date.now() - started} ms)`);

  const t0 = Date.now();
  const down = await callTool(A, repToken, 'support.tickets__echo', { text: 'anyone?' });
  t.equal(down.status, 502);
  t.equal(down.body?.error?.data?.reason, 'upstream_unavailable');
  t.ok(Date.now() - t0 < 1000, `fails fast while the peer is down (${Date.now() - t0} ms)`);

  B = await startMeshNode(support, SUPPORT_CONFIG);
  const back = await waitFor('Support back', async () => {
    const r = await callTool(A, repToken, 'support.tickets__echo', { text: 'welcome back' });
    return r.status === 200 ? r : undefined;
  }, 30_000);
  t.same(back.body?.result?.content, [{ type: 'text', text: 'welcome back' }]);
  const verified = (await A.node.audit.query({ kind: 'peer' })).filter((e) => e.method === 'peer_verified' && (e.detail as { peer?: string }).peer === 'support');
  t.ok(verified.length >= 2, 're-verified after reconnecting');
});
