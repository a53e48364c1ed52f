/**
 * Who may use the admin API: the bootstrap admin token (a bearer secret
 * created on first start in `<data>/admin.token`, compared in constant time
 * by digest; can be rotated or disabled), OAuth tokens carrying `mcp:admin`,
 * and people or agents in one of `auth.adminGroups`. Tenant API keys never.
 * The resolved actor is recorded in history.
 */
import type { Context, Next } from 'koa';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../http/errors.js';
import { secretMatches } from '../node/identity.js';
import { isGatewayError } from '../gateway/errors.js';
import type { Identity } from '../auth/identity.js';

export interface AdminAuthOptions {
  /** SHA-256 digest of the bootstrap admin token, or undefined when it is disabled. */
  bootstrapTokenDigest: () => Buffer | undefined;
  identify: (req: IncomingMessage) => Promise<Identity | undefined>;
  isAdmin: (identity: Identity) => boolean;
}

export function requireAdmin(options: AdminAuthOptions) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const digest = options.bootstrapTokenDigest();
    if (bearer !== undefined && digest !== undefined && bearer.startsWith('tmadm_') && secretMatches(bearer, digest)) {
      ctx.state.actor = 'admin:bootstrap';
      return next();
    }
    let identity: Identity | undefined;
    try {
      identity = await options.identify(ctx.req);
    } catch (err) {
      if (isGatewayError(err)) {
        ctx.set('WWW-Authenticate', 'Bearer realm="toolmesh-admin", error="invalid_token"');
        throw new HttpError(401, 'invalid_token', err.message);
      }
      throw err;
    }
    if (!identity) {
      ctx.set('WWW-Authenticate', 'Bearer realm="toolmesh-admin"');
      throw new HttpError(401, bearer === undefined ? 'missing_credentials' : 'invalid_token', bearer === undefined ? 'admin API requires credentials' : 'admin token not recognised');
    }
    if (!options.isAdmin(identity)) {
      throw new HttpError(403, 'forbidden', 'the admin API needs the mcp:admin scope or an admin group');
    }
    ctx.state.actor = `${identity.kind}:${identity.subject}`;
    ctx.state.identity = identity;
    await next();
  };
}
