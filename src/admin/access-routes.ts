/**
 * Admin API for compliance answers (PRODUCT.md §1, §3): `/admin/v1/access/…`,
 * mounted under `/admin` behind admin authentication. Read-only GETs, so
 * asking is not itself an audit entry.
 *
 *   GET /admin/v1/access/who-can/:slug?version=&tool=   WhoCanReport (src/access/who-can.ts)
 *   GET /admin/v1/access/used/:slug?since=&until=       UsageReport (src/access/used.ts)
 *
 * Unknown server, version or tool: 404 `not_found`. Query parameters are
 * checked strictly, as on `/admin/v1/audit/entries`: unknown, repeated or
 * malformed ones are 400 `invalid_input`.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.js';
import type { AuditLog } from '../audit/index.js';
import type { NodeConfig } from '../config/config.js';
import type { NodeAuth } from '../node/auth-setup.js';
import type { Registry } from '../registry/registry.js';
import { isAccessError } from '../access/errors.js';
import { whoCan } from '../access/who-can.js';
import { usage } from '../access/used.js';

/** What the routes read: the registry, the audit log, the auth config and the credential stores. */
export interface AccessRoutesDeps {
  registry: Registry;
  audit: Pick<AuditLog, 'query'>;
  config: Pick<NodeConfig, 'auth'>;
  auth: Pick<NodeAuth, 'agents' | 'apiKeys' | 'isAdmin'>;
  /** Issuer URL of the embedded authorization server, when it runs. */
  issuer: string | undefined;
  now?: () => Date;
}

/** The query string as single strings; refuses unknown and repeated parameters. */
function params(ctx: Context, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (!allowed.includes(name)) throw new HttpError(400, 'invalid_input', `unknown query parameter ${name}; allowed: ${allowed.join(', ')}`);
    if (Array.isArray(value)) throw new HttpError(400, 'invalid_input', `${name}: give it once`);
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

function time(p: Record<string, string>, name: string): string | undefined {
  const raw = p[name];
  if (raw === undefined) return undefined;
  if (!ISO_TIME.test(raw) || Number.isNaN(Date.parse(raw))) {
    throw new HttpError(400, 'invalid_input', `${name}: must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z`);
  }
  return raw;
}

/** Reports' refusals carry their own code and status; render them as the admin API's errors. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isAccessError(err)) throw new HttpError(err.status, err.code, err.message);
    throw err;
  }
}

/**
 * @example
 * ```ts
 * declare const deps: import('./access-routes.js').AccessRoutesDeps;
 * const adminRouters = [accessRoutes(deps)]; // served at /admin/v1/access/…
 * ```
 */
export function accessRoutes(deps: AccessRoutesDeps): Router {
  const router = new Router({ prefix: '/v1/access' }); // mounted under /admin

  router.get('/who-can/:slug', async (ctx) => {
    const p = params(ctx, ['version', 'tool']);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await translated(() =>
      whoCan(
        {
          registry: deps.registry,
          auth: deps.config.auth,
          agents: deps.auth.agents,
          apiKeys: deps.auth.apiKeys,
          isAdmin: deps.auth.isAdmin,
          embeddedIssuer: deps.issuer,
          ...(deps.now ? { now: deps.now } : {}),
        },
        { slug: ctx.params.slug!, ...(p.version !== undefined ? { version: p.version } : {}), ...(p.tool !== undefined ? { tool: p.tool } : {}) },
      ),
    );
  });

  router.get('/used/:slug', async (ctx) => {
    const p = params(ctx, ['since', 'until']);
    const since = time(p, 'since');
    const until = time(p, 'until');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await translated(() =>
      usage(
        { audit: deps.audit, isKnownSlug: (slug) => deps.registry.versions(slug).length > 0, ...(deps.now ? { now: deps.now } : {}) },
        { slug: ctx.params.slug!, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) },
      ),
    );
  });

  return router;
}
