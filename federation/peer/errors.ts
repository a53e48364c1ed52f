/**
 * Failures of the peer host (libp2p links between nodes). These never cross
 * the MCP wire as such: the remote backend maps them to a gateway error
 * (a peer that is down is an unavailable upstream).
 */

/**
 * Why a peer operation failed. Changing a member is a breaking change for
 * callers that `switch (err.code)`.
 * - `peer_refused`: the link was refused by a gater — ours (the peer is not
 *   pinned, or it proved a different key than pinned) or the peer's (we are
 *   not in its allow-list; the dialer only sees the connection close).
 * - `peer_unavailable`: no open connection to the peer, or it closed mid-request.
 *   Raised immediately, never after waiting: the reconnect loop owns dialing.
 * - `peer_timeout`: the peer did not answer within the request's deadline.
 * - `frame_too_large`: a request or response frame exceeds the maximum frame
 *   size (checked locally before sending, and by the receiving side).
 * - `peer_busy`: too many requests of this protocol are in flight to the peer
 *   (the per-protocol stream limit); retry later.
 * - `protocol_unsupported`: the peer has no handler for the protocol.
 * - `remote_error`: the peer's handler failed (its details stay on the peer).
 * - `request_aborted`: the caller's own signal aborted the request.
 * - `unknown_peer`: no pinned peer has this alias.
 * - `invalid_peer_config`: a pinned peer entry is unusable (alias, peer id or
 *   address); raised by `setPeers`, never on a request.
 * - `host_stopped`: the host is not running.
 */
export type PeerErrorCode =
  | 'peer_refused'
  | 'peer_unavailable'
  | 'peer_timeout'
  | 'frame_too_large'
  | 'peer_busy'
  | 'protocol_unsupported'
  | 'remote_error'
  | 'request_aborted'
  | 'unknown_peer'
  | 'invalid_peer_config'
  | 'host_stopped';

/**
 * The one class of peer-host failures; `code` narrows.
 *
 * @example
 * ```ts
 * import { PeerError } from './errors.js';
 * const err: unknown = new PeerError('peer_unavailable', 'peer b is not connected');
 * if (err instanceof PeerError && err.code === 'peer_unavailable') console.log('fail over');
 * ```
 */
export class PeerError extends Error {
  readonly code: PeerErrorCode;

  constructor(code: PeerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PeerError';
    this.code = code;
  }
}

/** Codes a responder may put in an error frame (anything else reads as `remote_error`). */
export const WIRE_ERROR_CODES = ['frame_too_large', 'remote_error', 'peer_refused'] as const satisfies readonly PeerErrorCode[];
