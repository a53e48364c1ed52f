/**
 * Every rejection the gateway makes, with its stable machine-readable reason,
 * HTTP status and JSON-RPC code (PRODUCT.md §6). One error handler renders them.
 *
 * `GatewayError` crosses the wire; anything else thrown on the request path is
 * an internal fault and is rendered as a generic -32603 without detail.
 */

export type Reason =
  | 'invalid_token'
  | 'missing_credentials'
  | 'insufficient_scope'
  | 'forbidden'
  | 'trust_denied'
  | 'not_found'
  | 'rate_limited'
  | 'sunset'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'audit_unavailable'
  | 'payload_too_large'
  | 'parse_error'
  | 'invalid_request'
  | 'method_not_found'
  | 'invalid_params'
  | 'header_mismatch'
  | 'unsupported_protocol_version'
  | 'batch_rejected'
  | 'origin_not_allowed'
  | 'not_acceptable'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'session_invalid'
  | 'internal_error';

interface ReasonSpec {
  status: number;
  code: number;
}

/** The contract table. Changing a row is a breaking change for clients. */
export const REASONS: Readonly<Record<Reason, ReasonSpec>> = {
  invalid_token: { status: 401, code: -32001 },
  missing_credentials: { status: 401, code: -32001 },
  insufficient_scope: { status: 403, code: -32003 },
  forbidden: { status: 403, code: -32003 },
  trust_denied: { status: 403, code: -32003 },
  not_found: { status: 404, code: -32004 },
  rate_limited: { status: 429, code: -32005 },
  sunset: { status: 410, code: -32010 },
  upstream_unavailable: { status: 502, code: -32011 },
  upstream_timeout: { status: 504, code: -32011 },
  audit_unavailable: { status: 503, code: -32012 },
  payload_too_large: { status: 413, code: -32600 },
  parse_error: { status: 400, code: -32700 },
  invalid_request: { status: 400, code: -32600 },
  method_not_found: { status: 404, code: -32601 },
  invalid_params: { status: 400, code: -32602 },
  // Modern-era transport rules (2026-07-28 Streamable HTTP).
  header_mismatch: { status: 400, code: -32020 },
  unsupported_protocol_version: { status: 400, code: -32022 },
  // Transport-level refusals; each still carries a JSON-RPC error body.
  batch_rejected: { status: 400, code: -32600 },
  origin_not_allowed: { status: 403, code: -32600 },
  not_acceptable: { status: 406, code: -32600 },
  unsupported_media_type: { status: 415, code: -32600 },
  method_not_allowed: { status: 405, code: -32600 },
  session_invalid: { status: 404, code: -32001 },
  internal_error: { status: 500, code: -32603 },
};

export class GatewayError extends Error {
  readonly reason: Reason;
  readonly status: number;
  readonly code: number;
  /** Extra fields merged into `error.data` next to `reason`. */
  readonly data: Record<string, unknown> | undefined;
  /** Response headers the rejection needs (Retry-After, WWW-Authenticate, …). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    reason: Reason,
    message: string,
    options: { data?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.reason = reason;
    this.status = REASONS[reason].status;
    this.code = REASONS[reason].code;
    this.data = options.data;
    this.headers = options.headers;
  }

  /** The JSON-RPC `error` member for this rejection. */
  toRpcError(): { code: number; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: { reason: this.reason, ...this.data } };
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
