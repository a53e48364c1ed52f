/**
 * Errors of mTLS agent identity: reading a certificate's names and managing
 * the SAN → agent mappings. Each carries a stable `code` (branch on it, never
 * on the message) and the HTTP status the admin API answers with.
 *
 * These never cross the MCP wire as-is: the authenticator turns a bad
 * certificate into `GatewayError('invalid_token')`, and the admin routes
 * render them as `HttpError`s.
 */

/** Why. Changing a member is a breaking change for admin API clients. */
export type MtlsErrorCode =
  /** The certificate (or its SAN extension) is not well-formed DER. */
  | 'malformed_certificate'
  /** A URI or DNS name that cannot be read unambiguously (control characters, bad syntax, …). */
  | 'invalid_name'
  /** Groups or scopes of a mapping are not lists of plain names. */
  | 'invalid_grant'
  /** The SAN is already mapped (remove it first: mappings are created, not edited). */
  | 'conflict'
  | 'not_found';

/** The contract table: code → HTTP status of the admin API. */
export const MTLS_ERROR_STATUS: Readonly<Record<MtlsErrorCode, number>> = {
  malformed_certificate: 400,
  invalid_name: 400,
  invalid_grant: 400,
  conflict: 409,
  not_found: 404,
};

/**
 * @example
 * ```ts
 * import { MtlsError } from './errors.js';
 * try {
 *   throw new MtlsError('invalid_name', 'URI SAN contains a control character');
 * } catch (err) {
 *   if (err instanceof MtlsError && err.code === 'invalid_name') console.log(err.status); // 400
 * }
 * ```
 */
export class MtlsError extends Error {
  readonly code: MtlsErrorCode;
  readonly status: number;
  /** Raised on purpose and worded for the admin or the agent's operator: safe to show. */
  readonly expose = true;

  constructor(code: MtlsErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MtlsError';
    this.code = code;
    this.status = MTLS_ERROR_STATUS[code];
  }
}

export function isMtlsError(err: unknown): err is MtlsError {
  return err instanceof MtlsError;
}
