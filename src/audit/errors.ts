/**
 * Failures of the audit log. These never cross the MCP wire themselves: the
 * gateway turns `audit_unavailable` and `audit_closed` into a
 * `GatewayError('audit_unavailable')` (HTTP 503, JSON-RPC -32012, PRODUCT.md §6)
 * and fails closed — nothing is proxied unaudited.
 */

/**
 * Why an audit operation failed. Changing a member is a breaking change for
 * callers that `switch (err.code)`.
 * - `audit_unavailable`: the entry could not be made durable (write failure);
 *   the log keeps retrying and recovers by itself.
 * - `audit_closed`: the log was closed (node shutting down).
 * - `audit_locked`: another process holds the audit database.
 * - `invalid_entry`: the input does not have the entry shape (a programming error).
 * - `args_not_canonical`: arguments that have no RFC 8785 form (cycles, NaN,
 *   BigInt, nesting deeper than the stack).
 * - `audit_key_invalid`: `<data>/audit.key` exists but is not a usable key.
 */
export type AuditErrorCode =
  | 'audit_unavailable'
  | 'audit_closed'
  | 'audit_locked'
  | 'invalid_entry'
  | 'args_not_canonical'
  | 'audit_key_invalid';

/**
 * The one base class of audit failures; `code` narrows.
 *
 * @example
 * ```ts
 * import { AuditError, isAuditUnavailable } from './errors.js';
 * const err: unknown = new AuditError('audit_closed', 'the audit log is closed');
 * if (isAuditUnavailable(err)) console.log('503 audit_unavailable'); // fail closed
 * ```
 */
export class AuditError extends Error {
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuditError';
    this.code = code;
  }
}

/** An entry was not made durable: the write failed and the log rolled its head back. */
export class AuditUnavailableError extends AuditError {
  declare readonly code: 'audit_unavailable';

  constructor(message: string, options?: { cause?: unknown }) {
    super('audit_unavailable', message, options);
    this.name = 'AuditUnavailableError';
  }
}

/**
 * True when a call must be refused with 503 `audit_unavailable`: the log could
 * not record it (write failure) or is closed.
 */
export function isAuditUnavailable(err: unknown): err is AuditError {
  return err instanceof AuditError && (err.code === 'audit_unavailable' || err.code === 'audit_closed');
}
