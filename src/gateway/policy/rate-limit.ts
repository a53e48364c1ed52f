/**
 * Step 2 — rate limit: one token from the caller's bucket per request
 * (see auth/rate-limit.ts for the buckets). 429 carries an integer
 * `Retry-After` and the same number in `error.data.retryAfter`.
 */
import { GatewayError } from '../errors.js';
import type { RateLimiter } from '../../auth/rate-limit.js';
import type { PolicyStep } from './policy.js';

export function rateLimit(limiter: RateLimiter): PolicyStep {
  return {
    name: 'rate-limit',
    run(call) {
      const decision = limiter.take(call.identity!);
      if (decision.allowed) return;
      const retryAfter = decision.retryAfterSeconds;
      throw new GatewayError('rate_limited', `rate limit of ${decision.rule.perMinute}/min exceeded; retry after ${retryAfter} s`, {
        data: { retryAfter, limit: decision.rule.perMinute, burst: decision.rule.burst },
        headers: { 'Retry-After': String(retryAfter) },
      });
    },
  };
}
