/**
 * The node's libp2p identity is its Ed25519 node identity (`<data>/identity.jwk`):
 * one key signs manifests and authenticates the Noise handshake, so a pinned
 * peer id names exactly the key that signs that peer's manifests.
 */
import '../polyfill.js';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface';
import type { NodeIdentity } from '../../src/node/identity.js';

/**
 * The libp2p private key of a node identity (libp2p's raw Ed25519 form is
 * seed || public key, 64 bytes). Refuses a JWK whose `x` does not belong to
 * its `d`: libp2p would otherwise announce a public key it cannot sign for.
 */
export function libp2pKeyFromNodeIdentity(identity: Pick<NodeIdentity, 'privateJwk'>): Ed25519PrivateKey {
  const { kty, crv, d, x } = identity.privateJwk;
  if (kty !== 'OKP' || crv !== 'Ed25519' || typeof d !== 'string' || typeof x !== 'string') {
    throw new TypeError('node identity is not an Ed25519 private JWK');
  }
  const derived = createPublicKey(createPrivateKey({ key: { kty, crv, d, x }, format: 'jwk' })).export({ format: 'jwk' });
  if (derived.x !== x) throw new TypeError('node identity JWK: x is not the public key of d');
  const raw = Buffer.concat([Buffer.from(d, 'base64url'), Buffer.from(x, 'base64url')]);
  const key = privateKeyFromRaw(raw);
  if (key.type !== 'Ed25519') throw new TypeError('node identity did not convert to an Ed25519 libp2p key');
  return key;
}

/**
 * The libp2p peer id of a node identity.
 *
 * @example
 * ```ts
 * import { loadOrCreateIdentity } from '../../src/node/identity.js';
 * import { peerIdFromNodeIdentity } from './identity.js';
 * const { identity } = await loadOrCreateIdentity('/tmp/toolmesh-data');
 * console.log(peerIdFromNodeIdentity(identity).toString()); // 12D3KooW…
 * ```
 */
export function peerIdFromNodeIdentity(identity: Pick<NodeIdentity, 'privateJwk'>): PeerId {
  return peerIdFromPrivateKey(libp2pKeyFromNodeIdentity(identity));
}

/**
 * Parses a pinned peer id and requires an Ed25519 one (its public key is
 * inlined in the id: nothing to fetch, nothing to trust beyond the pin).
 * Throws `TypeError` for anything else.
 */
export function parseEd25519PeerId(peerId: string): PeerId & { type: 'Ed25519' } {
  let parsed: PeerId;
  try {
    parsed = peerIdFromString(peerId);
  } catch (err) {
    throw new TypeError(`not a peer id: ${JSON.stringify(peerId)}`, { cause: err });
  }
  if (parsed.type !== 'Ed25519') throw new TypeError(`peer id ${peerId} is not an Ed25519 peer id`);
  return parsed;
}

/** The Ed25519 public key inlined in a peer id, as a Node key object for `crypto.verify`. */
export function publicKeyFromPeerId(peerId: string): KeyObject {
  const parsed = parseEd25519PeerId(peerId);
  const x = Buffer.from(parsed.publicKey.raw).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}
