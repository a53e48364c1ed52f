/**
 * Errors of the registry (PRODUCT.md §7): registering, importing and checking
 * server records. Each carries a stable machine-readable `code` and the HTTP
 * status the admin API answers with, so one Koa error handler renders them all.
 *
 * Callers branch on `err.code`, never on the message: messages are for humans
 * and may change.
 */

/** Why the registry refused. Changing a member is a breaking change for admin API clients. */
export type RegistryErrorCode =
  | 'invalid_input'
  | 'invalid_schema'
  | 'ssrf_blocked'
  | 'not_found'
  | 'conflict'
  | 'backend_unreachable';

/** The contract table: code → HTTP status. */
export const REGISTRY_ERROR_STATUS: Readonly<Record<RegistryErrorCode, number>> = {
  invalid_input: 400,
  invalid_schema: 400,
  ssrf_blocked: 400,
  not_found: 404,
  // A server version already exists: versions are immutable once published.
  conflict: 409,
  backend_unreachable: 502,
};

/**
 * A registry refusal. `details` is structured context safe to show an admin
 * (the field that failed, the address class that was blocked, …); it never
 * holds secrets such as header values.
 *
 * @example
 * ```ts
 * import { RegistryError } from './errors.js';
 * try {
 *   throw new RegistryError('conflict', 'weather@1.2.0 already exists', { slug: 'weather', version: '1.2.0' });
 * } catch (err) {
 *   if (err instanceof RegistryError && err.code === 'conflict') console.log(err.status); // 409
 * }
 * ```
 */
export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly status: number;
  /** Registry errors are raised on purpose and worded for admins: safe to render as-is. */
  readonly expose = true;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: RegistryErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RegistryError';
    this.code = code;
    this.status = REGISTRY_ERROR_STATUS[code];
    this.details = details;
  }
}

/** Type guard for {@link RegistryError}, e.g. in the admin API's error handler. */
export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
