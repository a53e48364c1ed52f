/**
 * `toolmesh credential key …` (src/cli/commands/credential.ts) against the
 * API key admin routes on a small Koa app: a key is printed once with a
 * warning, the list shows each key's status, usage errors need no node.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import { Store } from '../../src/store/db.js';
import { ApiKeys } from '../../src/auth/apikeys/api-keys.js';
import { apiKeyRoutes } from '../../src/admin/credentials-keys-routes.js';
import { jsonErrors } from '../../src/http/errors.js';
import { credentialCommand } from '../../src/cli/commands/credential.js';

async function node(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-credcli-'));
  const store = new Store(join(dir, 'db'));
  await store.open();
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const keys = new ApiKeys(store, randomBytes(32));
  await keys.load();
  const app = new Koa();
  app.silent = true;
  app.use(jsonErrors(() => undefined));
  const admin = new Router({ prefix: '/admin' });
  admin.use(async (ctx, next) => {
    if (ctx.get('authorization') !== 'Bearer test-token') throw Object.assign(new Error('no'), { status: 401 });
    ctx.state.actor = 'admin:cli-test';
    await next();
  });
  const routes = apiKeyRoutes(keys);
  admin.use(routes.routes(), routes.allowedMethods());
  app.use(admin.routes());
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const flags = ['--node', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--token', 'test-token'];
  return { keys, flags };
}

/** Runs the command and returns what it printed on stdout. */
async function run(argv: string[]): Promise<string> {
  const chunks: string[] = [];
  const original = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await credentialCommand(argv);
  } finally {
    process.stdout.write = original;
  }
  return chunks.join('');
}

t.test('issue, list, rotate, revoke', async (t) => {
  const { keys, flags } = await node(t);
  const issued = await run(['key', 'issue', '--tenant', 'acme', '--scopes', 'mcp:tool:weather:read, mcp:tool:crm:write', '--groups', 'tenants', ...flags]);
  const key = /^\s+(tm_\S+)$/m.exec(issued)?.[1];
  t.ok(key, 'the key is printed');
  t.match(issued, /not shown again/);
  const identity = keys.verify(key!);
  t.same(identity.scopes, ['mcp:tool:weather:read', 'mcp:tool:crm:write']);
  t.same(identity.groups, ['tenants']);
  const keyId = identity.clientId!;

  const json = JSON.parse(await run(['key', 'issue', '--tenant', 'globex', '--scopes', 's', '--expires-at', '2999-01-01T00:00:00Z', '--json', ...flags]));
  t.match(json, { key: /^tm_globex\./, record: { tenant: 'globex', expiresAt: '2999-01-01T00:00:00.000Z', createdBy: 'admin:cli-test' } });

  const listed = await run(['key', 'list', ...flags]);
  t.match(listed, /^TENANT\s+KEY ID\s+SCOPES\s+CREATED\s+EXPIRES\s+STATUS$/m);
  t.match(listed, new RegExp(`^acme\\s+${keyId.replace(/[-]/g, '\\-')}\\s+mcp:tool:weather:read,mcp:tool:crm:write\\s+\\S+\\s+-\\s+active$`, 'm'));
  t.match(listed, /^globex\s+\S+\s+s\s+\S+\s+2999-01-01T00:00:00.000Z\s+active$/m);
  t.notOk(listed.includes(key!), 'the list never shows a key');

  const rotated = await run(['key', 'rotate', '--tenant', 'acme', '--key-id', keyId, '--overlap', '60', ...flags]);
  const next = /^\s+(tm_\S+)$/m.exec(rotated)?.[1];
  t.ok(next && next !== key, 'a new key is printed');
  t.match(rotated, /not shown again/);
  t.ok(keys.verify(key!) && keys.verify(next!), 'both work during the overlap');
  t.match(await run(['key', 'list', '--tenant', 'acme', ...flags]), new RegExp(`${keyId.replace(/[-]/g, '\\-')}.*rotating$`, 'm'));

  t.match(await run(['key', 'revoke', '--tenant', 'acme', '--key-id', keyId, ...flags]), new RegExp(`revoked key acme/${keyId.replace(/[-]/g, '\\-')}`));
  t.throws(() => keys.verify(key!), { code: -32001, data: { detail: 'revoked' } });
  t.match(await run(['key', 'list', '--tenant', 'acme', ...flags]), /revoked$/m);
  t.equal((await run(['key', 'list', '--tenant', 'initech', ...flags])).trim(), 'no API keys for tenant initech');

  await t.rejects(run(['key', 'revoke', '--tenant', 'acme', '--key-id', 'AAAAAAAAAAAAAAAA', ...flags]), { name: 'CliError', message: /404 not_found/ });
  await t.rejects(run(['key', 'issue', '--tenant', 'acme', '--scopes', 'mcp:admin', ...flags]), { name: 'CliError', message: /400 invalid_input/ });
});

t.test('usage errors need no node', async (t) => {
  const usage = { name: 'CliError', exitCode: 2, message: /credential key issue[\s\S]*credential agent/ };
  await t.rejects(credentialCommand([]), usage);
  await t.rejects(credentialCommand(['frobnicate', 'list']), { ...usage, message: /expected key or agent/ });
  await t.rejects(credentialCommand(['key']), usage);
  await t.rejects(credentialCommand(['key', 'frobnicate']), usage);
  await t.rejects(credentialCommand(['key', 'issue', '--scopes', 's']), { name: 'CliError', exitCode: 2, message: /missing --tenant/ });
  await t.rejects(credentialCommand(['key', 'issue', '--tenant', 'acme']), { name: 'CliError', exitCode: 2, message: /missing --scopes/ });
  await t.rejects(credentialCommand(['key', 'rotate', '--tenant', 'acme']), { name: 'CliError', exitCode: 2, message: /missing --key-id/ });
  await t.rejects(credentialCommand(['key', 'rotate', '--tenant', 'acme', '--key-id', 'k', '--overlap', '1h']), { name: 'CliError', exitCode: 2, message: /--overlap/ });
  await t.rejects(credentialCommand(['key', 'list', 'extra']), { name: 'CliError', exitCode: 2, message: /unexpected argument extra/ });
});
