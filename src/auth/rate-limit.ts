/**
 * Token buckets per canonical principal (PRODUCT.md §5 step 2).
 *
 * - Keyed by `Identity.principal`, so one principal reached through several
 *   credentials (two API keys of a tenant, two tokens of a person) shares one
 *   bucket; authentication runs first, so a failed credential never spends
 *   anyone's tokens.
 * - Exact: a bucket holds at most `burst` tokens and refills continuously at
 *   `perMinute / 60` per second; N = burst calls pass at once, the next waits.
 * - Bounded memory: at most `maxTracked` buckets. A bucket that has refilled
 *   to its burst is indistinguishable from a fresh one, so those are dropped
 *   first; if none of the oldest is at rest, the fullest of them goes, so a
 *   caller who is being limited keeps its empty bucket.
 */
import type { Identity, PrincipalClass } from './identity.js';

export interface RateRule {
  perMinute: number;
  burst: number;
}

export interface RateLimitConfig {
  defaults: Record<PrincipalClass, RateRule>;
  /** Per group: the most generous rule among a caller's groups applies. */
  groups: Record<string, RateRule>;
  /** Per tenant: overrides groups and defaults for that tenant's principal. */
  tenants: Record<string, RateRule>;
  maxTracked: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  defaults: {
    person: { perMinute: 100, burst: 200 },
    agent: { perMinute: 500, burst: 1000 },
    tenant: { perMinute: 2000, burst: 2000 },
  },
  groups: {},
  tenants: {},
  maxTracked: 100_000,
};

export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number; rule: RateRule };

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
  rule: RateRule;
}

/** How many oldest entries one insertion inspects for an at-rest bucket before falling back to LRU. */
const EVICTION_SCAN = 16;

export class RateLimiter {
  readonly #config: RateLimitConfig;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(config: RateLimitConfig = DEFAULT_RATE_LIMITS, now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  get tracked(): number {
    return this.#buckets.size;
  }

  /** The rule that applies to `identity` (tenant override > most generous group > class default). */
  ruleFor(identity: Identity): RateRule {
    if (identity.tenant !== undefined) {
      const t = this.#config.tenants[identity.tenant];
      if (t) return t;
    }
    let best: RateRule | undefined;
    for (const g of identity.groups) {
      const r = this.#config.groups[g];
      if (r && (!best || r.perMinute > best.perMinute)) best = r;
    }
    return best ?? this.#config.defaults[identity.class];
  }

  /** Takes one token from the principal's bucket. */
  take(identity: Identity): RateDecision {
    const now = this.#now();
    const rule = this.ruleFor(identity);
    const key = identity.principal;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // re-inserted below: Map order is recency order
      if (bucket.rule !== rule) bucket.rule = rule;
      refill(bucket, now);
    } else {
      if (this.#buckets.size >= this.#config.maxTracked) this.#evict(now);
      bucket = { tokens: rule.burst, at: now, rule };
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    const perMs = rule.perMinute / 60_000;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)), rule };
  }

  #evict(now: number): void {
    // Look at the oldest few: drop one at rest at once; otherwise the fullest of
    // them, so an exhausted bucket (a caller being limited) is the last to be forgotten.
    let scanned = 0;
    let victim: string | undefined;
    let victimFill = -1;
    for (const [key, bucket] of this.#buckets) {
      refill(bucket, now);
      const fill = bucket.tokens / bucket.rule.burst;
      if (fill >= 1) {
        this.#buckets.delete(key);
        return;
      }
      if (fill > victimFill) {
        victim = key;
        victimFill = fill;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    if (victim !== undefined) this.#buckets.delete(victim);
  }
}

function refill(bucket: Bucket, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed <= 0) return;
  bucket.tokens = Math.min(bucket.rule.burst, bucket.tokens + (elapsed * bucket.rule.perMinute) / 60_000);
  bucket.at = now;
}
