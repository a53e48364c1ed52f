/**
 * The keyed hash of a call's arguments (PRODUCT.md §8): the audit log proves
 * which arguments a call had without storing them.
 *
 * - HMAC-SHA256, not a bare hash: short arguments (`{"id": 42}`) cannot be
 *   recovered by hashing guesses without the node's key.
 * - Over the RFC 8785 (JCS) canonical JSON: the same arguments give the same
 *   hash whatever their key order. Strings are hashed as JCS escapes them —
 *   no Unicode normalisation, so `é` precomposed and decomposed differ (they
 *   are different arguments to a backend), and a lone surrogate is hashed as
 *   its `\udXXX` escape rather than collapsing into U+FFFD.
 * - The key lives in `<data>/audit.key` (0600), so hashes stay comparable
 *   across restarts.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import canonicalize from 'canonicalize';
import { AuditError } from './errors.js';

/** Bytes of a fresh audit key; shorter stored keys are refused. */
export const AUDIT_KEY_BYTES = 32;

/**
 * HMAC-SHA256 (hex) of the canonical JSON of `args`. Absent arguments
 * (`undefined`) hash the empty string, which no JSON text equals, so they
 * never collide with `null` or `{}`.
 * Throws `AuditError('args_not_canonical')` for values JSON cannot express.
 *
 * @example
 * ```ts
 * import { randomBytes } from 'node:crypto';
 * import { argsHash } from './args-hash.js';
 * const key = randomBytes(32);
 * argsHash(key, { a: 1, b: 2 }) === argsHash(key, { b: 2, a: 1 }); // true
 * ```
 */
export function argsHash(key: Buffer, args: unknown): string {
  let text: string | undefined;
  try {
    text = args === undefined ? '' : canonicalize(args);
  } catch (err) {
    const why = err instanceof RangeError ? 'nested too deeply' : (err as Error).message;
    throw new AuditError('args_not_canonical', `arguments have no canonical JSON form: ${why}`, { cause: err });
  }
  // canonicalize() returns undefined for functions and symbols at the top level.
  if (text === undefined) throw new AuditError('args_not_canonical', 'arguments have no canonical JSON form');
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/**
 * The node's audit HMAC key from `<data>/audit.key`, created (0600) on first
 * use. Two processes racing on a fresh directory end up with the same key.
 */
export async function loadOrCreateAuditKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'audit.key');
  const existing = await readKey(path);
  if (existing !== undefined) return existing;
  const key = randomBytes(AUDIT_KEY_BYTES);
  try {
    await writeFile(path, key.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // The other process may not have written its key yet: give it a moment.
    for (let attempt = 0; ; attempt++) {
      try {
        const winner = await readKey(path);
        if (winner !== undefined) return winner;
        throw err;
      } catch (readErr) {
        if (!(readErr instanceof AuditError) || attempt >= 50) throw readErr;
        await sleep(10);
      }
    }
  }
}

async function readKey(path: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length < AUDIT_KEY_BYTES) {
    throw new AuditError('audit_key_invalid', `${path} does not hold a ${AUDIT_KEY_BYTES}-byte base64url key`);
  }
  return key;
}
