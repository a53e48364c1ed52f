/**
 * The outbound half of the transport: one HTTP response per JSON-RPC request,
 * either a single JSON body or, as soon as something must be relayed before
 * the result (progress, logging), a per-request SSE stream. Writes straight to
 * the Node response: this is the hot path.
 */
import type { ServerResponse } from 'node:http';
import type { JsonRpcId, JsonRpcMessage } from '../../mcp/jsonrpc.js';
import type { GatewayError } from '../errors.js';

/**
 * Relayed notifications buffered for a client that does not read are dropped past this
 * (progress and logging are advisory; the result itself is always written).
 */
export const MAX_RELAY_BUFFER_BYTES = 8 * 1024 * 1024;

export class ResponseChannel {
  readonly #res: ServerResponse;
  readonly #acceptsSse: boolean;
  readonly #prefersSse: boolean;
  #headers: Record<string, string | number> = {};
  #streaming = false;
  #done = false;

  /**
   * @param prefersSse the client listed `text/event-stream` before
   *   `application/json` in Accept: successful answers then come as a stream.
   */
  constructor(res: ServerResponse, acceptsSse: boolean, prefersSse = false) {
    this.#res = res;
    this.#acceptsSse = acceptsSse;
    this.#prefersSse = prefersSse && acceptsSse;
  }

  /** Sets a header for the response; ignored once the status line is out. */
  setHeader(name: string, value: string): void {
    if (!this.#streaming) this.#headers[name] = value;
  }

  get finished(): boolean {
    return this.#done;
  }

  /** Switches the response to a per-request SSE stream (once; no-op after the answer). */
  openStream(): void {
    if (this.#streaming || this.#done || !this.#acceptsSse || this.#res.destroyed) return;
    this.#streaming = true;
    this.#headers['content-type'] = 'text/event-stream';
    this.#headers['cache-control'] = 'no-cache, no-transform';
    this.#headers['x-accel-buffering'] = 'no';
    this.#res.writeHead(200, this.#headers);
  }

  /** Notifications dropped because the client was not reading. */
  dropped = 0;

  /** Relays a message that precedes the result; upgrades the response to SSE. */
  relay(message: JsonRpcMessage): void {
    if (this.#done || !this.#acceptsSse || this.#res.destroyed) return;
    // A backend flooding a client that does not read must not fill the node's memory.
    if (this.#res.writableLength > MAX_RELAY_BUFFER_BYTES) {
      this.dropped++;
      return;
    }
    this.openStream();
    this.#res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** Sends the final JSON-RPC message and ends the response. */
  send(message: JsonRpcMessage, status = 200): void {
    if (this.#done) return;
    if (this.#prefersSse && status === 200) this.openStream();
    this.#done = true;
    if (this.#res.destroyed) return;
    const body = JSON.stringify(message);
    if (this.#streaming) {
      this.#res.end(`event: message\ndata: ${body}\n\n`);
      return;
    }
    this.#headers['content-type'] = 'application/json';
    this.#headers['content-length'] = Buffer.byteLength(body);
    this.#res.writeHead(status, this.#headers);
    this.#res.end(body);
  }

  /** Renders a rejection: its HTTP status and headers, or an error event on an open stream. */
  fail(err: GatewayError, id: JsonRpcId | null): void {
    if (err.headers) for (const [k, v] of Object.entries(err.headers)) this.setHeader(k, v);
    this.send({ jsonrpc: '2.0', id, error: err.toRpcError() }, err.status);
  }

  /** Accepts a notification or a client response: 202, no body. */
  accepted(): void {
    if (this.#done) return;
    this.#done = true;
    this.#res.writeHead(202, this.#headers);
    this.#res.end();
  }
}
