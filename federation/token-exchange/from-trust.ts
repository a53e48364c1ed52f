/**
 * The token endpoint's two lookups backed by a loaded trust policy
 * (trust-config/): the peer's key from its pinned libp2p peer id (an Ed25519
 * id inlines its public key), its inbound translation rules as the policy.
 * Callers that resolve OpenID Federation trust chains can wrap `peerKeys`
 * to also require a valid chain before returning a key.
 */
import type { JWK } from 'jose';
import { publicKeyFromPeerId } from '../peer/identity.js';
import type { PeerPolicy, TrustPolicy } from '../trust/types.js';
import type { InboundPolicyLookup, PeerKeys } from './types.js';

export interface PeerKeysFromTrustOptions {
  /**
   * The namespace a peer's assertions must carry (`ns`). trust-config/ does
   * not record peers' namespaces; the default is the peer's alias, which our
   * policy makes unique, so no peer can assert another's namespace.
   */
  namespaceOf?: (peer: PeerPolicy) => string;
}

/**
 * @example
 * ```ts
 * import { inboundPolicyFromTrust, peerKeysFromTrust } from './from-trust.js';
 * import type { TrustPolicy } from '../trust/types.js';
 * declare let current: TrustPolicy;
 * const peerKeys = peerKeysFromTrust(() => current);
 * const inboundPolicy = inboundPolicyFromTrust(() => current);
 * ```
 */
export function peerKeysFromTrust(policy: () => TrustPolicy, options: PeerKeysFromTrustOptions = {}): PeerKeys {
  const keys = new Map<string, JWK>();
  // By entity id only: it is what a peer's assertions carry as `iss` (an alias is our local name for it).
  return (entityId) => {
    const peer = policy().peers.find((p) => p.entityId === entityId);
    if (!peer) return undefined;
    let publicJwk = keys.get(peer.peerId);
    if (!publicJwk) {
      publicJwk = publicKeyFromPeerId(peer.peerId).export({ format: 'jwk' }) as JWK;
      keys.set(peer.peerId, publicJwk);
    }
    return { alias: peer.alias, namespace: options.namespaceOf?.(peer) ?? peer.alias, publicJwk };
  };
}

/** The peer's `inbound` rules; undefined for a peer the policy does not name. */
export function inboundPolicyFromTrust(policy: () => TrustPolicy): InboundPolicyLookup {
  return (alias) => {
    const peer = policy().peers.find((p) => p.alias === alias);
    if (!peer) return undefined;
    const { groupMapping, scopeCeiling, maxTokenTtlSeconds } = peer.inbound;
    return { groupMapping, scopeCeiling, maxTtlSeconds: maxTokenTtlSeconds };
  };
}
