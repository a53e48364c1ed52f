/**
 * `GET /admin/v1/access/who-can/:slug` against a real node (PRODUCT.md §1, §4, §7):
 * people and agent clients of the embedded authorization server, mTLS agents,
 * tenant API keys, the anonymous grant and an external issuer, over servers
 * with allowed groups, alpha/beta lifecycles, a tenant namespace and version
 * routing. Each listed caller must be exactly the set the gateway admits; a
 * sample of them is checked with real calls, so report and enforcement agree.
 */
import t from 'tap';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../helpers/pki.js';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startModernHttpBackend, type TestBackend } from '../helpers/backends.js';
import { call, callTool, mtlsDispatcher } from '../helpers/identity-calls.js';
import { clientCredentials, discover } from '../helpers/oauth-flows.js';
import { hashPassword } from '../../src/auth/oauth/authorization-server/password.js';
import type { WhoCanReport, VersionReport } from '../../src/access/who-can.js';

const CRM_READ = 'mcp:tool:crm:read';
const CRM_WRITE = 'mcp:tool:crm:write';
const ETL = 'spiffe://acme.example/agent/etl';
const OPS_AGENT = 'spiffe://acme.example/agent/ops';
const ADMIN_CLIENT = { id: 'ops-admin', secret: 'ops-admin-secret-0123456789' };
const REPORTER = { id: 'reporter', secret: 'reporter-secret-0123456789' };
const IDP = 'https://idp.example.com';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ca = await createCa('Access CA');
const serverCert = await ca.issueServer();
const etlCert = await ca.issueClient({ uris: [ETL] });

const backends: Record<string, TestBackend> = {};
for (const name of ['crm1', 'crm2', 'lab', 'tenant', 'ops1', 'ops2']) {
  backends[name] = await startModernHttpBackend();
  cleanups.push(() => backends[name]!.close());
}

const hash = await hashPassword('not-used-in-this-test');
const dir = await mkdtemp(join(tmpdir(), 'toolmesh-access-'));
await mkdir(join(dir, 'tls'));
await writeFile(join(dir, 'tls/server.pem'), serverCert.certPem);
await writeFile(join(dir, 'tls/server.key'), serverCert.keyPem, { mode: 0o600 });
await writeFile(join(dir, 'tls/agents-ca.pem'), ca.certPem);

const tn: TestNode = await startTestNode(
  {
    auth: {
      anonymous: { groups: ['dev'] },
      authorizationServer: {
        users: [
          { username: 'alice', passwordHash: hash, groups: ['sales'], scopes: [CRM_WRITE] },
          { username: 'bob', passwordHash: hash, groups: ['sales'], scopes: [CRM_READ] },
          { username: 'carol', passwordHash: hash, groups: ['qa'], scopes: [CRM_WRITE] },
          { username: 'dave', passwordHash: hash, groups: ['toolmesh-admins'], scopes: ['mcp:admin'] },
          { username: 'erin', passwordHash: hash, groups: ['sales'], scopes: ['mcp:tool:crm:*'] },
          { username: 'frank', passwordHash: hash, groups: ['sales', 'qa'], scopes: [CRM_WRITE] },
        ],
        clients: [
          { clientId: REPORTER.id, clientSecret: REPORTER.secret, groups: ['sales'], scopes: [CRM_READ] },
          { clientId: ADMIN_CLIENT.id, clientSecret: ADMIN_CLIENT.secret, groups: [], scopes: ['mcp:admin'] },
        ],
      },
      issuers: [{ issuer: IDP, groupsClaim: 'roles' }],
      mtls: { port: 0, cert: 'tls/server.pem', key: 'tls/server.key', ca: 'tls/agents-ca.pem' },
      lifecycle: { alpha: ['core'], beta: ['qa'] },
      adminGroups: ['toolmesh-admins'],
    },
  },
  dir,
);
cleanups.push(async () => {
  await tn.stop();
  await removeDir(dir);
});

// crm@1.0.0: stable, sales and dev; echo is read, progress and slow are write.
await tn.register({ slug: 'crm', version: '1.0.0', backend: { http: backends.crm1!.url }, allowedGroups: ['sales', 'dev'], readTools: ['echo'] });
// crm@2.0.0: registered alpha, promoted to beta by another admin below.
await tn.register({ slug: 'crm', version: '2.0.0', backend: { http: backends.crm2!.url }, allowedGroups: ['sales'], readTools: ['echo'], lifecycle: 'alpha' });
await tn.register({ slug: 'lab', version: '0.1.0', backend: { http: backends.lab!.url }, lifecycle: 'alpha' });
await tn.register({ slug: 'acme-crm', version: '1.0.0', backend: { http: backends.tenant!.url }, namespace: 'acme', readTools: ['echo'] });
await tn.register({ slug: 'ops', version: '1.0.0', backend: { http: backends.ops1!.url } });
await tn.register({ slug: 'ops', version: '1.1.0', backend: { http: backends.ops2!.url } });

for (const [san, groups] of [
  [ETL, ['sales']],
  [OPS_AGENT, ['ops']],
] as const) {
  const res = await tn.admin('POST', '/admin/v1/credentials/agents', { san, groups });
  if (res.status !== 201) throw new Error(`agent mapping: ${res.status}`);
}
const acmeKey = await tn.admin('POST', '/admin/v1/credentials/keys', { tenant: 'acme', scopes: ['mcp:tool:acme-crm:read', CRM_WRITE] });
const revokedKey = await tn.admin('POST', '/admin/v1/credentials/keys', { tenant: 'acme', scopes: ['mcp:tool:acme-crm:write'] });
await tn.admin('POST', `/admin/v1/credentials/keys/acme/${revokedKey.body.record.keyId}/revoke`);

// Another admin (an OAuth agent client with mcp:admin) changes the lifecycle and re-approves a drifted tool.
const asMeta = await discover(`${tn.url}/oauth`);
const adminToken = (await clientCredentials(asMeta, ADMIN_CLIENT, { scope: 'mcp:admin' })).access_token;
const asAdmin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(tn.url + path, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
};
if ((await asAdmin('POST', '/admin/v1/servers/crm/versions/2.0.0/promote', { to: 'beta' })).status !== 200) throw new Error('promote failed');

const whoCan = async (slug: string, query = '') => tn.admin('GET', `/admin/v1/access/who-can/${slug}${query}`);
const subjects = (v: VersionReport) => v.grants.map((g) => g.principal.subject).sort();
const grantOf = (v: VersionReport, subject: string) => v.grants.find((g) => g.principal.subject === subject);
const refusalOf = (v: VersionReport, subject: string) => v.refused.find((r) => r.principal.subject === subject);

t.test('a stable server with allowed groups: exactly the admitted callers, with their grants', async (t) => {
  const res = await whoCan('crm', '?version=1.0.0');
  t.equal(res.status, 200);
  const report = res.body as WhoCanReport;
  t.equal(report.versions.length, 1);
  const v = report.versions[0]!;
  t.equal(v.version, '1.0.0');
  t.same(v.routes, ['/mcp/v1/tools/crm/rpc'], '/mcp serves 2.0.0, /mcp/v1 serves this one');
  t.ok(v.reachable);
  t.same(subjects(v), ['alice', 'anonymous', 'bob', 'frank', 'reporter', ETL].sort(), 'the callers that can reach it');

  const tools = (subject: string) => grantOf(v, subject)?.tools.map((x) => x.name).sort();
  t.same(tools('alice'), ['echo', 'progress', 'slow'], 'write scope: every tool');
  t.match(grantOf(v, 'alice')?.tools[0]?.via, { scope: CRM_WRITE, groups: ['sales'] });
  t.same(tools('bob'), ['echo'], 'read scope: the read tool only');
  t.match(grantOf(v, 'bob')?.tools[0]?.via, { scope: CRM_READ, groups: ['sales'], summary: `scope ${CRM_READ}; group sales` });
  t.same(tools('reporter'), ['echo'], 'an agent client of the authorization server');
  t.equal(grantOf(v, 'reporter')?.principal.source, 'authorization-server:client');
  t.same(tools('anonymous'), ['echo', 'progress', 'slow'], 'the anonymous grant of group dev: groups only');
  t.equal(grantOf(v, 'anonymous')?.tools[0]?.via.summary, 'anonymous grant; group dev');
  t.same(tools(ETL), ['echo', 'progress', 'slow'], 'an mTLS agent mapped to sales, without scopes');
  t.equal(grantOf(v, ETL)?.tools[0]?.via.summary, 'groups only (no scopes); group sales');

  t.match(refusalOf(v, 'carol'), { reason: 'forbidden' }, 'carol is in qa, not sales');
  t.match(refusalOf(v, 'dave'), { reason: 'forbidden', admin: true }, 'an admin is no caller');
  t.match(refusalOf(v, 'erin'), { reason: 'insufficient_scope' }, 'a wildcard scope grants nothing');
  t.match(refusalOf(v, OPS_AGENT), { reason: 'forbidden' });
  const acme = v.refused.filter((r) => r.principal.source === 'api-key');
  t.same(acme.map((r) => r.reason).sort(), ['forbidden', 'unusable'], 'tenant keys: outside the namespace, and revoked');
  t.ok(report.notes.some((n) => n.includes('erin') && n.includes('mcp:tool:crm:*')), 'the wildcard scope is called out');

  t.same(v.issuerRules, [{ issuer: IDP, groupsClaim: 'roles', scopeClaim: 'scope', tools: ['echo', 'progress', 'slow'] }]);
  const echo = v.tools.find((x) => x.name === 'echo')!;
  t.same(echo.requirement, { reachable: true, anyScope: [CRM_WRITE, CRM_READ], anyGroup: ['sales', 'dev'], anyTeam: [] });
  t.same(v.tools.find((x) => x.name === 'slow')!.requirement.anyScope, [CRM_WRITE]);

  t.equal(v.approval.approvedBy, 'admin:bootstrap');
  t.equal(v.approval.registeredBy, 'admin:bootstrap');
  t.match(v.tools[0], { approvedBy: 'admin:bootstrap', approvedAt: String });
  t.same(report.administration.admins.map((a) => a.subject).sort(), ['dave', 'ops-admin']);
  t.equal(report.administration.bootstrapToken, true);
});

t.test('the report agrees with the gateway: callers it lists get through, the others are refused', async (t) => {
  const v = ((await whoCan('crm', '?version=1.0.0')).body as WhoCanReport).versions[0]!;
  const v1 = `${tn.url}/mcp/v1/tools/crm/rpc`;
  const reporter = (await clientCredentials(asMeta, REPORTER, { scope: CRM_READ })).access_token;
  t.ok(grantOf(v, 'reporter'));
  t.equal((await callTool(v1, 'echo', { bearer: reporter })).status, 200, 'reporter calls echo');
  t.equal((await call(v1, 'tools/call', { name: 'progress', arguments: { steps: 1 } }, { bearer: reporter })).status, 403, 'reporter may not call progress');
  t.equal((await callTool(v1, 'echo')).status, 200, 'anonymous (group dev) calls echo');
  const etl = mtlsDispatcher(ca, etlCert);
  cleanups.push(() => etl.close());
  t.equal((await callTool(`https://127.0.0.1:${tn.node.mtlsPort}/mcp/v1/tools/crm/rpc`, 'echo', { dispatcher: etl })).status, 200, 'the etl agent calls echo');
  t.ok(refusalOf(v, 'acme'));
  t.equal((await callTool(v1, 'echo', { bearer: acmeKey.body.key })).status, 404, 'the acme tenant does not see crm');
});

t.test('beta: the lifecycle team rule, and who promoted it', async (t) => {
  const v = ((await whoCan('crm', '?version=2.0.0')).body as WhoCanReport).versions[0]!;
  t.equal(v.lifecycle, 'beta');
  t.same(v.lifecycleTeams, ['core', 'qa']);
  t.same(v.routes, ['/mcp/v2/tools/crm/rpc', '/mcp']);
  t.same(subjects(v), ['frank'], 'sales AND a beta team: frank only');
  t.equal(grantOf(v, 'frank')?.tools.find((x) => x.name === 'progress')?.via.summary, `scope ${CRM_WRITE}; group sales; beta team qa`);
  t.match(refusalOf(v, 'alice'), { reason: 'forbidden', message: /beta/ });
  t.match(refusalOf(v, ETL), { reason: 'forbidden', message: /beta/ });
  t.same(v.tools.find((x) => x.name === 'echo')!.requirement, { reachable: true, anyScope: [CRM_WRITE, CRM_READ], anyGroup: ['sales'], anyTeam: ['core', 'qa'] });
  const promote = v.approval.events.find((e) => e.action === 'promote');
  t.match(promote, { actor: 'oauth:ops-admin', summary: 'alpha → beta', at: String });
  t.equal(v.approval.registeredBy, 'admin:bootstrap');
});

t.test('alpha: named teams only, and scope-less agents need a listed group', async (t) => {
  const v = ((await whoCan('lab')).body as WhoCanReport).versions[0]!;
  t.equal(v.lifecycle, 'alpha');
  t.same(v.grants, [], 'no known caller is in the core team');
  t.same(v.tools[0]!.requirement, { reachable: true, anyScope: ['mcp:tool:lab:write'], anyGroup: [], anyTeam: ['core'] });
  t.equal(v.issuerRules.length, 1, 'a token from the IdP with the scope and the core team would do');
});

t.test('a tenant namespace: that tenant\'s keys only, no issuer rule', async (t) => {
  const v = ((await whoCan('acme-crm')).body as WhoCanReport).versions[0]!;
  t.equal(v.namespace, 'acme');
  t.same(subjects(v), ['acme']);
  t.same(grantOf(v, 'acme')!.tools.map((x) => x.name), ['echo'], 'the read scope: echo');
  t.equal(grantOf(v, 'acme')!.principal.keyId, acmeKey.body.record.keyId);
  t.same(v.issuerRules, []);
  t.match(v.tools[0]!.requirement, { reachable: true, tenant: 'acme' });
  t.match(refusalOf(v, 'alice'), { reason: 'forbidden' });
});

t.test('version routing: a superseded version is reachable by no one, until the newer one is sunset', async (t) => {
  let report = (await whoCan('ops')).body as WhoCanReport;
  t.same(report.versions.map((v) => v.version), ['1.1.0', '1.0.0']);
  const old = report.versions[1]!;
  t.equal(old.reachable, false);
  t.match(old.why, /serves 1\.1\.0/);
  t.same(old.grants, []);
  t.same(old.issuerRules, []);
  t.ok(report.versions[0]!.reachable);
  t.ok(grantOf(report.versions[0]!, 'anonymous'), 'a server without groups admits the anonymous grant');
  t.notOk(grantOf(report.versions[0]!, ETL), 'but not scope-less agents');

  t.equal((await tn.admin('POST', '/admin/v1/servers/ops/versions/1.1.0/sunset', {})).status, 200);
  report = (await whoCan('ops')).body as WhoCanReport;
  t.equal(report.versions[0]!.reachable, false);
  t.match(report.versions[0]!.why, /^sunset/);
  t.ok(report.versions[1]!.reachable, '1.0.0 is served again');
  t.same(report.versions[1]!.routes, ['/mcp/v1/tools/ops/rpc', '/mcp']);
});

t.test('drift: a withheld tool is reachable by no one; its re-approval names the approver', async (t) => {
  backends.crm1!.setEchoDescription('Echoes, and now also does something else');
  await tn.node.driftMonitor.checkOne('crm', '1.0.0');
  let v = ((await whoCan('crm', '?version=1.0.0&tool=echo')).body as WhoCanReport).versions[0]!;
  t.equal(v.tools.length, 1);
  t.equal(v.tools[0]!.withheld, true);
  t.equal(v.tools[0]!.requirement.reachable, false);
  t.same(v.grants, [], 'no one can call echo');
  t.ok(v.approval.events.some((e) => e.action === 'drift_detected' && e.summary === 'drift: echo'));

  t.equal((await asAdmin('POST', '/admin/v1/servers/crm/versions/1.0.0/approve', {})).status, 200);
  v = ((await whoCan('crm', '?version=1.0.0&tool=echo')).body as WhoCanReport).versions[0]!;
  t.equal(v.tools[0]!.withheld, false);
  t.equal(v.tools[0]!.approvedBy, 'oauth:ops-admin', 'the tool was re-pinned by its re-approver');
  t.equal(v.approval.approvedBy, 'oauth:ops-admin');
  t.match(v.approval.events.at(-1), { action: 'approve', actor: 'oauth:ops-admin', summary: 're-approved; re-pinned echo' });
  t.same(subjects(v), ['alice', 'anonymous', 'bob', 'frank', 'reporter', ETL].sort());
});

t.test('errors: the admin API\'s shape and statuses', async (t) => {
  t.match(await whoCan('nope'), { status: 404, body: { error: { code: 'not_found' } } });
  t.match(await whoCan('crm', '?version=9.9.9'), { status: 404, body: { error: { code: 'not_found', message: 'no server crm@9.9.9' } } });
  t.match(await whoCan('crm', '?tool=nope'), { status: 404, body: { error: { code: 'not_found' } } });
  t.match(await whoCan('crm', '?colour=red'), { status: 400, body: { error: { code: 'invalid_input' } } });
  t.match(await whoCan('Bad_Slug'), { status: 400, body: { error: { code: 'invalid_input' } } });
  const anonymous = await fetch(`${tn.url}/admin/v1/access/who-can/crm`);
  t.equal(anonymous.status, 401, 'the admin API needs admin credentials');
  const reporter = (await clientCredentials(asMeta, REPORTER, { scope: CRM_READ })).access_token;
  const notAdmin = await fetch(`${tn.url}/admin/v1/access/who-can/crm`, { headers: { authorization: `Bearer ${reporter}` } });
  t.equal(notAdmin.status, 403);
});
