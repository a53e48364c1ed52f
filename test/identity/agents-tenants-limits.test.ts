/**
 * Identity on every call, against real nodes (PRODUCT.md §4, §5, §6):
 *
 * 1. mTLS agents on the node's mTLS listener: a SAN mapped to a group reaches
 *    the servers of that group only; untrusted, expired and revoked
 *    certificates are 401 invalid_token; identity headers from clients are
 *    ignored on both listeners.
 * 2. Tenants with API keys: a tenant sees and calls only the servers of its
 *    namespace; mangled keys are 401; revocation is effective at the next
 *    request; rotation keeps both keys valid during the overlap only.
 * 3. Rate limits at the gateway, exactly: a burst of N passes, the rest get
 *    429 with an integer Retry-After; the buckets are per tenant (shared by its
 *    keys), and refused credentials spend nothing.
 * 4. The rate-limit classes of config (person, agent, tenant, per group) apply
 *    to OAuth people, mTLS agents and tenants.
 *
 * Every refused call is also checked at the backend: it executed nothing.
 */
import t, { type Test } from 'tap';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { createCa, type Issued, type TestCa } from '../helpers/pki.js';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startModernHttpBackend, type TestBackend } from '../helpers/backends.js';
import { assertEchoed, assertRefused, call, callTool, mtlsDispatcher, type CallResult } from '../helpers/identity-calls.js';
import { startIdp, type TestIdp } from '../auth/oidc-idp.js';

const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ── world ───────────────────────────────────────────────────────────────────

const ca = await createCa('Acme Agents CA');
const otherCa = await createCa('Untrusted CA');
const serverCert = await ca.issueServer();
const ETL = 'spiffe://acme.example/agent/etl';
const certs = {
  etl: await ca.issueClient({ uris: [ETL] }),
  salesBot: await ca.issueClient({ uris: ['spiffe://acme.example/agent/sales-bot'] }),
  unmapped: await ca.issueClient({ uris: ['spiffe://acme.example/agent/nobody'] }),
  untrusted: await otherCa.issueClient({ uris: [ETL] }),
  expired: await ca.issueClient({ uris: [ETL], notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }),
  revoked: await ca.issueClient({ uris: [ETL] }),
  bulk: await ca.issueClient({ uris: ['spiffe://acme.example/agent/bulk'] }),
};

const cleanups: (() => Promise<unknown> | unknown)[] = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function backend(): Promise<TestBackend> {
  const b = await startModernHttpBackend();
  cleanups.push(() => b.close());
  return b;
}

const executed = (b: TestBackend) => b.calls.get('echo') ?? 0;

function dispatcher(client?: Issued, trust: TestCa = ca): Agent {
  const d = mtlsDispatcher(trust, client);
  cleanups.push(() => d.close());
  return d;
}

/** A node whose data dir holds the mTLS files (relative paths in config), the CRL revoking `certs.revoked`. */
async function mtlsNode(config: Record<string, unknown>): Promise<TestNode & { mtlsUrl: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-identity-'));
  await mkdir(join(dir, 'tls'));
  await writeFile(join(dir, 'tls/server.pem'), serverCert.certPem);
  await writeFile(join(dir, 'tls/server.key'), serverCert.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'tls/agents-ca.pem'), ca.certPem);
  await writeFile(join(dir, 'tls/agents.crl'), await ca.crl([certs.revoked]));
  const auth = { ...(config.auth as object), mtls: { port: 0, cert: 'tls/server.pem', key: 'tls/server.key', ca: 'tls/agents-ca.pem', crl: 'tls/agents.crl' } };
  const tn = await startTestNode({ ...config, auth }, dir);
  cleanups.push(async () => {
    await tn.stop();
    await removeDir(dir);
  });
  if (!tn.node.mtlsPort) throw new Error('the mTLS listener is not up');
  return Object.assign(tn, { mtlsUrl: `https://127.0.0.1:${tn.node.mtlsPort}` });
}

async function issueKey(tn: TestNode, tenant: string, scopes: string[]): Promise<{ key: string; keyId: string }> {
  const res = await tn.admin('POST', '/admin/v1/credentials/keys', { tenant, scopes });
  if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { key: res.body.key, keyId: res.body.record.keyId };
}

async function mapAgent(tn: TestNode, san: string, groups: string[]): Promise<void> {
  const res = await tn.admin('POST', '/admin/v1/credentials/agents', { san, groups });
  if (res.status !== 201) throw new Error(`agent mapping failed: ${res.status} ${JSON.stringify(res.body)}`);
}

const SPOOFED = {
  'x-forwarded-client-cert': `By=spiffe://acme.example/gw;URI=${ETL}`,
  'x-client-cert': encodeURIComponent(certs.etl.certPem),
  'x-agent-id': ETL,
  'x-ssl-client-verify': 'SUCCESS',
  'x-ssl-client-san': ETL,
};

// ── node A: mTLS agents and tenants (default rate limits, no anonymous grant) ─

const opsB = await backend();
const salesB = await backend();
const crmB = await backend();
const globexB = await backend();
const publicB = await backend();
const A = await mtlsNode({});
await A.register({ slug: 'ops', version: '1.0.0', backend: { http: opsB.url }, allowedGroups: ['ops'] });
await A.register({ slug: 'sales', version: '1.0.0', backend: { http: salesB.url }, allowedGroups: ['sales'] });
await A.register({ slug: 'tenant-crm', version: '1.0.0', backend: { http: crmB.url }, namespace: 'acme' });
await A.register({ slug: 'globex-crm', version: '1.0.0', backend: { http: globexB.url }, namespace: 'globex' });
await A.register({ slug: 'public', version: '1.0.0', backend: { http: publicB.url } });

t.test('1. mTLS agents', async (t) => {
  const created = await A.admin('POST', '/admin/v1/credentials/agents', { san: ETL, groups: ['ops'] });
  t.equal(created.status, 201, 'agent mapped through the admin API');
  t.match(created.body, { san: ETL, groups: ['ops'], scopes: [] });
  await mapAgent(A, 'spiffe://acme.example/agent/sales-bot', ['sales']);

  const opsUrl = `${A.mtlsUrl}/mcp/v1/tools/ops/rpc`;
  const salesUrl = `${A.mtlsUrl}/mcp/v1/tools/sales/rpc`;
  const etl = dispatcher(certs.etl);

  await t.test('the agent calls the tools of its group', async (t) => {
    const before = executed(opsB);
    assertEchoed(t, await callTool(opsUrl, 'echo', { dispatcher: etl }, 'from etl'), 'from etl', 'per-server endpoint');
    assertEchoed(t, await callTool(`${A.mtlsUrl}/mcp`, 'ops__echo', { dispatcher: etl }, 'via aggregate'), 'via aggregate', 'aggregate endpoint');
    t.equal(executed(opsB), before + 2, 'the ops backend executed both calls');

    const list = await call(`${A.mtlsUrl}/mcp`, 'tools/list', {}, { dispatcher: etl });
    t.equal(list.status, 200);
    const names: string[] = list.body.result.tools.map((x: { name: string }) => x.name);
    t.ok(names.includes('ops__echo'), 'tools/list shows the ops tools');
    t.same(names.filter((n) => !n.startsWith('ops__')), [], 'and nothing else (not sales, tenants, or ungrouped servers)');
  });

  await t.test('a server of another group is 403 forbidden', async (t) => {
    assertRefused(t, await callTool(salesUrl, 'echo', { dispatcher: etl }), 403, 'forbidden', 'sales per-server');
    const agg = await callTool(`${A.mtlsUrl}/mcp`, 'sales__echo', { dispatcher: etl });
    t.not(agg.status, 200, `sales via aggregate refused (${agg.status} ${agg.body?.error?.data?.reason})`);
    t.notOk(agg.body?.result?.content?.[0]?.text === 'hi', 'no echo from sales');
    assertRefused(t, await callTool(`${A.mtlsUrl}/mcp/v1/tools/public/rpc`, 'echo', { dispatcher: etl }), 403, 'forbidden', 'a scope-less agent on a server without groups');
    t.equal(executed(salesB), 0, 'the sales backend executed nothing');
    t.equal(executed(publicB), 0, 'the public backend executed nothing');
  });

  await t.test('a verified certificate whose SAN is not mapped carries no groups: 403', async (t) => {
    const before = executed(opsB);
    assertRefused(t, await callTool(opsUrl, 'echo', { dispatcher: dispatcher(certs.unmapped) }), 403, 'forbidden', 'unmapped SAN');
    t.equal(executed(opsB), before, 'backend saw nothing');
  });

  await t.test('untrusted CA, expired and revoked certificates are 401 invalid_token', async (t) => {
    const before = executed(opsB);
    for (const [name, cert, message] of [
      ['untrusted CA', certs.untrusted, /trusted CA/],
      ['expired', certs.expired, /expired/],
      ['revoked (CRL)', certs.revoked, /revoked/],
    ] as const) {
      const res = await callTool(opsUrl, 'echo', { dispatcher: dispatcher(cert) });
      assertRefused(t, res, 401, 'invalid_token', name);
      t.match(res.body?.error?.message, message, `${name}: says why`);
      t.match(res.headers.get('www-authenticate'), /^Bearer .*resource_metadata="[^"]+".*error="invalid_token"/, `${name}: RFC 9728 challenge`);
      // The same bad certificate with spoofed identity headers is no better.
      assertRefused(t, await callTool(opsUrl, 'echo', { dispatcher: dispatcher(cert), headers: SPOOFED }), 401, 'invalid_token', `${name} + spoofed headers`);
    }
    t.equal(executed(opsB), before, 'backend saw nothing');
  });

  await t.test('identity headers from clients are ignored', async (t) => {
    const before = executed(opsB);
    const plain = await callTool(`${A.url}/mcp/v1/tools/ops/rpc`, 'echo', { headers: SPOOFED });
    assertRefused(t, plain, 401, 'missing_credentials', 'plain listener, spoofed headers, no credential');
    t.match(plain.headers.get('www-authenticate'), /^Bearer resource_metadata="/, 'the 401 points at the metadata');
    const aggregate = await call(`${A.url}/mcp`, 'tools/list', {}, { headers: SPOOFED });
    assertRefused(t, aggregate, 401, 'missing_credentials', 'plain listener aggregate tools/list');
    const noCert = await callTool(opsUrl, 'echo', { dispatcher: dispatcher(), headers: SPOOFED });
    assertRefused(t, noCert, 401, 'missing_credentials', 'mTLS listener without a client certificate');
    t.equal(executed(opsB), before, 'backend saw nothing');

    // A real agent naming another one in headers stays itself.
    assertRefused(
      t,
      await callTool(salesUrl, 'echo', { dispatcher: etl, headers: { ...SPOOFED, 'x-agent-id': 'spiffe://acme.example/agent/sales-bot', 'x-client-cert': encodeURIComponent(certs.salesBot.certPem) } }),
      403,
      'forbidden',
      'etl claiming to be sales-bot',
    );
    assertRefused(t, await callTool(opsUrl, 'echo', { dispatcher: dispatcher(certs.salesBot), headers: SPOOFED }), 403, 'forbidden', 'sales-bot claiming to be etl');
    t.equal(executed(salesB), 0, 'the sales backend executed nothing');
    t.equal(executed(opsB), before, 'nor the ops backend');

    // An allowed call carrying spoofed headers: the headers are not relayed.
    assertEchoed(t, await callTool(opsUrl, 'echo', { dispatcher: etl, headers: SPOOFED }, 'spoofed'), 'spoofed', 'allowed call with spoofed headers');
    const relayed = opsB.seenHeaders.filter((h) => Object.keys(SPOOFED).some((k) => k in h));
    t.same(relayed, [], 'no identity header ever reached the backend');
    t.notOk(opsB.seenHeaders.some((h) => h.authorization !== undefined), 'nor any Authorization header');
  });

  await t.test('removing the mapping takes effect at the next request', async (t) => {
    const keptAlive = dispatcher(certs.etl);
    assertEchoed(t, await callTool(opsUrl, 'echo', { dispatcher: keptAlive }, 'before'), 'before', 'mapped');
    const removed = await A.admin('DELETE', `/admin/v1/credentials/agents/${encodeURIComponent(ETL)}`);
    t.equal(removed.status, 200, 'mapping removed');
    const before = executed(opsB);
    assertRefused(t, await callTool(opsUrl, 'echo', { dispatcher: keptAlive }), 403, 'forbidden', 'same connection, after removal');
    t.equal(executed(opsB), before, 'backend saw nothing');
    await mapAgent(A, ETL, ['ops']);
    assertEchoed(t, await callTool(opsUrl, 'echo', { dispatcher: keptAlive }, 'again'), 'again', 'mapped again');
  });
});

t.test('2. tenants with API keys', async (t) => {
  const acme = await issueKey(A, 'acme', ['mcp:tool:tenant-crm:write']);
  t.match(acme.key, /^tm_acme\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/, 'key format');
  const crmUrl = `${A.url}/mcp/v1/tools/tenant-crm/rpc`;

  await t.test("the tenant calls and lists its namespace's servers only", async (t) => {
    const before = executed(crmB);
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: acme.key }, 'acme'), 'acme', 'per-server endpoint');
    assertEchoed(t, await callTool(`${A.url}/mcp`, 'tenant-crm__echo', { bearer: acme.key }, 'acme agg'), 'acme agg', 'aggregate endpoint');
    t.equal(executed(crmB), before + 2, 'the tenant backend executed both calls');

    const list = await call(`${A.url}/mcp`, 'tools/list', {}, { bearer: acme.key });
    t.equal(list.status, 200);
    const names: string[] = list.body.result.tools.map((x: { name: string }) => x.name);
    t.ok(names.length > 0 && names.includes('tenant-crm__echo'), 'acme sees its tools');
    t.same(names.filter((n) => !n.startsWith('tenant-crm__')), [], 'and only those');
  });

  await t.test("another tenant's server, and servers outside any namespace, do not exist for a tenant", async (t) => {
    // Even a key whose scopes name those servers.
    const greedy = await issueKey(A, 'acme', ['mcp:tool:globex-crm:write', 'mcp:tool:public:write', 'mcp:tool:ops:write']);
    for (const key of [acme.key, greedy.key]) {
      // Answered exactly as for a server that does not exist: nothing reveals another tenant's servers.
      assertRefused(t, await callTool(`${A.url}/mcp/v1/tools/globex-crm/rpc`, 'echo', { bearer: key }), 404, 'not_found', 'globex-crm');
      assertRefused(t, await callTool(`${A.url}/mcp/v1/tools/public/rpc`, 'echo', { bearer: key }), 404, 'not_found', 'public (no namespace)');
      assertRefused(t, await callTool(`${A.url}/mcp/v1/tools/ops/rpc`, 'echo', { bearer: key }), 404, 'not_found', 'ops (no namespace)');
      const agg = await callTool(`${A.url}/mcp`, 'globex-crm__echo', { bearer: key });
      t.equal(agg.status, 200, 'globex via aggregate: answered like an unknown tool');
      t.equal(agg.body?.result?.isError, true);
      t.equal(agg.body?.result?._meta?.['io.toolmesh/reason'], 'unknown_tool');
    }
    const list = await call(`${A.url}/mcp`, 'tools/list', {}, { bearer: greedy.key });
    t.same(list.body?.result?.tools, [], 'the greedy key lists nothing: its scopes are all outside its namespace');

    const globex = await issueKey(A, 'globex', ['mcp:tool:tenant-crm:write', 'mcp:tool:globex-crm:write']);
    assertRefused(t, await callTool(crmUrl, 'echo', { bearer: globex.key }), 404, 'not_found', "globex on acme's server");
    assertEchoed(t, await callTool(`${A.url}/mcp/v1/tools/globex-crm/rpc`, 'echo', { bearer: globex.key }, 'g'), 'g', 'globex on its own server');
    t.equal(executed(globexB), 1, 'the globex backend executed only globex');
    t.equal(executed(publicB), 0, 'the public backend executed nothing');
  });

  await t.test("another tenant's sunset server is as missing as a live one (no 410 tells it exists)", async (t) => {
    await A.register({ slug: 'globex-hr', version: '1.0.0', backend: { http: globexB.url }, namespace: 'globex' });
    const sunset = await A.admin('POST', '/admin/v1/servers/globex-hr/versions/1.0.0/sunset', {});
    t.equal(sunset.status, 200, JSON.stringify(sunset.body));
    assertRefused(t, await callTool(`${A.url}/mcp/v1/tools/globex-hr/rpc`, 'echo', { bearer: acme.key }), 404, 'not_found', 'globex-hr, sunset, per server');
    const agg = await callTool(`${A.url}/mcp`, 'globex-hr__echo', { bearer: acme.key });
    t.equal(agg.status, 200, 'on /mcp: answered like an unknown tool');
    t.equal(agg.body?.result?._meta?.['io.toolmesh/reason'], 'unknown_tool');
    const globex = await issueKey(A, 'globex', ['mcp:tool:globex-hr:write']);
    assertRefused(t, await callTool(`${A.url}/mcp/v1/tools/globex-hr/rpc`, 'echo', { bearer: globex.key }), 410, 'sunset', 'its own tenant is told it was sunset');
  });

  await t.test('a read scope does not open write tools: 403 insufficient_scope naming the scope', async (t) => {
    const reader = await issueKey(A, 'acme', ['mcp:tool:tenant-crm:read']);
    const before = executed(crmB);
    const res = await callTool(crmUrl, 'echo', { bearer: reader.key });
    assertRefused(t, res, 403, 'insufficient_scope', 'read key on a write tool');
    t.match(res.headers.get('www-authenticate'), /error="insufficient_scope", scope="mcp:tool:tenant-crm:write"/, 'the challenge names the scope');
    t.equal(executed(crmB), before, 'backend saw nothing');
  });

  await t.test('mangled keys are 401 invalid_token', async (t) => {
    const [, keyId, secret] = /^tm_acme\.([^.]+)\.(.+)$/.exec(acme.key)!;
    const std = Buffer.from(secret!, 'base64url').toString('base64');
    const variants: [string, string][] = [
      ['truncated by one character', acme.key.slice(0, -1)],
      ['secret cut off', `tm_acme.${keyId}.`],
      ['tenant and key id only', `tm_acme.${keyId}`],
      ['standard base64 with padding', `tm_acme.${keyId}.${std}`],
      ['padding appended', `${acme.key}=`],
      ['upper-case tenant', `tm_ACME.${keyId}.${secret}`],
      ['swapped tenant', `tm_globex.${keyId}.${secret}`],
      ['another existing tenant', `tm_initech.${keyId}.${secret}`],
      ['one secret character changed', `tm_acme.${keyId}.${secret!.slice(0, 10)}${secret![10] === 'A' ? 'B' : 'A'}${secret!.slice(11)}`],
      ['key id changed', `tm_acme.${keyId!.slice(0, -1)}${keyId!.endsWith('A') ? 'Q' : 'A'}.${secret}`],
      ['doubled', acme.key + acme.key.slice(3)],
    ];
    const before = executed(crmB);
    for (const [what, key] of variants) {
      t.not(key, acme.key);
      assertRefused(t, await callTool(crmUrl, 'echo', { bearer: key }), 401, 'invalid_token', what);
    }
    for (const [what, header] of [
      ['percent-encoded', `Bearer ${acme.key.replace(/\./g, '%2E')}`],
      ['two keys', `Bearer ${acme.key}, Bearer ${acme.key}`],
      ['Basic scheme', `Basic ${Buffer.from(`acme:${acme.key}`).toString('base64')}`],
    ] as const) {
      assertRefused(t, await callTool(crmUrl, 'echo', { headers: { authorization: header } }), 401, 'invalid_token', what);
    }
    const query = await callTool(`${crmUrl}?api_key=${encodeURIComponent(acme.key)}`, 'echo');
    assertRefused(t, query, 401, 'invalid_token', 'key in the query string');
    t.equal(executed(crmB), before, 'backend saw nothing');
  });

  await t.test('revocation is effective at the very next request', async (t) => {
    const k = await issueKey(A, 'acme', ['mcp:tool:tenant-crm:write']);
    const keptAlive = new Agent({ connections: 1 });
    cleanups.push(() => keptAlive.close());
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: k.key, dispatcher: keptAlive }, 'live'), 'live', 'before revocation');
    const revoked = await A.admin('POST', `/admin/v1/credentials/keys/acme/${k.keyId}/revoke`);
    t.equal(revoked.status, 200);
    t.equal(revoked.body.status, 'revoked');
    const before = executed(crmB);
    const res = await callTool(crmUrl, 'echo', { bearer: k.key, dispatcher: keptAlive });
    assertRefused(t, res, 401, 'invalid_token', 'next request, same connection');
    t.equal(res.body?.error?.data?.detail, 'revoked', 'says the key was revoked');
    assertRefused(t, await call(`${A.url}/mcp`, 'tools/list', {}, { bearer: k.key }), 401, 'invalid_token', 'aggregate tools/list');
    t.equal(executed(crmB), before, 'backend saw nothing');
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: acme.key }, 'other'), 'other', "the tenant's other keys still work");
  });

  await t.test('rotation with overlap: both keys work, then only the new one', async (t) => {
    const old = await issueKey(A, 'acme', ['mcp:tool:tenant-crm:write']);
    const rotated = await A.admin('POST', `/admin/v1/credentials/keys/acme/${old.keyId}/rotate`, { overlapSeconds: 2 });
    t.equal(rotated.status, 200, 'rotated');
    const fresh = rotated.body.key as string;
    t.match(fresh, /^tm_acme\./);
    t.not(fresh, old.key);
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: old.key }, 'old'), 'old', 'old key during the overlap');
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: fresh }, 'new'), 'new', 'new key during the overlap');
    const listed = await A.admin('GET', '/admin/v1/credentials/keys?tenant=acme');
    const byId = new Map<string, { status: string }>(listed.body.keys.map((k: { keyId: string; status: string }) => [k.keyId, k]));
    t.equal(byId.get(old.keyId)?.status, 'rotating', 'the old key is rotating');
    t.equal(byId.get(rotated.body.record.keyId)?.status, 'active', 'the new key is active');

    const notAfter = Date.parse(rotated.body.record.notAfter ?? listed.body.keys.find((k: { keyId: string }) => k.keyId === old.keyId).notAfter);
    await sleep(Math.max(0, notAfter - Date.now()) + 150);
    const before = executed(crmB);
    const res = await callTool(crmUrl, 'echo', { bearer: old.key });
    assertRefused(t, res, 401, 'invalid_token', 'old key after the overlap');
    t.equal(res.body?.error?.data?.detail, 'superseded');
    t.equal(executed(crmB), before, 'backend saw nothing');
    assertEchoed(t, await callTool(crmUrl, 'echo', { bearer: fresh }, 'still'), 'still', 'new key after the overlap');
  });
});

// ── node B: rate limits ─────────────────────────────────────────────────────

const idp: TestIdp = await startIdp({ resource: 'http://127.0.0.1/unused' });
cleanups.push(() => idp.close());
const RULES = {
  person: { perMinute: 60, burst: 4 },
  agent: { perMinute: 60, burst: 3 },
  tenant: { perMinute: 60, burst: 6 },
  groups: { bulk: { perMinute: 120, burst: 8 } },
  tenants: { acme: { perMinute: 60, burst: 10 }, initech: { perMinute: 60, burst: 10 } },
};
const B = await mtlsNode({ auth: { issuers: [{ issuer: idp.issuer }], allowInsecureIssuers: true }, rateLimits: RULES });
const limited: Record<string, TestBackend> = {};
for (const tenant of ['acme', 'initech', 'globex']) {
  limited[tenant] = await backend();
  await B.register({ slug: `crm-${tenant}`, version: '1.0.0', backend: { http: limited[tenant]!.url }, namespace: tenant });
}
limited.ops = await backend();
await B.register({ slug: 'ops', version: '1.0.0', backend: { http: limited.ops.url }, allowedGroups: ['ops', 'bulk'] });
limited.people = await backend();
await B.register({ slug: 'people', version: '1.0.0', backend: { http: limited.people.url } });

/** Fires `n` calls at once; returns the responses in sending order. */
function burst(n: number, make: (i: number) => Promise<CallResult>): Promise<CallResult[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => make(i)));
}

/** Exactly `allowed` of `results` passed; every other one is a well-formed 429. Returns the Retry-After values. */
function assertExactly(t: Test, results: CallResult[], allowed: number, rule: { perMinute: number; burst: number }, what: string): number[] {
  const ok = results.filter((r) => r.status === 200);
  const limitedRes = results.filter((r) => r.status === 429);
  t.equal(ok.length, allowed, `${what}: exactly ${allowed} passed`);
  t.equal(limitedRes.length, results.length - allowed, `${what}: ${results.length - allowed} got 429`);
  t.ok(ok.every((r) => r.body?.result?.content?.[0]?.type === 'text'), `${what}: the passed calls were answered`);
  const retries: number[] = [];
  let wellFormed = 0;
  for (const r of limitedRes) {
    const header = r.headers.get('retry-after');
    const value = Number(header);
    retries.push(value);
    if (
      header !== null &&
      /^[1-9]\d*$/.test(header) &&
      r.body?.error?.code === -32005 &&
      r.body?.error?.data?.reason === 'rate_limited' &&
      r.body?.error?.data?.retryAfter === value &&
      r.body?.error?.data?.burst === rule.burst &&
      r.body?.error?.data?.limit === rule.perMinute
    ) {
      wellFormed++;
    } else {
      t.fail(`${what}: malformed 429`, { header, body: r.body });
    }
  }
  t.equal(wellFormed, limitedRes.length, `${what}: every 429 has an integer Retry-After equal to error.data.retryAfter, code -32005, and names the rule`);
  return retries;
}

t.test('3. tenant rate limits are exact', async (t) => {
  const acmeUrl = `${B.url}/mcp/v1/tools/crm-acme/rpc`;
  const acme = await issueKey(B, 'acme', ['mcp:tool:crm-acme:write']);

  await t.test('50 invalid keys spend nothing; then 32 concurrent calls: exactly 10 pass', async (t) => {
    const [, keyId] = /^tm_acme\.([^.]+)\./.exec(acme.key)!;
    const bad = await burst(50, (i) => {
      const secret = Buffer.alloc(32, i + 1).toString('base64url');
      const key = i % 2 === 0 ? `tm_acme.${keyId}.${secret}` : `tm_acme.${keyId}.${secret.slice(0, 40 - (i % 7))}`;
      return callTool(acmeUrl, 'echo', { bearer: key });
    });
    t.ok(bad.every((r) => r.status === 401 && r.body?.error?.data?.reason === 'invalid_token'), '50 bad keys: all 401 invalid_token');
    t.equal(executed(limited.acme!), 0, 'backend saw none of them');

    const results = await burst(32, (i) => callTool(acmeUrl, 'echo', { bearer: acme.key }, `c${i}`));
    const retries = assertExactly(t, results, 10, RULES.tenants.acme, 'acme burst');
    t.equal(executed(limited.acme!), 10, 'the backend executed exactly 10');
    const wait = Math.max(...retries);
    t.ok(wait >= 1 && wait <= 2, `Retry-After is about one token at 60/min (${wait} s)`);

    await sleep(wait * 1000);
    assertEchoed(t, await callTool(acmeUrl, 'echo', { bearer: acme.key }, 'after'), 'after', 'after waiting Retry-After seconds');
    t.equal(executed(limited.acme!), 11);
  });

  await t.test("two keys of one tenant share the tenant's bucket", async (t) => {
    const url = `${B.url}/mcp/v1/tools/crm-initech/rpc`;
    const k1 = await issueKey(B, 'initech', ['mcp:tool:crm-initech:write']);
    const k2 = await issueKey(B, 'initech', ['mcp:tool:crm-initech:write']);
    const results = await burst(10, (i) => callTool(url, 'echo', { bearer: i < 6 ? k1.key : k2.key }, `i${i}`));
    t.same(results.map((r) => r.status), Array(10).fill(200), '6 calls with one key and 4 with the other: all 10 pass');
    const after = await Promise.all([callTool(url, 'echo', { bearer: k1.key }), callTool(url, 'echo', { bearer: k2.key })]);
    assertExactly(t, after, 0, RULES.tenants.initech, 'either key after 10 calls');
    t.equal(executed(limited.initech!), 10, 'the backend executed exactly 10');
  });

  await t.test('another tenant is unaffected (and gets the tenant class rule)', async (t) => {
    const url = `${B.url}/mcp/v1/tools/crm-globex/rpc`;
    const globex = await issueKey(B, 'globex', ['mcp:tool:crm-globex:write']);
    const results = await burst(9, (i) => callTool(url, 'echo', { bearer: globex.key }, `g${i}`));
    assertExactly(t, results, RULES.tenant.burst, RULES.tenant, 'globex burst');
    t.equal(executed(limited.globex!), RULES.tenant.burst, `the backend executed exactly ${RULES.tenant.burst}`);
  });
});

t.test('4. rate-limit classes: agents, groups, people', async (t) => {
  const opsUrl = `${B.mtlsUrl}/mcp/v1/tools/ops/rpc`;
  await mapAgent(B, ETL, ['ops']);
  await mapAgent(B, 'spiffe://acme.example/agent/bulk', ['bulk']);

  await t.test('an mTLS agent gets the agent rule', async (t) => {
    const before = executed(limited.ops!);
    const etl = dispatcher(certs.etl);
    const results = await burst(6, (i) => callTool(opsUrl, 'echo', { dispatcher: etl }, `a${i}`));
    assertExactly(t, results, RULES.agent.burst, RULES.agent, 'agent burst');
    t.equal(executed(limited.ops!), before + RULES.agent.burst, 'the backend executed exactly the burst');
    // Another connection of the same certificate is the same principal.
    assertExactly(t, [await callTool(opsUrl, 'echo', { dispatcher: dispatcher(certs.etl) })], 0, RULES.agent, 'same agent, new connection');
  });

  await t.test("an agent in a group with a rule gets the group's rule", async (t) => {
    const before = executed(limited.ops!);
    const bulk = dispatcher(certs.bulk);
    const results = await burst(11, (i) => callTool(opsUrl, 'echo', { dispatcher: bulk }, `b${i}`));
    assertExactly(t, results, RULES.groups.bulk.burst, RULES.groups.bulk, 'bulk group burst');
    t.equal(executed(limited.ops!), before + RULES.groups.bulk.burst);
  });

  await t.test('an OAuth person gets the person rule, across tokens', async (t) => {
    const url = `${B.url}/mcp/v1/tools/people/rpc`;
    const now = Math.floor(Date.now() / 1000);
    const token = (jti: string) =>
      idp.sign({ iss: idp.issuer, sub: 'alice', aud: `${B.url}/mcp`, iat: now, exp: now + 300, scope: 'mcp:tool:people:write', jti });
    const t1 = await token('one');
    const t2 = await token('two');
    const results = await burst(6, (i) => callTool(url, 'echo', { bearer: t1 }, `p${i}`));
    assertExactly(t, results, RULES.person.burst, RULES.person, 'person burst');
    t.equal(executed(limited.people!), RULES.person.burst, 'the backend executed exactly the burst');
    assertExactly(t, [await callTool(url, 'echo', { bearer: t2 })], 0, RULES.person, "the person's other token shares the bucket");

    const bob = await idp.sign({ iss: idp.issuer, sub: 'bob', aud: `${B.url}/mcp`, iat: now, exp: now + 300, scope: 'mcp:tool:people:write' });
    assertEchoed(t, await callTool(url, 'echo', { bearer: bob }, 'bob'), 'bob', 'another person is unaffected');
  });
});
