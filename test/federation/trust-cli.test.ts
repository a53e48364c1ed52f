/**
 * `toolmesh trust check|diff` through the compiled binary: exit codes, the
 * file and field of every problem, warnings shown without failing, exported
 * servers checked against a running node's registry when one is named (and a
 * note when it cannot be reached).
 *
 * Runs dist/ (`npm test` builds it in pretest; otherwise `npx tsc -p tsconfig.json`).
 */
import { freePort } from '../../scripts/lib/ports.js';
import t from 'tap';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, runCli, startNodeProcess, terminate, type NodeProcess } from '../helpers/cli.js';
import { removeDir } from '../helpers/node.js';

const EXAMPLES = 'trust-config/examples';


if (!existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npx tsc -p tsconfig.json\` first (npm test builds it in pretest)`);
} else {
  await cliTests();
}

async function cliTests(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'toolmesh-trust-cli-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  let copies = 0;
  const copyOf = async (node: string) => {
    const dir = join(scratch, `${node}-${++copies}`);
    await cp(join(EXAMPLES, node), dir, { recursive: true });
    return dir;
  };
  const edit = async (file: string, from: string, to: string) => writeFile(file, (await readFile(file, 'utf8')).replace(from, to));

  t.test('check: the examples are ok (exit 0), with a note that the registry was not asked', async (t) => {
    for (const node of ['sales', 'support', 'acme']) {
      const r = await runCli(['trust', 'check', join(EXAMPLES, node)]);
      t.equal(r.code, 0, r.stdout + r.stderr);
      t.match(r.stdout, new RegExp(`^${EXAMPLES}/${node}: ok: node ${node} `));
    }
    const r = await runCli(['trust', 'check', join(EXAMPLES, 'sales')]);
    t.match(r.stdout, /2 peer\(s\): acme, support; 3 export rule\(s\), 3 import rule\(s\)/);
    t.match(r.stdout, /note: exported servers not checked against a registry \(pass --node URL/);
  });

  t.test('check --json', async (t) => {
    const r = await runCli(['trust', 'check', join(EXAMPLES, 'acme'), '--json']);
    t.equal(r.code, 0);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: unknown[]; peers: string[]; hash: string; notes: string[] };
    t.match(out, { ok: true, findings: [], peers: ['excorp-sales'], hash: /^[0-9a-f]{64}$/ });
    t.equal(out.notes.length, 1);
  });

  t.test('check: an invalid directory exits 1 naming file, line and field', async (t) => {
    const dir = await copyOf('sales');
    await edit(join(dir, 'peers/support.yaml'), 'versions: ">=2.0.0 <3.0.0"', 'versions: "two"');
    await edit(join(dir, 'peers/acme.yaml'), 'alias: acme', 'alias: acme.corp');
    const r = await runCli(['trust', 'check', dir]);
    t.equal(r.code, 1);
    t.match(r.stdout, `${dir}: INVALID (trust_policy_schema)`);
    t.match(r.stdout, /peers\/support\.yaml:20:5 \/exports\/0\/versions: is not a valid semver range/);
    t.match(r.stdout, /peers\/acme\.yaml:4:1 \/alias: is not a node alias/);
    const json = await runCli(['trust', 'check', dir, '--json']);
    t.equal(json.code, 1);
    t.match(JSON.parse(json.stdout), { ok: false, error: { code: 'trust_policy_schema', issues: [{ file: 'peers/acme.yaml', pointer: '/alias' }, { file: 'peers/support.yaml', pointer: '/exports/0/versions', line: 20 }] } });
  });

  t.test('check: warnings are printed, exit 0; lint errors exit 1', async (t) => {
    const dir = await copyOf('sales');
    await edit(join(dir, 'peers/acme.yaml'), '  - /dns4/mesh.acme.test/tcp/7400\n', '');
    await edit(join(dir, 'peers/acme.yaml'), 'addresses:\n', 'addresses: []\n');
    let r = await runCli(['trust', 'check', dir]);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /: ok: .* — 0 error\(s\), 1 warning\(s\)/);
    t.match(r.stdout, /warning\s+peer_without_addresses\s+peers\/acme\.yaml#\/addresses\s+peer "acme" has no addresses/);

    await edit(join(dir, 'peers/support.yaml'), '12D3KooW9ztgCJZfhnYbedsju7BthY2x1TrRdUesVGqeyDbM2ufe', '12D3KooWGfA46b8RMxqJ6ggZW23HTYeiqs13cc2cJJXHXupViw8o');
    r = await runCli(['trust', 'check', dir]);
    t.equal(r.code, 1);
    t.match(r.stdout, /NOT OK: .* — 1 error\(s\), 1 warning\(s\)/);
    t.match(r.stdout, /error\s+duplicate_peer_id\s+peers\/support\.yaml#\/peerId/);
  });

  t.test('check --node: an unreachable node skips the registry check with a note', async (t) => {
    const r = await runCli(['trust', 'check', join(EXAMPLES, 'sales'), '--node', `http://127.0.0.1:${await freePort()}`, '--token', 'tmadm_x']);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /note: exported servers not checked against a registry: cannot reach the node/);
  });

  t.test('check --node: exported servers against a running node', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-trust-node-'));
    let node: NodeProcess | undefined;
    t.teardown(async () => {
      if (node) await terminate(node);
      await removeDir(dataDir);
    });
    node = await startNodeProcess(dataDir);
    const r = await runCli(['trust', 'check', join(EXAMPLES, 'sales'), '--node', node.url, '--data', dataDir, '--json']);
    t.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; notes: string[]; findings: { code: string; path: string }[] };
    t.same(out.notes, [], 'the registry was asked');
    t.same(
      out.findings.map((f) => [f.code, f.path]),
      [
        ['unknown_server', 'peers/acme.yaml#/exports/0/server'],
        ['unknown_server', 'peers/acme.yaml#/exports/1/server'],
        ['unknown_server', 'peers/support.yaml#/exports/0/server'],
      ],
      'an empty registry: every exported server is unknown (a warning)',
    );
  });

  t.test('diff --against', async (t) => {
    const dir = await copyOf('sales');
    await edit(join(dir, 'peers/acme.yaml'), 'versions: "~3.1.0"', 'versions: "^3.1.0"');
    await rm(join(dir, 'peers/support.yaml'));
    const r = await runCli(['trust', 'diff', dir, '--against', join(EXAMPLES, 'sales')]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `${EXAMPLES}/sales → ${dir}\n`);
    t.match(r.stdout, '~ export to acme: quotes\n    - quotes ~3.1.0 tools get_quote, list_products (read)');
    t.match(r.stdout, '    + quotes ^3.1.0 tools');
    t.match(r.stdout, /^- peer support \(https:\/\/support\.example-corp\.test, 12D3KooW9ztg/m);
    t.match(r.stdout, /^- export to support: crm /m);

    const same = await runCli(['trust', 'diff', join(EXAMPLES, 'sales'), '--against', join(EXAMPLES, 'sales')]);
    t.match(same.stdout, /\nno changes\n$/);

    const json = await runCli(['trust', 'diff', dir, '--against', join(EXAMPLES, 'sales'), '--json']);
    const out = JSON.parse(json.stdout) as { ok: boolean; changes: { kind: string }[] };
    t.equal(out.ok, true);
    t.same(out.changes.map((c) => c.kind), ['export_changed', 'peer_removed', 'export_removed', 'import_removed']);
  });

  t.test('diff: an invalid side exits 1; usage errors exit 2', async (t) => {
    const dir = await copyOf('sales');
    await edit(join(dir, 'node.yaml'), 'namespace: example-corp', 'namespace: [');
    const r = await runCli(['trust', 'diff', dir, '--against', join(EXAMPLES, 'sales')]);
    t.equal(r.code, 1);
    t.match(r.stdout, `${dir}: INVALID (trust_policy_syntax)\n  node.yaml:`);

    const noAgainst = await runCli(['trust', 'diff', join(EXAMPLES, 'sales')]);
    t.equal(noAgainst.code, 2);
    t.match(noAgainst.stderr, /pass --against DIR2/);
    t.equal((await runCli(['trust', 'check'])).code, 2);
    t.equal((await runCli(['trust', 'frobnicate', 'x'])).code, 2);
    t.equal((await runCli(['trust', 'check', 'x', '--bogus'])).code, 2);
    const help = await runCli(['trust']);
    t.equal(help.code, 0);
    t.match(help.stdout, /usage: toolmesh trust check DIR/);
    t.match((await runCli(['help'])).stdout, /trust diff DIR --against DIR2/);
  });
}
