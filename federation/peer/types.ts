/**
 * The peer host's public shapes: link states, events, settings and the
 * `PeerHost` interface the rest of the node programs against.
 */
import type { NodeIdentity } from '../../src/node/identity.js';
import type { BackoffOptions } from './backoff.js';
import type { PeerErrorCode } from './errors.js';
import type { RequestHandler, RequestOptions } from './frames.js';
import type { PinnedPeer } from './pins.js';

/** Link state of a pinned peer. */
export type PeerStatus = 'connected' | 'connecting' | 'disconnected' | 'refused';

/** A snapshot of one pinned peer. */
export interface PeerState {
  alias: string;
  peerId: string;
  addresses: string[];
  status: PeerStatus;
  /** When the link last became `connected` (ms since epoch). */
  lastConnectedAt?: number;
  /** The last link failure (kept after recovery, for diagnosis). */
  lastError?: { code: PeerErrorCode; message: string; at: number };
  /** Latest ping round trip (ms) while connected. */
  rttMs?: number;
  /** Failed attempts since the last successful connection. */
  reconnectAttempts: number;
}

/** A refused link: an unpinned peer knocked, or a pinned one failed its proof or refused us. */
export interface PeerRefusal {
  peerId: string;
  /** Set when the peer is pinned. */
  alias?: string;
  direction: 'inbound' | 'outbound';
  reason: string;
}

/** Events of a peer host and their payloads. */
export interface PeerHostEvents {
  'peer:connected': PeerState;
  'peer:disconnected': PeerState;
  'peer:refused': PeerRefusal;
  /** The peer left the allow-list (`setPeers`); its links are closed. */
  'peer:removed': PeerState;
}

/** Settings of a peer host; every default is listed. */
export interface PeerHostInit {
  /** The node identity: its Ed25519 key is the libp2p key. */
  identity: Pick<NodeIdentity, 'privateJwk'>;
  /** Listen multiaddrs. Default `['/ip4/127.0.0.1/tcp/0']`. */
  listen?: string[];
  /** Initial allow-list. Default none. */
  peers?: readonly PinnedPeer[];
  /** Maximum request/response body (bytes). Default 1 MiB. */
  maxFrameBytes?: number;
  /** Requests of one protocol in flight per link and direction (beyond: `peer_busy` here, refused there). Default 128. */
  maxConcurrentStreams?: number;
  /** Default deadline of `request` and of serving one inbound request (ms). Default 10,000. */
  requestTimeoutMs?: number;
  /** How long an outbound request stream rests in its pool before it is closed (ms); inbound ones wait twice as long. Default 30,000. */
  idleStreamMs?: number;
  /** Idle request streams kept per link and protocol. Default 16. */
  maxIdleStreams?: number;
  /** Deadline of one dial attempt, handshake and proof ping included (ms). Default 5,000. */
  dialTimeoutMs?: number;
  /** Redial pacing. Default 250 ms doubling up to 30 s. */
  backoff?: BackoffOptions;
  /** How often open links are pinged (libp2p connection monitor, also refreshes `rttMs`). Default 10,000. */
  pingIntervalMs?: number;
}

/**
 * This node's side of the federation links.
 *
 * @example
 * ```ts
 * import { createPeerHost } from './host.js';
 * import { loadOrCreateIdentity } from '../../src/node/identity.js';
 * const { identity } = await loadOrCreateIdentity('/tmp/toolmesh-a');
 * const host = await createPeerHost({ identity, peers: [{ alias: 'b', peerId: '12D3KooW…', addresses: ['/ip4/127.0.0.1/tcp/4100'] }] });
 * await host.handle('/toolmesh/echo/1.0.0', (bytes) => bytes);
 * await host.start();
 * await host.whenConnected('b', { timeoutMs: 5_000 });
 * const reply = await host.request('b', '/toolmesh/echo/1.0.0', new TextEncoder().encode('hi'), { timeoutMs: 2_000 });
 * await host.stop();
 * ```
 */
export interface PeerHost {
  /** This node's peer id (`12D3KooW…`). */
  readonly peerId: string;
  /** Listen addresses, each ending in `/p2p/<peerId>` (empty before start). */
  multiaddrs(): string[];
  start(): Promise<void>;
  /** Cancels redials, closes every link, stops listening. */
  stop(): Promise<void>;
  /** Replaces the allow-list (policy hot reload). Throws `invalid_peer_config` and keeps the old list on a bad entry. */
  setPeers(peers: readonly PinnedPeer[]): Promise<void>;
  peers(): PeerState[];
  peer(alias: string): PeerState | undefined;
  /** Serves a request/response protocol for pinned peers. */
  handle(protocol: string, handler: RequestHandler): Promise<void>;
  unhandle(protocol: string): Promise<void>;
  /** One request/response exchange with a connected pinned peer; failures are `PeerError`s. */
  request(alias: string, protocol: string, body: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /** Resolves when the peer is connected (at once if it is); rejects `peer_timeout` / `request_aborted`. */
  whenConnected(alias: string, options?: RequestOptions): Promise<PeerState>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof PeerHostEvents>(event: K, listener: (detail: PeerHostEvents[K]) => void): () => void;
}
