/**
 * Errors of the compliance reports (`who-can`, `used`). Each carries a stable
 * `code` (branch on it, never on the message) and the HTTP status the admin
 * API answers with; the admin routes render them as `HttpError`s. They never
 * cross the MCP wire.
 */

/** Why a report was refused. Changing a member is a breaking change for admin API clients. */
export type AccessErrorCode =
  /** The server, version or tool is not registered. */
  | 'not_found'
  /** A malformed slug, version, tool name or time bound. */
  | 'invalid_input';

/** The contract table: code → HTTP status of the admin API. */
export const ACCESS_ERROR_STATUS: Readonly<Record<AccessErrorCode, number>> = {
  not_found: 404,
  invalid_input: 400,
};

/**
 * @example
 * ```ts
 * import { AccessError } from './errors.js';
 * try {
 *   throw new AccessError('not_found', 'no server weather');
 * } catch (err) {
 *   if (err instanceof AccessError && err.code === 'not_found') console.log(err.status); // 404
 * }
 * ```
 */
export class AccessError extends Error {
  readonly code: AccessErrorCode;
  readonly status: number;
  /** Raised on purpose and worded for admins: safe to show. */
  readonly expose = true;

  constructor(code: AccessErrorCode, message: string) {
    super(message);
    this.name = 'AccessError';
    this.code = code;
    this.status = ACCESS_ERROR_STATUS[code];
  }
}

/** Type guard for {@link AccessError}, for the admin routes' translation. */
export function isAccessError(err: unknown): err is AccessError {
  return err instanceof AccessError;
}
