/**
 * Before a peer's keys and endpoints are used, its OpenID Federation trust
 * chain is resolved and checked: it must end at one of our trust anchors
 * (the one its policy names, if any), the key its superior vouches for must
 * be the key of the peer id we pinned, and its resolved metadata names the
 * token endpoint we will use. Without trust anchors in the policy the pinned
 * peer id is the whole trust, and the token endpoint is the conventional
 * `{entityId}/federation/token`.
 *
 * A peer that reconnects is verified again (`invalidate`) before use.
 */
import { GatewayError } from '../../src/gateway/errors.js';
import { TrustChainResolver, type PinnedTrustAnchor } from '../oidfed/index.js';
import { publicKeyFromPeerId } from '../peer/index.js';
import type { PeerPolicy, TrustPolicy } from '../trust/index.js';

export const TOKEN_PATH = '/federation/token';

export interface VerifiedPeer {
  alias: string;
  entityId: string;
  tokenEndpoint: string;
  /** The anchor the chain ended at (absent without trust anchors). */
  anchor?: string;
}

export class PeerVerifier {
  readonly #policy: () => TrustPolicy;
  readonly #allowInsecure: boolean;
  #resolver: TrustChainResolver | undefined;
  #anchorsKey = '';
  #policyRef: TrustPolicy | undefined;
  /** Verified peers until their chain expires (asked on every remote call), for the policy they were checked under. */
  #verified = new Map<string, { peer: VerifiedPeer; until: number; policy: TrustPolicy }>();

  constructor(policy: () => TrustPolicy, options: { allowInsecure: boolean }) {
    this.#policy = policy;
    this.#allowInsecure = options.allowInsecure;
  }

  /** Resolves and checks `alias`'s trust chain (cached until it expires); `trust_denied` when it does not hold. */
  async verify(alias: string): Promise<VerifiedPeer> {
    const policy = this.#policy();
    const hit = this.#verified.get(alias);
    if (hit && hit.policy === policy && hit.until > Date.now() / 1000) return hit.peer;
    const peer = policy.peers.find((p) => p.alias === alias);
    if (!peer) throw new GatewayError('trust_denied', `${alias} is not a trusted peer`);
    const resolver = this.#resolverFor(policy);
    if (!resolver) return { alias, entityId: peer.entityId, tokenEndpoint: `${peer.entityId}${TOKEN_PATH}` };
    let chain;
    try {
      chain = await resolver.resolve(peer.entityId);
    } catch (err) {
      throw new GatewayError('trust_denied', `trust chain of ${alias} does not resolve: ${(err as Error).message}`, { data: { peer: alias }, cause: err });
    }
    if (peer.trustAnchor !== undefined && chain.anchor !== peer.trustAnchor) {
      throw new GatewayError('trust_denied', `trust chain of ${alias} ends at ${chain.anchor}, not at ${peer.trustAnchor}`, { data: { peer: alias } });
    }
    if (!vouchesForPeerId(chain.leafJwks.keys, peer)) {
      throw new GatewayError('trust_denied', `the anchor does not vouch for ${alias}'s pinned peer id`, { data: { peer: alias } });
    }
    const node = chain.metadata.toolmesh_node;
    if (node?.peer_id !== undefined && node.peer_id !== peer.peerId) {
      throw new GatewayError('trust_denied', `${alias}'s federation metadata names another peer id`, { data: { peer: alias } });
    }
    const verified = { alias, entityId: peer.entityId, tokenEndpoint: node?.token_endpoint ?? `${peer.entityId}${TOKEN_PATH}`, anchor: chain.anchor };
    this.#verified.set(alias, { peer: verified, until: chain.expiresAt, policy });
    return verified;
  }

  /** Forget a peer's resolved chain (it reconnected, or the policy changed). */
  invalidate(entityId: string): void {
    this.#resolver?.invalidate(entityId);
    for (const [alias, hit] of this.#verified) if (hit.peer.entityId === entityId) this.#verified.delete(alias);
  }

  #resolverFor(policy: TrustPolicy): TrustChainResolver | undefined {
    // Asked on every remote call: the anchors are compared only when the policy object changed.
    if (policy === this.#policyRef) return this.#resolver;
    this.#policyRef = policy;
    const anchors: PinnedTrustAnchor[] = policy.trustAnchors.map((a) => ({
      entityId: a.entityId,
      ...(a.jwks ? { jwks: a.jwks as unknown as PinnedTrustAnchor['jwks'] } : {}),
      ...(a.pinnedKeys ? { pinnedKeyThumbprints: a.pinnedKeys } : {}),
    }));
    if (anchors.length === 0) return (this.#resolver = undefined);
    const key = JSON.stringify(anchors);
    if (this.#resolver && key === this.#anchorsKey) return this.#resolver;
    this.#anchorsKey = key;
    this.#resolver = new TrustChainResolver({ trustAnchors: anchors, allowInsecure: this.#allowInsecure });
    return this.#resolver;
  }
}

/** Whether one of the vouched keys is the Ed25519 key of the pinned peer id. */
function vouchesForPeerId(keys: readonly Record<string, unknown>[], peer: PeerPolicy): boolean {
  const pinned = publicKeyFromPeerId(peer.peerId).export({ format: 'jwk' }) as { x?: string };
  return keys.some((k) => k.kty === 'OKP' && k.crv === 'Ed25519' && k.x === pinned.x);
}
