/**
 * mTLS agents end to end over real TLS (PRODUCT.md §4): a `createMtlsServer`
 * listener whose request listener runs `Agents.authenticate` and echoes the
 * identity (or the rejection) as JSON, called by node:https clients holding
 * certificates from a PKI made at test time.
 */
import 'reflect-metadata';
import t from 'tap';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, type Issued, type TestCa } from '../helpers/pki.js';
import { Store } from '../../src/store/db.js';
import { Agents, verifiedTlsSocket, type AgentChange } from '../../src/auth/mtls/agents.js';
import { createMtlsServer, loadMtlsFiles, watchCrlFile, type MtlsServer } from '../../src/auth/mtls/listener.js';
import { isGatewayError } from '../../src/gateway/errors.js';
import type { Identity } from '../../src/auth/identity.js';
import { agentRoutes } from '../../src/admin/credentials-agents-routes.js';
import { buildApp } from '../../src/node/http-app.js';
import { agentCommand } from '../../src/cli/commands/credential-agent.js';

/** The frozen clock of the Agents under test (certificates are valid around the real time). */
const NOW = new Date(Math.floor(Date.now() / 60_000) * 60_000);
let clock = NOW;
const DAY = 86_400_000;

interface Echo {
  status: number;
  body: { identity?: Identity | null; error?: { reason: string; message: string }; tlsPeer: boolean };
}

/** The request listener under test: authenticate, then echo what came out. */
function echoListener(agents: Agents): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    let status = 200;
    let body: Echo['body'];
    const tlsPeer = verifiedTlsSocket(req) !== undefined;
    try {
      body = { identity: agents.authenticate(req, { tlsPeer }) ?? null, tlsPeer };
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      status = err.status;
      body = { error: { reason: err.reason, message: err.message }, tlsPeer };
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
}

async function listen<S extends { listen: Function; address: () => AddressInfo | string | null }>(server: S): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function readBody(res: IncomingMessage): Promise<Echo> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8').on('data', (c: string) => (text += c));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    res.on('error', reject);
  });
}

let world: {
  ca: TestCa;
  server: MtlsServer;
  port: number;
  agents: Agents;
  store: Store;
  dataDir: string;
  certs: Record<string, Issued>;
  changes: AgentChange[];
};

/** One request over mTLS (a fresh connection unless `agent` is given). */
function call(client: Issued | undefined, options: { agent?: HttpsAgent; headers?: Record<string, string> } = {}): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: world.port,
        path: '/mcp',
        servername: 'localhost',
        ca: world.ca.certPem,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        agent: options.agent ?? false,
        headers: options.headers ?? {},
      },
      (res) => readBody(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

t.before(async () => {
  const ca = await createCa('Agents CA');
  const other = await createCa('Someone Else CA');
  const serverCert = await ca.issueServer();
  const certs: Record<string, Issued> = {
    billing: await ca.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing'], dns: ['billing.agents.example.org'], cn: 'admin' }),
    reports: await ca.issueClient({ dns: ['reports.agents.example.org'] }),
    reportsShouting: await ca.issueClient({ dns: ['REPORTS.Agents.Example.ORG.'] }),
    comma: await ca.issueClient({ uris: ['spiffe://example.org/ns/x,DNS:admin.agents.example.org,URI:spiffe://example.org/ns/"admin"'] }),
    stranger: await ca.issueClient({ dns: ['stranger.agents.example.org'] }),
    cnOnly: await ca.issueClient({ cn: 'spiffe://example.org/ns/prod/sa/billing' }),
    controlChar: await ca.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing\u0000x'] }),
    expired: await ca.issueClient({ dns: ['reports.agents.example.org'], notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }),
    notYetValid: await ca.issueClient({ dns: ['reports.agents.example.org'], notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) }),
    untrusted: await other.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing'] }),
    revoked: await ca.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing'] }),
    laterRevoked: await ca.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing'] }),
    watchedRevoked: await ca.issueClient({ dns: ['reports.agents.example.org'] }),
  };
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-mtls-'));
  const store = new Store(join(dataDir, 'db'));
  await store.open();
  const agents = new Agents(store, { now: () => clock });
  await agents.load();
  const changes: AgentChange[] = [];
  agents.onChange((c) => changes.push(c));
  await agents.add('spiffe://example.org/ns/prod/sa/billing', { groups: ['billing', 'finance'], scopes: ['mcp:tool:ledger:read'] }, 'admin:test');
  await agents.add('reports.agents.example.org', { groups: ['reporting'] }, 'admin:test');
  // A mapping the comma certificate must not reach by being split.
  await agents.add('admin.agents.example.org', { groups: ['admins'], scopes: ['mcp:admin'] }, 'admin:test');

  const server = createMtlsServer(
    { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, crl: await ca.crl([certs.revoked!]), keepAliveTimeout: 5_000 },
    echoListener(agents),
  );
  const port = await listen(server);
  world = { ca, server, port, agents, store, dataDir, certs, changes };
});

t.teardown(async () => {
  world.server.closeAllConnections();
  await new Promise((resolve) => world.server.close(resolve));
  await world.store.close();
  await rm(world.dataDir, { recursive: true, force: true });
});

t.test('a spiffe URI SAN agent carries the groups and scopes of its mapping', async (t) => {
  const { status, body } = await call(world.certs.billing);
  t.equal(status, 200);
  t.equal(body.tlsPeer, true);
  t.match(body.identity, {
    kind: 'mtls',
    class: 'agent',
    subject: 'spiffe://example.org/ns/prod/sa/billing',
    issuer: 'uri',
    principal: 'agent:spiffe://example.org/ns/prod/sa/billing',
    groups: ['billing', 'finance'],
    scopes: ['mcp:tool:ledger:read'],
  });
  t.equal(body.identity!.expiresAt, Math.floor(world.certs.billing!.cert.notAfter.getTime() / 1000), 'valid until the certificate expires');
  t.notMatch(JSON.stringify(body.identity), /admin/, 'the subject CN (admin) is never read');
});

t.test('a DNS SAN agent', async (t) => {
  const { body } = await call(world.certs.reports);
  t.match(body.identity, { kind: 'mtls', subject: 'reports.agents.example.org', issuer: 'dns', principal: 'agent:reports.agents.example.org', groups: ['reporting'], scopes: [] });
});

t.test('another encoding of the same DNS name is the same principal and mapping', async (t) => {
  const { body } = await call(world.certs.reportsShouting);
  t.match(body.identity, { subject: 'REPORTS.Agents.Example.ORG.', principal: 'agent:reports.agents.example.org', groups: ['reporting'] });
});

t.test('a URI SAN holding commas and quotes is one name, not several', async (t) => {
  const { body } = await call(world.certs.comma);
  t.equal(body.identity?.subject, 'spiffe://example.org/ns/x,DNS:admin.agents.example.org,URI:spiffe://example.org/ns/"admin"');
  t.same(body.identity?.groups, [], 'not the admin.agents.example.org mapping');
  t.same(body.identity?.scopes, []);
});

t.test('a certificate that expires while its connection is kept alive stops authenticating', async (t) => {
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => {
    clock = NOW;
    agent.destroy();
  });
  t.equal((await call(world.certs.reports, { agent })).status, 200);
  clock = new Date(world.certs.reports!.cert.notAfter.getTime() + 1000);
  const after = await call(world.certs.reports, { agent });
  t.equal(after.status, 401);
  t.match(after.body.error, { reason: 'invalid_token', message: /expired/ });
});

t.test('a verified certificate whose SAN is not mapped is an agent with nothing granted', async (t) => {
  const { status, body } = await call(world.certs.stranger);
  t.equal(status, 200);
  t.match(body.identity, { kind: 'mtls', principal: 'agent:stranger.agents.example.org', groups: [], scopes: [] });
});

t.test('certificates that are not good credentials are refused with invalid_token', async (t) => {
  const cases: [string, RegExp][] = [
    ['untrusted', /not issued by a trusted CA/],
    ['expired', /expired/],
    ['notYetValid', /not yet valid/],
    ['revoked', /revoked/],
    ['cnOnly', /no URI or DNS subjectAltName/],
    ['controlChar', /control character/],
  ];
  for (const [name, message] of cases) {
    const { status, body } = await call(world.certs[name]);
    t.equal(status, 401, name);
    t.equal(body.error?.reason, 'invalid_token', name);
    t.equal(body.tlsPeer, name === 'cnOnly' || name === 'controlChar', `${name}: verified by TLS?`);
    t.match(body.error?.message, message, name);
  }
});

t.test('no client certificate: no mTLS identity (other credentials may still apply)', async (t) => {
  const { status, body } = await call(undefined);
  t.equal(status, 200);
  t.equal(body.identity, null);
  t.equal(body.tlsPeer, false);
});

t.test('identity headers from clients are ignored', async (t) => {
  const spoofed = {
    'x-forwarded-client-cert': 'By=spiffe://example.org/gw;URI=spiffe://example.org/ns/prod/sa/billing;DNS=admin.agents.example.org',
    'x-client-cert': encodeURIComponent(world.certs.billing!.certPem),
    'x-ssl-client-verify': 'SUCCESS',
    'x-ssl-client-s-dn': 'CN=admin',
    'x-ssl-client-san': 'spiffe://example.org/ns/prod/sa/billing',
    'x-ssl-client-cert': world.certs.billing!.certPem.replace(/\n/g, ' '),
    'x-agent-id': 'spiffe://example.org/ns/prod/sa/billing',
  };

  await t.test('over plain HTTP', async (t) => {
    const plain = createHttpServer(echoListener(world.agents));
    const port = await listen(plain);
    t.teardown(() => new Promise((resolve) => plain.close(resolve)));
    const echo = await new Promise<Echo>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path: '/mcp', headers: spoofed, agent: false }, (res) => readBody(res).then(resolve, reject))
        .on('error', reject)
        .end();
    });
    t.equal(echo.body.identity, null);
  });

  await t.test('over TLS without a client certificate', async (t) => {
    t.equal((await call(undefined, { headers: spoofed })).body.identity, null);
  });

  await t.test('over mTLS: the certificate speaks, not the headers', async (t) => {
    const { body } = await call(world.certs.stranger, { headers: spoofed });
    t.match(body.identity, { principal: 'agent:stranger.agents.example.org', groups: [] });
  });
});

t.test('a CRL reloaded at runtime revokes a certificate accepted before, without restart', async (t) => {
  // Keep-alive and TLS session caching on: neither may outlive the revocation.
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, maxCachedSessions: 10 });
  t.teardown(() => agent.destroy());
  const before = await call(world.certs.laterRevoked, { agent });
  t.match(before.body.identity, { groups: ['billing', 'finance'] }, 'accepted before');
  t.equal((await call(world.certs.laterRevoked, { agent })).status, 200, 'and again on the kept-alive connection');

  const ticketKeys = world.server.getTicketKeys();
  const closed = world.server.reloadCrl(await world.ca.crl([world.certs.revoked!, world.certs.laterRevoked!]));
  t.equal(closed, 1, 'the open connection of the revoked certificate is closed');
  t.notSame(world.server.getTicketKeys(), ticketKeys, 'sessions verified before the revocation cannot be resumed');
  // Let the client see the close, as a real client would before its next call.
  for (let i = 0; i < 100 && Object.keys(agent.freeSockets).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));

  const after = await call(world.certs.laterRevoked, { agent });
  t.equal(after.status, 401);
  t.match(after.body.error, { reason: 'invalid_token', message: /revoked/ });
  t.equal((await call(world.certs.billing)).status, 200, 'other agents are unaffected');
  t.equal((await call(world.certs.revoked)).status, 401, 'the earlier revocation still holds');

  t.throws(() => world.server.reloadCrl('-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n'), 'a bad CRL is refused');
  t.equal((await call(world.certs.laterRevoked)).status, 401, '…and the current one stays in force');
});

t.test('the client certificate of a connection cannot change: TLS 1.2 renegotiation is refused (also after a CRL reload)', async (t) => {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: world.port,
    servername: 'localhost',
    ca: world.ca.certPem,
    cert: world.certs.stranger!.certPem,
    key: world.certs.stranger!.keyPem,
    maxVersion: 'TLSv1.2',
  });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  const outcome = await new Promise<string>((resolve) => {
    socket.once('error', (err) => resolve(`refused: ${err.message}`));
    socket.once('close', () => resolve('refused: closed'));
    const started = socket.renegotiate({ rejectUnauthorized: false }, (err) =>
      resolve(err ? `refused: ${err.message}` : 'renegotiated'),
    );
    if (!started) resolve('refused: not started');
  });
  t.match(outcome, /^refused/);
});

t.test('several CAs: a CRL bundle is honoured per CA, and a CA without a CRL fails closed', async (t) => {
  const first = await createCa('First CA');
  const second = await createCa('Second CA');
  const serverCert = await first.issueServer();
  const a = await first.issueClient({ dns: ['a.agents.example.org'] });
  const b = await second.issueClient({ dns: ['b.agents.example.org'] });
  const c = await second.issueClient({ dns: ['c.agents.example.org'] });
  const server = createMtlsServer(
    { cert: serverCert.certPem, key: serverCert.keyPem, ca: [first.certPem, second.certPem].join('\n'), crl: await first.crl([]) },
    echoListener(world.agents),
  );
  const port = await listen(server);
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const get = (client: Issued) =>
    new Promise<Echo>((resolve, reject) => {
      httpsRequest(
        { host: '127.0.0.1', port, path: '/', servername: 'localhost', ca: first.certPem, cert: client.certPem, key: client.keyPem, agent: false },
        (res) => readBody(res).then(resolve, reject),
      )
        .on('error', reject)
        .end();
    });
  t.equal((await get(a)).status, 200);
  t.match((await get(b)).body.error, { reason: 'invalid_token', message: /revocation status cannot be checked/ }, 'no CRL for its CA: refused');
  server.reloadCrl((await first.crl([])) + (await second.crl([c])));
  t.equal((await get(a)).status, 200, 'first CA, first CRL of the bundle');
  t.equal((await get(b)).status, 200, 'second CA, second CRL of the bundle');
  t.match((await get(c)).body.error, { message: /revoked/ }, 'revoked by the second CRL of the bundle');
  server.reloadCrl(undefined);
  t.equal((await get(c)).status, 200, 'no CRL configured: no revocation checking');
});

t.test('a watched CRL file is reloaded when it changes', async (t) => {
  const file = join(world.dataDir, 'agents.crl');
  await writeFile(file, await world.ca.crl([world.certs.revoked!, world.certs.laterRevoked!]));
  t.equal((await call(world.certs.watchedRevoked)).status, 200);
  const reloaded = new Promise<number>((resolve, reject) => {
    const stop = watchCrlFile(world.server, file, { intervalMs: 20, onReload: (n) => (stop(), resolve(n)), onError: reject });
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await writeFile(file, await world.ca.crl([world.certs.revoked!, world.certs.laterRevoked!, world.certs.watchedRevoked!]));
  await reloaded;
  t.match((await call(world.certs.watchedRevoked)).body.error, { reason: 'invalid_token', message: /revoked/ });
});

t.test('loadMtlsFiles names the file that is unusable', async (t) => {
  const dir = world.dataDir;
  const server = await world.ca.issueServer();
  await writeFile(join(dir, 'server.pem'), server.certPem);
  await writeFile(join(dir, 'server.key'), server.keyPem);
  await writeFile(join(dir, 'ca.pem'), world.ca.certPem);
  await writeFile(join(dir, 'good.crl'), await world.ca.crl([]));
  await writeFile(join(dir, 'bad.crl'), 'not a crl');
  const paths = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') };
  const files = await loadMtlsFiles({ ...paths, crl: join(dir, 'good.crl') });
  t.ok(Buffer.isBuffer(files.crl));
  await t.rejects(loadMtlsFiles({ ...paths, crl: join(dir, 'bad.crl') }), { code: 'invalid_config', message: /^mtls\.crl \(.*bad\.crl\)/ });
  await t.rejects(loadMtlsFiles({ ...paths, ca: join(dir, 'missing.pem') }), { code: 'invalid_config', message: /^mtls\.ca \(.*missing\.pem\): cannot read \(ENOENT\)/ });
  await t.rejects(loadMtlsFiles({ ...paths, key: join(dir, 'ca.pem') }), { code: 'invalid_config', message: /^mtls\.cert/ });
  // node:tls takes these silently, then trusts no one:
  await t.rejects(loadMtlsFiles({ ...paths, ca: join(dir, 'bad.crl') }), { code: 'invalid_config', message: /^mtls\.ca .*no PEM CERTIFICATE/ });
  await t.rejects(loadMtlsFiles({ ...paths, ca: join(dir, 'server.pem') }), { code: 'invalid_config', message: /^mtls\.ca .*CN=localhost is not a CA certificate/ });
  // …or refuses everyone:
  await t.rejects(loadMtlsFiles({ ...paths, crl: join(dir, 'good.crl') }, new Date(Date.now() + 2 * DAY)), {
    code: 'invalid_config',
    message: /^mtls\.crl .*the CRL of CN=Agents CA expired at/,
  });
});

t.test('mappings', async (t) => {
  await t.rejects(world.agents.add('REPORTS.agents.example.org.', { groups: ['x'] }, 'admin:test'), { code: 'conflict' }, 'any encoding of a mapped SAN');
  await t.rejects(world.agents.add('spiffe://example.org/a\tb', { groups: ['x'] }, 'admin:test'), { code: 'invalid_name' });
  await t.rejects(world.agents.add('spiffe://example.org/new', { groups: [] }, 'admin:test'), { code: 'invalid_grant' });
  await t.rejects(world.agents.add('spiffe://example.org/new', { groups: ['a b'] }, 'admin:test'), { code: 'invalid_grant' });
  await t.rejects(world.agents.add('spiffe://example.org/new', { groups: ['a'], scopes: 'mcp:admin' as unknown as string[] }, 'admin:test'), { code: 'invalid_grant' });
  await t.rejects(world.agents.remove('nobody.example.org', 'admin:test'), { code: 'not_found' });

  // Concurrent adds of one agent: exactly one wins.
  const results = await Promise.allSettled([
    world.agents.add('spiffe://example.org/ns/race', { groups: ['a'] }, 'admin:one'),
    world.agents.add('SPIFFE://EXAMPLE.org/ns/race', { groups: ['b'] }, 'admin:two'),
  ]);
  t.same(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  await world.agents.remove('spiffe://example.org/ns/race', 'admin:test');

  t.same(world.changes.slice(0, 3).map((c) => [c.action, c.entry.canonical, c.actor, c.at]), [
    ['add', 'spiffe://example.org/ns/prod/sa/billing', 'admin:test', NOW.toISOString()],
    ['add', 'reports.agents.example.org', 'admin:test', NOW.toISOString()],
    ['add', 'admin.agents.example.org', 'admin:test', NOW.toISOString()],
  ]);
  t.same(world.changes.at(-1)?.action, 'remove');
});

t.test('mappings persist across reopening the store', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-mtls-persist-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const location = join(dataDir, 'db');
  let store = new Store(location);
  await store.open();
  let agents = new Agents(store, { now: () => NOW });
  await agents.load();
  await agents.add('spiffe://example.org/ns/prod/sa/billing', { groups: ['billing'], scopes: ['mcp:tool:ledger:write'] }, 'admin:test');
  await agents.add('reports.agents.example.org', { groups: ['reporting'] }, 'admin:test');
  await agents.add('gone.agents.example.org', { groups: ['x'] }, 'admin:test');
  await agents.remove('gone.agents.example.org', 'admin:test');
  const listed = agents.list();
  await store.close();

  store = new Store(location);
  await store.open();
  t.teardown(() => store.close());
  agents = new Agents(store);
  await agents.load();
  t.same(agents.list(), listed);
  t.same(
    agents.list().map((a) => a.canonical),
    ['reports.agents.example.org', 'spiffe://example.org/ns/prod/sa/billing'],
  );
  t.match(agents.get('SPIFFE://Example.org/ns/prod/sa/billing'), { san: 'spiffe://example.org/ns/prod/sa/billing', groups: ['billing'], createdAt: NOW.toISOString(), createdBy: 'admin:test' });
});

t.test('admin API and CLI', async (t) => {
  const app = buildApp({
    routers: [],
    adminRouters: [agentRoutes(world.agents)],
    adminAudit: (_ctx, next) => next(),
    adminAuth: async (ctx, next) => {
      if (ctx.get('authorization') !== 'Bearer admin-secret') {
        ctx.status = 401;
        return;
      }
      ctx.state.actor = 'admin:bootstrap';
      await next();
    },
    isReady: () => true,
    renderMetrics: () => '',
    onInternalError: (err) => t.fail(String(err)),
  });
  const server = createHttpServer(app.callback());
  const port = await listen(server);
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${port}/admin/v1/credentials/agents`;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: 'Bearer admin-secret', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const created = await api('POST', '', { san: 'spiffe://example.org/ns/prod/sa/etl', groups: ['etl'], scopes: ['mcp:tool:warehouse:read'] });
  t.equal(created.status, 201);
  t.match(created.body, { canonical: 'spiffe://example.org/ns/prod/sa/etl', groups: ['etl'], createdBy: 'admin:bootstrap', createdAt: NOW.toISOString() });
  t.match(await api('POST', '', { san: 'SPIFFE://example.org/ns/prod/sa/etl', groups: ['x'] }), { status: 409, body: { error: { code: 'conflict' } } });
  t.match(await api('POST', '', { san: 'bad name', groups: ['x'] }), { status: 400, body: { error: { code: 'invalid_name' } } });
  t.match(await api('POST', '', { san: 'x.example.org' }), { status: 400, body: { error: { code: 'invalid_grant' } } });
  t.match(await api('POST', '', ['x']), { status: 400, body: { error: { code: 'invalid_input' } } });

  const listed = await api('GET', '');
  t.ok(listed.body.agents.some((a: { canonical: string }) => a.canonical === 'spiffe://example.org/ns/prod/sa/etl'));
  const encoded = encodeURIComponent('spiffe://Example.org/ns/prod/sa/etl');
  t.match(await api('GET', `/${encoded}`), { status: 200, body: { san: 'spiffe://example.org/ns/prod/sa/etl' } });
  t.match(await api('DELETE', `/${encoded}`), { status: 200, body: { canonical: 'spiffe://example.org/ns/prod/sa/etl' } });
  t.match(await api('DELETE', `/${encoded}`), { status: 404, body: { error: { code: 'not_found' } } });
  t.match(await api('GET', `/${encoded}`), { status: 404 });
  t.equal((await fetch(base)).status, 401, 'behind admin authentication');

  // The CLI drives the same API.
  const printed: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
  const flags = ['--node', `http://127.0.0.1:${port}`, '--token', 'admin-secret'];
  try {
    await agentCommand(['add', 'cli.agents.example.org', '--groups', 'ops, oncall', '--scopes', 'mcp:tool:pager:write', ...flags]);
    await agentCommand(['list', ...flags]);
    await agentCommand(['show', 'CLI.agents.example.org.', '--json', ...flags]);
    await agentCommand(['remove', 'cli.agents.example.org', ...flags]);
  } finally {
    process.stdout.write = write;
  }
  t.match(printed[0], /^mapped cli\.agents\.example\.org → groups ops, oncall; scopes mcp:tool:pager:write/);
  t.match(printed[1], /SAN\s+GROUPS[\s\S]*cli\.agents\.example\.org\s+ops,oncall/);
  t.match(JSON.parse(printed[2]!), { canonical: 'cli.agents.example.org', createdBy: 'admin:bootstrap' });
  t.match(printed[3], /^removed cli\.agents\.example\.org/);
  await t.rejects(agentCommand(['add', 'x.example.org', ...flags]), { name: 'CliError', message: /--groups/ });
  await t.rejects(agentCommand(['frobnicate', ...flags]), { name: 'CliError', exitCode: 2 });
});
