/**
 * The real `toolmesh` binary (PRODUCT.md §12), as child processes: `start`
 * prints its URL and the bootstrap admin token once, the `server` commands
 * talk to the running node's admin API, errors exit non-zero with a clear
 * message, and SIGTERM stops the node cleanly with its stdio children.
 *
 * Runs the compiled CLI from dist/ (`npm test` builds it in pretest; otherwise
 * run `npm run build` first).
 */
import { freePort } from '../../scripts/lib/ports.js';
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir } from '../helpers/node.js';
import { MAIN, isAlive, runCli, startNodeProcess, terminate, type NodeProcess, type Run } from '../helpers/cli.js';
import { startLegacyHttpBackend, fixtureStdio } from '../helpers/backends.js';

/** Runs one CLI command to completion. */
const cli = (args: string[], timeoutMs?: number): Promise<Run> => runCli(args, timeoutMs === undefined ? {} : { timeoutMs });



if (!existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npm run build\` first (npm test builds it in pretest)`);
} else {
  await cliTests();
}

async function cliTests(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-cli-'));
  const legacy = await startLegacyHttpBackend();
  const running: NodeProcess[] = [];
  t.teardown(async () => {
    for (const n of running) if (n.child.exitCode === null && n.child.signalCode === null) await terminate(n);
    await legacy.close();
    await removeDir(dataDir);
  });

  let url = '';
  let token = '';
  /** `--node URL --data DIR` for every admin command. */
  const conn = () => ['--node', url, '--data', dataDir];

  await t.test('start prints its URL and the bootstrap admin token once', async (tt) => {
    const first = await startNodeProcess(dataDir);
    running.push(first);
    tt.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'port 0 resolves to the real port in the banner');
    tt.not(first.url, 'http://127.0.0.1:0');
    const banner = first.stdout();
    tt.match(banner, `aggregate MCP endpoint  ${first.url}/mcp`);
    tt.match(banner, /Bootstrap admin token \(shown once/);
    const printed = /^\s+(tmadm_\S+)$/m.exec(banner)?.[1];
    tt.ok(printed, 'the token is printed');

    const file = join(dataDir, 'admin.token');
    tt.ok(existsSync(file), 'admin.token exists');
    tt.equal(statSync(file).mode & 0o777, 0o600, 'admin.token has mode 0600');
    token = readFileSync(file, 'utf8').trim();
    tt.equal(printed, token, 'the printed token is the stored one');
    tt.equal(banner.split(token).length - 1, 1, 'printed exactly once');
    const health = await fetch(`${first.url}/healthz`);
    tt.equal(health.status, 200, 'the node serves');

    const stopped = await terminate(first);
    tt.equal(stopped.code, 0, 'SIGTERM: exit 0');

    const second = await startNodeProcess(dataDir);
    running.push(second);
    tt.notMatch(second.stdout(), /Bootstrap admin token/, 'a second start does not print the token');
    tt.notMatch(second.stdout(), token, 'nor the token itself');
    tt.equal(readFileSync(file, 'utf8').trim(), token, 'the token is unchanged');
    url = second.url;
  });

  const fixture = fixtureStdio();

  await t.test('server add / list / show', async (tt) => {
    const add = await cli(['server', 'add', 'echo', '--version', '1.0.0', ...conn(), '--stdio', '--', fixture.stdio, ...fixture.args]);
    tt.equal(add.code, 0, `add stdio: ${add.stderr}`);
    tt.match(add.stdout, /^registered echo@1\.0\.0 \(stable\) with \d+ tool\(s\): .*echo\[write\]/m);
    tt.match(add.stdout, `endpoint: ${url}/mcp/v1/tools/echo/rpc`);

    const web = await cli(['server', 'add', 'web', '--version', '1.0.0', '--url', legacy.url, '--read-tools', 'echo,add', ...conn()]);
    tt.equal(web.code, 0, `add http: ${web.stderr}`);
    tt.match(web.stdout, /^registered web@1\.0\.0 \(stable\) with 4 tool\(s\): /m);
    tt.match(web.stdout, /echo\[read\]/);
    tt.match(web.stdout, /slow\[write\]/);

    // Read-only commands, run side by side.
    const [list, json, show, history] = await Promise.all([
      cli(['server', 'list', ...conn()]),
      cli(['server', 'list', '--json', ...conn()]),
      cli(['server', 'show', 'echo@1.0.0', ...conn()]),
      cli(['server', 'show', 'echo', ...conn()]),
    ]);
    tt.equal(list.code, 0, list.stderr);
    tt.match(list.stdout, /^SLUG\s+VERSION\s+LIFECYCLE\s+BACKEND\s+TOOLS\s+OWNER\s+APPROVED BY$/m, 'a table with headers');
    tt.match(list.stdout, /^echo\s+1\.0\.0\s+stable\s+stdio\s+\d+\s+admin:bootstrap$/m);
    tt.match(list.stdout, /^web\s+1\.0\.0\s+stable\s+http\s+4\s+admin:bootstrap$/m);

    tt.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    tt.same(parsed.servers.map((s: any) => `${s.slug}@${s.version}`), ['echo@1.0.0', 'web@1.0.0']);
    tt.same(parsed.servers[1].backend, { http: legacy.url });

    tt.equal(show.code, 0, show.stderr);
    tt.match(show.stdout, /^echo@1\.0\.0 {2}stable$/m);
    tt.match(show.stdout, `backend      ${[fixture.stdio, ...fixture.args].join(' ')}`);
    tt.match(show.stdout, /^TOOL\s+ACCESS\s+STATUS\s+APPROVED$/m);
    tt.match(show.stdout, /^echo\s+write\s+ok\s+admin:bootstrap /m);

    tt.equal(history.code, 0, history.stderr);
    tt.match(history.stdout, /history:/);
    tt.match(history.stdout, /1\.0\.0\s+register\s+admin:bootstrap/);

    const again = await cli(['server', 'add', 'echo', '--version', '1.0.0', ...conn(), '--stdio', '--', fixture.stdio, ...fixture.args]);
    tt.equal(again.code, 1, 'an admin API refusal exits 1');
    tt.match(again.stderr, /^toolmesh: 409 conflict: echo@1\.0\.0 already exists/m);
  });

  await t.test('server deprecate / sunset / approve', async (tt) => {
    const dep = await cli(['server', 'deprecate', 'echo@1.0.0', '--sunset-at', '2099-01-01', '--migration-url', 'https://example.com/m', ...conn()]);
    tt.equal(dep.code, 0, dep.stderr);
    tt.match(dep.stdout, /^echo@1\.0\.0: deprecated, sunset 2099-01-01T00:00:00\.000Z$/m);

    const sunset = await cli(['server', 'sunset', 'web@1.0.0', ...conn()]);
    tt.equal(sunset.code, 0, sunset.stderr);
    tt.match(sunset.stdout, /^web@1\.0\.0: sunset, sunset \d{4}-\d\d-\d\dT/m);

    const approve = await cli(['server', 'approve', 'echo@1.0.0', ...conn()]);
    tt.equal(approve.code, 0, approve.stderr);
    tt.match(approve.stdout, /^echo@1\.0\.0: deprecated, sunset 2099-01-01T00:00:00\.000Z, approved by admin:bootstrap$/m);

    const [show, webShow, historyShow, bad] = await Promise.all([
      cli(['server', 'show', 'echo@1.0.0', '--json', ...conn()]),
      cli(['server', 'show', 'web@1.0.0', '--json', ...conn()]),
      cli(['server', 'show', 'echo', '--json', ...conn()]),
      cli(['server', 'deprecate', 'echo', ...conn()]),
    ]);
    const record = JSON.parse(show.stdout);
    tt.equal(record.lifecycle, 'deprecated');
    tt.equal(record.sunsetAt, '2099-01-01T00:00:00.000Z');
    tt.equal(record.migrationUrl, 'https://example.com/m');
    const web = JSON.parse(webShow.stdout);
    tt.equal(web.lifecycle, 'sunset');

    const history = JSON.parse(historyShow.stdout);
    tt.same(
      history.history.map((h: any) => h.action),
      ['register', 'deprecate', 'approve'],
      'every change is in the history',
    );

    tt.equal(bad.code, 1, 'a reference without a version is refused');
    tt.match(bad.stderr, /expected <slug>@<version>/);
  });

  await t.test('server import of an official server.json', async (tt) => {
    const file = join(dataDir, 'server.json');
    await writeFile(
      file,
      JSON.stringify({
        $schema: 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json',
        name: 'io.example/imported-web',
        description: 'The legacy backend, imported',
        version: '2.0.0',
        remotes: [
          { type: 'sse', url: 'http://127.0.0.1:1/sse' },
          { type: 'streamable-http', url: legacy.url },
        ],
      }),
    );
    const imp = await cli(['server', 'import', file, ...conn()]);
    tt.equal(imp.code, 0, imp.stderr);
    tt.match(imp.stdout, /^imported imported-web@2\.0\.0 with 4 tool\(s\)$/m);
    tt.match(imp.stdout, /^note: remotes\[0\]: sse transport skipped/m);

    const record = JSON.parse((await cli(['server', 'show', 'imported-web@2.0.0', '--json', ...conn()])).stdout);
    tt.same(record.backend, { http: legacy.url });
    tt.same(record.source, { registryName: 'io.example/imported-web' });
    tt.equal(record.description, 'The legacy backend, imported');

    const missing = await cli(['server', 'import', join(dataDir, 'nope.json'), ...conn()]);
    tt.equal(missing.code, 1);
    tt.match(missing.stderr, /nope\.json: ENOENT/);
  });

  await t.test('server add / import --namespace: the record carries the tenant namespace', async (tt) => {
    const add = await cli(['server', 'add', 'acme-web', '--version', '1.0.0', '--url', legacy.url, '--namespace', 'acme', ...conn()]);
    tt.equal(add.code, 0, add.stderr);
    tt.match(add.stdout, /^registered acme-web@1\.0\.0 /m);

    const file = join(dataDir, 'tenant-server.json');
    await writeFile(file, JSON.stringify({ name: 'io.example/tenant-web', description: 'imported for a tenant', version: '1.0.0', remotes: [{ type: 'streamable-http', url: legacy.url }] }));
    const imp = await cli(['server', 'import', file, '--slug', 'globex-web', '--namespace', 'globex', ...conn()]);
    tt.equal(imp.code, 0, imp.stderr);
    tt.match(imp.stdout, /^imported globex-web@1\.0\.0 /m);

    const [added, imported, text, plain, bad] = await Promise.all([
      cli(['server', 'show', 'acme-web@1.0.0', '--json', ...conn()]),
      cli(['server', 'show', 'globex-web@1.0.0', '--json', ...conn()]),
      cli(['server', 'show', 'acme-web@1.0.0', ...conn()]),
      cli(['server', 'show', 'web@1.0.0', '--json', ...conn()]),
      cli(['server', 'add', 'bad-ns', '--version', '1.0.0', '--url', legacy.url, '--namespace', 'Acme', ...conn()]),
    ]);
    tt.equal(JSON.parse(added.stdout).namespace, 'acme', 'server add --namespace');
    tt.equal(JSON.parse(imported.stdout).namespace, 'globex', 'server import --namespace');
    tt.match(text.stdout, /^ {2}namespace {4}acme$/m, 'server show names the namespace');
    tt.notOk('namespace' in JSON.parse(plain.stdout), 'a server added without --namespace has none');

    tt.equal(bad.code, 1, 'a namespace that is not a tenant id is refused');
    tt.match(bad.stderr, /400 invalid_input: namespace: must match \[a-z0-9-\]\{1,63\}/);
  });

  await t.test('errors: unknown command, unreachable node', async (tt) => {
    const port = await freePort();
    const [unknown, badOption, down, noToken, wrongToken] = await Promise.all([
      cli(['frobnicate']),
      cli(['server', 'list', '--frobnicate', ...conn()]),
      cli(['server', 'list', '--node', `http://127.0.0.1:${port}`, '--data', dataDir]),
      cli(['server', 'list', '--node', url, '--data', join(dataDir, 'elsewhere')]),
      cli(['server', 'list', '--node', url, '--token', 'tmadm_wrong']),
    ]);
    tt.equal(unknown.code, 2, 'unknown command exits 2');
    tt.match(unknown.stderr, /unknown command frobnicate/);
    tt.match(unknown.stderr, /usage: toolmesh/);

    tt.equal(badOption.code, 2, 'unknown option exits 2');

    tt.equal(down.code, 1, 'no node: exit 1');
    tt.match(down.stderr, `toolmesh: cannot reach the node at http://127.0.0.1:${port}`);
    tt.match(down.stderr, /is it running\?/);
    tt.equal(down.stdout, '');

    tt.equal(noToken.code, 1);
    tt.match(noToken.stderr, /no admin token/);

    tt.equal(wrongToken.code, 1);
    tt.match(wrongToken.stderr, /401 invalid_token/);
  });

  await t.test('SIGTERM stops the node: exit 0, stdio children gone', async (tt) => {
    const node = running[running.length - 1]!;
    const record = JSON.parse((await cli(['server', 'show', 'echo@1.0.0', '--json', ...conn()])).stdout);
    const pid = record.backendState?.pid as number | undefined;
    tt.type(pid, 'number', 'the stdio child runs');
    tt.ok(pid !== undefined && isAlive(pid));

    const { code, ms } = await terminate(node);
    tt.equal(code, 0, 'exit code 0');
    tt.ok(ms < 5_000, `stopped in ${ms} ms`);
    tt.match(node.stdout(), /SIGTERM: draining in-flight calls and stopping/);
    tt.ok(pid !== undefined && !isAlive(pid), 'the stdio child is gone');
    await tt.rejects(fetch(`${url}/healthz`), 'the listener is closed');
  });
}
