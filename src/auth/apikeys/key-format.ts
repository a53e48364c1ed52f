/**
 * The one canonical form of a tenant API key (PRODUCT.md §4):
 *
 *   tm_{tenantId}.{keyId}.{secret}
 *
 * - `tenantId`: `[a-z0-9-]{1,63}` (the namespace rule of slugs and peers);
 * - `keyId`: 12 random bytes, base64url without padding (exactly 16 characters);
 * - `secret`: 32 random bytes, base64url without padding (exactly 43 characters).
 *
 * Parsing is strict on purpose: a key has exactly one spelling, so a digest of
 * the presented string identifies it, and no re-encoding (padding, standard
 * base64, case changes, whitespace, percent-encoding) can reach the store.
 */
import { randomBytes } from 'node:crypto';
import { API_KEY_PREFIX } from '../authenticator.js';

export const TENANT_ID_PATTERN = /^[a-z0-9-]{1,63}$/;

const KEY_ID_BYTES = 12;
const SECRET_BYTES = 32;
/** base64url length without padding of n bytes. */
const b64Length = (bytes: number) => Math.ceil((bytes * 8) / 6);
export const KEY_ID_LENGTH = b64Length(KEY_ID_BYTES); // 16
export const SECRET_LENGTH = b64Length(SECRET_BYTES); // 43

/** The longest well-formed key; anything longer is refused before any regex runs. */
export const MAX_KEY_LENGTH = API_KEY_PREFIX.length + 63 + 1 + KEY_ID_LENGTH + 1 + SECRET_LENGTH;

const KEY_PATTERN = new RegExp(
  `^${API_KEY_PREFIX}([a-z0-9-]{1,63})\\.([A-Za-z0-9_-]{${KEY_ID_LENGTH}})\\.([A-Za-z0-9_-]{${SECRET_LENGTH}})$`,
);

export interface ParsedKey {
  tenant: string;
  keyId: string;
  /** The whole key, which is its canonical form once parsed. */
  canonical: string;
}

/**
 * Parses a presented key, or returns `undefined` when it is not in the one
 * canonical form. Never throws, never allocates much for hostile input.
 *
 * @example
 * ```ts
 * import { parseApiKey } from './key-format.js';
 * parseApiKey('tm_acme.AAAAAAAAAAAAAAAA.' + 'A'.repeat(43)); // { tenant: 'acme', keyId: 'AAAAAAAAAAAAAAAA', … }
 * parseApiKey('tm_acme.AAAAAAAAAAAAAAAA.' + 'A'.repeat(42) + '='); // undefined
 * ```
 */
export function parseApiKey(presented: string): ParsedKey | undefined {
  if (typeof presented !== 'string' || presented.length > MAX_KEY_LENGTH) return undefined;
  const match = KEY_PATTERN.exec(presented);
  if (!match) return undefined;
  const [, tenant, keyId, secret] = match as unknown as [string, string, string, string];
  // 43 characters carry 258 bits for 256: the spare low bits of the last
  // character must be zero, or two spellings would decode to one secret.
  if (!isCanonicalBase64url(secret, SECRET_BYTES) || !isCanonicalBase64url(keyId, KEY_ID_BYTES)) return undefined;
  return { tenant, keyId, canonical: presented };
}

function isCanonicalBase64url(text: string, bytes: number): boolean {
  const decoded = Buffer.from(text, 'base64url');
  return decoded.length === bytes && decoded.toString('base64url') === text;
}

/** A fresh random key id (also the store key of the record). */
export function newKeyId(): string {
  return randomBytes(KEY_ID_BYTES).toString('base64url');
}

/**
 * A fresh key for `tenant`, in canonical form.
 *
 * @example
 * ```ts
 * import { formatApiKey, newKeyId, parseApiKey } from './key-format.js';
 * const key = formatApiKey('acme', newKeyId());
 * parseApiKey(key)?.tenant; // 'acme'
 * ```
 */
export function formatApiKey(tenant: string, keyId: string): string {
  return `${API_KEY_PREFIX}${tenant}.${keyId}.${randomBytes(SECRET_BYTES).toString('base64url')}`;
}
