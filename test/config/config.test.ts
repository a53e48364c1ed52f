/**
 * The node configuration: embedded defaults, the file, overrides; a bad file
 * fails the start with the field's path.
 */
import t from 'tap';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError, DEFAULTS } from '../../src/config/config.js';

const dir = await mkdtemp(join(tmpdir(), 'toolmesh-config-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const file = join(dir, 'config.json');

t.test('a file the user named (--config) must exist: a typo does not start a node on defaults', async (t) => {
  await t.rejects(loadConfig(join(dir, 'typo.json'), { dataDir: dir }, { required: true }), { code: 'invalid_config', message: /typo\.json: no such file/ });
});

t.test('no file: embedded defaults, overrides applied', async (t) => {
  const config = await loadConfig(join(dir, 'absent.json'), { dataDir: dir, port: 0 });
  t.equal(config.listen.host, DEFAULTS.listen.host);
  t.equal(config.listen.port, 0);
  t.same(config.backends, DEFAULTS.backends);
  t.equal(config.auth.anonymous, undefined, 'anonymous callers get nothing unless configured');
});

t.test('auth.anonymous: true or groups/scopes', async (t) => {
  await writeFile(file, JSON.stringify({ auth: { anonymous: true } }));
  t.same((await loadConfig(file, { dataDir: dir })).auth.anonymous, { groups: [], scopes: [] });
  await writeFile(file, JSON.stringify({ auth: { anonymous: { groups: ['dev'], scopes: ['mcp:tool:x:read'] } } }));
  t.same((await loadConfig(file, { dataDir: dir })).auth.anonymous, { groups: ['dev'], scopes: ['mcp:tool:x:read'] });
  await writeFile(file, JSON.stringify({ auth: { anonymous: false } }));
  t.equal((await loadConfig(file, { dataDir: dir })).auth.anonymous, undefined);
});

const bad: [string, unknown, RegExp][] = [
  ['unknown top-level field', { listne: {} }, /\/ .*additional.*\(listne\)/],
  ['wrong type', { listen: { port: 'x' } }, /\/listen\/port/],
  ['out of range', { listen: { port: 70000 } }, /\/listen\/port/],
  ['unknown nested field', { backends: { allowLoopbak: true } }, /\/backends .*\(allowLoopbak\)/],
  ['bad anonymous grant', { auth: { anonymous: { groups: 'dev' } } }, /\/auth\/anonymous/],
];
for (const [what, doc, message] of bad) {
  t.test(`refused: ${what}`, async (t) => {
    await writeFile(file, JSON.stringify(doc));
    await t.rejects(loadConfig(file, { dataDir: dir }), ConfigError);
    await loadConfig(file, { dataDir: dir }).catch((err: Error) => t.match(err.message, message, err.message));
  });
}

t.test('not JSON', async (t) => {
  await writeFile(file, '{ nope');
  await t.rejects(loadConfig(file, { dataDir: dir }), { code: 'invalid_config' });
});
