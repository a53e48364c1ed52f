/**
 * `toolmesh init`: prepares a data directory without starting a node — the
 * identity key, session key, bootstrap admin token and a `config.json`
 * holding the embedded defaults, ready to edit.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULTS, validateConfigDocument } from '../../config/config.js';
import { ensureDataDir, loadOrCreateAdminToken, loadOrCreateIdentity, loadOrCreateSessionKey } from '../../node/identity.js';
import { defaultDataDir } from '../admin-client.js';

export async function initCommand(flags: { data?: string }): Promise<void> {
  const dataDir = resolve(defaultDataDir(flags.data));
  await ensureDataDir(dataDir);
  const { identity } = await loadOrCreateIdentity(dataDir);
  await loadOrCreateSessionKey(dataDir);
  const admin = await loadOrCreateAdminToken(dataDir);
  const configPath = join(dataDir, 'config.json');
  const config = { ...DEFAULTS };
  validateConfigDocument(config, 'defaults');
  try {
    await writeFile(configPath, JSON.stringify(config, null, 2) + '\n', { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  process.stdout.write(
    [
      `data directory  ${dataDir}`,
      `config          ${configPath}`,
      `node key id     ${identity.kid}`,
      admin.created ? `admin token     ${admin.token}  (shown once; kept in ${join(dataDir, 'admin.token')})` : `admin token     ${join(dataDir, 'admin.token')}`,
    ].join('\n') + '\n',
  );
}
