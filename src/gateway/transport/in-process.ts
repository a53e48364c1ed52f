/**
 * One gateway exchange without a socket: for requests the node makes to its
 * own gateway (a call arriving from a peer over the federation link), so they
 * pass through exactly the same transport checks and policy chain as an HTTP
 * request, without a loopback HTTP round trip.
 *
 * The request is a readable stream with the headers given; its "socket" is
 * marked as a verified channel (like TLS: the Host check is for browsers
 * reaching a loopback listener) that presents no client certificate. The
 * response is collected: status, headers, body (JSON or the SSE text).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Endpoint } from '../call.js';

export interface InProcessRequest {
  endpoint: Endpoint;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Aborting it is the client going away. */
  signal?: AbortSignal;
}

export interface InProcessResponse {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, endpoint: Endpoint) => Promise<void>;

export function exchangeInProcess(handle: Handler, request: InProcessRequest): Promise<InProcessResponse> {
  const body = Buffer.from(request.body);
  const req = Readable.from([body]) as unknown as IncomingMessage;
  const headers: Record<string, string> = { 'content-length': String(body.length) };
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  Object.assign(req, { headers, method: 'POST', url: request.path, socket: { encrypted: true, authorized: false } });

  return new Promise((resolve, reject) => {
    const res = new CollectingResponse((response) => resolve(response));
    const onAbort = () => res.close();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    handle(req, res as unknown as ServerResponse, request.endpoint)
      .then(() => {
        if (!res.writableFinished) res.close();
      })
      .catch(reject)
      .finally(() => request.signal?.removeEventListener('abort', onAbort));
  });
}

/** The part of `ServerResponse` the gateway writes to. */
class CollectingResponse extends EventEmitter {
  destroyed = false;
  writableFinished = false;
  #status = 200;
  #headers: Record<string, string | number> = {};
  #chunks: string[] = [];
  readonly #done: (response: InProcessResponse) => void;

  constructor(done: (response: InProcessResponse) => void) {
    super();
    this.#done = done;
  }

  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.#status = status;
    if (headers) this.#headers = { ...headers };
    return this;
  }

  write(chunk: string | Buffer): boolean {
    this.#chunks.push(String(chunk));
    return true;
  }

  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.#chunks.push(String(chunk));
    this.writableFinished = true;
    this.#done({ status: this.#status, headers: this.#headers, body: this.#chunks.join('') });
    this.emit('finish');
    this.emit('close');
    return this;
  }

  destroy(): this {
    this.close();
    return this;
  }

  /** The client went away before the answer. */
  close(): void {
    if (this.destroyed || this.writableFinished) return;
    this.destroyed = true;
    this.#done({ status: 499, headers: {}, body: '' });
    this.emit('close');
  }
}
