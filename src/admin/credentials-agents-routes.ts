/**
 * Admin API for mTLS agents: which certificate SAN carries which groups and
 * scopes. Mounted under `/admin` behind admin authentication (which sets
 * `ctx.state.actor`); kept out of the gateway's request path.
 *
 *   GET    /admin/v1/credentials/agents          list
 *   POST   /admin/v1/credentials/agents          {san, groups, scopes?} → 201
 *   GET    /admin/v1/credentials/agents/:san     one mapping (SAN URL-encoded, any encoding of it)
 *   DELETE /admin/v1/credentials/agents/:san     remove → the removed mapping
 *
 * A mapping is created, not edited: POST for a SAN already mapped is 409.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.js';
import { readJsonBody } from '../http/json-body.js';
import { isObject } from '../mcp/jsonrpc.js';
import type { Agents } from '../auth/mtls/agents.js';
import { isMtlsError } from '../auth/mtls/errors.js';

function actor(ctx: Context): string {
  return String(ctx.state.actor ?? 'unknown');
}

/** Agents' refusals carry their own code and status; render them as the admin API's errors. */
async function translated<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isMtlsError(err)) throw new HttpError(err.status, err.code, err.message);
    throw err;
  }
}

/**
 * @example
 * ```ts
 * import type { Agents } from '../auth/mtls/agents.js';
 * declare const agents: Agents;
 * const adminRouters = [agentRoutes(agents)]; // served at /admin/v1/credentials/agents
 * ```
 */
export function agentRoutes(agents: Agents): Router {
  const router = new Router({ prefix: '/v1/credentials/agents' }); // mounted under /admin

  router.get('/', (ctx) => {
    ctx.body = { agents: agents.list() };
  });

  router.post('/', async (ctx) => {
    const body = await readJsonBody(ctx);
    if (!isObject(body) || typeof body.san !== 'string') throw new HttpError(400, 'invalid_input', 'body must be {san, groups, scopes?}');
    const { san, groups, scopes } = body as { san: string; groups: string[]; scopes?: string[] };
    const entry = await translated(() => agents.add(san, { groups, ...(scopes !== undefined ? { scopes } : {}) }, actor(ctx)));
    ctx.status = 201;
    ctx.body = entry;
  });

  router.get('/:san', async (ctx) => {
    const san = ctx.params.san!;
    const entry = await translated(() => agents.get(san));
    if (!entry) throw new HttpError(404, 'not_found', `${san} is not mapped`);
    ctx.body = entry;
  });

  router.delete('/:san', async (ctx) => {
    ctx.body = await translated(() => agents.remove(ctx.params.san!, actor(ctx)));
  });

  return router;
}
