/**
 * Server versions and their lifecycle, end to end (PRODUCT.md §3, §5.4, §7):
 * one backend registered as several versions of `lib` (1.0.0, 1.4.0, 2.0.0
 * and the pre-release 2.1.0-alpha.1) is served per API major version, newest
 * non-sunset release first; deprecation shows up as RFC 9745 / RFC 8594
 * headers; sunset versions fall back to older ones and finally answer 410
 * with the migration URL; the aggregate drops a slug with nothing servable;
 * versions are immutable; every lifecycle change is in the history with its
 * actor; promotion only moves forward.
 */
import t, { type Test } from 'tap';

import { startTestNode, removeDir } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';

const startedAt = Date.now();
const backend = await startLegacyHttpBackend();
const tn = await startTestNode();
t.teardown(async () => {
  await tn.stop();
  await backend.close();
  await removeDir(tn.dataDir);
});

for (const version of ['1.0.0', '1.4.0', '2.0.0']) await tn.register({ slug: 'lib', version, backend: { http: backend.url } });
await tn.register({ slug: 'lib', version: '2.1.0-alpha.1', lifecycle: 'alpha', backend: { http: backend.url } });
await tn.register({ slug: 'old', version: '1.0.0', backend: { http: backend.url } });

const MIGRATION = 'https://docs.example.com/lib/migrate-to-v2';
const perServer = (major: number, slug = 'lib') => `${tn.url}/mcp/v${major}/tools/${slug}/rpc`;
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The server version an endpoint answers as, asked in both eras. */
async function servedVersion(t: Test, url: string): Promise<string | undefined> {
  const m = modern('server/discover');
  const discover = await rawPost(url, m.body, m.headers);
  const modernVersion = discover.body?.result?._meta?.['io.modelcontextprotocol/serverInfo']?.version;
  const init = await rawPost(url, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'versioning', version: '1.0.0' } },
  });
  t.equal(init.body?.result?.serverInfo?.version, modernVersion, `${url}: both eras agree on the version (${modernVersion})`);
  t.equal(discover.body?.result?._meta?.['io.modelcontextprotocol/serverInfo']?.name, 'toolmesh/lib', 'serverInfo names the slug');
  return modernVersion;
}

/** A modern tools/call of `echo` on `url`. */
function callEcho(url: string, text: string) {
  const m = modern('tools/call', { name: 'echo', arguments: { text } });
  return rawPost(url, m.body, m.headers);
}

/** What the aggregate lists: tool name → the version serving it. */
async function aggregateTools(): Promise<Map<string, string>> {
  const m = modern('tools/list');
  const res = await rawPost(`${tn.url}/mcp`, m.body, m.headers);
  return new Map((res.body?.result?.tools ?? []).map((x: any) => [x.name, x._meta?.['io.toolmesh/server']?.version]));
}

function expectSunset(t: Test, res: Awaited<ReturnType<typeof rawPost>>, what: string, migrationUrl: string | undefined) {
  t.equal(res.status, 410, `${what}: 410 Gone`);
  t.equal(res.body?.error?.code, -32010, `${what}: code -32010`);
  t.equal(res.body?.error?.data?.reason, 'sunset', `${what}: reason sunset`);
  t.equal(res.body?.error?.data?.migrationUrl, migrationUrl, `${what}: data.migrationUrl`);
}

function expectNotFound(t: Test, res: Awaited<ReturnType<typeof rawPost>>, what: string) {
  t.equal(res.status, 404, `${what}: 404`);
  t.equal(res.body?.error?.code, -32004, `${what}: code -32004`);
  t.equal(res.body?.error?.data?.reason, 'not_found', `${what}: reason not_found`);
}

t.test('each major version is served by its newest release', async (t) => {
  t.equal(await servedVersion(t, perServer(1)), '1.4.0', 'v1 → 1.4.0');
  t.equal(await servedVersion(t, perServer(2)), '2.0.0', 'v2 → 2.0.0, not the newer pre-release 2.1.0-alpha.1');
  for (const major of [0, 3, 10]) {
    const m = modern('tools/list');
    expectNotFound(t, await rawPost(perServer(major), m.body, m.headers), `v${major}`);
  }
  const tools = await aggregateTools();
  t.equal(tools.get('lib__echo'), '2.0.0', 'the aggregate serves lib’s newest release');
  t.equal(tools.get('old__echo'), '1.0.0');

  const before = backend.calls.get('echo') ?? 0;
  const res = await callEcho(perServer(1), 'v1');
  t.equal(res.status, 200);
  t.same(res.body?.result?.content, [{ type: 'text', text: 'v1' }]);
  t.equal(backend.calls.get('echo'), before + 1, 'the call reached the backend');
  t.equal(res.headers.get('x-mcp-deprecated'), null, 'a stable version carries no deprecation headers');
  t.equal(res.headers.get('deprecation'), null);
  t.equal(res.headers.get('sunset'), null);
});

t.test('a deprecated version announces itself on every response', async (t) => {
  const sunsetAt = new Date(Date.now() + 30 * 86_400_000);
  const dep = await tn.admin('POST', '/admin/v1/servers/lib/versions/1.4.0/deprecate', { sunsetAt: sunsetAt.toISOString(), migrationUrl: MIGRATION });
  t.equal(dep.status, 200);
  t.equal(dep.body.lifecycle, 'deprecated');
  const deprecatedAt = Date.parse(dep.body.deprecatedAt);
  t.ok(deprecatedAt >= startedAt - 1000 && deprecatedAt <= Date.now() + 1000, 'deprecatedAt is now');

  t.equal(await servedVersion(t, perServer(1)), '1.4.0', 'a deprecated version is still served');

  const m = modern('tools/list');
  const responses = {
    'tools/list': await rawPost(perServer(1), m.body, m.headers),
    'tools/call': await callEcho(perServer(1), 'still here'),
  };
  for (const [what, res] of Object.entries(responses)) {
    t.equal(res.status, 200, `${what}: served`);
    t.equal(res.headers.get('deprecation'), `@${Math.floor(deprecatedAt / 1000)}`, `${what}: Deprecation: @<unix seconds> (RFC 9745)`);
    const sunset = res.headers.get('sunset');
    t.match(sunset, HTTP_DATE, `${what}: Sunset is an HTTP-date (RFC 8594)`);
    t.equal(Date.parse(sunset!), Math.floor(sunsetAt.getTime() / 1000) * 1000, `${what}: Sunset is the configured date`);
    t.equal(res.headers.get('x-mcp-deprecated'), 'true', `${what}: X-MCP-Deprecated: true`);
    t.equal(res.headers.get('link'), `<${MIGRATION}>; rel="deprecation"`, `${what}: Link to the migration guide`);
  }
  t.same(responses['tools/call'].body?.result?.content, [{ type: 'text', text: 'still here' }]);

  const v2 = await callEcho(perServer(2), 'v2');
  t.equal(v2.status, 200);
  t.equal(v2.headers.get('x-mcp-deprecated'), null, 'another major is unaffected');
  t.equal(v2.headers.get('deprecation'), null);
});

t.test('sunsetting versions: fall back, then 410', async (t) => {
  // A legacy session opened on v1 before the sunset.
  const init = await rawPost(perServer(1), {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'versioning', version: '1.0.0' } },
  });
  const session = init.headers.get('mcp-session-id')!;
  t.ok(session, 'a legacy session on v1');

  const s1 = await tn.admin('POST', '/admin/v1/servers/lib/versions/1.4.0/sunset');
  t.equal(s1.status, 200);
  t.equal(s1.body.lifecycle, 'sunset');
  t.equal(await servedVersion(t, perServer(1)), '1.0.0', 'v1 falls back to 1.0.0');
  const fallback = await callEcho(perServer(1), 'fallback');
  t.equal(fallback.status, 200);
  t.same(fallback.body?.result?.content, [{ type: 'text', text: 'fallback' }]);
  t.equal(fallback.headers.get('x-mcp-deprecated'), null, '1.0.0 is not deprecated');

  const s2 = await tn.admin('POST', '/admin/v1/servers/lib/versions/1.0.0/sunset');
  t.equal(s2.status, 200);
  const before = backend.calls.get('echo') ?? 0;
  expectSunset(t, await callEcho(perServer(1), 'gone'), 'modern tools/call on v1', MIGRATION);
  const m = modern('server/discover');
  expectSunset(t, await rawPost(perServer(1), m.body, m.headers), 'modern server/discover on v1', MIGRATION);
  expectSunset(
    t,
    await rawPost(perServer(1), {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
    'legacy initialize on v1',
    MIGRATION,
  );
  expectSunset(
    t,
    await rawPost(perServer(1), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { 'mcp-session-id': session }),
    'a legacy session opened before the sunset',
    MIGRATION,
  );
  t.equal(backend.calls.get('echo') ?? 0, before, 'no call reached the backend');
  t.equal(await servedVersion(t, perServer(2)), '2.0.0', 'v2 still served');
});

t.test('a sunsetAt in the past, set via deprecate, is a sunset too', async (t) => {
  const past = '2020-01-01T00:00:00.000Z';
  const dep = await tn.admin('POST', '/admin/v1/servers/old/versions/1.0.0/deprecate', { sunsetAt: past, migrationUrl: 'https://docs.example.com/old' });
  t.equal(dep.status, 200);
  t.equal(dep.body.lifecycle, 'deprecated', 'the record says deprecated');
  t.equal(dep.body.sunsetAt, past);
  const before = backend.calls.get('echo') ?? 0;
  expectSunset(t, await callEcho(perServer(1, 'old'), 'x'), 'tools/call on old v1', 'https://docs.example.com/old');
  t.equal(backend.calls.get('echo') ?? 0, before, 'no call reached the backend');

  const tools = await aggregateTools();
  t.notOk([...tools.keys()].some((n) => n.startsWith('old__')), 'the aggregate no longer lists old’s tools');
  t.equal(tools.get('lib__echo'), '2.0.0', 'lib is still listed (its v2 lives)');
  const m = modern('tools/call', { name: 'old__echo', arguments: { text: 'x' } });
  const res = await rawPost(`${tn.url}/mcp`, m.body, m.headers);
  t.equal(res.status, 410, 'calling a fully sunset slug on the aggregate: 410');
  t.equal(res.body?.error?.code, -32010);
  t.equal(res.body?.error?.data?.reason, 'sunset');
  t.equal(res.body?.error?.data?.migrationUrl, 'https://docs.example.com/old');
  t.equal(backend.calls.get('echo') ?? 0, before, 'no call reached the backend');
});

t.test('a sunset scheduled in the future keeps serving, with headers', async (t) => {
  const at = new Date(Date.now() + 7 * 86_400_000).toISOString();
  const res = await tn.admin('POST', '/admin/v1/servers/lib/versions/2.0.0/sunset', { sunsetAt: at });
  t.equal(res.status, 200);
  t.equal(res.body.lifecycle, 'deprecated', 'scheduled, not yet sunset');
  const call = await callEcho(perServer(2), 'soon gone');
  t.equal(call.status, 200);
  t.equal(call.headers.get('x-mcp-deprecated'), 'true');
  t.equal(Date.parse(call.headers.get('sunset')!), Math.floor(Date.parse(at) / 1000) * 1000);
  t.equal(call.headers.get('link'), null, 'no migration URL, no Link header');
  t.equal(await servedVersion(t, perServer(2)), '2.0.0');
});

t.test('versions are immutable', async (t) => {
  for (const [version, what] of [
    ['1.4.0', 'a sunset version'],
    ['2.0.0', 'a live version'],
    ['2.1.0-alpha.1', 'a pre-release'],
  ]) {
    const res = await tn.admin('POST', '/admin/v1/servers', { slug: 'lib', version, backend: { http: backend.url } });
    t.equal(res.status, 409, `re-registering ${what} (${version}): 409`);
    t.equal(res.body?.error?.code, 'conflict', `${version}: conflict`);
  }
  const other = await tn.admin('POST', '/admin/v1/servers', { slug: 'lib', version: '2.0.0', backend: { http: 'http://127.0.0.1:1/mcp' } });
  t.equal(other.status, 409, 'also with another backend');
  const after = await tn.admin('GET', '/admin/v1/servers/lib/versions/2.0.0');
  t.equal(after.body.backend.http, backend.url, 'the record still points at the original backend');
});

t.test('promotion moves forward only', async (t) => {
  const base = '/admin/v1/servers/lib/versions/2.1.0-alpha.1';
  const beta = await tn.admin('POST', `${base}/promote`);
  t.equal(beta.status, 200);
  t.equal(beta.body.lifecycle, 'beta', 'alpha → beta');
  const back = await tn.admin('POST', `${base}/promote`, { to: 'alpha' });
  t.equal(back.status, 409, 'beta → alpha is refused');
  t.equal(back.body?.error?.code, 'conflict');
  const stable = await tn.admin('POST', `${base}/promote`, { to: 'stable' });
  t.equal(stable.status, 200);
  t.equal(stable.body.lifecycle, 'stable', 'beta → stable');
  const again = await tn.admin('POST', `${base}/promote`);
  t.equal(again.status, 409, 'promoting a stable version again: 409');
  t.equal(again.body?.error?.code, 'conflict');

  for (const [version, what] of [
    ['1.4.0', 'a sunset version'],
    ['2.0.0', 'a deprecated version'],
  ]) {
    const res = await tn.admin('POST', `/admin/v1/servers/lib/versions/${version}/promote`);
    t.equal(res.status, 409, `promoting ${what}: 409`);
    t.equal(res.body?.error?.code, 'conflict');
  }
  const redeprecate = await tn.admin('POST', '/admin/v1/servers/lib/versions/1.0.0/deprecate', {});
  t.equal(redeprecate.status, 409, 'deprecating a sunset version: 409');
  const missing = await tn.admin('POST', '/admin/v1/servers/lib/versions/9.9.9/sunset');
  t.equal(missing.status, 404, 'sunsetting an unknown version: 404');
  t.equal(missing.body?.error?.code, 'not_found');

  t.equal(await servedVersion(t, perServer(2)), '2.0.0', 'a stable pre-release still does not displace the release');
});

t.test('the aggregate drops a slug whose every version is sunset', async (t) => {
  for (const version of ['2.0.0', '2.1.0-alpha.1']) {
    const res = await tn.admin('POST', `/admin/v1/servers/lib/versions/${version}/sunset`, { migrationUrl: 'https://docs.example.com/lib/v3' });
    t.equal(res.status, 200, `sunset ${version}`);
  }
  const tools = await aggregateTools();
  t.equal(tools.size, 0, 'nothing is listed any more');
  expectSunset(t, await callEcho(perServer(2), 'x'), 'v2', 'https://docs.example.com/lib/v3');
  expectSunset(t, await callEcho(perServer(1), 'x'), 'v1', MIGRATION);
});

t.test('the history records every change with actor and time', async (t) => {
  const res = await tn.admin('GET', '/admin/v1/servers/lib');
  t.equal(res.status, 200);
  t.same(
    res.body.versions.map((v: any) => [v.version, v.lifecycle]),
    [
      ['2.1.0-alpha.1', 'sunset'],
      ['2.0.0', 'sunset'],
      ['1.4.0', 'sunset'],
      ['1.0.0', 'sunset'],
    ],
    'every version, newest first, all sunset',
  );
  const history = res.body.history as { at: string; actor: string; action: string; version: string; detail?: any }[];
  t.same(
    history.map((h) => `${h.action} ${h.version}`),
    [
      'register 1.0.0',
      'register 1.4.0',
      'register 2.0.0',
      'register 2.1.0-alpha.1',
      'deprecate 1.4.0',
      'sunset 1.4.0',
      'sunset 1.0.0',
      'sunset 2.0.0',
      'promote 2.1.0-alpha.1',
      'promote 2.1.0-alpha.1',
      'sunset 2.0.0',
      'sunset 2.1.0-alpha.1',
    ],
    'register, deprecate, sunset and promote entries, in order, and nothing for refused changes',
  );
  let previous = 0;
  for (const h of history) {
    t.equal(h.actor, 'admin:bootstrap', `${h.action} ${h.version}: actor`);
    const at = Date.parse(h.at);
    t.ok(at >= startedAt - 1000 && at <= Date.now() + 1000, `${h.action} ${h.version}: time is during this test`);
    t.ok(at >= previous, `${h.action} ${h.version}: in time order`);
    previous = at;
  }
  const dep = history.find((h) => h.action === 'deprecate')!;
  t.equal(dep.detail?.migrationUrl, MIGRATION, 'the deprecate entry keeps its migration URL');
  t.ok(dep.detail?.sunsetAt, 'and its sunset date');
  t.same(
    history.filter((h) => h.action === 'promote').map((h) => [h.detail?.from, h.detail?.to]),
    [
      ['alpha', 'beta'],
      ['beta', 'stable'],
    ],
    'promotions record from and to',
  );
  const old = await tn.admin('GET', '/admin/v1/servers/old');
  t.same(
    old.body.history.map((h: any) => h.action),
    ['register', 'deprecate'],
    'histories are per slug',
  );
});
