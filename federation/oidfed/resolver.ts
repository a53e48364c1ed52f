/**
 * Cached trust chain resolution. A resolved chain is kept until its
 * `expiresAt` (the earliest `exp` in it), and never past it; concurrent
 * resolutions of one entity share one walk. `invalidate(entityId)` drops an
 * entity (a peer removed from trust-config, a key compromise); replacing the
 * anchors drops everything. A resolution that was under way when its entity
 * was invalidated is returned to its callers but not cached.
 */
import { checkTrustAnchors, resolveWithAnchors, type ResolvedTrustChain, type ResolveTrustChainOptions } from './trust-chain.js';
import type { PinnedTrustAnchor } from './types.js';

export interface TrustChainResolverOptions extends Omit<ResolveTrustChainOptions, 'signal'> {
  /** Most chains kept; the oldest is dropped beyond it. Default 1,000. */
  maxCacheEntries?: number;
}

/**
 * @example
 * ```ts
 * import { TrustChainResolver } from './resolver.js';
 * import type { Jwks } from './types.js';
 * declare const anchorJwks: Jwks;
 * const resolver = new TrustChainResolver({ trustAnchors: [{ entityId: 'https://anchor.example', jwks: anchorJwks }] });
 * const chain = await resolver.resolve('https://node-b.example');
 * resolver.invalidate('https://node-b.example');
 * ```
 */
export class TrustChainResolver {
  #options: TrustChainResolverOptions;
  #anchors: Map<string, PinnedTrustAnchor>;
  readonly #cache = new Map<string, ResolvedTrustChain>();
  readonly #inflight = new Map<string, Promise<ResolvedTrustChain>>();
  readonly #generation = new Map<string, number>();
  #epoch = 0;

  /** Throws `invalid_configuration` for unusable anchors. */
  constructor(options: TrustChainResolverOptions) {
    this.#options = options;
    this.#anchors = checkTrustAnchors(options.trustAnchors, options.allowInsecure);
  }

  #now(): number {
    const { now } = this.#options;
    return typeof now === 'function' ? now() : (now ?? Date.now());
  }

  /** The cached chain for `entityId`, if it has not expired. */
  cached(entityId: string): ResolvedTrustChain | undefined {
    const hit = this.#cache.get(entityId);
    if (hit === undefined) return undefined;
    if (hit.expiresAt * 1000 <= this.#now()) {
      this.#cache.delete(entityId);
      return undefined;
    }
    return hit;
  }

  /** Changes whenever `entityId`'s cached or in-flight result must no longer be stored. */
  #token(entityId: string): string {
    return `${this.#epoch}:${this.#generation.get(entityId) ?? 0}`;
  }

  /**
   * A valid chain for `entityId`, from cache or freshly resolved. Calls
   * without a signal share one walk per entity; a call with its own signal
   * walks alone, so aborting it never fails another caller.
   */
  resolve(entityId: string, options: { signal?: AbortSignal } = {}): Promise<ResolvedTrustChain> {
    const hit = this.cached(entityId);
    if (hit !== undefined) return Promise.resolve(hit);
    const shared = options.signal === undefined;
    if (shared) {
      const running = this.#inflight.get(entityId);
      if (running !== undefined) return running;
    }
    const token = this.#token(entityId);
    const walk = resolveWithAnchors(entityId, this.#anchors, { ...this.#options, now: this.#now(), ...(shared ? {} : { signal: options.signal }) });
    const promise = walk.then(
      (chain) => {
        if (this.#token(entityId) === token) this.#store(entityId, chain);
        if (this.#inflight.get(entityId) === promise) this.#inflight.delete(entityId);
        return chain;
      },
      (err: unknown) => {
        if (this.#inflight.get(entityId) === promise) this.#inflight.delete(entityId);
        throw err;
      },
    );
    if (shared) this.#inflight.set(entityId, promise);
    return promise;
  }

  #store(entityId: string, chain: ResolvedTrustChain): void {
    this.#cache.delete(entityId);
    this.#cache.set(entityId, chain);
    const max = this.#options.maxCacheEntries ?? 1000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  /** Forget `entityId`'s chain (a resolution under way finishes for its callers, uncached). */
  invalidate(entityId: string): void {
    this.#cache.delete(entityId);
    this.#inflight.delete(entityId);
    this.#generation.set(entityId, (this.#generation.get(entityId) ?? 0) + 1);
  }

  /** Forget every chain. */
  clear(): void {
    this.#cache.clear();
    this.#inflight.clear();
    this.#generation.clear();
    this.#epoch++;
  }

  /** Replace the pinned anchors (trust-config reload); drops every cached chain. */
  setTrustAnchors(anchors: readonly PinnedTrustAnchor[]): void {
    const checked = checkTrustAnchors(anchors, this.#options.allowInsecure);
    this.#options = { ...this.#options, trustAnchors: anchors };
    this.#anchors = checked;
    this.clear();
  }
}
