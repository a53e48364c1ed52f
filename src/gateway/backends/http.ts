/**
 * A tool server reached over Streamable HTTP, in either MCP era.
 *
 * The era is found once per backend (and again only after a failed attempt):
 * `server/discover` answered with 2026-07-28 in `supportedVersions` means
 * modern — every request then carries the per-request `_meta` envelope and the
 * mirrored `Mcp-*` headers; anything else falls back to the legacy
 * `initialize` handshake and its `Mcp-Session-Id`.
 *
 * This is the gateway hot path, so requests go through one keep-alive
 * `undici.Pool` (fetch cost 3–4x the CPU here), header objects are spread from
 * prebuilt templates, each body is parsed exactly once and nothing is
 * schema-validated: only the structural checks from `jsonrpc.ts`.
 */
import type { LookupFunction } from 'node:net';
import { EventEmitter } from 'node:events';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { Backend, BackendCall, BackendState, BackendStatus, ClientContext } from './backend.js';
import { SseParser } from './sse.js';
import { GatewayError } from '../errors.js';
import { isObject, isValidId } from '../../mcp/jsonrpc.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcNotification, RpcOutcome } from '../../mcp/jsonrpc.js';
import {
  GATEWAY_INFO,
  LATEST_LEGACY_PROTOCOL_VERSION,
  LEGACY_PROTOCOL_VERSIONS,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  META_SERVER_INFO,
  MODERN_PROTOCOL_VERSION,
  NAME_SOURCE,
} from '../../mcp/protocol.js';
import type { Era } from '../../mcp/protocol.js';

export interface HttpBackendOptions {
  /** Default per-call deadline (ms); `BackendCall.timeoutMs` overrides it. */
  callTimeoutMs: number;
  /** TCP/TLS connect deadline (ms). Default 5,000. */
  connectTimeoutMs?: number;
  /** Upper bound on sockets to the backend. An SSE answer holds its socket for the whole call. Default 64. */
  connections?: number;
  /** Sent with every request (e.g. the backend's own `Authorization`). */
  headers?: Record<string, string>;
  /** How the gateway introduces itself when no client context is given. Default `GATEWAY_INFO`. */
  clientInfo?: { name: string; version: string };
  /** Resolver for connections; the node passes one that enforces the SSRF policy on the dialled address. */
  lookup?: LookupFunction;
}

type Body = Dispatcher.ResponseData['body'];

/** What one POST produced. Legacy 404 on a session is reported, not thrown, so the caller can renew. */
type Reply = { outcome: RpcOutcome; sessionId: string | undefined } | typeof SESSION_EXPIRED;
const SESSION_EXPIRED = Symbol('session-expired');

interface Exchange {
  body: string;
  headers: Record<string, string>;
  id: JsonRpcId;
  signal: AbortSignal | CallAbort | undefined;
  timeoutMs: number;
  onNotification: ((notification: JsonRpcNotification) => void) | undefined;
  /** The session id the request carried, so a 404 can be read as "expired". */
  session: string | undefined;
}

const ACCEPT = 'application/json, text/event-stream';
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECTIONS = 64;
/** After the response event, how long the rest of an SSE body may take before its socket is dropped. */
const STREAM_LINGER_MS = 1_000;
const CLOSE_GRACE_MS = 1_000;
/** undici's headers/body timers are coarse (fast timers, ~500 ms ticks): kept past the precise deadline. */
const UNDICI_TIMER_SLACK_MS = 1_000;
const noop = (): void => {};

/**
 * Aborts one call's undici request. undici takes an EventEmitter with
 * `aborted`/`reason` as its signal; that costs measurably less per call than an
 * AbortController plus an EventTarget listener, and most calls never abort.
 */
class CallAbort extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/**
 * {@link Backend} over Streamable HTTP, speaking whichever era the server does.
 *
 * @example
 * ```ts
 * const backend = new HttpBackend('http://127.0.0.1:3001/mcp', { callTimeoutMs: 30_000 });
 * const out = await backend.request({ method: 'tools/call', params: { name: 'echo', arguments: { msg: 'hi' } } });
 * if ('result' in out) console.log(out.result);
 * await backend.close();
 * ```
 */
export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly callTimeoutMs: number;
  private readonly setupTimeoutMs: number;
  private readonly clientInfo: { name: string; version: string };
  /** Envelope for calls without a client context; shared, never mutated. */
  private readonly defaultEnvelope: Record<string, unknown>;
  private readonly initHeaders: Record<string, string>;
  private readonly modernHeaders: Record<string, string>;
  /** Rebuilt whenever the session changes. */
  private legacyHeaders: Record<string, string>;
  private era: Era | undefined;
  private detecting: Promise<Era> | undefined;
  private renewing: Promise<void> | undefined;
  private sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private serverInfo: Record<string, unknown> | undefined;
  private capabilities: Record<string, unknown> | undefined;
  private status: BackendStatus = 'idle';
  private lastError: string | undefined;
  private nextId = 0;
  private closed = false;
  private readonly listChangedListeners: Array<(method: string) => void> = [];

  constructor(url: string, options: HttpBackendOptions) {
    const target = new URL(url);
    this.path = target.pathname + target.search;
    this.callTimeoutMs = options.callTimeoutMs;
    const connectTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.setupTimeoutMs = connectTimeout + options.callTimeoutMs;
    this.pool = new Pool(target.origin, {
      connections: options.connections ?? DEFAULT_CONNECTIONS,
      connectTimeout,
      ...(options.lookup ? { connect: { lookup: options.lookup } } : {}),
    });
    this.clientInfo = options.clientInfo ?? { ...GATEWAY_INFO };
    this.defaultEnvelope = {
      [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
      [META_CLIENT_CAPABILITIES]: {},
      [META_CLIENT_INFO]: this.clientInfo,
    };
    this.initHeaders = { ...options.headers, 'content-type': 'application/json', accept: ACCEPT };
    this.modernHeaders = { ...this.initHeaders, 'mcp-protocol-version': MODERN_PROTOCOL_VERSION };
    this.legacyHeaders = this.initHeaders;
  }

  /** The era the backend speaks; detected on first use and cached. Rejects `upstream_unavailable` when unreachable (retried next time). */
  detectEra(): Promise<Era> {
    if (this.era !== undefined) return Promise.resolve(this.era);
    if (this.closed) return Promise.reject(closedError());
    if (this.detecting === undefined) {
      this.status = 'starting';
      // Concurrent first calls share this promise; a failure is forgotten so the next call probes again.
      this.detecting = this.detect().then(
        (era) => {
          this.detecting = undefined;
          this.era = era;
          this.status = 'ready';
          return era;
        },
        (err: unknown) => {
          this.detecting = undefined;
          this.markDown(err, true);
          throw err;
        },
      );
    }
    return this.detecting;
  }

  request(call: BackendCall): Promise<RpcOutcome> {
    if (this.closed) return Promise.reject(closedError());
    const signal = call.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = ++this.nextId;
    const timeoutMs = call.timeoutMs ?? this.callTimeoutMs;
    const controller = new CallAbort();
    return new Promise<RpcOutcome>((resolve, reject) => {
      let settled = false;
      const settle = (): void => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      // One deadline for everything the call waits on: detection, session renewal, headers and body.
      const timer = setTimeout(() => {
        if (settled) return;
        settle();
        const err = new GatewayError('upstream_timeout', `backend did not answer ${call.method} within ${timeoutMs} ms`);
        controller.abort(err);
        this.cancelUpstream(id, 'timeout');
        reject(err);
      }, timeoutMs);
      const onAbort = (): void => {
        if (settled) return;
        settle();
        const reason: unknown = signal?.reason;
        controller.abort(reason);
        this.cancelUpstream(id, reason instanceof Error ? reason.message : String(reason ?? 'cancelled'));
        reject(reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.perform(call, id, controller, timeoutMs).then(
        (outcome) => {
          if (settled) return;
          settle();
          this.status = 'ready';
          resolve(outcome);
        },
        (err: unknown) => {
          if (settled) return;
          settle();
          this.markDown(err);
          reject(err);
        },
      );
    });
  }

  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    if (this.closed) throw closedError();
    const era = this.era ?? (await this.detectEra());
    if (era === 'modern') {
      const p = withEnvelope(params, this.defaultEnvelope);
      await this.post(JSON.stringify({ jsonrpc: '2.0', method, params: p }), this.headersFor(method, p));
    } else {
      const p = stripEnvelope(params);
      await this.post(JSON.stringify({ jsonrpc: '2.0', method, params: p }), this.legacyHeaders);
    }
  }

  onListChanged(listener: (method: string) => void): void {
    this.listChangedListeners.push(listener);
  }

  state(): BackendState {
    return {
      status: this.status,
      era: this.era,
      protocolVersion: this.protocolVersion,
      serverInfo: this.serverInfo,
      capabilities: this.capabilities,
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status = 'stopped';
    if (this.era === 'legacy' && this.sessionId !== undefined) {
      // Tell a stateful server it can drop the session now rather than at its idle timeout.
      await this.pool
        .request({ path: this.path, method: 'DELETE', headers: this.legacyHeaders, headersTimeout: CLOSE_GRACE_MS })
        .then((res) => res.body.dump(), noop)
        .catch(noop);
    }
    // Graceful close waits for in-flight streams; past the grace they are cut.
    let timer: NodeJS.Timeout | undefined;
    const graceful = await Promise.race([
      this.pool.close().then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS, false))),
    ]);
    clearTimeout(timer);
    if (!graceful) await this.pool.destroy().catch(noop);
  }

  // --- the call path -------------------------------------------------------

  private async perform(call: BackendCall, id: number, signal: CallAbort, timeoutMs: number): Promise<RpcOutcome> {
    const era = this.era ?? (await this.detectEra());
    if (era === 'modern') {
      const params = withEnvelope(call.params, call.client === undefined ? this.defaultEnvelope : this.envelopeFor(call.client));
      const reply = await this.exchange({
        body: JSON.stringify({ jsonrpc: '2.0', id, method: call.method, params }),
        headers: this.headersFor(call.method, params),
        id,
        signal,
        timeoutMs,
        onNotification: call.onNotification,
        session: undefined,
      });
      if (reply === SESSION_EXPIRED) throw unavailable('backend lost a session the modern era does not have');
      return reply.outcome;
    }
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: call.method, params: stripEnvelope(call.params) });
    for (let attempt = 0; ; attempt++) {
      const session = this.sessionId;
      const reply = await this.exchange({
        body,
        headers: this.legacyHeaders,
        id,
        signal,
        timeoutMs,
        onNotification: call.onNotification,
        session,
      });
      if (reply !== SESSION_EXPIRED) return reply.outcome;
      if (attempt > 0) throw unavailable('backend session expired again right after re-initialize');
      await this.renewSession(session);
    }
  }

  /** POSTs one request and reads its answer, JSON or SSE. */
  private async exchange(x: Exchange): Promise<Reply> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        path: this.path,
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
      if (type.startsWith('text/event-stream')) return { outcome: await this.readStream(body, x), sessionId };
      if (type.includes('json')) {
        const outcome = this.route(await readJson(body), x, true);
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

  /** Reads an SSE answer until the response to `x.id`, delivering what precedes it. */
  private readStream(body: Body, x: Exchange): Promise<RpcOutcome> {
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
        const outcome = this.route(msg, x, false);
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
  private route(msg: unknown, x: Exchange, sole: boolean): RpcOutcome | undefined {
    if (Array.isArray(msg)) {
      let outcome: RpcOutcome | undefined;
      for (const item of msg) outcome = this.route(item, x, false) ?? outcome;
      return outcome;
    }
    if (!isObject(msg)) return undefined;
    const method = msg.method;
    if (typeof method === 'string') {
      if ('id' in msg) this.answerServerRequest(msg.id, method);
      else if (method.endsWith('/list_changed')) this.emitListChanged(method);
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

  /** The gateway relays no server→client requests: ping is answered, the rest refused. */
  private answerServerRequest(id: unknown, method: string): void {
    if (!isValidId(id)) return;
    const reply =
      method === 'ping'
        ? { jsonrpc: '2.0', id, result: {} }
        : { jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: ${method}` } };
    const headers = this.era === 'modern' ? this.modernHeaders : this.legacyHeaders;
    this.post(JSON.stringify(reply), headers).catch(noop);
  }

  /** POSTs a notification or response (expects 2xx, usually 202, and no answer). */
  private async post(body: string, headers: Record<string, string>): Promise<void> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers,
        body,
        headersTimeout: this.callTimeoutMs,
        bodyTimeout: this.callTimeoutMs,
      });
    } catch (err) {
      throw transportError(err);
    }
    await res.body.dump().catch(noop);
    if (res.statusCode >= 300) throw unavailable(`backend answered HTTP ${res.statusCode} to a notification`);
  }

  /** Legacy-era cancellation; modern servers see the aborted stream instead. */
  private cancelUpstream(id: number, reason: string): void {
    if (this.era !== 'legacy' || this.closed) return;
    this.notify('notifications/cancelled', { requestId: id, reason }).catch(noop);
  }

  // --- era detection and sessions -----------------------------------------

  private async detect(): Promise<Era> {
    const signal = AbortSignal.timeout(this.setupTimeoutMs);
    const id = ++this.nextId;
    const params = { _meta: this.defaultEnvelope };
    let reply: Reply | undefined;
    try {
      reply = await this.exchange({
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'server/discover', params }),
        headers: this.headersFor('server/discover', params),
        id,
        signal,
        timeoutMs: this.setupTimeoutMs,
        onNotification: undefined,
        session: undefined,
      });
    } catch (err) {
      // Unreachable is final; an odd HTTP answer may just be a legacy server refusing the method.
      if (isTransportFailure(err)) throw err;
    }
    if (reply !== undefined && reply !== SESSION_EXPIRED && 'result' in reply.outcome) {
      const result = reply.outcome.result;
      if (Array.isArray(result.supportedVersions) && result.supportedVersions.includes(MODERN_PROTOCOL_VERSION)) {
        this.protocolVersion = MODERN_PROTOCOL_VERSION;
        const info = isObject(result._meta) ? result._meta[META_SERVER_INFO] : undefined;
        this.serverInfo = isObject(info) ? info : undefined;
        this.capabilities = isObject(result.capabilities) ? result.capabilities : undefined;
        return 'modern';
      }
    }
    await this.initialize(signal);
    return 'legacy';
  }

  /** The legacy handshake: `initialize`, remember session and version, `notifications/initialized`. */
  private async initialize(signal: AbortSignal = AbortSignal.timeout(this.setupTimeoutMs)): Promise<void> {
    const id = ++this.nextId;
    const params = { protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION, capabilities: {}, clientInfo: this.clientInfo };
    const reply = await this.exchange({
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params }),
      headers: this.initHeaders,
      id,
      signal,
      timeoutMs: this.setupTimeoutMs,
      onNotification: undefined,
      session: undefined,
    });
    if (reply === SESSION_EXPIRED) throw unavailable('backend refused initialize');
    if ('error' in reply.outcome) throw unavailable(`backend refused initialize: ${reply.outcome.error.message}`);
    const result = reply.outcome.result;
    const version = result.protocolVersion;
    if (typeof version !== 'string' || !LEGACY_PROTOCOL_VERSIONS.includes(version)) {
      throw unavailable(`backend negotiated an unsupported protocol version ${JSON.stringify(version)}`);
    }
    this.sessionId = reply.sessionId;
    this.protocolVersion = version;
    this.serverInfo = isObject(result.serverInfo) ? result.serverInfo : undefined;
    this.capabilities = isObject(result.capabilities) ? result.capabilities : undefined;
    this.legacyHeaders =
      reply.sessionId === undefined
        ? { ...this.initHeaders, 'mcp-protocol-version': version }
        : { ...this.initHeaders, 'mcp-protocol-version': version, 'mcp-session-id': reply.sessionId };
    await this.post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), this.legacyHeaders);
  }

  /** Re-initializes after a 404 on `stale`; concurrent callers share one handshake. */
  private renewSession(stale: string | undefined): Promise<void> {
    if (this.sessionId !== stale) return Promise.resolve(); // someone already renewed it
    this.renewing ??= this.initialize().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  // --- small helpers -------------------------------------------------------

  private envelopeFor(client: ClientContext): Record<string, unknown> {
    // The backend is modern whatever era the client speaks, so the version is always ours.
    return {
      [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
      [META_CLIENT_CAPABILITIES]: client.capabilities ?? {},
      [META_CLIENT_INFO]: client.info ?? this.clientInfo,
    };
  }

  private headersFor(method: string, params: Record<string, unknown>): Record<string, string> {
    const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
    const name = field === undefined ? undefined : params[field];
    return typeof name === 'string'
      ? { ...this.modernHeaders, 'mcp-method': method, 'mcp-name': encodeHeaderValue(name) }
      : { ...this.modernHeaders, 'mcp-method': method };
  }

  private emitListChanged(method: string): void {
    for (const listener of this.listChangedListeners) {
      try {
        listener(method);
      } catch {
        // One faulty listener must not starve the others.
      }
    }
  }

  /** A slow tool is not a down backend: only connection failures (or a failed handshake) count. */
  private markDown(err: unknown, always = false): void {
    if (!always && !(isTransportFailure(err) && (err as GatewayError).reason === 'upstream_unavailable')) return;
    if (!this.closed) this.status = 'down';
    this.lastError = err instanceof Error ? err.message : String(err);
  }
}

/** Adds the modern envelope to `_meta`, keeping the caller's other keys (progressToken, …). */
function withEnvelope(params: Record<string, unknown> | undefined, envelope: Record<string, unknown>): Record<string, unknown> {
  const meta = params?._meta;
  return { ...params, _meta: isObject(meta) ? { ...meta, ...envelope } : envelope };
}

/** Drops modern envelope keys a legacy server would not expect; untouched params are passed as is. */
function stripEnvelope(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta;
  if (!isObject(meta) || !(META_PROTOCOL_VERSION in meta || META_CLIENT_CAPABILITIES in meta || META_CLIENT_INFO in meta)) {
    return params;
  }
  const { [META_PROTOCOL_VERSION]: _v, [META_CLIENT_CAPABILITIES]: _c, [META_CLIENT_INFO]: _i, ...rest } = meta;
  return { ...params, _meta: rest };
}

/** `Mcp-Name` must be a plain visible-ASCII field value; anything else goes as the spec's base64 sentinel. */
function encodeHeaderValue(value: string): string {
  let plain = value.length > 0 && value === value.trim() && !(value.startsWith('=?base64?') && value.endsWith('?='));
  for (let i = 0; plain && i < value.length; i++) {
    const c = value.charCodeAt(i);
    plain = c === 9 || (c >= 32 && c <= 126);
  }
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

async function readJson(body: Body): Promise<unknown> {
  let text: string;
  try {
    text = await body.text();
  } catch (err) {
    throw transportError(err);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw unavailable('backend sent a body that is not JSON');
  }
}

function headerValue(value: string | string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : (value[0] ?? '');
}

function isErrorObject(value: unknown): value is JsonRpcErrorObject {
  return isObject(value) && typeof value.code === 'number' && typeof value.message === 'string';
}

function unavailable(message: string): GatewayError {
  return new GatewayError('upstream_unavailable', message);
}

function closedError(): GatewayError {
  return new GatewayError('upstream_unavailable', 'backend is closed');
}

/** Maps a socket/undici error to the gateway's reasons; the original stays as `cause`. */
function transportError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = isObject(err) ? err.code : undefined;
  const name = err instanceof Error ? err.name : '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError') {
    return new GatewayError('upstream_timeout', 'backend timed out', { cause: err });
  }
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : 'unknown error';
  return new GatewayError('upstream_unavailable', `backend unreachable (${detail})`, { cause: err });
}

/** True for failures of the connection itself (made by `transportError`, which keeps the cause). */
function isTransportFailure(err: unknown): boolean {
  return err instanceof GatewayError && err.cause !== undefined;
}
