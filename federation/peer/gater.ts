/**
 * The connection gater of the peer host: only pinned peer ids get through,
 * in both directions and at every stage libp2p asks — before dialing, after
 * the Noise handshake (the first moment the remote key is proven) and again
 * after the upgrade (the allow-list may have changed meanwhile). Relayed
 * connections and relay reservations are refused outright: federation links
 * are direct. An inbound refusal is reported (an unpinned peer knocking is
 * worth an operator's attention); outbound ones are reported by the dialer.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface';

/**
 * @example
 * ```ts
 * import { pinnedPeersGater } from './gater.js';
 * const pinned = new Set<string>(['12D3KooW…']);
 * const gater = pinnedPeersGater((id) => pinned.has(id), (id) => console.warn(`refused ${id}`));
 * ```
 */
export function pinnedPeersGater(isPinned: (peerId: string) => boolean, onInboundRefused: (peerId: string) => void): ConnectionGater {
  const deny = (peer: PeerId): boolean => !isPinned(peer.toString());
  return {
    denyDialPeer: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundEncryptedConnection: (peer) => {
      if (!deny(peer)) return false;
      onInboundRefused(peer.toString());
      return true;
    },
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny,
    denyInboundRelayReservation: () => true,
    denyInboundRelayedConnection: () => true,
    denyOutboundRelayedConnection: () => true,
  };
}
