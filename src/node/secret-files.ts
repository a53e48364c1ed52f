/**
 * Secret files in the data directory: created once with mode 0600 and never
 * overwritten — two starts racing on a fresh directory agree on one secret.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a new secret file, or returns what a concurrent start wrote first. */
export async function createSecret(path: string, content: string): Promise<string> {
  try {
    await writeFile(path, content, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return content;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFile(path, 'utf8');
  }
}
