/**
 * A peer's server as a gateway backend: the call is translated (a token the
 * peer issues for this caller by RFC 8693 exchange, cached), sent over the
 * libp2p link, and answered with what the peer's gateway said.
 *
 * Failures are clean: a peer that is not connected fails at once with
 * `upstream_unavailable` (no dial, no hang); a deadline gives
 * `upstream_timeout`; a refusal by the peer keeps its reason (`trust_denied`,
 * `forbidden`, `rate_limited`, …) and names the peer. A translated token the
 * peer no longer accepts is dropped and exchanged once more.
 */
import { GatewayError, REASONS, type Reason } from '../../src/gateway/errors.js';
import type { Backend, BackendCall, BackendState } from '../../src/gateway/backends/backend.js';
import type { Identity } from '../../src/auth/identity.js';
import { isObject, type RpcOutcome } from '../../src/mcp/jsonrpc.js';
import type { RemoteServerRef } from '../../src/registry/types.js';
import { PeerError, type PeerHost } from '../peer/index.js';
import { CALL_PROTOCOL, decodeCallResponse, encodeCallRequest } from './call-protocol.js';

/** Where translated tokens come from (the token exchange client). */
export interface TokenSource {
  /** A token the peer issued for `identity` with `scopes` (cached until shortly before it expires). */
  token(peer: string, identity: Identity, scopes: string[], correlationId: string): Promise<string>;
  /** Forgets a token the peer refused. */
  forget(peer: string, identity: Identity, scopes: string[]): void;
}

/** Refusals a peer's gateway may give that mean the same to our caller. */
const PEER_REASONS = new Set<Reason>(['trust_denied', 'forbidden', 'not_found', 'sunset', 'rate_limited', 'upstream_unavailable', 'upstream_timeout', 'invalid_params']);
/** The peer refused the token we obtained for the caller: a refused translation. */
const TRANSLATION_REASONS = new Set<Reason>(['invalid_token', 'missing_credentials', 'insufficient_scope']);
/** `data` members passed on from a peer's refusal. */
const PEER_DATA = ['cause', 'retryAfter', 'migrationUrl', 'sunsetAt'] as const;

export interface RemoteBackendDeps {
  host: Pick<PeerHost, 'peer' | 'request'>;
  tokens: TokenSource;
  /** The access class of a tool of this server (from its manifest): which scope to ask the peer for. */
  accessOf(tool: string): 'read' | 'write' | undefined;
  callTimeoutMs: number;
}

export class RemoteBackend implements Backend {
  readonly kind = 'remote' as const;
  readonly #ref: RemoteServerRef;
  readonly #deps: RemoteBackendDeps;
  #lastError: string | undefined;

  constructor(ref: RemoteServerRef, deps: RemoteBackendDeps) {
    this.#ref = ref;
    this.#deps = deps;
  }

  async request(call: BackendCall): Promise<RpcOutcome> {
    const { peer, slug, version } = this.#ref;
    if (!call.caller) throw new GatewayError('upstream_unavailable', `a call to peer ${peer} needs a caller`);
    const state = this.#deps.host.peer(peer);
    if (state?.status !== 'connected') {
      throw new GatewayError('upstream_unavailable', `peer ${peer} is not connected`, { data: { peer } });
    }
    const scopes = [`mcp:tool:${slug}:${this.#scopeAccess(call)}`];
    const { identity, correlationId } = call.caller;
    // One deadline for the whole call: a token exchange that hangs uses it up like a silent peer.
    const deadline = performance.now() + (call.timeoutMs ?? this.#deps.callTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      const token = await this.#beforeDeadline(this.#deps.tokens.token(peer, identity, scopes, correlationId), deadline, call);
      const response = await this.#send({ v: 1, token, correlationId, slug, version, method: call.method, params: call.params ?? {} }, call, deadline);
      if (response.status === 401 && attempt === 0) {
        this.#deps.tokens.forget(peer, identity, scopes); // expired or rotated at the peer: exchange once more
        continue;
      }
      return this.#outcome(response.status, response.body);
    }
  }

  async notify(): Promise<void> {
    // Notifications are per-request across the mesh (cancellation rides the stream's abort).
  }

  onListChanged(): void {
    // A peer announces changes with a new manifest, not list_changed notifications.
  }

  state(): BackendState {
    const status = this.#deps.host.peer(this.#ref.peer)?.status;
    return {
      status: status === 'connected' ? 'ready' : 'down',
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      capabilities: { tools: {} },
    };
  }

  async close(): Promise<void> {}

  #scopeAccess(call: BackendCall): 'read' | 'write' {
    if (call.method !== 'tools/call') return 'read';
    const name = call.params?.name;
    return (typeof name === 'string' ? this.#deps.accessOf(name) : undefined) ?? 'write';
  }

  /** `work`, or `upstream_timeout` at `deadline`, or `upstream_unavailable` when the caller goes away first. */
  #beforeDeadline<T>(work: Promise<T>, deadline: number, call: BackendCall): Promise<T> {
    const peer = this.#ref.peer;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => finish(() => reject(new GatewayError('upstream_unavailable', `the call to peer ${peer} was abandoned`, { data: { peer } })));
      const timer = setTimeout(
        () => finish(() => reject(new GatewayError('upstream_timeout', `peer ${peer}: no translated token in time`, { data: { peer } }))),
        Math.max(0, deadline - performance.now()),
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        call.signal?.removeEventListener('abort', onAbort);
        settle();
      };
      work.then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => finish(() => reject(err)),
      );
      if (call.signal?.aborted === true) onAbort();
      else call.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #send(request: Parameters<typeof encodeCallRequest>[0], call: BackendCall, deadline: number) {
    const controller = new AbortController();
    const onAbort = () => controller.abort(call.signal?.reason);
    call.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const bytes = await this.#deps.host.request(this.#ref.peer, CALL_PROTOCOL, encodeCallRequest(request), {
        signal: controller.signal,
        timeoutMs: Math.max(1, Math.round(deadline - performance.now())),
      });
      return decodeCallResponse(bytes);
    } catch (err) {
      this.#lastError = (err as Error).message;
      if (err instanceof PeerError && err.code === 'peer_timeout') {
        throw new GatewayError('upstream_timeout', `peer ${this.#ref.peer} did not answer in time`, { data: { peer: this.#ref.peer } });
      }
      throw new GatewayError('upstream_unavailable', `peer ${this.#ref.peer}: ${(err as Error).message}`, { data: { peer: this.#ref.peer }, cause: err });
    } finally {
      call.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The peer gateway's answer as this gateway's: results and backend errors pass; a refusal keeps
   * its reason only when it is one a peer may give us (its token trouble is a refused translation,
   * anything else — its own audit or internal failures included — is `upstream_unavailable`), with
   * only the `data` members our callers know.
   */
  #outcome(status: number, body: Record<string, unknown>): RpcOutcome {
    if (status === 200 && isObject(body.result)) return { result: body.result };
    const error = isObject(body.error) ? body.error : { code: -32603, message: 'malformed answer from peer' };
    const data = isObject(error.data) ? error.data : {};
    const reason = typeof data.reason === 'string' && Object.hasOwn(REASONS, data.reason) ? (data.reason as Reason) : undefined;
    if (status === 200 || reason === undefined) {
      return { error: { code: typeof error.code === 'number' ? error.code : -32603, message: String(error.message ?? 'error'), ...(error.data !== undefined ? { data: error.data } : {}) } };
    }
    const mapped: Reason = PEER_REASONS.has(reason) ? reason : TRANSLATION_REASONS.has(reason) ? 'trust_denied' : 'upstream_unavailable';
    const kept = Object.fromEntries(PEER_DATA.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    const said = mapped === reason ? '' : ` (${reason})`;
    throw new GatewayError(mapped, `peer ${this.#ref.peer}${said}: ${String(error.message ?? reason).slice(0, 500)}`, { data: { ...kept, peer: this.#ref.peer } });
  }

}
