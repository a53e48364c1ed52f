/**
 * Outbound streams kept open between requests, per (connection, protocol):
 * - a request takes the most recently used idle stream, or opens one while the
 *   protocol's in-flight count is under `maxStreams` (beyond: `peer_busy`);
 * - a stream goes back only after a complete, in-sync exchange; a request
 *   that failed, timed out or was aborted aborts its stream instead (a late
 *   response would otherwise answer the next request);
 * - at most `maxIdle` idle streams per pool; an idle stream is closed after
 *   `idleMs`, or dropped as soon as the remote ends it;
 * - a connection's pools go when the connection closes.
 */
import type { Connection } from '@libp2p/interface';
import { PeerError } from './errors.js';
import { FramedStream } from './frames.js';

/** Stream counters of a peer host (for tests and metrics). */
export interface StreamStats {
  /** Outbound request streams opened since start. */
  opened: number;
  /** Requests sent on a stream that had already carried one. */
  reused: number;
  /** Outbound streams now resting in pools. */
  idle: number;
  /** Outbound requests now in flight. */
  busy: number;
}

export interface PoolLimits {
  /** In-flight requests per connection and protocol. */
  maxStreams: number;
  /** Idle streams kept per connection and protocol. */
  maxIdle: number;
  /** How long a stream may rest before it is closed (ms). */
  idleMs: number;
}

/** The pools of one host, by connection then protocol. */
export class StreamPools {
  private readonly pools = new Map<Connection, Map<string, StreamPool>>();
  private readonly counters = { opened: 0, reused: 0 };

  constructor(private readonly limits: PoolLimits) {}

  /** The pool of `protocol` on `connection` (created on first use). */
  get(connection: Connection, protocol: string): StreamPool {
    let byProtocol = this.pools.get(connection);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      this.pools.set(connection, byProtocol);
      connection.addEventListener('close', () => this.drop(connection), { once: true });
    }
    let pool = byProtocol.get(protocol);
    if (pool === undefined) {
      pool = new StreamPool(connection, protocol, this.limits, this.counters);
      byProtocol.set(protocol, pool);
    }
    return pool;
  }

  /** Closes the idle streams of `connection` and forgets its pools. */
  drop(connection: Connection): void {
    for (const pool of this.pools.get(connection)?.values() ?? []) pool.clear();
    this.pools.delete(connection);
  }

  /** Closes every idle stream (host stop). */
  clear(): void {
    for (const connection of [...this.pools.keys()]) this.drop(connection);
  }

  stats(): StreamStats {
    let idle = 0;
    let busy = 0;
    for (const byProtocol of this.pools.values()) {
      for (const pool of byProtocol.values()) {
        idle += pool.idleCount;
        busy += pool.busyCount;
      }
    }
    return { ...this.counters, idle, busy };
  }
}

/** The streams of one protocol on one connection. */
export class StreamPool {
  /** Most recently used last. */
  private readonly idle: FramedStream[] = [];
  private busy = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly connection: Connection,
    private readonly protocol: string,
    private readonly limits: PoolLimits,
    private readonly counters: { opened: number; reused: number },
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  get busyCount(): number {
    return this.busy;
  }

  /**
   * A stream for one request: an idle one, else a new one (`fresh` forces a
   * new one). Counts as in flight until `release` or `discard`. Throws
   * `peer_busy` at the limit, and libp2p's errors from opening a stream.
   */
  async acquire(signal: AbortSignal, peerLabel: string, fresh = false): Promise<FramedStream> {
    while (!fresh && this.idle.length > 0) {
      const framed = this.idle.pop()!;
      if (framed.clean) {
        this.busy++;
        this.counters.reused++;
        return framed;
      }
      framed.stream.abort(new Error('stale pooled stream'));
    }
    if (this.busy >= this.limits.maxStreams) {
      throw new PeerError('peer_busy', `too many ${this.protocol} requests in flight to ${peerLabel}`);
    }
    this.busy++;
    try {
      const stream = await this.connection.newStream(this.protocol, { signal, maxOutboundStreams: this.limits.maxStreams });
      this.counters.opened++;
      const framed = new FramedStream(stream);
      framed.onEnd(() => this.forget(framed));
      return framed;
    } catch (err) {
      this.busy--;
      throw err;
    }
  }

  /** Puts a stream back after a complete exchange; closes it if it cannot rest. */
  release(framed: FramedStream): void {
    this.busy--;
    if (!framed.clean || this.connection.status !== 'open' || this.idle.length >= this.limits.maxIdle) {
      void this.close(framed);
      return;
    }
    framed.idleSince = performance.now();
    this.idle.push(framed);
    this.sweeper ??= this.schedule(this.limits.idleMs);
  }

  /** Ends the in-flight use of a stream that failed; the stream is aborted with `reason`. */
  discard(framed: FramedStream | undefined, reason: Error): void {
    if (framed === undefined) return;
    this.busy--;
    framed.stream.abort(reason);
  }

  /** Closes the idle streams. */
  clear(): void {
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    for (const framed of this.idle.splice(0)) void this.close(framed);
  }

  private forget(framed: FramedStream): void {
    const at = this.idle.indexOf(framed);
    if (at === -1) return;
    this.idle.splice(at, 1);
    void this.close(framed);
  }

  private schedule(delayMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.sweep(), Math.max(delayMs, 1));
    timer.unref();
    return timer;
  }

  /** Closes streams idle for `idleMs`; the oldest rest at the front. */
  private sweep(): void {
    this.sweeper = undefined;
    const now = performance.now();
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince >= this.limits.idleMs) void this.close(this.idle.shift()!);
    if (this.idle.length > 0) this.sweeper = this.schedule(this.idle[0]!.idleSince + this.limits.idleMs - now);
  }

  /** Graceful close (our FIN ends the responder's loop); an abort if that fails. */
  private async close(framed: FramedStream): Promise<void> {
    if (framed.stream.status !== 'open') return;
    try {
      await framed.stream.close({ signal: AbortSignal.timeout(5_000) });
    } catch (err) {
      framed.stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
