/**
 * The abort handle of one HTTP backend call, kept as light as the hot path needs.
 */
import { EventEmitter } from 'node:events';

/**
 * Aborts one call's undici request. undici takes an EventEmitter with
 * `aborted`/`reason` as its signal; that costs measurably less per call than an
 * AbortController plus an EventTarget listener, and most calls never abort.
 *
 * @example
 * ```ts
 * const abort = new CallAbort();
 * // pool.request({ ..., signal: abort });
 * abort.abort(new Error('deadline passed'));
 * ```
 */
export class CallAbort extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}
