/**
 * Verified identities by token, until the token's `exp` — so the hot path
 * does not re-verify a signature per request (jose manages ~3–4k/s per core).
 *
 * Bounded LRU (a `Map` in recency order). Keys are SHA-256 digests of the
 * token, so the cache never holds bearer tokens themselves. An entry is
 * never returned at or after its `exp`; only successes are cached.
 */
import { createHash } from 'node:crypto';
import type { Identity } from '../identity.js';

interface Entry {
  identity: Identity;
  /** Milliseconds since the epoch at which the entry stops being served. */
  expiresAtMs: number;
}

/**
 * @example
 * ```ts
 * const cache = new IdentityCache(10_000);
 * const key = IdentityCache.key(token);
 * cache.set(key, identity, identity.expiresAt! * 1000, Date.now());
 * cache.get(key, Date.now()); // identity, until exp
 * ```
 */
export class IdentityCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError('cacheMaxEntries: must be a non-negative integer');
    this.#max = maxEntries;
  }

  /** The cache key of a token. */
  static key(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, nowMs: number): Identity | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (nowMs >= entry.expiresAtMs) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.identity;
  }

  set(key: string, identity: Identity, expiresAtMs: number, nowMs: number): void {
    if (this.#max === 0 || nowMs >= expiresAtMs) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { identity, expiresAtMs });
  }

  clear(): void {
    this.#entries.clear();
  }
}
