/**
 * The dialer's side of one request: take a stream from the pool, write the
 * request frame, read the response frame, put the stream back. Rules:
 * - every failure is a `PeerError`; the stream of a failed, timed-out or
 *   aborted request is aborted, never pooled;
 * - one deadline and the caller's signal cover the whole exchange, stream
 *   opening included;
 * - a reused stream that the responder ended cleanly without a byte of answer
 *   was not served (the responder only does that while idle, `frames.ts`):
 *   the request is sent again, once, on a new stream;
 * - a lost transport or a reset stream is `peer_unavailable` at once.
 */
import { PeerError, WIRE_ERROR_CODES, type PeerErrorCode } from './errors.js';
import { encodeFrame, STATUS_OK, type FramedStream } from './frames.js';
import type { StreamPool } from './pool.js';

export interface ExchangeOptions {
  maxFrameBytes: number;
  timeoutMs: number;
  /** The caller's signal (`request_aborted`). */
  signal?: AbortSignal;
  /** Aborted when the host stops (`request_aborted`). */
  stopSignal: AbortSignal;
  /** `peer <alias>`, for messages. */
  peerLabel: string;
}

const UNSERVED = Symbol('unserved');

/**
 * Sends `request` on a stream of `pool` and returns the response body.
 *
 * @example
 * ```ts
 * import { exchange } from './exchange.js';
 * import type { StreamPool } from './pool.js';
 * declare const pool: StreamPool;
 * const reply = await exchange(pool, '/toolmesh/echo/1.0.0', new Uint8Array([1]), {
 *   maxFrameBytes: 1 << 20, timeoutMs: 2_000, stopSignal: new AbortController().signal, peerLabel: 'peer b',
 * });
 * ```
 */
export async function exchange(pool: StreamPool, protocol: string, request: Uint8Array, options: ExchangeOptions): Promise<Uint8Array> {
  if (request.byteLength > options.maxFrameBytes) {
    throw new PeerError('frame_too_large', `request of ${request.byteLength} bytes exceeds the ${options.maxFrameBytes}-byte frame limit`);
  }
  // One controller, one timer and two listeners: cheaper than AbortSignal.timeout + AbortSignal.any per request.
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new PeerError('peer_timeout', `${options.peerLabel} did not answer ${protocol} within ${options.timeoutMs} ms`));
  }, options.timeoutMs);
  const onAbort = (): void => controller.abort(new PeerError('request_aborted', `request to ${options.peerLabel} aborted by the caller`));
  const { signal: caller, stopSignal } = options;
  if (caller?.aborted === true || stopSignal.aborted) onAbort();
  caller?.addEventListener('abort', onAbort, { once: true });
  stopSignal.addEventListener('abort', onAbort, { once: true });
  try {
    if (controller.signal.aborted) throw controller.signal.reason; // nothing sent yet
    const frame = encodeFrame(request);
    const first = await attempt(pool, protocol, frame, controller.signal, options, false);
    if (first !== UNSERVED) return first;
    const second = await attempt(pool, protocol, frame, controller.signal, options, true);
    if (second !== UNSERVED) return second;
    throw new PeerError('peer_unavailable', `${options.peerLabel} closed the ${protocol} stream without answering`);
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onAbort);
    stopSignal.removeEventListener('abort', onAbort);
  }
}

async function attempt(
  pool: StreamPool,
  protocol: string,
  frame: Uint8Array,
  signal: AbortSignal,
  options: ExchangeOptions,
  fresh: boolean,
): Promise<Uint8Array | typeof UNSERVED> {
  let framed: FramedStream | undefined;
  let keep = false;
  try {
    framed = await pool.acquire(signal, options.peerLabel, fresh);
    const reused = framed.exchanges > 0;
    await framed.write(frame, signal);
    const response = await framed.read(options.maxFrameBytes + 1, signal);
    if (response === null) {
      if (reused) return UNSERVED;
      throw new PeerError('peer_unavailable', `${options.peerLabel} closed the ${protocol} stream without answering`);
    }
    framed.exchanges++;
    if (response.byteLength === 0) throw new PeerError('remote_error', `${options.peerLabel}: empty response frame`);
    if (response[0] === STATUS_OK) {
      keep = true;
      return response.subarray(1);
    }
    const code = Buffer.from(response.subarray(1)).toString('ascii');
    const known = (WIRE_ERROR_CODES as readonly string[]).includes(code) ? (code as PeerErrorCode) : 'remote_error';
    // After remote_error the responder reads on; after anything else it closes the stream.
    keep = known === 'remote_error';
    throw new PeerError(known, `${options.peerLabel} answered ${protocol} with ${code}`);
  } catch (err) {
    throw mapError(err, signal, options.peerLabel, protocol);
  } finally {
    if (framed !== undefined) {
      if (keep) pool.release(framed);
      else pool.discard(framed, new Error(`${protocol} exchange abandoned`));
    }
  }
}

function mapError(err: unknown, signal: AbortSignal, peerLabel: string, protocol: string): PeerError {
  if (err instanceof PeerError) return err;
  if (signal.aborted && signal.reason instanceof PeerError) return signal.reason;
  const message = (err as Error | undefined)?.message ?? String(err);
  switch ((err as Error | undefined)?.name) {
    case 'TooManyOutboundProtocolStreamsError':
      return new PeerError('peer_busy', `too many ${protocol} requests in flight to ${peerLabel}`, { cause: err });
    case 'UnsupportedProtocolError':
      return new PeerError('protocol_unsupported', `${peerLabel} does not serve ${protocol}`, { cause: err });
    case 'FrameTooLargeError':
      return new PeerError('frame_too_large', `${peerLabel} sent a response frame over the limit: ${message}`, { cause: err });
    case 'UnexpectedEOFError':
      // Only while opening the stream: a gater rejection shows as EOF at the dialer (STACK-NOTES.md).
      return new PeerError('peer_refused', `${peerLabel} closed the stream without answering (refused?)`, { cause: err });
    default:
      return new PeerError('peer_unavailable', `${peerLabel}: ${message}`, { cause: err });
  }
}
