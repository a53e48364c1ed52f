/**
 * The responder's side of a stream: read a request frame, run the handler,
 * write the response frame, and again, until the dialer ends the stream.
 * Rules:
 * - a handler that throws, or does not settle within the serving deadline,
 *   is answered `remote_error` and the stream stays usable;
 * - a request over the frame limit is answered `frame_too_large` and the
 *   stream is closed (its body cannot be skipped safely);
 * - the handler's signal aborts at the deadline, when the dialer resets the
 *   stream (it gave up), when the protocol is unhandled or the host stops;
 * - between requests the stream is closed after `idleMs`, or at once when the
 *   protocol is unhandled or the host stops — only then, and never after a
 *   request was read, is our write side closed without an answer.
 */
import type { Stream } from '@libp2p/interface';
import { PeerError } from './errors.js';
import { encodeErrorFrame, encodeFrame, FramedStream, FrameTooLargeError, STATUS_OK, type RequestContext, type RequestHandler } from './frames.js';

export interface ServeOptions {
  maxFrameBytes: number;
  /** Deadline of one request (ms). */
  timeoutMs: number;
  /** How long to wait for the next request before closing the stream (ms). */
  idleMs: number;
  /** Who is asking, looked up per request; undefined once the peer is no longer pinned. */
  context: () => Omit<RequestContext, 'signal'> | undefined;
  /** Aborted when the protocol is unhandled or the host stops. */
  closeSignal: AbortSignal;
}

/**
 * Serves one inbound stream with `handler` until it ends. Never throws:
 * failures are answered with an error frame when the stream still allows
 * it, else the stream is aborted.
 *
 * @example
 * ```ts
 * import type { Stream } from '@libp2p/interface';
 * import { serve } from './serve.js';
 * declare const stream: Stream;
 * await serve(stream, (bytes) => bytes, {
 *   maxFrameBytes: 1 << 20, timeoutMs: 10_000, idleMs: 60_000,
 *   context: () => ({ alias: 'a', peerId: '12D3KooW…' }), closeSignal: new AbortController().signal,
 * });
 * ```
 */
export async function serve(stream: Stream, handler: RequestHandler, options: ServeOptions): Promise<void> {
  const framed = new FramedStream(stream);
  let waiting: AbortController | undefined;
  const stopWaiting = (): void => waiting?.abort(new Error('stream idle or closing'));
  const idleTimer = setTimeout(stopWaiting, options.idleMs);
  idleTimer.unref();
  options.closeSignal.addEventListener('abort', stopWaiting);
  try {
    while (!options.closeSignal.aborted) {
      waiting = new AbortController();
      idleTimer.refresh();
      let request: Uint8Array | null;
      try {
        request = await framed.read(options.maxFrameBytes, waiting.signal);
      } catch (err) {
        if (err instanceof FrameTooLargeError) {
          await framed.write(encodeErrorFrame('frame_too_large'));
          break;
        }
        if (waiting.signal.aborted) break;
        throw err;
      } finally {
        waiting = undefined;
      }
      if (request === null) break; // the dialer ended the stream
      const context = options.context();
      if (context === undefined) throw new PeerError('peer_refused', 'peer is no longer pinned');
      const response = await answer(framed, handler, request, context, options);
      if (response === undefined) return; // the dialer reset the stream: nobody to answer
      await framed.write(response);
    }
    await stream.close({ signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
  } finally {
    clearTimeout(idleTimer);
    options.closeSignal.removeEventListener('abort', stopWaiting);
  }
}

/** The response frame for one request, or undefined when the stream closed meanwhile. */
async function answer(
  framed: FramedStream,
  handler: RequestHandler,
  request: Uint8Array,
  context: Omit<RequestContext, 'signal'>,
  options: ServeOptions,
): Promise<Uint8Array | undefined> {
  const controller = new AbortController();
  const abort = (): void => controller.abort(new PeerError('request_aborted', 'the request was abandoned'));
  const deadline = setTimeout(() => controller.abort(new PeerError('peer_timeout', `request not served within ${options.timeoutMs} ms`)), options.timeoutMs);
  options.closeSignal.addEventListener('abort', abort, { once: true });
  framed.stream.addEventListener('close', abort, { once: true });
  try {
    const result = handler(request, { ...context, signal: controller.signal });
    const body = result instanceof Uint8Array ? result : await settleOrAbort(result, controller.signal);
    if (body.byteLength > options.maxFrameBytes) return encodeErrorFrame('frame_too_large');
    return encodeFrame(body, STATUS_OK);
  } catch {
    if (framed.stream.status !== 'open') return undefined;
    return encodeErrorFrame('remote_error');
  } finally {
    clearTimeout(deadline);
    options.closeSignal.removeEventListener('abort', abort);
    framed.stream.removeEventListener('close', abort);
  }
}

/** `promise`, or a rejection when `signal` aborts first (a handler that ignores its signal cannot hold the stream). */
function settleOrAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
