/**
 * Errors of the non-MCP HTTP surfaces (admin, catalog): rendered as
 * `{ "error": { "code", "message", "details"? } }` with the error's status.
 */
import type { Context, Next } from 'koa';
import { isRegistryError } from '../registry/errors.js';

export class HttpError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Koa middleware rendering HttpError / RegistryError, and hiding anything else. */
export function jsonErrors(onInternal: (err: unknown) => void) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError || isRegistryError(err)) {
        ctx.status = err.status;
        ctx.body = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
        return;
      }
      onInternal(err);
      ctx.status = 500;
      ctx.body = { error: { code: 'internal_error', message: 'Internal error' } };
    }
  };
}
