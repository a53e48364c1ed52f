/**
 * `toolmesh peer …`, `toolmesh trust show|apply|diff` (against a running
 * node) and `toolmesh anchor` through the compiled binary, against two real
 * federated nodes (libp2p on loopback) under a real trust anchor.
 *
 * Sales' policy directory is a symlink swapped atomically to a new version, a
 * common way to deploy reviewed config; the node polls rarely here, so it is
 * `trust apply` that makes each version take effect (fs.watch follows the old
 * target, which never changes). That makes "applied, then unchanged" exact.
 *
 * Runs dist/ (`npm test` builds it in pretest; otherwise `npx tsc -p tsconfig.json`).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cliEnv, MAIN, ROOT, runCli } from '../helpers/cli.js';
import { planNode, startMeshNode, writeTrust, type NodePlan, waitFor, startTestAnchor } from '../helpers/mesh.js';
import { removeDir, type TestNode } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';

if (!existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npx tsc -p tsconfig.json\` first (npm test builds it in pretest)`);
} else {
  await cliTests();
}


/** Points `link` at `target` in one rename: the node never sees a half-written directory. */
async function swapLink(link: string, target: string): Promise<void> {
  const tmp = `${link}.next`;
  await symlink(target, tmp);
  await rename(tmp, link);
}

async function cliTests(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  t.teardown(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  const backend = await startLegacyHttpBackend();
  cleanups.push(() => backend.close());
  const sales = await planNode('sales', 'example-corp');
  const support = await planNode('support', 'example-corp');
  cleanups.push(() => removeDir(sales.dataDir), () => removeDir(support.dataDir));
  const anchor = await startTestAnchor([sales, support]);
  cleanups.push(() => anchor.stop());
  const trustAnchors = [anchor.pin];

  // Sales' versions: v1 imports echo; v2 also imports add (for a second group); v3 is broken YAML.
  const version = (n: number): NodePlan => ({ ...sales, trustDir: join(sales.dataDir, `trust-v${n}`) });
  await writeTrust(version(1), [{ plan: support, imports: [{ server: 'tickets', tools: ['echo'], groups: ['sales-reps'] }] }], { trustAnchors });
  await writeTrust(version(2), [
    { plan: support, imports: [{ server: 'tickets', tools: ['echo'], groups: ['sales-reps'] }, { server: 'tickets', tools: ['add'], groups: ['sales-leads'] }] },
  ], { trustAnchors });
  await cp(version(2).trustDir, version(3).trustDir, { recursive: true });
  const brokenFile = join(version(3).trustDir, 'peers', 'support.yaml');
  await writeFile(brokenFile, (await readFile(brokenFile, 'utf8')).replace('imports:', 'imports: [\n'));
  await symlink(version(1).trustDir, sales.trustDir);

  await writeTrust(support, [{ plan: sales, exports: [{ server: 'tickets', tools: ['echo'], access: 'read', groups: ['sales-reps'] }] }], { trustAnchors });
  const B: TestNode = await startMeshNode(support);
  cleanups.push(() => B.stop());
  await B.register({ slug: 'tickets', version: '1.0.0', backend: { http: backend.url }, readTools: ['echo'] });
  const A: TestNode = await startMeshNode(sales, { federation: { policyPollMs: 3_600_000 } });
  cleanups.push(() => A.stop());
  const conn = ['--node', A.url, '--token', A.token];

  // Linked, verified under the anchor, and holding Support's manifest.
  await waitFor('support linked, trusted and its manifest in', async () => {
    const { body } = await A.admin('GET', '/admin/v1/peers/support');
    return body?.status === 'connected' && body.trusted === true && body.received?.tools.length === 1 ? body : undefined;
  });

  t.test('peer id: computed offline from the data directory, the id the running node has', async (t) => {
    const fresh = await mkdtemp(join(tmpdir(), 'toolmesh-cli-peer-id-'));
    t.teardown(() => removeDir(fresh));
    const [r, first, online] = await Promise.all([
      runCli(['peer', 'id', '--data', sales.dataDir]),
      runCli(['peer', 'id', '--data', join(fresh, 'new'), '--json']),
      runCli(['peer', 'id', '--node', A.url]),
    ]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, `${sales.peerId}\n`, 'stdout is the id alone');
    t.equal((await A.admin('GET', '/admin/v1/peers')).body.peerId, sales.peerId);

    t.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout) as { peerId: string; created: boolean };
    t.match(out, { peerId: /^12D3KooW/, created: true }, 'a missing identity is created, as init does');
    const again = await runCli(['peer', 'id', '--data', join(fresh, 'new')]);
    t.equal(again.stdout.trim(), out.peerId, 'and then kept');
    t.equal(online.code, 2, 'offline only');
  });

  t.test('peer list: a table, and the API answer with --json', async (t) => {
    const [r, viaData] = await Promise.all([runCli(['peer', 'list', ...conn]), runCli(['peer', 'list', '--node', A.url, '--data', A.dataDir, '--json'])]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.equal(lines[0]!.startsWith(`this node  ${sales.peerId}`), true, lines[0]);
    t.match(r.stdout, /ALIAS\s+STATUS\s+TRUSTED\s+PEER ID\s+RTT\s+RECEIVED\s+LAST ERROR/);
    const row = lines.find((l) => l.startsWith('support '))!;
    t.ok(row, r.stdout);
    t.match(row, new RegExp(`^support\\s+connected\\s+yes\\s+${support.peerId.slice(0, 10)}…${support.peerId.slice(-6)}\\s`));
    t.match(row, /#\d+, 1 tool, expires in \d+[smh]/);

    t.equal(viaData.code, 0, 'the token is read from <data>/admin.token');
    const json = JSON.parse(viaData.stdout) as { peerId: string; peers: Array<Record<string, unknown>> };
    t.equal(json.peerId, sales.peerId);
    t.match(json.peers, [{ alias: 'support', peerId: support.peerId, entityId: support.entityId, status: 'connected', trusted: true, received: { tools: 1 } }]);
  });

  t.test('peer status: detail with the tools the peer offers us and who may call them here', async (t) => {
    const [r, json, missing, noAlias, empty, traversal] = await Promise.all([
      runCli(['peer', 'status', 'support', ...conn]),
      runCli(['peer', 'status', 'support', ...conn, '--json']),
      runCli(['peer', 'status', 'nobody', ...conn]),
      runCli(['peer', 'status', ...conn]),
      runCli(['peer', 'status', '', ...conn]),
      runCli(['peer', 'status', '../trust', ...conn]),
    ]);
    for (const [what, res] of [['an empty alias', empty], ['a path', traversal]] as const) {
      t.equal(res.code, 2, `${what}: a usage error`);
      t.match(res.stderr, /not a peer alias/, `${what}: says why`);
    }
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `peer id         ${support.peerId}`);
    t.match(r.stdout, `entity id       ${support.entityId}`);
    t.match(r.stdout, /trusted\s+yes \(trust chain verified\)/);
    t.match(r.stdout, /received\s+manifest #\d+, expires in/);
    t.match(r.stdout, 'tools offered to us (1):');
    t.match(r.stdout, /SERVER\s+VERSION\s+TOOL\s+ACCESS\s+LIFECYCLE\s+IMPORTED FOR\n[- ]+\ntickets\s+1\.0\.0\s+echo\s+read\s+\S+\s+sales-reps\n/);

    t.match(JSON.parse(json.stdout), { alias: 'support', received: { tools: [{ slug: 'tickets', version: '1.0.0', name: 'echo', access: 'read' }] } });

    t.equal(missing.code, 1);
    t.match(missing.stderr, /404 not_found: no peer nobody/);
    t.equal(noAlias.code, 2, 'the alias is required');
  });

  let v1Hash = '';
  t.test('trust show: the running policy and its history', async (t) => {
    v1Hash = (await A.admin('GET', '/admin/v1/trust')).body.hash;
    const [r, showJson] = await Promise.all([runCli(['trust', 'show', ...conn]), runCli(['trust', 'show', ...conn, '--json'])]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `running policy  ${v1Hash}  (${sales.trustDir})`);
    t.match(r.stdout, `node            sales (namespace example-corp), ${sales.entityId}, peer id ${sales.peerId}`);
    t.match(r.stdout, `trust anchors   ${anchor.entityId}`);
    t.match(r.stdout, new RegExp(`support\\s+${support.entityId.replace(/[.]/g, '\\.')}\\s+12D3KooW\\S+\\s+-\\s+tickets echo\\n`));
    t.match(r.stdout, /history \(1 version\(s\)\):\n#1  \S+  start  [0-9a-f]{12}\n    \+ node namespace: example-corp/);

    const json = JSON.parse(showJson.stdout) as { hash: string; policy: { source: { hash: string } }; history: unknown[] };
    t.equal(json.hash, v1Hash);
    t.equal(json.policy.source.hash, v1Hash, 'the whole normalised policy is there for diffs');
    t.equal(json.history.length, 1);
  });

  t.test('trust diff DIR against the running node', async (t) => {
    const [r, jsonRun, same, invalid, unreachable] = await Promise.all([
      runCli(['trust', 'diff', version(2).trustDir, ...conn]),
      runCli(['trust', 'diff', version(2).trustDir, ...conn, '--json']),
      runCli(['trust', 'diff', version(1).trustDir, ...conn]),
      runCli(['trust', 'diff', version(3).trustDir, ...conn]),
      runCli(['trust', 'diff', version(2).trustDir, '--node', 'http://127.0.0.1:1', '--token', 'x']),
    ]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, `running policy on ${A.url} (${v1Hash.slice(0, 12)}) → ${version(2).trustDir}\n~ import from support: tickets\n    - tickets tools echo for local groups sales-reps\n    + tickets tools echo for local groups sales-reps\n    + tickets tools add for local groups sales-leads\n`);
    const json = JSON.parse(jsonRun.stdout) as { from: unknown; changes: Array<{ kind: string }> };
    t.same(json.from, { node: A.url, hash: v1Hash });
    t.same(json.changes.map((c) => c.kind), ['import_changed']);

    t.match(same.stdout, /\nno changes\n$/, 'the running version against itself');
    t.equal(invalid.code, 1);
    t.match(invalid.stdout, `${version(3).trustDir}: INVALID (trust_policy_syntax)`);
    t.equal(unreachable.code, 1);
    t.match(unreachable.stderr, /the running policy could not be had: cannot reach the node/);
  });

  t.test('trust apply: applied, then unchanged', async (t) => {
    await swapLink(sales.trustDir, version(2).trustDir);
    const r = await runCli(['trust', 'apply', ...conn]);
    t.equal(r.code, 0, r.stderr);
    const v2Hash = (await A.admin('GET', '/admin/v1/trust')).body.hash as string;
    t.not(v2Hash, v1Hash);
    t.match(r.stdout, `applied: policy #2 (${v2Hash})\n~ import from support: tickets\n`);
    const again = await runCli(['trust', 'apply', ...conn]);
    t.equal(again.code, 0);
    t.equal(again.stdout, 'unchanged: the policy directory matches the running policy\n');
    const [unchangedJson, show] = await Promise.all([runCli(['trust', 'apply', ...conn, '--json']), runCli(['trust', 'show', ...conn])]);
    t.same(JSON.parse(unchangedJson.stdout), { status: 'unchanged' });
    t.match(show.stdout, /history \(2 version\(s\)\):\n#1 .*\n(    .*\n)+#2  \S+  reload  [0-9a-f]{12}\n    ~ import from support: tickets/);
    t.match(show.stdout, /tickets echo; tickets add\n/, 'the peer row shows both import rules');
  });

  t.test('trust apply: an invalid directory is refused (exit 1) and the running policy stays', async (t) => {
    const before = (await A.admin('GET', '/admin/v1/trust')).body.hash as string;
    await swapLink(sales.trustDir, version(3).trustDir);
    const [r, json, withDir] = await Promise.all([
      runCli(['trust', 'apply', ...conn]),
      runCli(['trust', 'apply', ...conn, '--json']),
      runCli(['trust', 'apply', 'some-dir', ...conn]),
    ]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^refused \(trust_policy_syntax\): the running policy stays\n  peers\/support\.yaml:\d+:\d+ /);
    t.equal(json.code, 1);
    t.match(JSON.parse(json.stdout), { status: 'refused', code: 'trust_policy_syntax', message: /peers\/support\.yaml/ });
    const running = (await A.admin('GET', '/admin/v1/trust')).body;
    t.equal(running.hash, before, 'the running policy is unchanged');
    t.match(running.refused, { code: 'trust_policy_syntax', message: /peers\/support\.yaml/, at: String }, '/admin/v1/trust says the directory on disk was refused');
    const shown = await runCli(['trust', 'show', ...conn]);
    t.match(shown.stdout, /the directory on disk was REFUSED at \S+ \(trust_policy_syntax\); the policy above still runs/, 'and so does trust show');
    const { body } = await A.admin('GET', '/admin/v1/peers/support');
    t.match(body, { status: 'connected', trusted: true }, 'and the peer is still linked');
    t.equal(withDir.code, 2, 'apply names no directory');
  });

  t.test('anchor --print-jwks, then anchor in the foreground until SIGTERM', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'toolmesh-cli-anchor-run-'));
    t.teardown(() => removeDir(dir));
    const [printed, noData] = await Promise.all([runCli(['anchor', '--print-jwks', '--data', dir]), runCli(['anchor', '--print-jwks'])]);
    t.equal(printed.code, 0, printed.stderr);
    const jwks = JSON.parse(printed.stdout) as { keys: Array<Record<string, unknown>> };
    t.match(jwks, { keys: [{ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: String }] });
    t.notOk('d' in jwks.keys[0]!, 'public keys only');
    t.equal(noData.code, 2, 'the anchor data directory is named explicitly');

    const members = join(dir, 'members.yaml');
    await writeFile(members, stringify({ subordinates: [{ entityId: sales.entityId, peerId: sales.peerId }] }));
    const child = spawn(process.execPath, [MAIN, 'anchor', '--data', dir, '--port', '0', '--members', members], { cwd: ROOT, env: cliEnv() });
    const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? -1)));
    t.teardown(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const banner = await waitFor('the anchor banner', async () => (/\n}\n$/.test(out) ? out : undefined), 10_000);
    t.match(banner, /^Toolmesh trust anchor http:\/\/127\.0\.0\.1:\d+\n/, 'the banner starts with the entity id');
    const entityId = /^Toolmesh trust anchor (\S+)\n/.exec(banner)![1]!;
    t.match(banner, `members               ${sales.entityId}`);
    t.same(JSON.parse(banner.slice(banner.indexOf('\n{') + 1)), jwks, 'it prints the JWKS --print-jwks gave (the key is kept)');

    const res = await fetch(`${entityId}/.well-known/openid-federation`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/entity-statement\+jwt/);
    const claims = JSON.parse(Buffer.from((await res.text()).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    t.match(claims, { iss: entityId, sub: entityId });
    t.same(claims.jwks, jwks, 'the entity configuration is signed for the printed keys');
    const member = await fetch(`${entityId}/federation/fetch?sub=${encodeURIComponent(sales.entityId)}`);
    t.equal(member.status, 200, 'a subordinate statement for the listed member');
    await member.text();

    child.kill('SIGTERM');
    t.equal(await exited, 0, 'a clean exit on SIGTERM');
  });
}
