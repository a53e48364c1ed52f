/**
 * Everything on the node's HTTP listener that is not an MCP endpoint, as a
 * Koa app: catalog, admin API, health and metrics. MCP endpoints never enter
 * Koa (see listener.ts); the admin API sits behind its own authentication.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { jsonErrors, HttpError } from '../http/errors.js';

export interface AppParts {
  routers: Router[];
  adminRouters: Router[];
  adminAuth: Koa.Middleware;
  /** Records admin changes and refusals (wraps authentication so refusals are seen). */
  adminAudit: Koa.Middleware;
  isReady: () => boolean;
  renderMetrics: () => string;
  onInternalError: (err: unknown) => void;
}

export function buildApp(parts: AppParts): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  app.use(jsonErrors(parts.onInternalError));

  const ops = new Router();
  ops.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  ops.get('/readyz', (ctx) => {
    const ready = parts.isReady();
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready' };
  });
  ops.get('/metrics', (ctx) => {
    ctx.type = 'text/plain; version=0.0.4';
    ctx.body = parts.renderMetrics();
  });
  app.use(ops.routes()).use(ops.allowedMethods());
  for (const router of parts.routers) app.use(router.routes()).use(router.allowedMethods());

  const admin = new Router({ prefix: '/admin' });
  admin.use(parts.adminAudit);
  admin.use(parts.adminAuth);
  for (const router of parts.adminRouters) admin.use(router.routes(), router.allowedMethods());
  app.use(admin.routes()).use(admin.allowedMethods());

  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
  });
  return app;
}
