/**
 * Every admin change (servers, lifecycle, credentials, bootstrap token) and
 * every refused admin request is an audit entry: who, what (method and path,
 * never bodies: they may hold secrets such as new keys), and the status.
 * Reads (GET) are not changes and are not recorded.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { AuditLog } from '../audit/index.js';
import { auditIdentity } from '../audit/index.js';
import type { Identity } from '../auth/identity.js';

export function auditAdminChanges(log: AuditLog) {
  return async (ctx: Context, next: Next): Promise<void> => {
    let failure: unknown;
    try {
      await next();
    } catch (err) {
      failure = err;
    }
    const status = failure ? Number((failure as { status?: number }).status ?? 500) : ctx.status;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' || status === 401 || status === 403) {
      const identity = ctx.state.identity as Identity | undefined;
      await log
        .append({
          kind: status < 400 ? 'admin' : 'rejection',
          correlationId: randomUUID(),
          method: `${ctx.method} ${ctx.path}`,
          ...(identity ? { identity: auditIdentity(identity) } : ctx.state.actor ? { identity: { kind: 'admin-token', subject: String(ctx.state.actor), groups: [] } } : {}),
          outcome: status < 400 ? 'ok' : String((failure as { code?: string } | undefined)?.code ?? status),
          status,
        })
        .catch(() => {});
    }
    if (failure) throw failure;
  };
}
