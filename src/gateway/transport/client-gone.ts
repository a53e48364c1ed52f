/**
 * The cancellation signal of one gateway call: raised when the client goes
 * away (connection closed before the answer) or cancels the request.
 *
 * A `CancelSignal` rather than an `AbortController`: every call needs one and
 * almost none fires, and AbortController/EventTarget cost measurably per call
 * on the hot path.
 */
import type { CancelListener, CancelSignal } from '../backends/backend.js';

export class ClientGone implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: CancelListener[] | undefined;

  addEventListener(_type: 'abort', listener: CancelListener): void {
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: CancelListener): void {
    const list = this.#listeners;
    if (!list) return;
    const at = list.indexOf(listener);
    if (at >= 0) list.splice(at, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const list = this.#listeners;
    this.#listeners = undefined;
    for (const l of list ?? []) typeof l === 'function' ? l() : l.handleEvent();
  }
}
