/**
 * `GET /admin/v1/access/used/:slug` and `toolmesh access …` against a real
 * node (PRODUCT.md §1, §8): real callers (OAuth agent clients, a tenant key,
 * callers without credentials) make allowed and refused calls; the report
 * must count each call once (one correlation id, whatever entries it left),
 * per caller and outcome, within the asked window.
 *
 * The CLI cases run the compiled binary (dist/): `npx tsc -p tsconfig.json` first.
 */
import t from 'tap';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startModernHttpBackend, type TestBackend } from '../helpers/backends.js';
import { call, callTool } from '../helpers/identity-calls.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';
import { runCli } from '../helpers/cli.js';
import type { CallerUsage, UsageReport } from '../../src/access/used.js';
import type { WhoCanReport } from '../../src/access/who-can.js';

const CRM_READ = 'mcp:tool:crm:read';
const CRM_WRITE = 'mcp:tool:crm:write';
const REPORTER = { id: 'reporter', secret: 'reporter-secret-0123456789' };
const WRITER = { id: 'writer', secret: 'writer-secret-0123456789' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c();
});

const backends: Record<string, TestBackend> = {};
for (const name of ['crm', 'other']) {
  backends[name] = await startModernHttpBackend();
  cleanups.push(() => backends[name]!.close());
}
const tn: TestNode = await startTestNode({
  auth: {
    authorizationServer: {
      clients: [
        { clientId: REPORTER.id, clientSecret: REPORTER.secret, groups: ['sales'], scopes: [CRM_READ, 'mcp:tool:other:write'] },
        { clientId: WRITER.id, clientSecret: WRITER.secret, groups: ['sales'], scopes: [CRM_WRITE] },
      ],
    },
  },
});
cleanups.push(async () => {
  await tn.stop();
  await removeDir(tn.dataDir);
});
await tn.register({ slug: 'crm', version: '1.0.0', backend: { http: backends.crm!.url }, allowedGroups: ['sales'], readTools: ['echo'] });
await tn.register({ slug: 'other', version: '1.0.0', backend: { http: backends.other!.url }, allowedGroups: ['sales'] });
const acme = (await tn.admin('POST', '/admin/v1/credentials/keys', { tenant: 'acme', scopes: [CRM_WRITE] })).body;

const asMeta = await discover(`${tn.url}/oauth`);
const reporter = (await clientCredentials(asMeta, REPORTER, { scope: `${CRM_READ} mcp:tool:other:write` })).access_token;
const writer = (await clientCredentials(asMeta, WRITER, { scope: CRM_WRITE })).access_token;
const CRM = `${tn.url}/mcp/v1/tools/crm/rpc`;

async function expectStatus(p: Promise<{ status: number; text: string }>, status: number, what: string): Promise<void> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
}

// Batch 1: the reporter (read scope), a tenant outside crm's namespace, callers without credentials.
for (let i = 0; i < 3; i++) await expectStatus(callTool(CRM, 'echo', { bearer: reporter }), 200, 'reporter echo');
await expectStatus(callTool(`${tn.url}/mcp`, 'crm__echo', { bearer: reporter }), 200, 'reporter echo on the aggregate endpoint');
await expectStatus(call(CRM, 'tools/call', { name: 'progress', arguments: { steps: 1 } }, { bearer: reporter }), 403, 'reporter progress');
await expectStatus(call(CRM, 'tools/call', { name: 'nope', arguments: {} }, { bearer: reporter }), 200, 'reporter unknown tool');
await expectStatus(call(CRM, 'tools/list', {}, { bearer: reporter }), 200, 'tools/list: answered by the gateway, not a call');
await expectStatus(callTool(`${tn.url}/mcp/v1/tools/other/rpc`, 'echo', { bearer: reporter }), 200, 'another server');
await expectStatus(callTool(`${tn.url}/mcp/v1/tools/other/rpc`, 'echo', { bearer: reporter }), 200, 'another server');
await expectStatus(callTool(CRM, 'echo'), 401, 'no credentials');
await expectStatus(callTool(CRM, 'echo'), 401, 'no credentials');
await expectStatus(callTool(CRM, 'echo', { bearer: acme.key }), 404, 'acme does not see crm');
await sleep(30);
const mid = new Date().toISOString();
await sleep(30);
// Batch 2: the writer.
await expectStatus(call(CRM, 'tools/call', { name: 'echo', arguments: { text: 5 } }, { bearer: writer }), 200, 'writer echo with bad arguments');
await expectStatus(call(CRM, 'tools/call', { name: 'progress', arguments: { steps: 1 } }, { bearer: writer }), 200, 'writer progress');

const used = async (slug: string, query = '') => tn.admin('GET', `/admin/v1/access/used/${slug}${query}`);
const caller = (r: UsageReport, subject: string) => r.callers.find((c) => c.identity.subject === subject);

t.test('every call counted once, per caller and outcome', async (t) => {
  const res = await used('crm');
  t.equal(res.status, 200);
  const r = res.body as UsageReport;
  t.equal(r.calls, 11, 'tools/list and the other server are not counted');
  t.same(r.outcomes, { ok: 5, insufficient_scope: 1, unknown_tool: 1, schema_reject: 1, missing_credentials: 2, not_found: 1 });
  t.equal(r.complete, true);
  t.same(
    r.callers.map((c) => [c.identity.kind, c.identity.subject, c.calls]),
    [
      ['oauth', 'reporter', 6],
      ['none', '(no credentials)', 2],
      ['oauth', 'writer', 2],
      ['apikey', 'acme', 1],
    ],
    'most calls first',
  );
  const rep = caller(r, 'reporter')!;
  t.same(rep.outcomes, { ok: 4, insufficient_scope: 1, unknown_tool: 1 });
  t.same(rep.tools, { echo: 4, progress: 1 }, 'the unknown tool is no tool of crm');
  t.same(rep.methods, { 'tools/call': 6 });
  t.same(rep.versions, ['1.0.0']);
  t.same(rep.clientIds, ['reporter']);
  t.equal(rep.identity.issuer, `${tn.url}/oauth`);
  t.ok(rep.firstSeen <= rep.lastSeen && rep.lastSeen < mid);
  t.same(caller(r, 'writer')!.outcomes, { schema_reject: 1, ok: 1 });
  t.same(caller(r, '(no credentials)')!.outcomes, { missing_credentials: 2 }, 'refusals before routing are attributed by endpoint');
  t.match(caller(r, 'acme'), { identity: { kind: 'apikey', tenant: 'acme' }, outcomes: { not_found: 1 } });

  // The log holds more entries than calls (intent + outcome per forwarded call): none is counted twice.
  const entries = (await tn.admin('GET', '/admin/v1/audit/entries?server=crm')).body.entries as { kind: string; correlationId: string }[];
  t.ok(entries.length > r.calls, `${entries.length} entries for ${r.calls} calls`);
  t.equal(entries.filter((e) => e.kind === 'call').length, 5, 'one intent per forwarded call');
});

t.test('the window: --since and --until', async (t) => {
  const after = (await used('crm', `?since=${mid}`)).body as UsageReport;
  t.equal(after.calls, 2);
  t.same(after.callers.map((c: CallerUsage) => c.identity.subject), ['writer']);
  t.equal(after.since, mid);
  const before = (await used('crm', `?until=${mid}`)).body as UsageReport;
  t.equal(before.calls, 9);
  t.notOk(caller(before, 'writer'));
  const none = (await used('crm', '?until=2000-01-01')).body as UsageReport;
  t.same([none.calls, none.callers], [0, []]);
});

t.test('a call in flight has no outcome yet; once it ends it counts in the window it ended in', async (t) => {
  const pending = call(CRM, 'tools/call', { name: 'slow', arguments: { ms: 1500 } }, { bearer: writer });
  let during: UsageReport | undefined;
  for (let i = 0; i < 50 && !during?.outcomes.no_outcome; i++) {
    await sleep(20);
    during = (await used('crm')).body as UsageReport;
  }
  t.equal(during?.outcomes.no_outcome, 1, 'the intent is there, the outcome not yet');
  const cut = new Date(Date.now() + 1).toISOString();
  t.equal((await pending).status, 200);
  const ended = (await used('crm')).body as UsageReport;
  t.equal(ended.outcomes.no_outcome, undefined);
  t.equal(caller(ended, 'writer')!.tools.slow, 1);
  const beforeEnd = (await used('crm', `?since=${mid}&until=${cut}`)).body as UsageReport;
  t.equal(caller(beforeEnd, 'writer')!.tools.slow, undefined, 'it started before the cut but ended after it');
  t.equal(beforeEnd.outcomes.no_outcome, undefined, 'and is not reported as without outcome');
  const afterCut = (await used('crm', `?since=${cut}`)).body as UsageReport;
  t.same(caller(afterCut, 'writer')!.tools, { slow: 1 });
});

t.test('errors', async (t) => {
  t.match(await used('nope'), { status: 404, body: { error: { code: 'not_found', message: 'no server nope' } } });
  t.match(await used('crm', '?since=yesterday'), { status: 400, body: { error: { code: 'invalid_input' } } });
  t.match(await used('crm', '?since=2026-02-01&until=2026-01-01'), { status: 400, body: { error: { code: 'invalid_input' } } });
  t.match(await used('crm', '?tool=echo'), { status: 400, body: { error: { code: 'invalid_input' } } });
});

t.test('the CLI: tables and --json, end to end', async (t) => {
  const conn = ['--node', tn.url, '--token', tn.token];

  const whoTable = await runCli(['access', 'who-can', 'crm', ...conn]);
  t.equal(whoTable.code, 0, whoTable.stderr);
  const lines = whoTable.stdout.split('\n');
  t.match(lines[0], /^crm@1\.0\.0 {2}stable$/);
  t.ok(lines.some((l) => /^WHO +KIND +TENANT +ADMIN +TOOLS +VIA$/.test(l)), 'the grants table');
  t.ok(lines.some((l) => /^reporter +oauth client +- +no +echo +scope mcp:tool:crm:read; group sales$/.test(l)), 'the reporter row');
  t.ok(lines.some((l) => /^writer +oauth client +- +no +echo, progress, slow +scope mcp:tool:crm:write; group sales$/.test(l)), 'the writer row');
  t.ok(lines.some((l) => /^acme \(key \S+\) \(api key\): forbidden: /.test(l.trim())), 'the refused tenant key');
  t.ok(lines.some((l) => /^\S+ +admin:bootstrap +registered as stable with tools echo, progress, slow$/.test(l)), 'the history');

  const whoJson = await runCli(['access', 'who-can', 'crm@1.0.0', '--tool', 'echo', '--json', ...conn]);
  t.equal(whoJson.code, 0, whoJson.stderr);
  const report = JSON.parse(whoJson.stdout) as WhoCanReport;
  t.equal(report.tool, 'echo');
  t.same(report.versions[0]!.grants.map((g) => g.principal.subject).sort(), ['reporter', 'writer']);

  const usedTable = await runCli(['access', 'used', 'crm', '--until', mid, ...conn]);
  t.equal(usedTable.code, 0, usedTable.stderr);
  const u = usedTable.stdout.split('\n');
  t.match(u[0], /^crm: 9 call\(s\) until \S+ \(ok 4, missing_credentials 2, insufficient_scope 1, not_found 1, unknown_tool 1\)$/);
  t.ok(u.some((l) => /^CALLER +KIND +TENANT +CALLS +OUTCOMES +FIRST SEEN +LAST SEEN +TOOLS$/.test(l)));
  t.ok(u.some((l) => /^reporter +oauth +- +6 +ok 4, insufficient_scope 1, unknown_tool 1 +\S+ +\S+ +echo ×4, progress ×1$/.test(l)), 'the reporter row');
  t.ok(u.some((l) => /^acme +apikey +acme +1 +not_found 1 /.test(l)), 'the tenant row');

  const usedJson = await runCli(['access', 'used', 'crm', '--since', '1d', '--json', ...conn]);
  t.equal(usedJson.code, 0, usedJson.stderr);
  const parsed = JSON.parse(usedJson.stdout) as UsageReport;
  t.equal(parsed.calls, 12, 'a duration is turned into a since time');
  t.type(parsed.since, 'string');

  const missing = await runCli(['access', 'used', 'nope', ...conn]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /404 not_found: no server nope/);
  const usage = await runCli(['access', 'who-can']);
  t.equal(usage.code, 2);
});
