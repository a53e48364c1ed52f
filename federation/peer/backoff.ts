/**
 * Reconnect pacing: exponential backoff with "equal jitter" (half the delay
 * fixed, half random) so that peers that lost each other at the same moment
 * do not redial in lockstep, bounded by `maxMs` so a pinned peer that comes
 * back is found again within `maxMs`.
 */

export interface BackoffOptions {
  /** First retry delay (ms). Default 250. */
  baseMs?: number;
  /** Upper bound of any delay (ms). Default 30,000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/**
 * The delay before retry number `attempt` (1-based), jittered into
 * `[d/2, d]` where `d = min(maxMs, baseMs * factor^(attempt-1))`.
 *
 * @example
 * ```ts
 * import { backoffDelay } from './backoff.js';
 * const ms = backoffDelay(3, { baseMs: 100, maxMs: 1_000 }); // within [200, 400]
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const baseMs = options.baseMs ?? 250;
  const maxMs = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(maxMs, baseMs * Math.pow(factor, Math.min(exponent, 64)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
