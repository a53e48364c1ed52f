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
 *
 * This module keeps the connection, era detection, sessions and the call path;
 * the wire pieces sit beside it: envelope and `Mcp-*` headers in `http-wire.ts`,
 * one POST and the reading of its JSON or SSE answer in `http-exchange.ts`,
 * error mapping in `http-errors.ts`.
 */
import type { LookupFunction } from 'node:net';
import { Pool } from 'undici';
import type { Backend, BackendCall, BackendState, BackendStatus } from './backend.js';
import { CallAbort } from './http-abort.js';
import { closedError, isTransportFailure, unavailable } from './http-errors.js';
import { SESSION_EXPIRED, exchange, postOneWay } from './http-exchange.js';
import type { Reply, ReplySink } from './http-exchange.js';
import { ACCEPT, clientEnvelope, modernHeadersFor, stripEnvelope, withEnvelope } from './http-wire.js';
import { GatewayError } from '../errors.js';
import { isObject, isValidId } from '../../mcp/jsonrpc.js';
import type { RpcOutcome } from '../../mcp/jsonrpc.js';
import {
  GATEWAY_INFO,
  LATEST_LEGACY_PROTOCOL_VERSION,
  LEGACY_PROTOCOL_VERSIONS,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  META_SERVER_INFO,
  MODERN_PROTOCOL_VERSION,
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

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECTIONS = 64;
const CLOSE_GRACE_MS = 1_000;
const noop = (): void => {};

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
export class HttpBackend implements Backend, ReplySink {
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
      const body = JSON.stringify({ jsonrpc: '2.0', method, params: p });
      await postOneWay(this.pool, this.path, body, modernHeadersFor(this.modernHeaders, method, p), this.callTimeoutMs);
    } else {
      const p = stripEnvelope(params);
      const body = JSON.stringify({ jsonrpc: '2.0', method, params: p });
      await postOneWay(this.pool, this.path, body, this.legacyHeaders, this.callTimeoutMs);
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
      const envelope = call.client === undefined ? this.defaultEnvelope : clientEnvelope(call.client, this.clientInfo);
      const params = withEnvelope(call.params, envelope);
      const reply = await exchange(this.pool, this.path, this, {
        body: JSON.stringify({ jsonrpc: '2.0', id, method: call.method, params }),
        headers: modernHeadersFor(this.modernHeaders, call.method, params),
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
      const reply = await exchange(this.pool, this.path, this, {
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

  /** @internal The gateway relays no server→client requests: ping is answered, the rest refused. */
  answerServerRequest(id: unknown, method: string): void {
    if (!isValidId(id)) return;
    const reply =
      method === 'ping'
        ? { jsonrpc: '2.0', id, result: {} }
        : { jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: ${method}` } };
    const headers = this.era === 'modern' ? this.modernHeaders : this.legacyHeaders;
    postOneWay(this.pool, this.path, JSON.stringify(reply), headers, this.callTimeoutMs).catch(noop);
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
      reply = await exchange(this.pool, this.path, this, {
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'server/discover', params }),
        headers: modernHeadersFor(this.modernHeaders, 'server/discover', params),
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
    const reply = await exchange(this.pool, this.path, this, {
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
    const initialized = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await postOneWay(this.pool, this.path, initialized, this.legacyHeaders, this.callTimeoutMs);
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

  /** @internal Fans a `…/list_changed` notification out to the listeners. */
  emitListChanged(method: string): void {
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
