/**
 * Request/response over one libp2p stream, in length-prefixed frames:
 * the dialer writes one request frame and closes its write side; the
 * responder answers with one response frame whose first byte is a status
 * (0 = ok, then the body; 1 = error, then an ASCII error code) and closes.
 * Both sides enforce the maximum frame size while reading the length prefix,
 * before buffering the body, and both sides always read under a deadline.
 */
import '../polyfill.js';
import { lpStream } from '@libp2p/utils';
import type { Connection, Stream } from '@libp2p/interface';
import { PeerError, WIRE_ERROR_CODES, type PeerErrorCode } from './errors.js';

const STATUS_OK = 0;
const STATUS_ERROR = 1;

/** What a protocol handler learns about the request besides its bytes. */
export interface RequestContext {
  /** Alias of the pinned peer that sent the request. */
  alias: string;
  /** Its peer id. */
  peerId: string;
  /** Aborted when the request deadline passes or the host stops. */
  signal: AbortSignal;
}

/** Answers one request; throwing sends `remote_error` (the message stays local). */
export type RequestHandler = (request: Uint8Array, context: RequestContext) => Promise<Uint8Array> | Uint8Array;

export interface RequestOptions {
  /** Caller's cancellation; aborting rejects with `request_aborted`. */
  signal?: AbortSignal;
  /** Deadline for the whole exchange (ms); rejects with `peer_timeout`. */
  timeoutMs?: number;
}

function okFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(body.byteLength + 1);
  frame[0] = STATUS_OK;
  frame.set(body, 1);
  return frame;
}

function errorFrame(code: PeerErrorCode): Uint8Array {
  return Uint8Array.of(STATUS_ERROR, ...Buffer.from(code, 'ascii'));
}

/**
 * Opens a stream for `protocol` on `connection`, sends `request`, returns the
 * response body. Every failure is a `PeerError`.
 */
export async function exchange(
  connection: Connection,
  protocol: string,
  request: Uint8Array,
  options: { maxFrameBytes: number; maxStreams: number; timeoutMs: number; signal?: AbortSignal; peerLabel: string },
): Promise<Uint8Array> {
  if (request.byteLength > options.maxFrameBytes) {
    throw new PeerError('frame_too_large', `request of ${request.byteLength} bytes exceeds the ${options.maxFrameBytes}-byte frame limit`);
  }
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
  let stream: Stream | undefined;
  try {
    stream = await connection.newStream(protocol, { signal, maxOutboundStreams: options.maxStreams });
    const lp = lpStream(stream, { maxDataLength: options.maxFrameBytes + 1 });
    await lp.write(request, { signal });
    await stream.close({ signal });
    const frame = (await lp.read({ signal })).subarray();
    if (frame.byteLength === 0) throw new PeerError('remote_error', `${options.peerLabel}: empty response frame`);
    if (frame[0] === STATUS_OK) return frame.subarray(1);
    const code = Buffer.from(frame.subarray(1)).toString('ascii');
    const known = (WIRE_ERROR_CODES as readonly string[]).includes(code) ? (code as PeerErrorCode) : 'remote_error';
    throw new PeerError(known, `${options.peerLabel} answered ${protocol} with ${code}`);
  } catch (err) {
    const mapped = mapError(err, { caller: options.signal, deadline, peerLabel: options.peerLabel, protocol, timeoutMs: options.timeoutMs });
    stream?.abort(mapped);
    throw mapped;
  }
}

function mapError(
  err: unknown,
  ctx: { caller?: AbortSignal; deadline: AbortSignal; peerLabel: string; protocol: string; timeoutMs: number },
): PeerError {
  if (err instanceof PeerError) return err;
  if (ctx.caller?.aborted === true) return new PeerError('request_aborted', `request to ${ctx.peerLabel} aborted by the caller`, { cause: err });
  if (ctx.deadline.aborted) {
    return new PeerError('peer_timeout', `${ctx.peerLabel} did not answer ${ctx.protocol} within ${ctx.timeoutMs} ms`, { cause: err });
  }
  switch ((err as Error | undefined)?.name) {
    case 'TooManyOutboundProtocolStreamsError':
      return new PeerError('peer_busy', `too many ${ctx.protocol} requests in flight to ${ctx.peerLabel}`, { cause: err });
    case 'UnsupportedProtocolError':
      return new PeerError('protocol_unsupported', `${ctx.peerLabel} does not serve ${ctx.protocol}`, { cause: err });
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
      return new PeerError('frame_too_large', `${ctx.peerLabel} sent a response frame over the limit`, { cause: err });
    case 'UnexpectedEOFError':
      // A gater rejection only shows as EOF at the dialer (STACK-NOTES.md).
      return new PeerError('peer_refused', `${ctx.peerLabel} closed the stream without answering (refused?)`, { cause: err });
    default:
      return new PeerError('peer_unavailable', `${ctx.peerLabel}: ${(err as Error | undefined)?.message ?? String(err)}`, { cause: err });
  }
}

/**
 * Serves one inbound stream with `handler`. Never throws: failures are
 * answered with an error frame when the stream still allows it, else the
 * stream is aborted.
 */
export async function serve(
  stream: Stream,
  handler: RequestHandler,
  options: { maxFrameBytes: number; timeoutMs: number; context: Omit<RequestContext, 'signal'>; stopSignal: AbortSignal },
): Promise<void> {
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.stopSignal]);
  const lp = lpStream(stream, { maxDataLength: options.maxFrameBytes });
  try {
    let request: Uint8Array;
    try {
      request = (await lp.read({ signal })).subarray();
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'InvalidDataLengthError' && name !== 'InvalidDataLengthLengthError') throw err;
      await lp.write(errorFrame('frame_too_large'), { signal });
      await stream.close({ signal });
      return;
    }
    let response: Uint8Array;
    try {
      response = okFrame(await handler(request, { ...options.context, signal }));
    } catch {
      response = errorFrame('remote_error');
    }
    if (response.byteLength - 1 > options.maxFrameBytes) response = errorFrame('frame_too_large');
    await lp.write(response, { signal });
    await stream.close({ signal });
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
  }
}
