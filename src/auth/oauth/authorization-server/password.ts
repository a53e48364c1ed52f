/**
 * Password and client-secret hashes: `scrypt$N$r$p$saltB64$hashB64`.
 *
 * Verification is constant-time over the derived key, runs on the libuv pool
 * (async scrypt, never blocking the event loop) and accepts only bounded cost
 * parameters, so a hash in the config cannot make one login cost seconds or
 * gigabytes.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { AuthorizationServerError } from './errors.js';

/** Cost of new hashes: N=2^15, r=8, p=1 (32 MiB, tens of milliseconds). */
export const SCRYPT_DEFAULTS = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Upper bounds accepted when verifying: 128·N·r·p must stay within MAX_MEMORY. */
const MAX_N = 1 << 20;
const MAX_MEMORY = 256 * 1024 * 1024;

export interface ParsedScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function scrypt(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(secret.normalize('NFC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function memoryFor(N: number, r: number, p: number): number {
  // Node's scrypt needs 128·N·r bytes plus 128·r·p; leave headroom for both.
  return 128 * N * r + 128 * r * p + 1024 * 1024;
}

/**
 * Parses and bounds-checks a stored hash. Throws `AuthorizationServerError`
 * (`invalid_hash`) on anything else, so a bad config fails at start.
 */
export function parseScryptHash(stored: string): ParsedScryptHash {
  const parts = stored.split('$');
  const bad = (why: string) => new AuthorizationServerError('invalid_hash', `not a scrypt$N$r$p$salt$hash value: ${why}`);
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw bad('expected 6 $-separated fields starting with "scrypt"');
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const [N, r, p] = [nText, rText, pText].map((v) => (/^[1-9][0-9]{0,7}$/.test(v) ? Number(v) : NaN)) as [number, number, number];
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) throw bad('N must be a power of two between 2 and 2^20');
  if (!Number.isInteger(r) || r > 32) throw bad('r must be an integer between 1 and 32');
  if (!Number.isInteger(p) || p > 16) throw bad('p must be an integer between 1 and 16');
  if (memoryFor(N, r, p) > MAX_MEMORY) throw bad('N·r needs more than 256 MiB');
  const b64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
  if (!b64.test(saltText) || !b64.test(hashText)) throw bad('salt and hash must be base64');
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) throw bad('salt shorter than 8 bytes');
  if (hash.length < 16 || hash.length > 64) throw bad('hash must be 16 to 64 bytes');
  return { N, r, p, salt, hash };
}

/**
 * Hashes a password (or a client secret) for the config file.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from './password.js';
 * const stored = await hashPassword('correct horse battery staple');
 * await verifyPassword('correct horse battery staple', stored); // true
 * ```
 */
export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<string> {
  if (password.length === 0) throw new AuthorizationServerError('invalid_secret', 'refusing to hash an empty password');
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = cost;
  const key = await scrypt(password, salt, KEY_BYTES, { N, r, p, maxmem: memoryFor(N, r, p) });
  const stored = `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
  parseScryptHash(stored); // the cost given must be one verifyPassword accepts
  return stored;
}

/** Checks a presented password against a parsed hash, in constant time over the derived key. */
export async function verifyParsedHash(presented: string, parsed: ParsedScryptHash): Promise<boolean> {
  const { N, r, p, salt, hash } = parsed;
  const key = await scrypt(presented, salt, hash.length, { N, r, p, maxmem: memoryFor(N, r, p) });
  return timingSafeEqual(key, hash);
}

/** Checks a presented password against a stored `scrypt$…` hash. */
export async function verifyPassword(presented: string, stored: string): Promise<boolean> {
  return verifyParsedHash(presented, parseScryptHash(stored));
}
