/**
 * One in-flight call of a stdio backend, built so that a call costs one object:
 * it is its own abort listener and its own timer argument, so no closure is
 * allocated per call.
 */
import type { CancelSignal } from './backend.js';
import type { JsonRpcNotification, RpcOutcome } from '../../mcp/jsonrpc.js';

/** The backend a call belongs to, told when the call's timer fires or its signal aborts. */
export interface CallOwner {
  /** Called by a call's timer. */
  timeoutCall(p: PendingCall): void;
  /** Called when a call's signal aborts. */
  abortCall(p: PendingCall): void;
}

/**
 * An in-flight call. It is its own abort listener (`handleEvent`) to avoid a closure per call.
 *
 * @example
 * ```ts
 * declare const owner: CallOwner;
 * const p = new PendingCall(owner, 1, 'tools/list', undefined, 30_000, undefined, undefined, console.log, console.error);
 * p.timer = setTimeout(onCallTimeout, p.timeoutMs, p);
 * ```
 */
export class PendingCall {
  sent = false;
  timer: NodeJS.Timeout | undefined;
  /** The caller's progress token, restored on `notifications/progress`. */
  callerToken: unknown = undefined;

  constructor(
    readonly backend: CallOwner,
    readonly id: number,
    readonly method: string,
    public params: Record<string, unknown> | undefined,
    readonly timeoutMs: number,
    readonly onNotification: ((n: JsonRpcNotification) => void) | undefined,
    readonly signal: CancelSignal | undefined,
    readonly resolve: (outcome: RpcOutcome) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  handleEvent(): void {
    this.backend.abortCall(this);
  }
}

/** The timer callback of every call: `setTimeout(onCallTimeout, ms, p)` needs no closure. */
export function onCallTimeout(p: PendingCall): void {
  p.backend.timeoutCall(p);
}

/** Hands a notification to the call's handler. */
export function deliver(p: PendingCall, msg: JsonRpcNotification): void {
  try {
    p.onNotification!(msg);
  } catch {
    // The caller's handler failing must not break the stream for other calls.
  }
}

/** What a call rejects with when its signal aborted without a reason. */
export function abortError(): DOMException {
  return new DOMException('The operation was aborted', 'AbortError');
}
