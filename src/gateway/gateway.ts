/**
 * The MCP gateway: one HTTP exchange in, policy chain, one answer out.
 *
 *   listener → transport (checks, era, session) → policy chain → methods
 *   (answer locally or forward to the backend) → response (JSON or SSE)
 *
 * The gateway never forwards client credentials or headers to a backend: a
 * backend sees only the JSON-RPC method and params.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, isGatewayError } from './errors.js';
import { isObject, isRequest } from '../mcp/jsonrpc.js';
import { CORRELATION_ID, endpointKey, type CallContext, type Endpoint } from './call.js';
import { checkOrigin, checkPostHeaders, classify, parseMessage, readBody } from './transport/inbound.js';
import { ResponseChannel } from './transport/response.js';
import { ClientGone } from './transport/client-gone.js';
import type { SessionTokenCodec } from './transport/session-token.js';
import { runPolicyChain } from './policy/chain.js';
import type { PolicyStep } from './policy/policy.js';
import type { MethodHandlers } from './methods.js';
import type { Metrics } from '../node/metrics.js';
import { completeModernResult } from '../mcp/modern-result.js';
import type { Identity } from '../auth/identity.js';
import { exchangeInProcess, type InProcessRequest, type InProcessResponse } from './transport/in-process.js';
import type { AuditRecorder } from './audit-recorder.js';

export interface GatewayOptions {
  maxBodyBytes: number;
  isAllowedOrigin: (origin: string) => boolean;
  isAllowedHost: (host: string | undefined) => boolean;
}

export interface GatewayDeps {
  sessions: SessionTokenCodec;
  chain: readonly PolicyStep[];
  /** Records outcomes and rejections (intents are recorded by the methods, right before forwarding). */
  audit?: AuditRecorder;
  /** Identifies the caller from headers and socket (the chain's authentication, run before the body is read). */
  identify: (req: IncomingMessage, endpoint: Endpoint) => Promise<Identity>;
  methods: MethodHandlers;
  metrics: Metrics;
  onInternalError?: (err: unknown) => void;
}


export class Gateway {
  readonly #options: GatewayOptions;
  readonly #deps: GatewayDeps;
  /** In-flight requests by `session nonce:request id`, for legacy `notifications/cancelled`. */
  readonly #cancellable = new Map<string, ClientGone>();
  #inFlight = 0;
  #drained: (() => void) | undefined;

  constructor(options: GatewayOptions, deps: GatewayDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once no request is in flight (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint): Promise<void> {
    let correlationId: string = randomUUID();
    const channel = new ResponseChannel(res, true, prefersEventStream(req.headers.accept));
    channel.setHeader('X-Correlation-Id', correlationId);
    let id: string | number | null = null;
    let method = '-';
    let identity: Identity | undefined;
    let call: CallContext | undefined;
    this.#inFlight++;
    try {
      checkOrigin(req, this.#options.isAllowedOrigin);
      // The Host check guards loopback listeners against DNS rebinding; a TLS connection (the mTLS
      // listener) already proves the name the client dialled, whatever interface it listens on.
      if (!(req.socket as { encrypted?: boolean }).encrypted && !this.#options.isAllowedHost(req.headers.host)) {
        throw new GatewayError('origin_not_allowed', 'Host header not allowed');
      }
      if (req.method !== 'POST') {
        // No standalone server stream (GET) and no server-side sessions to delete (DELETE).
        channel.setHeader('Allow', 'POST');
        throw new GatewayError('method_not_allowed', `${req.method ?? ''} is not supported on this endpoint; use POST`);
      }
      // Who is calling, before anything of the request is read: unauthenticated callers learn nothing.
      identity = await this.#deps.identify(req, endpoint);
      if (identity.kind === 'peer') {
        // A call from a peer node keeps the correlation id the calling node recorded: both logs name the same call.
        const relayed = req.headers['x-correlation-id'];
        if (typeof relayed === 'string' && CORRELATION_ID.test(relayed)) {
          correlationId = relayed.toLowerCase();
          channel.setHeader('X-Correlation-Id', correlationId);
        }
      }
      checkPostHeaders(req);
      const message = parseMessage(await readBody(req, this.#options.maxBodyBytes));
      // From here on a refusal answers the request's own id (JSON-RPC: null only when it cannot be read).
      if (isRequest(message)) id = message.id;
      const exchange = classify(req, message, this.#deps.sessions, endpointKey(endpoint), Math.floor(Date.now() / 1000));
      id = exchange.id;
      call = {
        correlationId,
        req,
        exchange,
        endpoint,
        method: 'method' in message ? message.method : '-',
        params: ('params' in message ? message.params : undefined) ?? {},
        now: new Date(),
        channel,
        identity,
      };
      if (!isRequest(message)) {
        this.#onNotification(message, exchange.session?.n, identity.principal);
        channel.accepted();
        return;
      }
      method = message.method;
      await runPolicyChain(this.#deps.chain, call);
      if (call.answer && this.#deps.audit) {
        // Answered by policy (schema violation, unknown tool): a refusal, recorded as one.
        const reason = String((call.answer._meta as Record<string, unknown> | undefined)?.['io.toolmesh/reason'] ?? 'answered');
        await this.#deps.audit.rejection({ correlationId, endpoint, identity, method, call }, reason, 200);
      }
      const abort = new ClientGone();
      const onClose = () => {
        if (!res.writableFinished) abort.abort(new GatewayError('upstream_unavailable', 'client went away'));
      };
      res.once('close', onClose);
      // Keyed by the caller too: a session id seen elsewhere does not let another caller cancel its requests.
      const cancelKey = exchange.session ? `${identity.principal}\0${exchange.session.n}:${String(id)}` : undefined;
      if (cancelKey) this.#cancellable.set(cancelKey, abort);
      try {
        const outcome = await this.#deps.methods.handle(call, abort);
        if (call.forwardedAt !== undefined && this.#deps.audit) {
          const result = 'result' in outcome ? outcome.result : undefined;
          await this.#deps.audit.outcome(call, result ? (result.isError === true ? 'isError' : 'ok') : 'error', 200, call.forwardedAt);
        }
        if (exchange.era === 'modern' && 'result' in outcome) completeModernResult(method, outcome.result);
        channel.send('result' in outcome ? { jsonrpc: '2.0', id: message.id, result: outcome.result } : { jsonrpc: '2.0', id: message.id, error: outcome.error });
        this.#deps.metrics.request(endpoint.kind, method, 'error' in outcome ? 'rpc_error' : call.answer ? String((call.answer._meta as Record<string, unknown> | undefined)?.['io.toolmesh/reason'] ?? 'answered') : 'ok');
      } finally {
        res.off('close', onClose);
        if (cancelKey) this.#cancellable.delete(cancelKey);
      }
    } catch (err) {
      const rejection = this.#toGatewayError(err);
      this.#deps.metrics.request(endpoint.kind, method, rejection.reason);
      if (this.#deps.audit) {
        if (call?.forwardedAt !== undefined) await this.#deps.audit.outcome(call, rejection.reason, rejection.status, call.forwardedAt);
        else await this.#deps.audit.rejection({ correlationId, endpoint, identity, method, ...(call ? { call } : {}) }, rejection.reason, rejection.status);
      }
      channel.fail(rejection, id);
    } finally {
      if (--this.#inFlight === 0 && this.#drained) {
        this.#drained();
        this.#drained = undefined;
      }
    }
  }

  /** One exchange without a socket (see in-process.ts): the node calling its own gateway. */
  handleInProcess(request: InProcessRequest): Promise<InProcessResponse> {
    return exchangeInProcess((req, res, endpoint) => this.handle(req, res, endpoint), request);
  }

  /** A URL under `/mcp/` that names no endpoint: still an MCP client, so a JSON-RPC 404, recorded like every refusal. */
  async refuseUnknownPath(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let correlationId: string = randomUUID();
    const channel = new ResponseChannel(res, true, false);
    channel.setHeader('X-Correlation-Id', correlationId);
    const rejection = new GatewayError('not_found', `no MCP endpoint at ${path}`);
    this.#deps.metrics.request('unknown', '-', rejection.reason);
    await this.#deps.audit?.rejection({ correlationId, method: req.method ?? '-', identity: undefined }, rejection.reason, rejection.status, { path });
    channel.fail(rejection, null);
  }

  #onNotification(message: unknown, sessionNonce: string | undefined, principal: string): void {
    if (!isObject(message) || message.method !== 'notifications/cancelled' || !sessionNonce) return;
    const params = isObject(message.params) ? message.params : {};
    const controller = this.#cancellable.get(`${principal}\0${sessionNonce}:${String(params.requestId)}`);
    controller?.abort(new GatewayError('upstream_unavailable', 'cancelled by the client'));
  }

  #toGatewayError(err: unknown): GatewayError {
    if (isGatewayError(err)) return err;
    this.#deps.onInternalError?.(err);
    return new GatewayError('internal_error', 'Internal error');
  }
}

/** `Accept: text/event-stream, application/json` — the client ranks streams first. */
function prefersEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const sse = accept.indexOf('text/event-stream');
  const json = accept.indexOf('application/json');
  return sse >= 0 && (json < 0 || sse < json);
}
