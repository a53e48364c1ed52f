/**
 * Two error families, kept apart (STYLE.md §2):
 *
 * - {@link TokenExchangeError}: a refusal at *our* token endpoint. It crosses
 *   the wire as an RFC 6749 §5.2 error (`error`, `error_description`, status);
 *   `reason` is the finer, stable cause recorded in the audit log only.
 * - {@link ExchangeClientError}: what the calling side sees when a peer's
 *   endpoint refuses or cannot be reached, mapped to PRODUCT.md §6 reasons.
 */

/** RFC 6749 §5.2 and RFC 8693 §2.2.2 error codes this endpoint answers with. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'server_error'
  | 'temporarily_unavailable';

/**
 * Why the endpoint refused, for the audit log (never sent to the peer beyond
 * the OAuth code and a short description):
 *
 * - `bad_request`: malformed body, missing/duplicate parameter (invalid_request).
 * - `unsupported_grant_type`: not the token-exchange grant.
 * - `unsupported_token_type`: a subject/actor/requested token type we do not take.
 * - `malformed_token`: not a compact JWS of the expected `typ`/`alg`.
 * - `unknown_peer`: the token's issuer resolves to no pinned peer key (invalid_client).
 * - `peer_not_trusted`: the peer is known but has no inbound policy (unauthorized_client).
 * - `bad_signature`: a token does not verify against the peer's pinned key.
 * - `bad_claims`: a required claim is missing or of the wrong type/value.
 * - `wrong_audience`: a token names another audience than this node.
 * - `expired` / `not_yet_valid`: outside its validity (with clock tolerance).
 * - `lifetime_too_long`: `exp - iat` above the limit (assertions are short-lived).
 * - `replayed`: the token's `jti` was seen before.
 * - `actor_mismatch`: the actor is not the assertion's issuer (or not the `client_id`).
 * - `invalid_target`: `audience`/`resource` other than this node (invalid_target).
 * - `scope_exceeds_ceiling`: a requested scope is outside the peer's ceiling (invalid_scope).
 * - `scope_exceeds_assertion`: a requested scope the caller was not asserted to hold (invalid_scope).
 * - `no_mapped_group`: none of the caller's peer groups maps to a local group.
 * - `replay_cache_full`: cannot remember one more jti; fail closed (temporarily_unavailable).
 * - `audit_unavailable`: the decision could not be recorded; no token issued.
 * - `internal`: anything else (server_error).
 */
export type ExchangeRefusalReason =
  | 'bad_request'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'malformed_token'
  | 'unknown_peer'
  | 'peer_not_trusted'
  | 'bad_signature'
  | 'bad_claims'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime_too_long'
  | 'replayed'
  | 'actor_mismatch'
  | 'invalid_target'
  | 'scope_exceeds_ceiling'
  | 'scope_exceeds_assertion'
  | 'no_mapped_group'
  | 'replay_cache_full'
  | 'audit_unavailable'
  | 'internal';

/** The OAuth code and HTTP status of each refusal reason (RFC 8693 §2.2.2: bad subject/actor tokens are `invalid_request`). */
export const REFUSALS: Readonly<Record<ExchangeRefusalReason, { error: OAuthErrorCode; status: number }>> = {
  bad_request: { error: 'invalid_request', status: 400 },
  unsupported_grant_type: { error: 'unsupported_grant_type', status: 400 },
  unsupported_token_type: { error: 'invalid_request', status: 400 },
  malformed_token: { error: 'invalid_request', status: 400 },
  unknown_peer: { error: 'invalid_client', status: 401 },
  peer_not_trusted: { error: 'unauthorized_client', status: 400 },
  bad_signature: { error: 'invalid_request', status: 400 },
  bad_claims: { error: 'invalid_request', status: 400 },
  wrong_audience: { error: 'invalid_request', status: 400 },
  expired: { error: 'invalid_request', status: 400 },
  not_yet_valid: { error: 'invalid_request', status: 400 },
  lifetime_too_long: { error: 'invalid_request', status: 400 },
  replayed: { error: 'invalid_request', status: 400 },
  actor_mismatch: { error: 'invalid_request', status: 400 },
  invalid_target: { error: 'invalid_target', status: 400 },
  scope_exceeds_ceiling: { error: 'invalid_scope', status: 400 },
  scope_exceeds_assertion: { error: 'invalid_scope', status: 400 },
  no_mapped_group: { error: 'invalid_request', status: 400 },
  replay_cache_full: { error: 'temporarily_unavailable', status: 503 },
  audit_unavailable: { error: 'temporarily_unavailable', status: 503 },
  internal: { error: 'server_error', status: 500 },
};

/**
 * A refusal at our token endpoint. `message` becomes `error_description`: it
 * names the failed check, never a token or a claim value the peer did not send.
 *
 * @example
 * ```ts
 * import { TokenExchangeError } from './errors.js';
 * const err = new TokenExchangeError('scope_exceeds_ceiling', 'mcp:tool:crm:write is outside the ceiling');
 * console.log(err.error, err.status); // invalid_scope 400
 * ```
 */
export class TokenExchangeError extends Error {
  readonly reason: ExchangeRefusalReason;
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly expose = true;

  constructor(reason: ExchangeRefusalReason, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenExchangeError';
    this.reason = reason;
    this.error = REFUSALS[reason].error;
    this.status = REFUSALS[reason].status;
  }
}

/**
 * What a failed exchange means to the calling node (PRODUCT.md §6):
 * - `trust_denied` (403): the peer refused (any OAuth error with a 4xx status);
 * - `upstream_unavailable` (502): network error, timeout, a 5xx, or a response
 *   that is not a valid token-exchange response.
 */
export type ExchangeClientErrorCode = 'trust_denied' | 'upstream_unavailable';

/**
 * @example
 * ```ts
 * import { ExchangeClientError } from './errors.js';
 * const err: unknown = new ExchangeClientError('trust_denied', 'peer refused: invalid_scope', { oauthError: 'invalid_scope' });
 * if (err instanceof ExchangeClientError) switch (err.code) {
 *   case 'trust_denied': console.log(403, err.oauthError); break;
 *   case 'upstream_unavailable': console.log(502); break;
 * }
 * ```
 */
export class ExchangeClientError extends Error {
  readonly code: ExchangeClientErrorCode;
  readonly status: number;
  readonly expose = true;
  /** The peer's OAuth `error`, when it answered with one. */
  readonly oauthError: string | undefined;
  /** The peer's HTTP status, when it answered. */
  readonly peerStatus: number | undefined;

  constructor(code: ExchangeClientErrorCode, message: string, options: { cause?: unknown; oauthError?: string; peerStatus?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ExchangeClientError';
    this.code = code;
    this.status = code === 'trust_denied' ? 403 : 502;
    this.oauthError = options.oauthError;
    this.peerStatus = options.peerStatus;
  }
}
