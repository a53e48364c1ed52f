/**
 * One POST of the HTTP backend and its answer: the status mapped to a reply or a
 * typed error, then a JSON body or an SSE stream in which the response to the
 * request is found by id while every other message (notifications,
 * server→client requests) is handed on.
 *
 * Hot path: each body is parsed exactly once and nothing is schema-validated,
 * only the structural checks from `jsonrpc.ts`.
 */
import type { Dispatcher, Pool } from 'undici';
import type { CallAbort } from './http-abort.js';
import { transportError, unavailable } from './http-errors.js';
import { headerValue } from './http-wire.js';
import { SseParser } from './sse.js';
import { GatewayError } from '../errors.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcNotification, RpcOutcome } from '../../mcp/jsonrpc.js';

type Body = Dispatcher.ResponseData['body'];

/** One request as it goes out, and what reading its answer needs to know about it. */
export interface Exchange {
  body: string;
  headers: Record<string, string>;
  id: JsonRpcId;
  signal: AbortSignal | CallAbort | undefined;
  timeoutMs: number;
  onNotification: ((notification: JsonRpcNotification) => void) | undefined;
  /** The session id the request carried, so a 404 can be read as "expired". */
  session: string | undefined;
}

/**
 * Where the messages of an answer that are not the response go: the backend
 * that sent the request. Passed as an object rather than callbacks so reading
 * an answer allocates no closure per call.
 */
export interface ReplySink {
  /** A server→client request arrived (it has an id and expects an answer). */
  answerServerRequest(id: unknown, method: string): void;
  /** A `…/list_changed` notification arrived. */
  emitListChanged(method: string): void;
}

/** What one POST produced. Legacy 404 on a session is reported, not thrown, so the caller can renew. */
export type Reply = { outcome: RpcOutcome; sessionId: string | undefined } | typeof SESSION_EXPIRED;
/** The {@link Reply} to a request whose session the server no longer knows (HTTP 404). */
export const SESSION_EXPIRED = Symbol('session-expired');

/** After the response event, how long the rest of an SSE body may take before its socket is dropped. */
const STREAM_LINGER_MS = 1_000;
/** undici's headers/body timers are coarse (fast timers, ~500 ms ticks): kept past the precise deadline. */
const UNDICI_TIMER_SLACK_MS = 1_000;
const noop = (): void => {};

/**
 * POSTs one request to `path` on `pool` and reads its answer, JSON or SSE; the
 * answer's other messages go to `sink`.
 */
export async function exchange(pool: Pool, path: string, sink: ReplySink, x: Exchange): Promise<Reply> {
  let res: Dispatcher.ResponseData;
  try {
    res = await pool.request({
      path,
      method: 'POST',
      headers: x.headers,
      body: x.body,
      signal: x.signal,
      // The call's own deadline (x.signal) decides; undici's timers tick at ~0.5 s
      // resolution and may fire that much early, so they only back it up.
      headersTimeout: x.timeoutMs + UNDICI_TIMER_SLACK_MS,
      bodyTimeout: x.timeoutMs + UNDICI_TIMER_SLACK_MS,
    });
  } catch (err) {
    throw transportError(err);
  }
  const status = res.statusCode;
  const body = res.body;
  if (status === 404 && x.session !== undefined) {
    body.dump().catch(noop);
    return SESSION_EXPIRED;
  }
  const type = headerValue(res.headers['content-type']);
  if (status >= 200 && status < 300) {
    const sessionId = headerValue(res.headers['mcp-session-id']) || undefined;
    if (type.startsWith('text/event-stream')) return { outcome: await readEventStream(body, x, sink), sessionId };
    if (type.includes('json')) {
      const outcome = routeMessage(await readJson(body), x, true, sink);
      if (outcome === undefined) throw unavailable('backend answered without a response to the request');
      return { outcome, sessionId };
    }
    body.dump().catch(noop);
    throw unavailable(`backend answered HTTP ${status} with unexpected content type '${type}'`);
  }
  if (status >= 400 && status < 500 && type.includes('json')) {
    // A 4xx carrying a JSON-RPC error is the server's answer, not a transport fault.
    const msg = await readJson(body);
    if (isObject(msg) && isErrorObject(msg.error)) return { outcome: { error: msg.error }, sessionId: undefined };
    throw unavailable(`backend answered HTTP ${status} without a JSON-RPC error`);
  }
  body.dump().catch(noop);
  throw unavailable(`backend answered HTTP ${status}`);
}

/** POSTs a notification or response (expects 2xx, usually 202, and no answer). */
export async function postOneWay(
  pool: Pool,
  path: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let res: Dispatcher.ResponseData;
  try {
    res = await pool.request({
      path,
      method: 'POST',
      headers,
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err) {
    throw transportError(err);
  }
  await res.body.dump().catch(noop);
  if (res.statusCode >= 300) throw unavailable(`backend answered HTTP ${res.statusCode} to a notification`);
}

/** The largest JSON answer read from a backend (an SSE stream's events are bounded alike, sse.ts). */
export const MAX_JSON_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Reads a whole JSON body; a broken connection is a transport error, a non-JSON body or one over
 * {@link MAX_JSON_RESPONSE_BYTES} `upstream_unavailable` (a backend must not exhaust the node's memory).
 */
async function readJson(body: Body): Promise<unknown> {
  let text: string;
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_JSON_RESPONSE_BYTES) {
        body.destroy();
        throw unavailable(`backend answered more than ${MAX_JSON_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw transportError(err);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw unavailable('backend sent a body that is not JSON');
  }
}

/** Reads an SSE answer until the response to `x.id`, delivering what precedes it. */
function readEventStream(body: Body, x: Exchange, sink: ReplySink): Promise<RpcOutcome> {
  return new Promise<RpcOutcome>((resolve, reject) => {
    let done = false;
    const fail = (err: GatewayError): void => {
      if (done) return;
      done = true;
      body.destroy();
      reject(err);
    };
    const parser = new SseParser((event) => {
      // Empty data is a resumability priming event; other event names are not JSON-RPC.
      if (done || event.data.length === 0 || event.event !== 'message') return;
      let msg: unknown;
      try {
        msg = JSON.parse(event.data);
      } catch {
        fail(unavailable('backend sent a non-JSON event'));
        return;
      }
      const outcome = routeMessage(msg, x, false, sink);
      if (outcome === undefined) return;
      done = true;
      resolve(outcome);
      // Let the stream end on its own so the socket returns to the pool, but not forever.
      const linger = setTimeout(() => body.destroy(), STREAM_LINGER_MS).unref();
      body.once('close', () => clearTimeout(linger));
    });
    body.on('data', (chunk: Buffer) => {
      if (done) return;
      try {
        parser.push(chunk);
      } catch (err) {
        fail(unavailable(err instanceof Error ? err.message : 'bad event stream'));
      }
    });
    // Guarded before building the error: stack capture is the priciest thing on this path.
    body.once('end', () => done || fail(unavailable('backend event stream ended before the response')));
    body.on('error', (err) => done || fail(transportError(err)));
  });
}

/**
 * Dispatches one message from the backend: notifications to the caller (or
 * list-changed listeners), server→client requests answered, and returns the
 * outcome when it is the response to `x.id`.
 */
function routeMessage(msg: unknown, x: Exchange, sole: boolean, sink: ReplySink): RpcOutcome | undefined {
  if (Array.isArray(msg)) {
    let outcome: RpcOutcome | undefined;
    for (const item of msg) outcome = routeMessage(item, x, false, sink) ?? outcome;
    return outcome;
  }
  if (!isObject(msg)) return undefined;
  const method = msg.method;
  if (typeof method === 'string') {
    if ('id' in msg) sink.answerServerRequest(msg.id, method);
    else if (method.endsWith('/list_changed')) sink.emitListChanged(method);
    else if (x.onNotification !== undefined) {
      try {
        x.onNotification(msg as unknown as JsonRpcNotification);
      } catch {
        // A failing listener must not break the stream for the response still to come.
      }
    }
    return undefined;
  }
  // A sole JSON body answering with id null is a parse/validation error about this request.
  if (msg.id === x.id || (sole && msg.id === null)) {
    if (isObject(msg.result)) return { result: msg.result };
    if (isErrorObject(msg.error)) return { error: msg.error };
  }
  return undefined;
}

function isErrorObject(value: unknown): value is JsonRpcErrorObject {
  return isObject(value) && typeof value.code === 'number' && typeof value.message === 'string';
}
