/**
 * Who may use the admin API. Today: the bootstrap admin token (a bearer
 * secret created on first start in `<data>/admin.token`), compared in
 * constant time by digest. The resolved actor is recorded in history.
 */
import type { Context, Next } from 'koa';
import { HttpError } from '../http/errors.js';
import { secretMatches } from '../node/identity.js';

export interface AdminAuthOptions {
  /** SHA-256 digest of the bootstrap admin token. */
  bootstrapTokenDigest: Buffer;
}

export function requireAdmin(options: AdminAuthOptions) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer realm="toolmesh-admin"');
      throw new HttpError(401, 'missing_credentials', 'admin API requires a bearer token');
    }
    if (!secretMatches(match[1]!, options.bootstrapTokenDigest)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="toolmesh-admin", error="invalid_token"');
      throw new HttpError(401, 'invalid_token', 'admin token not recognised');
    }
    ctx.state.actor = 'admin:bootstrap';
    await next();
  };
}
