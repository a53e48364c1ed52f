/**
 * Imported public keys, cached by their JWK so a pinned key is imported once.
 * The private member `d` is dropped: a verification key is always public.
 */
import { importJWK, type JWK } from 'jose';
import { ALG } from './constants.js';

export type VerifyKey = Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>;

const cache = new Map<string, VerifyKey>();
const MAX = 1024;

export async function publicKeyOf(jwk: JWK): Promise<VerifyKey> {
  const { d: _d, ...pub } = jwk;
  const id = JSON.stringify([pub.kty, pub.crv, pub.x]);
  const hit = cache.get(id);
  if (hit) return hit;
  const key = (await importJWK(pub, ALG)) as VerifyKey;
  if (cache.size >= MAX) cache.delete(cache.keys().next().value as string);
  cache.set(id, key);
  return key;
}
