/**
 * Errors of the embedded authorization server's own code (configuration,
 * credential formats). Protocol failures on the wire are oidc-provider's
 * (`invalid_client`, `invalid_scope`, …) and never pass through here.
 *
 * Callers branch on `err.code`, never on the message.
 */

/** Why the authorization server refused to start or to hash. */
export type AuthorizationServerErrorCode =
  /** A config field is missing, malformed or inconsistent (the message names it by path). */
  | 'invalid_config'
  /** A stored hash is not `scrypt$N$r$p$salt$hash` with sane parameters. */
  | 'invalid_hash'
  /** A password or secret to hash is empty. */
  | 'invalid_secret';

/**
 * @example
 * ```ts
 * import { AuthorizationServerError } from './errors.js';
 * try {
 *   throw new AuthorizationServerError('invalid_config', 'users/0/passwordHash: not an scrypt hash');
 * } catch (err) {
 *   if (err instanceof AuthorizationServerError && err.code === 'invalid_config') console.error(err.message);
 * }
 * ```
 */
export class AuthorizationServerError extends Error {
  readonly code: AuthorizationServerErrorCode;

  constructor(code: AuthorizationServerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuthorizationServerError';
    this.code = code;
  }
}
