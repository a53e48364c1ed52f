/**
 * The node's long-lived secrets, created on first start inside the data
 * directory with mode 0600:
 * - `identity.jwk`: the Ed25519 identity key (signs manifests, checkpoints;
 *   its public half is the node's identity toward peers);
 * - `session.key`: the HMAC key for self-contained legacy session tokens
 *   (share it between replicas so any replica can serve any session);
 * - `admin.token`: the bootstrap admin token (only its hash is kept in memory).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createSecret, readIfExists } from './secret-files.js';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK } from 'jose';

/** The key type jose signs with. */
export type SigningKey = Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>;

export interface NodeIdentity {
  privateJwk: JWK;
  publicJwk: JWK;
  /** RFC 7638 thumbprint of the public key: a stable key id. */
  kid: string;
  privateKey: SigningKey;
}

export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

export async function loadOrCreateIdentity(dataDir: string): Promise<{ identity: NodeIdentity; created: boolean }> {
  const path = join(dataDir, 'identity.jwk');
  let text = await readIfExists(path);
  let created = false;
  if (text === undefined) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const fresh = JSON.stringify(await exportJWK(privateKey)) + '\n';
    text = await createSecret(path, fresh);
    created = text === fresh;
  }
  const privateJwk = JSON.parse(text) as JWK;
  const { d: _d, ...publicJwk } = privateJwk;
  const privateKey = (await importJWK(privateJwk, "EdDSA")) as SigningKey;
  const kid = await calculateJwkThumbprint(publicJwk);
  return { identity: { privateJwk, publicJwk: { ...publicJwk, kid }, kid, privateKey }, created };
}

export async function loadOrCreateSessionKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'session.key');
  const text = await readIfExists(path);
  if (text !== undefined) return Buffer.from(text.trim(), 'base64url');
  return Buffer.from((await createSecret(path, randomBytes(32).toString('base64url') + '\n')).trim(), 'base64url');
}

/** The bootstrap admin token: returned in clear only when it was just created. */
export async function loadOrCreateAdminToken(dataDir: string): Promise<{ token: string; created: boolean }> {
  const path = join(dataDir, 'admin.token');
  const text = await readIfExists(path);
  if (text !== undefined) return { token: text.trim(), created: false };
  const token = `tmadm_${randomBytes(32).toString('base64url')}`;
  const written = (await createSecret(path, token + '\n')).trim();
  return { token: written, created: written === token };
}

/** Constant-time check of a presented secret against a known one (by SHA-256 digest). */
export function secretMatches(presented: string, expectedDigest: Buffer): boolean {
  const digest = createHash('sha256').update(presented).digest();
  return timingSafeEqual(digest, expectedDigest);
}

export function digestSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}
