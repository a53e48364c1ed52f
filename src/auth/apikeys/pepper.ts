/**
 * The node's API key pepper: the HMAC key under which key digests are stored
 * (`<data>/apikeys.pepper`, 32 random bytes, mode 0600, created on first
 * start). A stolen database alone cannot confirm a guessed key without it.
 * It is its own file, not derived from another secret, so rotating the
 * session key never invalidates every tenant's keys.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const PEPPER_FILE = 'apikeys.pepper';
export const PEPPER_BYTES = 32;

/**
 * @example
 * ```ts
 * import { loadOrCreatePepper } from './pepper.js';
 * const pepper = await loadOrCreatePepper('.toolmesh');
 * pepper.length; // 32
 * ```
 */
export async function loadOrCreatePepper(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, PEPPER_FILE);
  try {
    return checked(Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url'), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const pepper = randomBytes(PEPPER_BYTES);
  try {
    // 'wx' so two starts racing on a fresh directory never overwrite each other's pepper.
    await writeFile(path, pepper.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreatePepper(dataDir);
    throw err;
  }
  await chmod(path, 0o600);
  return pepper;
}

function checked(pepper: Buffer, path: string): Buffer {
  if (pepper.length !== PEPPER_BYTES) throw new Error(`${path}: expected ${PEPPER_BYTES} base64url-encoded bytes`);
  return pepper;
}
