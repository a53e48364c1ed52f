/**
 * The pinned peers (from trust-config/): the only peers this node talks to.
 * Validated once when set — a bad entry fails `setPeers`, never a dial.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { PeerId } from '@libp2p/interface';
import { PeerError } from './errors.js';
import { parseEd25519PeerId } from './identity.js';

/** One pinned peer as configured. */
export interface PinnedPeer {
  /** Local name of the peer (unique); requests address peers by alias. */
  alias: string;
  /** The peer's libp2p peer id (Ed25519, `12D3KooW…`). */
  peerId: string;
  /** Where to dial it (`/ip4/…/tcp/…`, optionally ending in its own `/p2p/<peerId>`). May be empty: inbound only. */
  addresses: string[];
}

/** A validated pin: parsed peer id and dialable multiaddrs that end in `/p2p/<peerId>`. */
export interface ResolvedPin {
  pin: PinnedPeer;
  peerId: PeerId;
  dialAddrs: Multiaddr[];
}

const ALIAS = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/**
 * Validates a whole allow-list (aliases and peer ids unique, peer ids Ed25519,
 * addresses parse and carry no other peer id).
 */
export function resolvePins(pins: readonly PinnedPeer[]): Map<string, ResolvedPin> {
  const byPeerId = new Map<string, ResolvedPin>();
  const aliases = new Set<string>();
  pins.forEach((pin, i) => {
    const where = `peers[${i}]`;
    if (typeof pin.alias !== 'string' || !ALIAS.test(pin.alias)) {
      throw new PeerError('invalid_peer_config', `${where}.alias: expected 1-63 characters [A-Za-z0-9._-]`);
    }
    if (aliases.has(pin.alias)) throw new PeerError('invalid_peer_config', `${where}.alias: duplicate alias ${pin.alias}`);
    aliases.add(pin.alias);
    let peerId: PeerId;
    try {
      peerId = parseEd25519PeerId(pin.peerId);
    } catch (err) {
      throw new PeerError('invalid_peer_config', `${where}.peerId: ${(err as Error).message}`, { cause: err });
    }
    const id = peerId.toString();
    if (byPeerId.has(id)) throw new PeerError('invalid_peer_config', `${where}.peerId: ${id} is pinned twice`);
    const dialAddrs = (pin.addresses ?? []).map((text, j) => {
      let addr: Multiaddr;
      try {
        addr = multiaddr(text);
      } catch (err) {
        throw new PeerError('invalid_peer_config', `${where}.addresses[${j}]: ${(err as Error).message}`, { cause: err });
      }
      const embedded = addr.getComponents().filter((c) => c.name === 'p2p').map((c) => c.value);
      if (embedded.length === 0) return addr.encapsulate(`/p2p/${id}`);
      if (embedded.length === 1 && embedded[0] === id) return addr;
      throw new PeerError('invalid_peer_config', `${where}.addresses[${j}]: names a different peer id than ${id}`);
    });
    byPeerId.set(id, { pin: { alias: pin.alias, peerId: id, addresses: [...(pin.addresses ?? [])] }, peerId, dialAddrs });
  });
  return byPeerId;
}
