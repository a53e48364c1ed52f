/**
 * `toolmesh credential …` (PRODUCT.md §12), the real binary against a real
 * node, both child processes: API keys (issue, list, rotate, revoke), mTLS
 * agent mappings (add, list, remove), `hash-password`, and usage errors.
 * The keys the CLI prints are then used on the node's MCP endpoint, so the
 * test proves they are real credentials (and that revocation bites).
 *
 * Runs the compiled CLI from dist/ (`npm test` builds it in pretest;
 * otherwise run `npm run build` first).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir } from '../helpers/node.js';
import { MAIN, runCli, startNodeProcess, terminate, type Run } from '../helpers/cli.js';
import { call } from '../helpers/identity-calls.js';
import { verifyPassword } from '../../src/auth/oauth/authorization-server/password.js';

/** Runs one CLI command to completion. */
const cli = (args: string[], input?: string, timeoutMs?: number): Promise<Run> =>
  runCli(args, { ...(input !== undefined ? { input } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });

if (!existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npm run build\` first (npm test builds it in pretest)`);
} else {
  await cliTests();
}

async function cliTests(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-credcli-'));
  const node = await startNodeProcess(dataDir);
  t.teardown(async () => {
    await terminate(node);
    await removeDir(dataDir);
  });
  const conn = ['--node', node.url, '--data', dataDir];
  /** Any MCP request with this key: 200 when the node accepts it. */
  const useKey = (key: string) => call(`${node.url}/mcp`, 'tools/list', {}, { bearer: key });

  let keyId = '';
  let key = '';

  await t.test('key issue prints the key once', async (t) => {
    const r = await cli(['credential', 'key', 'issue', '--tenant', 'acme', '--scopes', 'mcp:tool:x:read', ...conn]);
    t.equal(r.code, 0, r.stderr);
    const m = /^\s+(tm_acme\.([A-Za-z0-9_-]{16})\.[A-Za-z0-9_-]{43})$/m.exec(r.stdout);
    t.ok(m, 'the key is printed on a line of its own');
    key = m?.[1] ?? '';
    keyId = m?.[2] ?? '';
    t.equal(r.stdout.split(key).length - 1, 1, 'exactly once');
    t.match(r.stdout, `issued key acme/${keyId} (scopes: mcp:tool:x:read)`);
    t.match(r.stdout, /not shown again/);
    t.notMatch(r.stderr, /tm_acme/, 'nothing secret on stderr');
    const res = await useKey(key);
    t.equal(res.status, 200, 'the printed key authenticates at the node');
  });

  await t.test('key list shows it without the secret', async (t) => {
    const r = await cli(['credential', 'key', 'list', '--tenant', 'acme', ...conn]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /TENANT\s+KEY ID\s+SCOPES\s+CREATED\s+EXPIRES\s+STATUS/, 'a table');
    t.match(r.stdout, new RegExp(`^acme\\s+${keyId.replace(/-/g, '\\-')}\\s+mcp:tool:x:read\\s+\\S+\\s+-\\s+active\\s*$`, 'm'), 'the key, active');
    t.notMatch(r.stdout, key.split('.')[2]!, 'never the secret');

    const json = await cli(['credential', 'key', 'list', '--tenant', 'acme', '--json', ...conn]);
    t.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    t.match(parsed.keys, [{ tenant: 'acme', keyId, scopes: ['mcp:tool:x:read'], status: 'active' }]);
    t.notOk(JSON.stringify(parsed).includes(key.split('.')[2]!), 'JSON has no secret either');
    t.notOk(parsed.keys.some((k: Record<string, unknown>) => 'digest' in k), 'nor a digest');

    const other = await cli(['credential', 'key', 'list', '--tenant', 'globex', ...conn]);
    t.equal(other.code, 0, other.stderr);
    t.match(other.stdout, /no API keys for tenant globex/, "another tenant's list is empty");
  });

  let newKey = '';
  let newKeyId = '';

  await t.test('key rotate prints a new key; both work during the overlap', async (t) => {
    const r = await cli(['credential', 'key', 'rotate', '--tenant', 'acme', '--key-id', keyId, '--overlap', '600', ...conn]);
    t.equal(r.code, 0, r.stderr);
    const m = /^\s+(tm_acme\.([A-Za-z0-9_-]{16})\.[A-Za-z0-9_-]{43})$/m.exec(r.stdout);
    t.ok(m, 'the new key is printed');
    newKey = m?.[1] ?? '';
    newKeyId = m?.[2] ?? '';
    t.not(newKeyId, keyId, 'a new key id');
    t.match(r.stdout, `rotated to key acme/${newKeyId}`);
    t.match(r.stdout, `The old key acme/${keyId} keeps working during the overlap`);
    t.equal((await useKey(key)).status, 200, 'old key still works');
    t.equal((await useKey(newKey)).status, 200, 'new key works');

    const list = await cli(['credential', 'key', 'list', '--tenant', 'acme', '--json', ...conn]);
    const byId = new Map(JSON.parse(list.stdout).keys.map((k: { keyId: string; status: string }) => [k.keyId, k.status]));
    t.equal(byId.get(keyId), 'rotating');
    t.equal(byId.get(newKeyId), 'active');

    const again = await cli(['credential', 'key', 'rotate', '--tenant', 'acme', '--key-id', keyId, ...conn]);
    t.equal(again.code, 1, 'rotating a rotated key fails');
    t.match(again.stderr, /409 conflict: .*already rotated/);
    const bad = await cli(['credential', 'key', 'rotate', '--tenant', 'acme', '--key-id', newKeyId, '--overlap', 'soon', ...conn]);
    t.equal(bad.code, 2, 'a bad --overlap is a usage error');
  });

  await t.test('key revoke: refused at the next request', async (t) => {
    const r = await cli(['credential', 'key', 'revoke', '--tenant', 'acme', '--key-id', newKeyId, ...conn]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`^revoked key acme/${newKeyId.replace(/-/g, '\\-')} at \\d{4}-\\d\\d-\\d\\dT\\S+ \\(by \\S+\\)$`, 'm'));
    const res = await useKey(newKey);
    t.equal(res.status, 401, 'the revoked key is refused');
    t.equal(res.body?.error?.data?.reason, 'invalid_token');
    t.equal((await useKey(key)).status, 200, 'the old key (still in its overlap) is a separate key');

    const list = await cli(['credential', 'key', 'list', '--tenant', 'acme', ...conn]);
    t.match(list.stdout, new RegExp(`^acme\\s+${newKeyId.replace(/-/g, '\\-')}\\s.*\\srevoked\\s*$`, 'm'), 'listed as revoked');

    const missing = await cli(['credential', 'key', 'revoke', '--tenant', 'globex', '--key-id', keyId, ...conn]);
    t.equal(missing.code, 1, "another tenant's key id is not found");
    t.match(missing.stderr, /404 not_found/);
    t.equal((await useKey(key)).status, 200, 'and stays valid');
  });

  await t.test('agent add / list / remove', async (t) => {
    const san = 'spiffe://acme.example/a';
    const add = await cli(['credential', 'agent', 'add', san, '--groups', 'ops', ...conn]);
    t.equal(add.code, 0, add.stderr);
    t.match(add.stdout, `mapped ${san} → groups ops`);

    const dup = await cli(['credential', 'agent', 'add', san, '--groups', 'sales', ...conn]);
    t.equal(dup.code, 1, 'mapping a SAN twice fails');
    t.match(dup.stderr, /409 conflict/);

    const list = await cli(['credential', 'agent', 'list', ...conn]);
    t.equal(list.code, 0, list.stderr);
    t.match(list.stdout, /SAN\s+GROUPS\s+SCOPES\s+CREATED\s+BY/);
    t.match(list.stdout, new RegExp(`^spiffe://acme\\.example/a\\s+ops\\s+-\\s+\\S+\\s+\\S+`, 'm'), 'the mapping');
    const json = JSON.parse((await cli(['credential', 'agent', 'list', '--json', ...conn])).stdout);
    t.match(json.agents, [{ san, groups: ['ops'], scopes: [] }]);

    const remove = await cli(['credential', 'agent', 'remove', san, ...conn]);
    t.equal(remove.code, 0, remove.stderr);
    t.match(remove.stdout, `removed ${san}`);
    const empty = await cli(['credential', 'agent', 'list', ...conn]);
    t.match(empty.stdout, /no agents mapped/);
    const again = await cli(['credential', 'agent', 'remove', san, ...conn]);
    t.equal(again.code, 1, 'removing it again fails');
    t.match(again.stderr, /404 not_found/);
  });

  await t.test('hash-password reads stdin and prints an scrypt hash', async (t) => {
    const r = await cli(['credential', 'hash-password'], 'pw\n');
    t.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    t.match(hash, /^scrypt\$/);
    t.equal(r.stdout.split('\n').filter(Boolean).length, 1, 'one line');
    t.notMatch(r.stdout, /\bpw\b/, 'not the password');
    t.ok(await verifyPassword('pw', hash), 'the hash verifies the password');
    t.notOk(await verifyPassword('pw\n', hash), 'without the final newline');
    const empty = await cli(['credential', 'hash-password'], '');
    t.equal(empty.code, 2, 'an empty password is refused');
    const arg = await cli(['credential', 'hash-password', 'pw']);
    t.equal(arg.code, 2, 'a password on the command line is refused');
  });

  await t.test('usage errors exit 2', async (t) => {
    const cases: [string, string[]][] = [
      ['unknown credential kind', ['credential', 'frobnicate']],
      ['no credential kind', ['credential']],
      ['unknown key subcommand', ['credential', 'key', 'frobnicate', ...conn]],
      ['unknown agent subcommand', ['credential', 'agent', 'frobnicate', ...conn]],
      ['key issue without --tenant', ['credential', 'key', 'issue', '--scopes', 's', ...conn]],
      ['key issue without --scopes', ['credential', 'key', 'issue', '--tenant', 'acme', ...conn]],
      ['key revoke without --key-id', ['credential', 'key', 'revoke', '--tenant', 'acme', ...conn]],
      ['unknown option', ['credential', 'key', 'list', '--frobnicate', ...conn]],
      ['agent add without --groups', ['credential', 'agent', 'add', 'spiffe://acme.example/b', ...conn]],
      ['agent remove without a SAN', ['credential', 'agent', 'remove', ...conn]],
    ];
    for (const [what, args] of cases) {
      const r = await cli(args);
      t.equal(r.code, 2, `${what}: exit 2`);
      t.match(r.stderr, /^toolmesh: \S/, `${what}: says so on stderr`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
    }
    const list = await cli(['credential', 'agent', 'list', ...conn]);
    t.match(list.stdout, /no agents mapped/, 'a failed add mapped nothing');
  });

  await t.test('bootstrap rotate prints a new admin token; the old one stops working; disable ends it', async (t) => {
    const file = join(dataDir, 'admin.token');
    const old = readFileSync(file, 'utf8').trim();
    const r = await cli(['credential', 'bootstrap', 'rotate', ...conn]);
    t.equal(r.code, 0, r.stderr);
    const fresh = /^\s+(tmadm_\S+)$/m.exec(r.stdout)?.[1];
    t.ok(fresh, 'the new token is printed');
    t.equal(readFileSync(file, 'utf8').trim(), fresh, 'and written to <data>/admin.token');
    const list = (token: string) => fetch(`${node.url}/admin/v1/servers`, { headers: { authorization: `Bearer ${token}` } });
    t.equal((await list(old)).status, 401, 'the old token is refused');
    t.equal((await list(fresh!)).status, 200, 'the new one works');
    const d = await cli(['credential', 'bootstrap', 'disable', ...conn]);
    t.equal(d.code, 0, d.stderr);
    t.match(d.stdout, /disabled/);
    t.equal((await list(fresh!)).status, 401, 'disabled: refused');
    t.notOk(existsSync(file), 'the token file is gone');
  });

  await t.test('the node is still healthy; SIGTERM stops it cleanly', async (t) => {
    t.equal((await fetch(`${node.url}/healthz`)).status, 200);
    t.equal((await terminate(node)).code, 0);
  });
}
