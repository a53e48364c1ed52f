/**
 * The authorization server's own secrets, created on first start inside the
 * data directory with mode 0600 (separate from the node's Ed25519 identity:
 * access tokens are ES256 for interoperability with every JOSE library):
 * - `oauth-signing.jwks`: the private signing keys; the first one signs;
 * - `oauth-cookies.key`: the HMAC key oidc-provider signs its cookies with.
 */
import { randomBytes } from 'node:crypto';
import { createSecret, readIfExists } from '../../../node/secret-files.js';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, type JWK, type JWTVerifyGetKey } from 'jose';

export const SIGNING_ALG = 'ES256';

export interface SigningKeys {
  /** Private JWKs with `kid`, `alg`, `use` (the provider's keystore). */
  privateJwks: JWK[];
  /** The same keys without private parts. */
  publicJwks: JWK[];
  /** Resolves a token's key from the public keys, without HTTP. */
  getKey: JWTVerifyGetKey;
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const { d: _d, ...pub } = jwk;
  return { ...jwk, kid: await calculateJwkThumbprint(pub), alg: SIGNING_ALG, use: 'sig' };
}

export async function loadOrCreateSigningKeys(dataDir: string): Promise<SigningKeys> {
  const path = join(dataDir, 'oauth-signing.jwks');
  let text = await readIfExists(path);
  if (text === undefined) text = await createSecret(path, JSON.stringify({ keys: [await newSigningKey()] }) + '\n');
  const { keys } = JSON.parse(text) as { keys: JWK[] };
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k.kid !== 'string' || typeof k.d !== 'string')) {
    throw new Error(`${path}: expected {"keys": [private JWK with kid, …]}`);
  }
  const publicJwks = keys.map(({ d: _d, ...pub }) => pub);
  return { privateJwks: keys, publicJwks, getKey: createLocalJWKSet({ keys: publicJwks }) };
}

export async function loadOrCreateCookieKey(dataDir: string): Promise<string> {
  const path = join(dataDir, 'oauth-cookies.key');
  const text = (await readIfExists(path)) ?? (await createSecret(path, randomBytes(32).toString('base64url') + '\n'));
  return text.trim();
}
