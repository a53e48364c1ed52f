/**
 * Refusals of API key administration (issue, rotate, revoke). These never
 * cross the MCP wire: a bad key presented to the gateway is a
 * `GatewayError('invalid_token')`. The admin API renders these with the
 * status of the contract table below.
 */

/** Why an admin operation on API keys was refused. Changing a member is a breaking change for admin API clients. */
export type ApiKeyErrorCode = 'invalid_input' | 'not_found' | 'conflict';

export const API_KEY_ERROR_STATUS: Readonly<Record<ApiKeyErrorCode, number>> = {
  invalid_input: 400,
  not_found: 404,
  // The key is revoked, expired or already rotated: rotate its successor instead.
  conflict: 409,
};

/**
 * @example
 * ```ts
 * import { ApiKeyError } from './errors.js';
 * try {
 *   throw new ApiKeyError('not_found', 'no key acme/AAAAAAAAAAAAAAAA');
 * } catch (err) {
 *   if (err instanceof ApiKeyError && err.code === 'not_found') console.log(err.status); // 404
 * }
 * ```
 */
export class ApiKeyError extends Error {
  readonly code: ApiKeyErrorCode;
  readonly status: number;
  /** Worded for admins and free of secrets: safe to render as-is. */
  readonly expose = true;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ApiKeyErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiKeyError';
    this.code = code;
    this.status = API_KEY_ERROR_STATUS[code];
    this.details = details;
  }
}

export function isApiKeyError(err: unknown): err is ApiKeyError {
  return err instanceof ApiKeyError;
}
