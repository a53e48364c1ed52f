/**
 * One-time use of presented tokens: each `(iss, jti)` is accepted once until
 * its `exp` (plus clock tolerance) has passed. Bounded: when full of
 * unexpired entries the cache answers `full` and the endpoint refuses (fail
 * closed) rather than forgetting a jti that could then be replayed.
 *
 * Replicas of one node must share a cache (or pin peers to a replica): the
 * interface is asynchronous so a shared store can back it.
 */

export type ReplayVerdict = 'fresh' | 'replayed' | 'full';

export interface ReplayCache {
  /** Records `key` until `expiresAt` (seconds) unless already present. */
  remember(key: string, expiresAt: number, now: number): ReplayVerdict | Promise<ReplayVerdict>;
}

/**
 * In-memory {@link ReplayCache}.
 *
 * @example
 * ```ts
 * import { MemoryReplayCache } from './replay-cache.js';
 * const cache = new MemoryReplayCache(2);
 * cache.remember('a', 100, 50); // 'fresh'
 * cache.remember('a', 100, 60); // 'replayed'
 * ```
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  #lastSweep = -1;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  remember(key: string, expiresAt: number, now: number): ReplayVerdict {
    const until = this.#seen.get(key);
    if (until !== undefined && until >= now) return 'replayed';
    if (until === undefined && this.#seen.size >= this.#max) {
      this.#sweep(now);
      if (this.#seen.size >= this.#max) return 'full';
    }
    this.#seen.set(key, expiresAt);
    return 'fresh';
  }

  /** Drops expired entries; at most once per second of `now` (a full cache under load sweeps rarely). */
  #sweep(now: number): void {
    if (now === this.#lastSweep) return;
    this.#lastSweep = now;
    for (const [key, until] of this.#seen) if (until < now) this.#seen.delete(key);
  }
}
