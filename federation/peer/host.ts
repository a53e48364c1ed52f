/**
 * The peer host: this node's libp2p endpoint (TCP + Noise + Yamux, identify,
 * ping) keyed with the node identity. Rules:
 * - only pinned peers: a connection gater refuses every other peer id in both
 *   directions, at dial time, after the Noise handshake and after the upgrade;
 * - a dial names the pinned peer id (`/p2p/<id>`), so a listener at a pinned
 *   address that proves another key is refused by the handshake;
 * - a link counts as `connected` only after a ping over it succeeded: a peer
 *   whose gater refuses us lets the handshake finish, then closes;
 * - each pinned peer with addresses is dialed, and redialed with bounded
 *   exponential backoff + jitter after any failure or disconnect;
 * - the allow-list is replaced at runtime (`setPeers`): a removed peer's
 *   connections are closed and its redial loop ends;
 * - requests fail fast: no open link → `peer_unavailable` at once, never a wait;
 * - requests reuse streams: per connection and protocol a small pool of idle
 *   streams (`pool.ts`), each carrying one exchange at a time (`exchange.ts`,
 *   `serve.ts`); a connection's pools go with it.
 */
import '../polyfill.js';
import { EventEmitter, setMaxListeners } from 'node:events';
import { createLibp2p, type Libp2p } from 'libp2p';
import { coalescingTcp } from './coalescing-tcp.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify, type Identify } from '@libp2p/identify';
import { ping, type Ping } from '@libp2p/ping';
import type { Connection, PeerId } from '@libp2p/interface';
import { backoffDelay } from './backoff.js';
import { PeerError, type PeerErrorCode } from './errors.js';
import { exchange } from './exchange.js';
import type { RequestHandler, RequestOptions } from './frames.js';
import { pinnedPeersGater } from './gater.js';
import { libp2pKeyFromNodeIdentity } from './identity.js';
import { resolvePins, type PinnedPeer, type ResolvedPin } from './pins.js';
import { StreamPools, type StreamStats } from './pool.js';
import { serve } from './serve.js';
import type { PeerHost, PeerHostEvents, PeerHostInit, PeerState } from './types.js';
import { installHalfWindowUpdates } from './yamux-window.js';

export type { PeerHost, PeerHostEvents, PeerHostInit, PeerRefusal, PeerState, PeerStatus } from './types.js';
export type { StreamStats } from './pool.js';

type Services = { identify: Identify; ping: Ping };

interface Entry {
  resolved: ResolvedPin;
  state: PeerState;
  /** Aborted when the peer is removed or the host stops. */
  controller: AbortController;
  timer?: NodeJS.Timeout;
  dialing: boolean;
  verifying?: Promise<void>;
}

/**
 * Stream counters of a host made by `createPeerHost` (undefined for any other
 * `PeerHost`): how many request streams were opened and how many requests
 * reused one. For metrics and tests.
 *
 * @example
 * ```ts
 * import { createPeerHost, peerStreamStats } from './host.js';
 * import { loadOrCreateIdentity } from '../../src/node/identity.js';
 * const host = await createPeerHost({ identity: (await loadOrCreateIdentity('/tmp/toolmesh-a')).identity });
 * console.log(peerStreamStats(host)?.opened); // 0
 * ```
 */
export function peerStreamStats(host: PeerHost): StreamStats | undefined {
  return host instanceof Libp2pPeerHost ? host.streamStats() : undefined;
}

/**
 * Creates a (stopped) peer host; call `start()`. Throws `invalid_peer_config`
 * for a bad initial allow-list and `TypeError` for a non-Ed25519 identity.
 */
export async function createPeerHost(init: PeerHostInit): Promise<PeerHost> {
  const host = new Libp2pPeerHost(init);
  await host.init();
  return host;
}

class Libp2pPeerHost implements PeerHost {
  private node!: Libp2p<Services>;
  private readonly entries = new Map<string, Entry>();
  private readonly events = new EventEmitter();
  private readonly stopController = new AbortController();
  private readonly maxFrameBytes: number;
  private readonly maxStreams: number;
  private readonly requestTimeoutMs: number;
  private readonly dialTimeoutMs: number;
  private readonly idleStreamMs: number;
  private readonly pools: StreamPools;
  /** Per served protocol, aborted by `unhandle` (its open streams then close). */
  private readonly served = new Map<string, AbortController>();
  private started = false;

  constructor(private readonly settings: PeerHostInit) {
    this.maxFrameBytes = settings.maxFrameBytes ?? 1024 * 1024;
    this.maxStreams = settings.maxConcurrentStreams ?? 128;
    this.requestTimeoutMs = settings.requestTimeoutMs ?? 10_000;
    this.dialTimeoutMs = settings.dialTimeoutMs ?? 5_000;
    this.idleStreamMs = settings.idleStreamMs ?? 30_000;
    // Every request in flight and every served stream listens to it (and stops listening when done).
    setMaxListeners(0, this.stopController.signal);
    this.pools = new StreamPools({ maxStreams: this.maxStreams, maxIdle: settings.maxIdleStreams ?? 16, idleMs: this.idleStreamMs });
    for (const [id, resolved] of resolvePins(settings.peers ?? [])) this.entries.set(id, this.newEntry(resolved));
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  async init(): Promise<void> {
    installHalfWindowUpdates();
    this.node = await createLibp2p<Services>({
      start: false,
      privateKey: libp2pKeyFromNodeIdentity(this.settings.identity),
      addresses: { listen: this.settings.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
      transports: [coalescingTcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping() },
      connectionManager: { dialTimeout: this.dialTimeoutMs, inboundUpgradeTimeout: this.dialTimeoutMs },
      connectionMonitor: { pingInterval: this.settings.pingIntervalMs ?? 10_000 },
      connectionGater: pinnedPeersGater(
        (peerId) => this.entries.has(peerId),
        (peerId) => this.emit('peer:refused', { peerId, direction: 'inbound', reason: 'peer id is not pinned' }),
      ),
    });
    this.node.addEventListener('peer:connect', (evt) => this.onPeerConnect(evt.detail));
    this.node.addEventListener('peer:disconnect', (evt) => this.onPeerDisconnect(evt.detail));
  }

  multiaddrs(): string[] {
    return this.node.getMultiaddrs().map((addr) => addr.toString());
  }

  async start(): Promise<void> {
    if (this.stopController.signal.aborted) throw new PeerError('host_stopped', 'a stopped peer host cannot restart; create a new one');
    await this.node.start();
    this.started = true;
    for (const entry of this.entries.values()) void this.connect(entry);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.stopController.abort();
    this.pools.clear();
    for (const entry of this.entries.values()) this.retire(entry);
    await this.node.stop();
  }

  async setPeers(peers: readonly PinnedPeer[]): Promise<void> {
    const next = resolvePins(peers);
    const removed: Entry[] = [];
    for (const [id, entry] of this.entries) {
      if (next.has(id)) continue;
      this.entries.delete(id); // first: the gater refuses it from now on
      removed.push(entry);
    }
    for (const [id, resolved] of next) {
      const entry = this.entries.get(id);
      if (entry === undefined) {
        const fresh = this.newEntry(resolved);
        this.entries.set(id, fresh);
        if (this.started) void this.connect(fresh);
        continue;
      }
      const moved = resolved.pin.addresses.join(' ') !== entry.resolved.pin.addresses.join(' ');
      entry.resolved = resolved;
      entry.state.alias = resolved.pin.alias;
      entry.state.addresses = [...resolved.pin.addresses];
      if (moved && this.started && entry.state.status !== 'connected') {
        entry.state.reconnectAttempts = 0;
        clearTimeout(entry.timer);
        void this.connect(entry);
      }
    }
    await Promise.all(
      removed.map(async (entry) => {
        const wasConnected = entry.state.status === 'connected';
        this.retire(entry);
        if (this.started) await this.node.hangUp(entry.resolved.peerId).catch(() => undefined);
        entry.state.status = 'disconnected';
        entry.state.rttMs = undefined;
        if (wasConnected) this.emit('peer:disconnected', this.snapshot(entry));
        this.emit('peer:removed', this.snapshot(entry));
      }),
    );
  }

  peers(): PeerState[] {
    return [...this.entries.values()].map((entry) => this.snapshot(entry));
  }

  peer(alias: string): PeerState | undefined {
    const entry = this.byAlias(alias);
    return entry === undefined ? undefined : this.snapshot(entry);
  }

  async handle(protocol: string, handler: RequestHandler): Promise<void> {
    const registration = new AbortController();
    const closeSignal = AbortSignal.any([registration.signal, this.stopController.signal]);
    setMaxListeners(0, closeSignal); // one listener per open stream of the protocol, removed when it ends
    await this.node.handle(protocol, (stream, connection) => {
      const peerId = connection.remotePeer.toString();
      if (!this.entries.has(peerId)) {
        stream.abort(new PeerError('peer_refused', 'peer is not pinned'));
        return;
      }
      return serve(stream, handler, {
        maxFrameBytes: this.maxFrameBytes,
        timeoutMs: this.requestTimeoutMs,
        // Twice our own idle time: a dialer with the same setting closes first, so its next request never races our close.
        idleMs: this.idleStreamMs * 2,
        context: () => {
          const entry = this.entries.get(peerId);
          return entry === undefined ? undefined : { alias: entry.state.alias, peerId };
        },
        closeSignal,
      });
    }, { maxInboundStreams: this.maxStreams, maxOutboundStreams: this.maxStreams });
    this.served.get(protocol)?.abort();
    this.served.set(protocol, registration);
  }

  async unhandle(protocol: string): Promise<void> {
    await this.node.unhandle(protocol);
    this.served.get(protocol)?.abort(); // streams kept open for it close between requests
    this.served.delete(protocol);
  }

  async request(alias: string, protocol: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (!this.started) throw new PeerError('host_stopped', 'the peer host is not running');
    const entry = this.byAlias(alias);
    if (entry === undefined) throw new PeerError('unknown_peer', `no pinned peer has alias ${alias}`);
    const connection = this.openConnection(entry);
    if (connection === undefined || entry.state.status !== 'connected') {
      const code = entry.state.status === 'refused' ? 'peer_refused' : 'peer_unavailable';
      throw new PeerError(code, `peer ${alias} is ${entry.state.status}`);
    }
    return exchange(this.pools.get(connection, protocol), protocol, body, {
      maxFrameBytes: this.maxFrameBytes,
      timeoutMs: options.timeoutMs ?? this.requestTimeoutMs,
      signal: options.signal,
      stopSignal: this.stopController.signal,
      peerLabel: `peer ${alias}`,
    });
  }

  streamStats(): StreamStats {
    return this.pools.stats();
  }

  whenConnected(alias: string, options: RequestOptions = {}): Promise<PeerState> {
    const entry = this.byAlias(alias);
    if (entry === undefined) return Promise.reject(new PeerError('unknown_peer', `no pinned peer has alias ${alias}`));
    if (entry.state.status === 'connected') return Promise.resolve(this.snapshot(entry));
    const timeoutMs = options.timeoutMs ?? this.dialTimeoutMs;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        off();
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const off = this.on('peer:connected', (state) => {
        if (state.peerId !== entry.state.peerId) return;
        done();
        resolve(state);
      });
      const timer = setTimeout(() => {
        done();
        reject(new PeerError('peer_timeout', `peer ${alias} not connected within ${timeoutMs} ms (${entry.state.status})`));
      }, timeoutMs);
      const onAbort = (): void => {
        done();
        reject(new PeerError('request_aborted', `waiting for peer ${alias} aborted`));
      };
      if (options.signal?.aborted === true) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  on<K extends keyof PeerHostEvents>(event: K, listener: (detail: PeerHostEvents[K]) => void): () => void {
    this.events.on(event, listener);
    return () => void this.events.off(event, listener);
  }

  // ---- link lifecycle -------------------------------------------------------

  private newEntry(resolved: ResolvedPin): Entry {
    return {
      resolved,
      controller: new AbortController(),
      dialing: false,
      state: {
        alias: resolved.pin.alias,
        peerId: resolved.pin.peerId,
        addresses: [...resolved.pin.addresses],
        status: 'disconnected',
        reconnectAttempts: 0,
      },
    };
  }

  /** Ends an entry's redial loop for good (removal or stop). */
  private retire(entry: Entry): void {
    entry.controller.abort();
    clearTimeout(entry.timer);
  }

  private live(entry: Entry): boolean {
    return this.started && !entry.controller.signal.aborted;
  }

  private async connect(entry: Entry): Promise<void> {
    if (!this.live(entry) || entry.dialing || entry.verifying !== undefined) return;
    if (this.openConnection(entry) !== undefined) return this.verify(entry);
    if (entry.resolved.dialAddrs.length === 0) return; // inbound-only peer
    entry.dialing = true;
    // A peer that refused us stays `refused` while we retry: that is what an operator needs to see.
    if (entry.state.status !== 'refused') entry.state.status = 'connecting';
    const deadline = AbortSignal.timeout(this.dialTimeoutMs);
    try {
      await this.node.dial(entry.resolved.dialAddrs, { signal: AbortSignal.any([entry.controller.signal, deadline]) });
    } catch (err) {
      entry.dialing = false;
      this.fail(entry, err, deadline.aborted, 'dial');
      return;
    }
    entry.dialing = false;
    await this.verify(entry);
  }

  /** Proves the link with a ping before calling it connected (the peer's gater may still close it). */
  private verify(entry: Entry): Promise<void> {
    entry.verifying ??= (async () => {
      if (entry.state.status === 'disconnected') entry.state.status = 'connecting';
      const deadline = AbortSignal.timeout(this.dialTimeoutMs);
      try {
        const rttMs = await this.node.services.ping.ping(entry.resolved.peerId, {
          signal: AbortSignal.any([entry.controller.signal, deadline]),
        });
        this.connected(entry, rttMs);
      } catch (err) {
        this.fail(entry, err, deadline.aborted, 'proof');
      } finally {
        entry.verifying = undefined;
      }
    })();
    return entry.verifying;
  }

  private connected(entry: Entry, rttMs: number): void {
    if (!this.live(entry)) return;
    clearTimeout(entry.timer);
    const was = entry.state.status;
    Object.assign(entry.state, { status: 'connected', lastConnectedAt: Date.now(), rttMs, reconnectAttempts: 0 });
    if (was !== 'connected') this.emit('peer:connected', this.snapshot(entry));
  }

  private fail(entry: Entry, err: unknown, timedOut: boolean, stage: 'dial' | 'proof'): void {
    if (!this.live(entry)) return;
    const code = classify(err, timedOut, stage);
    const message = `${stage}: ${(err as Error | undefined)?.message ?? String(err)}`;
    const was = entry.state.status;
    entry.state.status = code === 'peer_refused' ? 'refused' : 'disconnected';
    entry.state.rttMs = undefined;
    entry.state.lastError = { code, message, at: Date.now() };
    if (code === 'peer_refused') {
      this.emit('peer:refused', { peerId: entry.state.peerId, alias: entry.state.alias, direction: 'outbound', reason: message });
      void this.node.hangUp(entry.resolved.peerId).catch(() => undefined);
    } else if (was === 'connected') {
      this.emit('peer:disconnected', this.snapshot(entry));
    }
    this.scheduleReconnect(entry);
  }

  private scheduleReconnect(entry: Entry): void {
    if (!this.live(entry) || entry.resolved.dialAddrs.length === 0) return;
    clearTimeout(entry.timer);
    entry.state.reconnectAttempts += 1;
    const delay = backoffDelay(entry.state.reconnectAttempts, this.settings.backoff);
    entry.timer = setTimeout(() => void this.connect(entry), delay);
    entry.timer.unref();
  }

  private onPeerConnect(peer: PeerId): void {
    const entry = this.entries.get(peer.toString());
    if (entry !== undefined && this.live(entry) && entry.state.status !== 'connected' && !entry.dialing) void this.verify(entry);
  }

  private onPeerDisconnect(peer: PeerId): void {
    const entry = this.entries.get(peer.toString());
    // Failures seen while dialing or proving are handled (and rescheduled) there.
    if (entry === undefined || !this.live(entry) || entry.state.status !== 'connected') return;
    entry.state.status = 'disconnected';
    entry.state.rttMs = undefined;
    this.emit('peer:disconnected', this.snapshot(entry));
    this.scheduleReconnect(entry);
  }

  // ---- helpers --------------------------------------------------------------

  private byAlias(alias: string): Entry | undefined {
    for (const entry of this.entries.values()) if (entry.state.alias === alias) return entry;
    return undefined;
  }

  private openConnection(entry: Entry): Connection | undefined {
    return this.node.getConnections(entry.resolved.peerId).find((conn) => conn.status === 'open');
  }

  private snapshot(entry: Entry): PeerState {
    const state: PeerState = { ...entry.state, addresses: [...entry.state.addresses] };
    if (state.lastError !== undefined) state.lastError = { ...state.lastError };
    if (state.status === 'connected') {
      const monitored = this.openConnection(entry)?.rtt;
      if (typeof monitored === 'number') state.rttMs = monitored;
    }
    return state;
  }

  private emit<K extends keyof PeerHostEvents>(event: K, detail: PeerHostEvents[K]): void {
    try {
      this.events.emit(event, detail);
    } catch (err) {
      // A failing listener must not break the link state machine (nor the gater it may run in).
      process.emitWarning(`peer host ${event} listener failed: ${(err as Error).message}`);
    }
  }
}

/**
 * What a failed dial or proof means for the peer's status. The handshake
 * failing means the listener could not prove the pinned key; a proof that
 * fails after the handshake means the peer's gater closed the link on us.
 */
function classify(err: unknown, timedOut: boolean, stage: 'dial' | 'proof'): PeerErrorCode {
  if (timedOut) return 'peer_timeout';
  const name = (err as Error | undefined)?.name;
  if (name === 'EncryptionFailedError' || name === 'UnexpectedPeerError' || name === 'InvalidCryptoExchangeError') return 'peer_refused';
  if (name === 'DialDeniedError' || name === 'UnexpectedEOFError') return 'peer_refused';
  if (stage === 'proof') return 'peer_refused';
  return 'peer_unavailable';
}
