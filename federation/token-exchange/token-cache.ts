/**
 * A bounded cache of exchanged tokens with single flight: concurrent misses
 * for one key share one exchange; failures are not cached. An entry is used
 * until its refresh time (shortly before expiry), then exchanged anew.
 */

export interface CachedToken {
  accessToken: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** Seconds since the epoch: from then on the entry is not handed out. */
  refreshAt: number;
  scopes: string[];
}

/**
 * How long before expiry a token is refreshed: 10 % of its lifetime, at most
 * 30 s, at least 1 s — long enough for the call it carries to reach the peer.
 */
export function refreshMargin(lifetimeSeconds: number): number {
  return Math.max(1, Math.min(30, Math.ceil(lifetimeSeconds * 0.1)));
}

export class TokenCache {
  readonly #entries = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A usable entry, or undefined (stale entries are dropped). */
  get(key: string, now: number): CachedToken | undefined {
    const hit = this.#entries.get(key);
    if (hit && now < hit.refreshAt) return hit;
    if (hit) this.#entries.delete(key);
    return undefined;
  }

  /**
   * The entry for `key`: the cached one, the exchange already in flight, or a
   * new exchange by `load`. `fresh` is false when another caller's exchange
   * (or the cache) answered.
   */
  async getOrLoad(key: string, now: () => number, load: () => Promise<CachedToken>): Promise<{ entry: CachedToken; fresh: boolean }> {
    const hit = this.get(key, now());
    if (hit) return { entry: hit, fresh: false };
    const pending = this.#inflight.get(key);
    if (pending) return { entry: await pending, fresh: false };
    const flight = load().then((entry) => {
      this.#store(key, entry, now());
      return entry;
    });
    this.#inflight.set(key, flight);
    try {
      return { entry: await flight, fresh: true };
    } finally {
      this.#inflight.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #store(key: string, entry: CachedToken, now: number): void {
    if (entry.refreshAt <= now) return;
    if (this.#entries.size >= this.#max) {
      for (const [k, e] of this.#entries) if (e.refreshAt <= now) this.#entries.delete(k);
      // Still full: drop the oldest insertion (the soonest to expire, lifetimes being similar).
      if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
  }
}
