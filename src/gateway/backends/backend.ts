/**
 * The one interface every tool-server backend implements, whatever carries it
 * (Streamable HTTP of either era, a supervised stdio child, later a remote peer).
 *
 * A backend owns the wire toward its server: ids, sessions, era handshakes and
 * progress tokens are its business. Callers hand it a method and params and get
 * back a result or a JSON-RPC error; transport failures are thrown as
 * `GatewayError('upstream_unavailable' | 'upstream_timeout')`.
 */
import type { Era } from '../../mcp/protocol.js';
import type { JsonRpcNotification, RpcOutcome } from '../../mcp/jsonrpc.js';
import type { Identity } from '../../auth/identity.js';

/** The MCP client on whose behalf a call is made (modern backends get it in `_meta`). */
export interface ClientContext {
  protocolVersion: string;
  capabilities?: Record<string, unknown>;
  info?: Record<string, unknown>;
}

/** A listener of {@link CancelSignal}: a function or an object with `handleEvent`, as for EventTarget. */
export type CancelListener = (() => void) | { handleEvent(): void };

/**
 * The part of `AbortSignal` a backend uses. `AbortSignal` satisfies it; the
 * gateway passes a cheaper one (see `ClientGone`), since every call has one
 * and almost none is ever aborted.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: CancelListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: CancelListener): void;
}

export interface BackendCall {
  method: string;
  /** Params as the backend should see them (names already un-namespaced). */
  params?: Record<string, unknown>;
  /**
   * Notifications the server relates to this request (progress, logging,
   * messages), delivered in order. `progressToken`s are the caller's own again.
   */
  onNotification?: (notification: JsonRpcNotification) => void;
  /** Aborted when the client goes away: the backend cancels the request upstream. */
  signal?: CancelSignal;
  /** Overrides the backend's default call timeout. */
  timeoutMs?: number;
  client?: ClientContext;
  /** Who the call is made for, and its correlation id: a remote backend translates the one and passes on the other. */
  caller?: { identity: Identity; correlationId: string };
}

export type BackendStatus = 'idle' | 'starting' | 'ready' | 'restarting' | 'down' | 'stopped';

export interface BackendState {
  status: BackendStatus;
  /** The era the backend speaks, once detected. */
  era?: Era;
  protocolVersion?: string;
  serverInfo?: Record<string, unknown>;
  /** What the server declared it supports (initialize / server/discover). */
  capabilities?: Record<string, unknown>;
  /** stdio only. */
  pid?: number;
  restarts?: number;
  lastError?: string;
}

export interface Backend {
  readonly kind: 'http' | 'stdio' | 'remote';
  /** Sends one request and resolves with the server's result or error. */
  request(call: BackendCall): Promise<RpcOutcome>;
  /** Sends a notification (fire and forget, but awaits the write). */
  notify(method: string, params?: Record<string, unknown>): Promise<void>;
  /** Registers a listener for `notifications/*\/list_changed` from the server. */
  onListChanged(listener: (method: string) => void): void;
  state(): BackendState;
  /** Releases connections / stops the child process and waits for it to exit. */
  close(): Promise<void>;
}
