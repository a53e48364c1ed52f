/**
 * The node's one HTTP listener, as a Koa app: MCP endpoints (handed straight
 * to the gateway, which writes the response itself), catalog, admin API,
 * health and metrics. The admin API sits behind its own authentication and
 * never on the gateway's request path.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Gateway } from '../gateway/gateway.js';
import { jsonErrors, HttpError } from '../http/errors.js';
import type { Endpoint } from '../gateway/call.js';
import { GatewayError } from '../gateway/errors.js';
import { SLUG_PATTERN } from '../registry/types.js';

export interface AppParts {
  gateway: Gateway;
  routers: Router[];
  adminRouters: Router[];
  adminAuth: Koa.Middleware;
  isReady: () => boolean;
  renderMetrics: () => string;
  onInternalError: (err: unknown) => void;
}

/** `/mcp/v{N}/tools/{slug}/rpc` — N without leading zeros. */
const PER_SERVER_PATH = /^\/mcp\/v(0|[1-9]\d{0,5})\/tools\/([^/]+)\/rpc\/?$/;

export function buildApp(parts: AppParts): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  // MCP endpoints first: the hot path skips routing tables and body parsers.
  app.use(async (ctx, next) => {
    const path = ctx.path;
    let endpoint: Endpoint | undefined;
    if (path === '/mcp' || path === '/mcp/') endpoint = { kind: 'aggregate' };
    else if (path.startsWith('/mcp/')) {
      const m = PER_SERVER_PATH.exec(path);
      if (m && SLUG_PATTERN.test(m[2]!)) endpoint = { kind: 'server', slug: m[2]!, major: Number(m[1]) };
    }
    if (!endpoint) {
      if (!path.startsWith('/mcp/')) return next();
      // Anything else under /mcp/ is an MCP client with a wrong URL: answer in JSON-RPC.
      ctx.respond = false;
      const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: new GatewayError('not_found', `no MCP endpoint at ${path}`).toRpcError() });
      ctx.res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    ctx.respond = false;
    await parts.gateway.handle(ctx.req, ctx.res, endpoint);
  });

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
  admin.use(parts.adminAuth);
  for (const router of parts.adminRouters) admin.use(router.routes(), router.allowedMethods());
  app.use(admin.routes()).use(admin.allowedMethods());

  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
  });
  return app;
}
