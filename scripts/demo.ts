/**
 * `npm run demo`: a three-node Toolmesh mesh on loopback, narrated.
 *
 * Two business units of Example Corp (sales, support) and a partner org
 * (acme), each a real `toolmesh start --trust DIR --data DIR --port N` child
 * process with its own sample MCP tool server, trust policy directory
 * (YAML, generated with this run's peer ids and ports) and OAuth clients of its
 * embedded authorization server; an OpenID Federation trust anchor for
 * Example Corp and one for Acme run in this process. Then, step by step:
 *
 *   1. an allowed cross-unit call (sales rep → support's tickets),
 *   2. calls denied by policy (a tool Support does not export; a group it does not export to),
 *   3. the partner sees only the subset exported to it,
 *   4. a policy edit applied live, without restart,
 *   5. the audit trail of one call on both nodes, under one correlation id.
 *
 * Everything is stopped at the end (children get SIGTERM and are waited for);
 * the temporary directory is removed unless DEMO_KEEP=1 or the run failed.
 * Exit code 0 when every step showed what it should; 1 naming the failing
 * step (with the tail of each node's log); 130 on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { startAnchor, type RunningAnchor } from '../federation/anchor/anchor-server.js';
import { auditEntries, awaitEntries, renderAudit } from './demo/audit-view.js';
import { clientToken, connect, type McpSession, type ToolOutcome } from './demo/callers.js';
import { logTail, startNodeProcess, stopAllChildren, type DemoClient, type NodeProcess } from './demo/node-process.js';
import { planNode, type NodePlan } from './demo/plan.js';
import { startToolServers, type ToolServer } from './demo/tool-servers.js';
import { exportCreateTicket, writeTrustDirs, type AnchorRef } from './demo/trust-files.js';

const KEEP = process.env.DEMO_KEEP === '1';
const DEADLINE_MS = 80_000;
const t0 = Date.now();
const secs = (from = t0) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
const say = (line = '') => process.stdout.write(line + '\n');
const indent = (text: string, pad = '      ') => text.split('\n').map((l) => pad + l).join('\n');

/** A step's expectation that did not hold. */
class DemoError extends Error {
  override readonly name = 'DemoError';
}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new DemoError(message);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > until) throw new DemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(200);
  }
}

const secret = () => randomBytes(18).toString('base64url');
const CLIENTS = {
  rep: { clientId: 'sales-rep-alice', clientSecret: secret(), groups: ['sales-reps'], scopes: ['mcp:tool:crm:read', 'mcp:tool:support.tickets:read', 'mcp:tool:support.tickets:write', 'mcp:tool:acme.shipping:read'] },
  manager: { clientId: 'sales-manager-bob', clientSecret: secret(), groups: ['sales-managers'], scopes: ['mcp:tool:support.tickets:read'] },
  partner: { clientId: 'acme-account-manager', clientSecret: secret(), groups: ['acme-account-managers'], scopes: ['mcp:tool:shipping:read', 'mcp:tool:excorp-sales.crm:read', 'mcp:tool:excorp-sales.crm:write'] },
  agent: { clientId: 'support-agent-carol', clientSecret: secret(), groups: ['support-agents'], scopes: ['mcp:tool:tickets:read', 'mcp:tool:sales.crm:read'] },
} satisfies Record<string, DemoClient>;

/** Token + SDK session for one caller; closed at the end. */
const sessions: McpSession[] = [];
async function session(node: NodeProcess, client: DemoClient): Promise<McpSession> {
  const s = await connect(node.url, await clientToken(node.url, client), `demo ${client.clientId}`);
  sessions.push(s);
  return s;
}

/** A list probe with a fresh token each time: a peer's scopes exist at a node only once its manifest is in. */
async function toolsOf(node: NodeProcess, client: DemoClient): Promise<string[]> {
  const s = await connect(node.url, await clientToken(node.url, client), 'demo probe');
  try {
    return await s.listTools();
  } finally {
    await s.close().catch(() => undefined);
  }
}

function showOutcome(o: ToolOutcome): string {
  if (o.refusal) return `HTTP ${o.refusal.status}, JSON-RPC ${o.refusal.code}, reason ${o.refusal.reason}: ${o.refusal.message}`;
  return o.text;
}

async function anchorRef(anchor: RunningAnchor): Promise<AnchorRef> {
  const key = anchor.jwks.keys[0] as unknown as JWK;
  return { entityId: anchor.entityId, jwks: anchor.jwks as unknown as AnchorRef['jwks'], thumbprint: await calculateJwkThumbprint(key) };
}

interface Running {
  root: string;
  tools?: { crm: ToolServer; tickets: ToolServer; shipping: ToolServer };
  anchors: RunningAnchor[];
  nodes: NodeProcess[];
}

async function run(r: Running, stage: { name: string }): Promise<void> {
  stage.name = 'setup';
  say('Toolmesh federation demo: three nodes on loopback (two business units of Example Corp and a partner org)');
  say(`  working directory ${r.root}${KEEP ? ' (kept: DEMO_KEEP=1)' : ''}`);
  say();
  say('── Setup ─────────────────────────────────────────────────────────────');
  r.tools = await startToolServers();
  const plans: Record<'sales' | 'support' | 'acme', NodePlan> = {
    sales: await planNode(r.root, 'sales', 'example-corp'),
    support: await planNode(r.root, 'support', 'example-corp'),
    acme: await planNode(r.root, 'acme', 'acme'),
  };
  for (const dir of ['example-corp', 'acme']) await mkdir(join(r.root, 'anchors', dir), { recursive: true });
  const excorp = await startAnchor({
    dataDir: join(r.root, 'anchors', 'example-corp'),
    members: [plans.sales, plans.support].map((p) => ({ entityId: p.entityId, peerId: p.peerId })),
    organizationName: 'Example Corp',
  });
  r.anchors.push(excorp);
  const acmeAnchor = await startAnchor({ dataDir: join(r.root, 'anchors', 'acme'), members: [{ entityId: plans.acme.entityId, peerId: plans.acme.peerId }], organizationName: 'Acme Corp' });
  r.anchors.push(acmeAnchor);
  say(`  trust anchor  Example Corp  ${excorp.entityId}  (members: sales, support)`);
  say(`  trust anchor  Acme Corp     ${acmeAnchor.entityId}  (members: acme)`);
  await writeTrustDirs({ ...plans, excorpAnchor: await anchorRef(excorp), acmeAnchor: await anchorRef(acmeAnchor) });

  const clientsOf = { sales: [CLIENTS.rep, CLIENTS.manager], support: [CLIENTS.agent], acme: [CLIENTS.partner] };
  const started = await Promise.allSettled(
    (['sales', 'support', 'acme'] as const).map((alias) => startNodeProcess(plans[alias], clientsOf[alias], r.root)),
  );
  for (const s of started) if (s.status === 'fulfilled') r.nodes.push(s.value);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const [sales, support, acme] = r.nodes as [NodeProcess, NodeProcess, NodeProcess];
  for (const n of r.nodes) {
    say(`  node ${n.plan.alias.padEnd(8)} ${n.url}  peer ${n.plan.peerId}  libp2p ${n.plan.multiaddr}  (pid ${n.child.pid})`);
    say(`       trust policy ${n.plan.trustDir}`);
  }

  const register = async (node: NodeProcess, input: Record<string, unknown>) => {
    const res = await node.admin('POST', '/admin/v1/servers', input);
    expect(res.status === 201, `registering ${String(input.slug)} at ${node.plan.alias} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    say(`  ${node.plan.alias}: registered ${String(input.slug)}@${String(input.version)} (read: ${(input.readTools as string[]).join(', ')}; allowed groups: ${(input.allowedGroups as string[]).join(', ')})`);
  };
  await register(sales, { slug: 'crm', version: '2.4.0', title: 'CRM', owner: 'sales-platform', backend: { http: r.tools.crm.url }, readTools: r.tools.crm.readTools, allowedGroups: ['sales-reps', 'crm-readers', 'partner-crm-readers'] });
  await register(support, { slug: 'tickets', version: '1.3.0', title: 'Tickets', owner: 'support-platform', backend: { http: r.tools.tickets.url }, readTools: r.tools.tickets.readTools, allowedGroups: ['support-agents', 'sales-desk'] });
  await register(acme, { slug: 'shipping', version: '1.0.0', title: 'Shipping', owner: 'acme-logistics', backend: { http: r.tools.shipping.url }, readTools: r.tools.shipping.readTools, allowedGroups: ['acme-account-managers', 'partner-shipping-readers'] });

  stage.name = 'mesh convergence';
  const converge = Date.now();
  await waitFor(
    "peers' tools (libp2p links, trust chains, signed manifests)",
    async () => {
      const [s, a] = await Promise.all([toolsOf(sales, CLIENTS.rep), toolsOf(acme, CLIENTS.partner)]);
      return s.includes('support.tickets__search_tickets') && s.includes('acme.shipping__track_shipment') && a.includes('excorp-sales.crm__lookup_customer') ? true : undefined;
    },
    25_000,
  );
  say(`  mesh converged in ${secs(converge)}: peers linked over libp2p, trust chains verified, capability manifests exchanged`);

  // ── 1 ──
  stage.name = 'step 1 (allowed cross-unit call)';
  say();
  say('── Step 1: an allowed cross-unit call ────────────────────────────────');
  const repToken = await clientToken(sales.url, CLIENTS.rep);
  say(`  sales-rep-alice (group sales-reps) gets a token from the sales node's authorization server: scope "${repToken.scope}"`);
  const rep = await connect(sales.url, repToken, 'demo sales rep');
  sessions.push(rep);
  const repTools = await rep.listTools();
  say(`  tools/list at ${sales.url}/mcp (MCP SDK client): ${repTools.join(', ')}`);
  const first = await rep.call('support.tickets__search_tickets', { customer: 'C-1001', status: 'open' });
  say(`  tools/call support.tickets__search_tickets {customer: C-1001, status: open}`);
  expect(first.ok && first.text.includes('T-501'), `the allowed call failed: ${showOutcome(first)}`);
  expect(first.correlationId, 'the gateway returned no X-Correlation-Id');
  say(`  ✓ STEP 1 allowed: ${first.text}`);
  say(`    sales translated the token at support's token endpoint (RFC 8693), sent the call over libp2p; correlation id ${first.correlationId}`);

  // ── 2 ──
  stage.name = 'step 2 (denied by policy)';
  say();
  say('── Step 2: calls denied by policy ────────────────────────────────────');
  expect(!repTools.includes('support.tickets__create_ticket'), 'create_ticket is listed although Support does not export it');
  say('  Sales imports create_ticket for its reps, but Support does not export it: it is not in the rep\'s tools/list.');
  const notExported = await rep.call('support.tickets__create_ticket', { customer: 'C-1001', subject: 'Refund request' });
  expect(!notExported.ok && notExported.reason === 'unknown_tool', `create_ticket was not refused as unknown: ${showOutcome(notExported)}`);
  say(`  ✓ STEP 2a refused (reason ${notExported.reason}): ${notExported.text} — the call never left the sales node`);
  const manager = await session(sales, CLIENTS.manager);
  say(`  sales-manager-bob (group sales-managers) sees: ${(await manager.listTools()).join(', ')}`);
  say('  Sales imports search_tickets for managers too, but Support exports it to sales-reps only:');
  const denied = await manager.call('support.tickets__search_tickets', { customer: 'C-1001' });
  expect(denied.refusal?.status === 403 && denied.reason === 'trust_denied', `the manager's call was not refused with trust_denied: ${showOutcome(denied)}`);
  say(`  ✓ STEP 2b refused by Support: ${showOutcome(denied)}${denied.refusal.data.cause ? ` (cause ${String(denied.refusal.data.cause)})` : ''}`);

  // ── 3 ──
  stage.name = 'step 3 (partner sees its subset)';
  say();
  say("── Step 3: the partner sees only what is exported to it ───────────────");
  const crm = await sales.admin<{ tools: Array<{ name: string; access: string }> }>('GET', '/admin/v1/servers/crm/versions/2.4.0');
  expect(crm.status === 200, `reading crm from the sales registry failed: HTTP ${crm.status}`);
  say(`  the sales registry's crm@2.4.0 has: ${crm.body.tools.map((x) => `${x.name} (${x.access})`).join(', ')}; Sales exports only lookup_customer to Acme`);
  const partner = await session(acme, CLIENTS.partner);
  const acmeTools = await partner.listTools();
  say(`  acme-account-manager at ${acme.url}/mcp sees: ${acmeTools.join(', ')}`);
  expect(acmeTools.includes('shipping__track_shipment'), "acme's own shipping tool is missing from its list");
  const fromSales = acmeTools.filter((n) => n.startsWith('excorp-sales.'));
  expect(fromSales.length === 1 && fromSales[0] === 'excorp-sales.crm__lookup_customer', `acme sees more or less than lookup_customer from Sales: ${fromSales.join(', ')}`);
  const lookup = await partner.call('excorp-sales.crm__lookup_customer', { customerId: 'C-1001' });
  expect(lookup.ok && lookup.text.includes('Globex'), `acme's call to lookup_customer failed: ${showOutcome(lookup)}`);
  say(`  ✓ STEP 3 partner subset: its own shipping tool plus only excorp-sales.crm__lookup_customer from Sales (update_customer is not exported)`);
  say(`    excorp-sales.crm__lookup_customer {customerId: C-1001} → ${lookup.text}`);

  // ── 4 ──
  stage.name = 'step 4 (live policy edit)';
  say();
  say('── Step 4: a policy edit applied live ─────────────────────────────────');
  const edit = Date.now();
  const diff = await exportCreateTicket(plans.support);
  say(`  a mesh admin edits Support's ${join(plans.support.trustDir, 'peers', 'sales.yaml')}:`);
  for (const line of diff) say(`    ${line}`);
  await waitFor("create_ticket in the sales rep's tools/list", async () => ((await rep.listTools()).includes('support.tickets__create_ticket') ? true : undefined), 15_000);
  say(`  support validated and applied the change, re-signed its manifest for sales; the sales rep's tools/list shows support.tickets__create_ticket after ${secs(edit)} (no restart)`);
  const created = await rep.call('support.tickets__create_ticket', { customer: 'C-1001', subject: 'Customer asks for a refund' });
  expect(created.ok && created.text.includes('"status":"open"'), `create_ticket failed after the policy change: ${showOutcome(created)}`);
  say(`  ✓ STEP 4 live policy: create_ticket now allowed: ${created.text}`);

  // ── 5 ──
  stage.name = 'step 5 (audit trail)';
  say();
  say('── Step 5: the audit trail on both sides ──────────────────────────────');
  const showCall = async (title: string, correlationId: string, serverDone: (kinds: string[]) => boolean) => {
    const atSales = await auditEntries(sales, correlationId);
    const atSupport = await awaitEntries(support, correlationId, (e) => serverDone(e.map((x) => x.kind)));
    say(`  ${title} — correlation id ${correlationId}`);
    const label = (subject: string) => {
      const node = r.nodes.find((n) => n.url === subject);
      return node ? `${node.plan.alias} node (${subject})` : subject;
    };
    for (const line of renderAudit([{ node: 'sales', entries: atSales }, { node: 'support', entries: atSupport }], label)) say(`    ${line}`);
    return { atSales, atSupport };
  };
  const allowed = await showCall('step 1, the allowed call', first.correlationId, (k) => k.includes('outcome'));
  const salesKinds = allowed.atSales.map((e) => e.kind);
  expect(salesKinds.includes('call') && salesKinds.includes('outcome'), `sales audit lacks call/outcome: ${salesKinds.join(', ')}`);
  const peerCall = allowed.atSupport.find((e) => e.kind === 'call');
  expect(peerCall?.identity?.kind === 'peer', `support audit has no call by a peer identity: ${allowed.atSupport.map((e) => e.kind).join(', ')}`);
  expect(peerCall.identity.actor?.[0]?.subject === sales.url, `support's entry does not name the sales node as actor: ${JSON.stringify(peerCall.identity.actor)}`);
  say();
  if (denied.correlationId) {
    const refused = await showCall('step 2b, the refused call', denied.correlationId, (k) => k.includes('rejection'));
    expect(refused.atSupport.some((e) => e.kind === 'rejection' && e.reason === 'trust_denied'), 'support did not record the trust_denied rejection');
    say();
  }
  say(`  ✓ STEP 5 audit: both nodes recorded each call under one correlation id; at support the caller is the translated peer identity, with the sales node as actor`);
}

async function main(): Promise<number> {
  const r: Running = { root: await mkdtemp(join(tmpdir(), 'toolmesh-demo-')), anchors: [], nodes: [] };
  const stage = { name: 'start' };
  let stopped: Promise<void> | undefined;
  const stopAll = (keep = KEEP): Promise<void> =>
    (stopped ??= (async () => {
      const stopping = Date.now();
      for (const s of sessions) await s.close().catch(() => undefined);
      await Promise.all(r.nodes.map((n) => n.stop()));
      const interrupted = await stopAllChildren(); // children whose start was interrupted
      for (const a of r.anchors) await a.stop().catch(() => undefined);
      if (r.tools) for (const t of Object.values(r.tools)) await t.close().catch(() => undefined);
      const exits = r.nodes.map((n) => `${n.plan.alias} ${n.child.exitCode ?? n.child.signalCode}`).join(', ');
      say(`Stopped: nodes (SIGTERM; exit ${exits || 'none started'}${interrupted ? `; ${interrupted} starting node(s) stopped` : ''}), anchors and tool servers in ${secs(stopping)}.`);
      if (keep) say(`Kept ${r.root}${KEEP ? ' (DEMO_KEEP=1)' : ''}: data directories, trust policies, node logs.`);
      else await rm(r.root, { recursive: true, force: true });
    })());
  // Ctrl-C: stop the children and clean up before leaving.
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\nInterrupted: stopping the mesh…');
    void stopAll().finally(() => process.exit(130));
  });
  let code = 0;
  // The whole walk-through takes well under a minute; a hang fails it instead of holding the mesh up.
  let watchdog: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => reject(new DemoError(`did not finish within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  try {
    await Promise.race([run(r, stage), deadline]);
    say();
    say(`Demo complete: all five steps passed in ${secs()}.`);
  } catch (err) {
    code = 1;
    if (interrupted) return 130; // the signal handler stops everything and exits
    say();
    say(`✗ DEMO FAILED during ${stage.name}: ${(err as Error).message}`);
    if (!(err instanceof DemoError)) say(indent(String((err as Error).stack ?? err)));
    for (const n of r.nodes) say(`  last lines of the ${n.plan.alias} node's log (${n.logFile}):\n${indent(await logTail(n.logFile), '    ')}`);
  }
  clearTimeout(watchdog);
  // A failed run keeps its directory: the logs named above stay readable.
  await stopAll(KEEP || code !== 0);
  return code;
}

// Exit explicitly: keep-alive sockets of fetch must not hold the demo open.
process.exit(
  await main().catch((err: unknown) => {
    say(`✗ DEMO FAILED before the mesh started: ${(err as Error).message}`);
    return 1;
  }),
);
