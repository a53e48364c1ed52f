/**
 * Federation links: the libp2p peer host, pinned peers, request/response
 * frames and the node-identity ↔ peer-id bridge.
 */
export { createPeerHost, peerStreamStats, type StreamStats } from './host.js';
export type { PeerHost, PeerHostInit, PeerHostEvents, PeerState, PeerStatus, PeerRefusal } from './types.js';
export { pinnedPeersGater } from './gater.js';
export { PeerError, type PeerErrorCode } from './errors.js';
export type { PinnedPeer } from './pins.js';
export type { RequestHandler, RequestContext, RequestOptions } from './frames.js';
export { peerIdFromNodeIdentity, libp2pKeyFromNodeIdentity, publicKeyFromPeerId, parseEd25519PeerId } from './identity.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
