/**
 * The request/response wire format and a framed view of one libp2p stream.
 *
 * A stream carries any number of exchanges, one at a time: the dialer writes a
 * request frame, the responder answers with one response frame, and the
 * stream is then free for the next request. A frame is a varint length prefix
 * and its body, always sent as ONE buffer (one muxer write). A response body
 * starts with a status byte: 0 = ok, then the body; 1 = error, then an ASCII
 * error code. Both sides enforce the maximum frame size on the length prefix,
 * before buffering the body.
 *
 * The responder closes its write side without answering only while it waits
 * for a request (idle, unhandled, stopping) — never after it has read one — so
 * a dialer that sees a clean end of stream and no response byte knows its
 * request was not served (see `exchange.ts`, which retries it once).
 */
import '../polyfill.js';
import type { Stream } from '@libp2p/interface';
import type { PeerErrorCode } from './errors.js';

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

/** What a protocol handler learns about the request besides its bytes. */
export interface RequestContext {
  /** Alias of the pinned peer that sent the request. */
  alias: string;
  /** Its peer id. */
  peerId: string;
  /** Aborted when the request deadline passes, the requester gives up, the protocol is unhandled or the host stops. */
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

/** A length prefix announced more than the reader accepts; the stream cannot be resynchronised. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
}

/** The stream ended in the middle of a frame, or the transport under it was lost. */
export class StreamLostError extends Error {
  override readonly name = 'StreamLostError';
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

function writeVarint(target: Uint8Array, value: number): number {
  let offset = 0;
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[offset++] = value;
  return offset;
}

/** A whole frame (length prefix + `status` byte if given + body) in one buffer. */
export function encodeFrame(body: Uint8Array, status?: number): Uint8Array {
  const length = body.byteLength + (status === undefined ? 0 : 1);
  const frame = new Uint8Array(varintLength(length) + length);
  let offset = writeVarint(frame, length);
  if (status !== undefined) frame[offset++] = status;
  frame.set(body, offset);
  return frame;
}

/** A response frame carrying an error code. */
export function encodeErrorFrame(code: PeerErrorCode): Uint8Array {
  return encodeFrame(Buffer.from(code, 'ascii'), STATUS_ERROR);
}

/**
 * One stream read as frames. It listens to the stream for its whole life, so
 * bytes that arrive while nobody reads (a late or unsolicited frame) are kept
 * and noticed: `clean` is false then.
 */
export class FramedStream {
  /** Exchanges completed on this stream. */
  exchanges = 0;
  /** When it was last put back to rest (pool bookkeeping). */
  idleSince = 0;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private wake?: () => void;
  /** The remote closed its write side (a FIN on this stream). */
  private remoteEnded = false;
  /** The stream is closed; with an error when it was reset or aborted. */
  private closed = false;
  private failure?: Error;
  private readonly endListeners: Array<() => void> = [];

  constructor(readonly stream: Stream) {
    stream.addEventListener('message', (evt) => {
      const data = evt.data;
      if (data instanceof Uint8Array) this.append(data);
      else for (const chunk of data) this.append(chunk);
      this.wake?.();
    });
    stream.addEventListener('remoteCloseWrite', () => {
      this.remoteEnded = true;
      this.ended();
    });
    stream.addEventListener('close', (evt) => {
      this.closed = true;
      if (evt.error != null) this.failure = evt.error;
      this.ended();
    });
  }

  /** Open both ways, nothing unread: fit for the next request. */
  get clean(): boolean {
    return !this.closed && !this.remoteEnded && this.buffered === 0 && this.stream.status === 'open' && this.stream.writeStatus === 'writable';
  }

  /** True once the remote closed its write side cleanly (FIN), as opposed to a reset or a lost transport. */
  get finished(): boolean {
    return this.remoteEnded;
  }

  /** Calls `listener` once the stream can no longer carry a request (remote FIN, reset, close). */
  onEnd(listener: () => void): void {
    this.endListeners.push(listener);
  }

  /**
   * The next frame's body, or `null` when the remote ended the stream cleanly
   * between frames. Throws `FrameTooLargeError` for a length over `maxBytes`,
   * `StreamLostError` when the stream ends mid-frame or its transport is
   * lost, the stream's error when it is reset, and `signal.reason` on abort.
   */
  async read(maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    const maxPrefix = varintLength(maxBytes);
    for (;;) {
      const frame = this.take(maxBytes, maxPrefix);
      if (frame !== undefined) return frame;
      if (this.failure !== undefined) throw this.failure;
      if (this.remoteEnded || this.closed) {
        if (this.buffered === 0 && this.remoteEnded) return null;
        throw new StreamLostError(this.buffered === 0 ? 'the connection under the stream was lost' : `the stream ended after ${this.buffered} bytes of a frame`);
      }
      await this.next(signal);
    }
  }

  /** Sends one frame (a single buffer), waiting for the muxer to drain if it must. */
  async write(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!this.stream.send(frame)) await this.stream.onDrain({ signal });
  }

  private append(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
  }

  private ended(): void {
    this.wake?.();
    for (const listener of this.endListeners.splice(0)) listener();
  }

  private next(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.wake = undefined;
        reject(signal?.reason);
      };
      this.wake = () => {
        this.wake = undefined;
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A complete frame from the buffer, or undefined when more bytes are needed. */
  private take(maxBytes: number, maxPrefix: number): Uint8Array | undefined {
    if (this.buffered === 0) return undefined;
    let length = 0;
    let scale = 1;
    let prefix = 0;
    for (;;) {
      if (prefix >= this.buffered) return undefined;
      if (prefix >= maxPrefix) throw new FrameTooLargeError(`a frame length prefix longer than ${maxPrefix} bytes exceeds the ${maxBytes}-byte frame limit`);
      const byte = this.byteAt(prefix++);
      length += (byte & 0x7f) * scale;
      scale *= 0x80;
      if ((byte & 0x80) === 0) break;
    }
    if (length > maxBytes) throw new FrameTooLargeError(`a frame of ${length} bytes exceeds the ${maxBytes}-byte frame limit`);
    if (this.buffered < prefix + length) return undefined;
    this.consume(prefix);
    return this.consume(length);
  }

  private byteAt(index: number): number {
    for (const chunk of this.chunks) {
      if (index < chunk.byteLength) return chunk[index]!;
      index -= chunk.byteLength;
    }
    throw new RangeError('read past the buffer');
  }

  /** Removes and returns the first `count` buffered bytes (a view when they sit in one chunk). */
  private consume(count: number): Uint8Array {
    this.buffered -= count;
    const first = this.chunks[0];
    if (first !== undefined && first.byteLength >= count) {
      if (first.byteLength === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = new Uint8Array(count);
    let offset = 0;
    while (offset < count) {
      const chunk = this.chunks[0]!;
      const n = Math.min(chunk.byteLength, count - offset);
      out.set(chunk.subarray(0, n), offset);
      offset += n;
      if (n === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(n);
    }
    return out;
  }
}
