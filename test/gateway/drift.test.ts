/**
 * Tool drift (PRODUCT.md §7): tool schemas are pinned at approval; a backend
 * that changes a tool's description afterwards is not trusted until an admin
 * re-approves it. The drifted tool disappears from tools/list (both eras, both
 * endpoints), calls to it are refused with 403 `forbidden` /
 * `cause: schema_changed` before reaching the backend, the drift is visible in
 * the admin API and history, survives a restart, and `approve` re-pins it.
 * A tool that appears on a backend after registration is not exposed until
 * approved either.
 */
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend, fixtureStdio } from '../helpers/backends.js';
import { connect, rawPost, modern, type Era } from '../helpers/clients.js';

const NEW_DESCRIPTION = 'Echoes the text back, and now also phones home';

const legacy = await startLegacyHttpBackend();
let tn: TestNode = await startTestNode();
const dataDir = tn.dataDir;
t.teardown(async () => {
  await tn.stop();
  await legacy.close();
  await removeDir(dataDir);
});

const registered = await tn.register({ slug: 'legacy', version: '1.0.0', backend: { http: legacy.url } });
const ERAS: Era[] = ['legacy', 'modern'];
const perServer = () => `${tn.url}/mcp/v1/tools/legacy/rpc`;
const aggregate = () => `${tn.url}/mcp`;

async function toolNames(era: Era, url: string): Promise<Map<string, string | undefined>> {
  const client = await connect(era, url);
  try {
    const { tools } = await client.listTools();
    return new Map(tools.map((x) => [x.name, x.description]));
  } finally {
    await client.close();
  }
}

/** Asserts the echo tool is refused as drifted on both endpoints, without reaching the backend. */
async function assertEchoWithheld(tt: Test) {
  const before = legacy.calls.get('echo') ?? 0;
  for (const [url, name] of [
    [perServer(), 'echo'],
    [aggregate(), 'legacy__echo'],
  ] as const) {
    const { body, headers } = modern('tools/call', { name, arguments: { text: 'hi' } });
    const res = await rawPost(url, body, headers);
    tt.equal(res.status, 403, `${name}: HTTP 403`);
    tt.equal(res.body?.error?.code, -32003, `${name}: JSON-RPC -32003`);
    tt.equal(res.body?.error?.data?.reason, 'forbidden', `${name}: reason forbidden`);
    tt.equal(res.body?.error?.data?.cause, 'schema_changed', `${name}: cause schema_changed`);
  }
  for (const era of ERAS) {
    const client = await connect(era, perServer());
    // The SDK clients surface the HTTP 403 as a transport error quoting the JSON-RPC body.
    const err = await client.callTool('echo', { text: 'hi' }).then(
      () => undefined,
      (e: Error) => e,
    );
    await client.close();
    tt.match(err?.message, /"reason":"forbidden","cause":"schema_changed"/, `${era} SDK client: echo is refused as schema_changed`);
  }
  tt.equal(legacy.calls.get('echo') ?? 0, before, 'the backend never executed echo');
}

t.test('before drift: echo is listed with the registered description and callable', async (tt) => {
  for (const era of ERAS) {
    const names = await toolNames(era, perServer());
    tt.equal(names.get('echo'), 'Echoes the text back', `${era}: pinned description`);
  }
  const client = await connect('modern', perServer());
  const r = await client.callTool('echo', { text: 'before' });
  await client.close();
  tt.same(r.content, [{ type: 'text', text: 'before' }]);
});

t.test('a changed description is detected and the tool withheld', async (tt) => {
  legacy.setEchoDescription(NEW_DESCRIPTION);
  // The legacy backend builds one server per session, so its new definition is
  // only visible on a new session: recycle the gateway's connection, as a
  // redeployed backend would force.
  await tn.node.backends.release('legacy@1.0.0');
  await tn.node.driftMonitor.checkOne('legacy', '1.0.0');

  for (const era of ERAS) {
    const agg = await toolNames(era, aggregate());
    tt.notOk(agg.has('legacy__echo'), `${era} aggregate: echo withheld`);
    for (const other of ['legacy__add', 'legacy__slow', 'legacy__progress']) tt.ok(agg.has(other), `${era} aggregate: ${other} still listed`);
    const per = await toolNames(era, perServer());
    tt.same([...per.keys()].sort(), ['add', 'progress', 'slow'], `${era} per-server: only echo withheld`);
  }

  await assertEchoWithheld(tt);

  // Other tools are unaffected.
  const client = await connect('legacy', perServer());
  const sum = await client.callTool('add', { a: 2, b: 3 });
  await client.close();
  tt.same(sum.content, [{ type: 'text', text: '5' }]);

  const res = await tn.admin('GET', '/admin/v1/servers/legacy/versions/1.0.0');
  tt.equal(res.status, 200);
  tt.same(res.body.drift?.drifted, ['echo'], 'admin API shows the drifted tool');
  tt.same(res.body.drift?.unapproved, []);
  tt.type(res.body.drift?.detectedAt, 'string');
  tt.equal(res.body.tools.find((x: any) => x.name === 'echo')?.description, 'Echoes the text back', 'the pin is unchanged');

  const history = await tn.admin('GET', '/admin/v1/servers/legacy');
  const entry = history.body.history.find((h: any) => h.action === 'drift_detected');
  tt.ok(entry, 'history has a drift_detected entry');
  tt.same(entry?.detail?.drifted, ['echo']);
  tt.equal(entry?.version, '1.0.0');

  // A second check with the same drift adds no second history entry.
  await tn.node.driftMonitor.checkOne('legacy', '1.0.0');
  const again = await tn.admin('GET', '/admin/v1/servers/legacy');
  tt.equal(again.body.history.filter((h: any) => h.action === 'drift_detected').length, 1, 'unchanged drift is recorded once');
});

t.test('the drift survives a restart of the node', async (tt) => {
  tn = await tn.restart();
  const res = await tn.admin('GET', '/admin/v1/servers/legacy/versions/1.0.0');
  tt.same(res.body.drift?.drifted, ['echo'], 'drift reloaded from the store');
  for (const era of ERAS) {
    const per = await toolNames(era, perServer());
    tt.notOk(per.has('echo'), `${era}: still withheld after restart`);
  }
  await assertEchoWithheld(tt);
});

t.test('approve re-pins the new definition and the tool is callable again', async (tt) => {
  const res = await tn.admin('POST', '/admin/v1/servers/legacy/versions/1.0.0/approve', {});
  tt.equal(res.status, 200);
  tt.equal(res.body.approvedBy, 'admin:bootstrap');
  tt.ok(Date.parse(res.body.approvedAt) > Date.parse(registered.approvedAt), 'approvedAt moved forward');
  tt.equal(res.body.drift, null, 'no drift left');
  const echo = res.body.tools.find((x: any) => x.name === 'echo');
  tt.equal(echo.description, NEW_DESCRIPTION, 'the new description is pinned');
  tt.equal(echo.approvedAt, res.body.approvedAt, 'the re-pinned tool carries the new approval');
  const add = res.body.tools.find((x: any) => x.name === 'add');
  tt.equal(add.approvedAt, registered.approvedAt, 'unchanged tools keep their original approval');

  const history = await tn.admin('GET', '/admin/v1/servers/legacy');
  const approve = history.body.history.find((h: any) => h.action === 'approve');
  tt.ok(approve, 'history has an approve entry');
  tt.same(approve?.detail?.changed, ['echo']);
  tt.same(
    history.body.history.map((h: any) => h.action),
    ['register', 'drift_detected', 'approve'],
    'history in order',
  );

  for (const era of ERAS) {
    const per = await toolNames(era, perServer());
    tt.equal(per.get('echo'), NEW_DESCRIPTION, `${era} per-server: echo listed with the new description`);
    const agg = await toolNames(era, aggregate());
    tt.equal(agg.get('legacy__echo'), NEW_DESCRIPTION, `${era} aggregate: echo listed with the new description`);
  }
  const before = legacy.calls.get('echo') ?? 0;
  for (const era of ERAS) {
    const client = await connect(era, aggregate());
    const r = await client.callTool('legacy__echo', { text: `after ${era}` });
    await client.close();
    tt.same(r.content, [{ type: 'text', text: `after ${era}` }]);
  }
  tt.equal(legacy.calls.get('echo'), before + 2, 'the backend executed both calls');

  // With the new pin matching the live definition, a check finds nothing.
  await tn.node.driftMonitor.checkOne('legacy', '1.0.0');
  const after = await tn.admin('GET', '/admin/v1/servers/legacy/versions/1.0.0');
  tt.equal(after.body.drift, null);
});

t.test('a tool that appears on the backend is not exposed until approved', async (tt) => {
  await tn.register({ slug: 'fx', version: '1.0.0', backend: fixtureStdio() });
  const url = `${tn.url}/mcp/v1/tools/fx/rpc`;
  const client = await connect('modern', url);
  tt.teardown(() => client.close());
  const initial = (await client.listTools()).tools.map((x) => x.name);
  tt.notOk(initial.includes('extra-1'));

  // `touch` makes the fixture register a new tool `extra-1` (and notify list_changed).
  const touched = await client.callTool('touch', {});
  tt.same(touched.content, [{ type: 'text', text: 'touched' }]);
  // The list_changed notification triggers a check; run one explicitly too so the test does not race it.
  await tn.node.driftMonitor.checkOne('fx', '1.0.0');
  for (let i = 0; i < 50 && !tn.node.registry.drift('fx', '1.0.0'); i++) await sleep(20);

  const state = await tn.admin('GET', '/admin/v1/servers/fx/versions/1.0.0');
  tt.same(state.body.drift?.unapproved, ['extra-1'], 'the new tool is reported as unapproved');
  tt.same(state.body.drift?.drifted, [], 'no pinned tool drifted');

  for (const era of ERAS) {
    const per = await toolNames(era, url);
    tt.notOk(per.has('extra-1'), `${era} per-server: new tool not listed`);
    tt.ok(per.has('echo'), `${era} per-server: pinned tools still listed`);
    const agg = await toolNames(era, aggregate());
    tt.notOk(agg.has('fx__extra-1'), `${era} aggregate: new tool not listed`);
  }
  for (const [target, name] of [
    [url, 'extra-1'],
    [aggregate(), 'fx__extra-1'],
  ] as const) {
    const { body, headers } = modern('tools/call', { name, arguments: {} });
    const res = await rawPost(target, body, headers);
    tt.equal(res.status, 200, `${name}: answered by the gateway`);
    tt.equal(res.body?.result?.isError, true, `${name}: unknown tool (isError result)`);
    tt.equal(res.body?.result?._meta?.['io.toolmesh/reason'], 'unknown_tool', `${name}: reason unknown_tool`);
  }

  const approved = await tn.admin('POST', '/admin/v1/servers/fx/versions/1.0.0/approve', {});
  tt.equal(approved.status, 200);
  tt.ok(approved.body.tools.some((x: any) => x.name === 'extra-1'), 'the new tool is pinned');
  tt.equal(approved.body.drift, null);
  const listed = (await client.listTools()).tools.map((x) => x.name);
  tt.ok(listed.includes('extra-1'), 'listed after approval');
  const r = await client.callTool('extra-1', {});
  tt.same(r.content, [{ type: 'text', text: 'extra' }], 'callable after approval');
});
