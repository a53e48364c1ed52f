/**
 * Admin API for tenant API keys: `/admin/v1/credentials/keys…` (mounted under
 * `/admin`, behind admin authentication, which sets `ctx.state.actor`).
 *
 *   GET    /admin/v1/credentials/keys?tenant=T                 list (never digests or secrets)
 *   POST   /admin/v1/credentials/keys                          {tenant, scopes, groups?, expiresAt?} → 201 {key, record}
 *   GET    /admin/v1/credentials/keys/:tenant/:keyId           {record, history}
 *   POST   /admin/v1/credentials/keys/:tenant/:keyId/rotate    {overlapSeconds? = 86400} → {key, record}
 *   POST   /admin/v1/credentials/keys/:tenant/:keyId/revoke    → record
 *
 * Records carry their `status` (active, rotating, revoked, expired) on the
 * node's clock. A response holding a key is sent once, with `no-store`.
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { HttpError } from '../http/errors.js';
import { readJsonBody } from '../http/json-body.js';
import { isObject } from '../mcp/jsonrpc.js';
import type { ApiKeyRecord, ApiKeys } from '../auth/apikeys/api-keys.js';
import { isApiKeyError } from '../auth/apikeys/errors.js';
import { TENANT_ID_PATTERN } from '../auth/apikeys/key-format.js';

/** Overlap of a rotation when the request names none: one day. */
export const DEFAULT_OVERLAP_SECONDS = 86_400;

const ISSUE_FIELDS = new Set(['tenant', 'scopes', 'groups', 'expiresAt']);
const ROTATE_FIELDS = new Set(['overlapSeconds']);

function actor(ctx: Context): string {
  return String(ctx.state.actor ?? 'unknown');
}

/** The body of a POST that may have none. */
async function optionalBody(ctx: Context): Promise<Record<string, unknown>> {
  const length = ctx.get('content-length');
  if ((length === '' || length === '0') && !ctx.get('transfer-encoding')) return {};
  const body = await readJsonBody(ctx);
  if (!isObject(body)) throw new HttpError(400, 'invalid_input', 'body must be a JSON object');
  return body;
}

function onlyFields(body: Record<string, unknown>, allowed: Set<string>): void {
  const unknown = Object.keys(body).filter((k) => !allowed.has(k));
  if (unknown.length) throw new HttpError(400, 'invalid_input', `unknown field(s): ${unknown.join(', ')}; expected ${[...allowed].join(', ')}`);
}

/** Refusals of the key store become the admin API's HTTP errors. */
async function apiKeyErrors(_ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (isApiKeyError(err)) throw new HttpError(err.status, err.code, err.message, err.details);
    throw err;
  }
}

/**
 * @example
 * ```ts
 * import Router from '@koa/router';
 * import { apiKeyRoutes } from './credentials-keys-routes.js';
 * import type { ApiKeys } from '../auth/apikeys/api-keys.js';
 * declare const keys: ApiKeys;
 * const admin = new Router({ prefix: '/admin' });
 * const router = apiKeyRoutes(keys);
 * admin.use(router.routes(), router.allowedMethods());
 * ```
 */
export function apiKeyRoutes(keys: ApiKeys): Router {
  const router = new Router({ prefix: '/v1/credentials/keys' }); // mounted under /admin
  router.use(apiKeyErrors);

  const withStatus = (record: ApiKeyRecord) => ({ ...record, status: keys.status(record) });
  const sendKey = (ctx: Context, result: { key: string; record: ApiKeyRecord }) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { key: result.key, record: withStatus(result.record) };
  };
  const params = (ctx: Context) => {
    const { tenant, keyId } = ctx.params as { tenant: string; keyId: string };
    return { tenant, keyId };
  };

  router.get('/', (ctx) => {
    const tenant = ctx.query.tenant;
    if (tenant !== undefined && (typeof tenant !== 'string' || !TENANT_ID_PATTERN.test(tenant))) {
      throw new HttpError(400, 'invalid_input', 'tenant: must match [a-z0-9-]{1,63}');
    }
    ctx.body = { keys: keys.list(tenant).map(withStatus) };
  });

  router.post('/', async (ctx) => {
    const body = await readJsonBody(ctx);
    if (!isObject(body)) throw new HttpError(400, 'invalid_input', 'body must be {tenant, scopes, groups?, expiresAt?}');
    onlyFields(body, ISSUE_FIELDS);
    const grant = {
      scopes: body.scopes as string[],
      ...(body.groups !== undefined ? { groups: body.groups as string[] } : {}),
      ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt as string } : {}),
    };
    const result = await keys.issue(body.tenant as string, grant, actor(ctx));
    ctx.status = 201;
    sendKey(ctx, result);
  });

  router.get('/:tenant/:keyId', async (ctx) => {
    const { tenant, keyId } = params(ctx);
    const record = keys.get(tenant, keyId);
    if (!record) throw new HttpError(404, 'not_found', `no key ${tenant}/${keyId}`);
    ctx.body = { record: withStatus(record), history: await keys.history({ tenant, keyId }) };
  });

  router.post('/:tenant/:keyId/rotate', async (ctx) => {
    const { tenant, keyId } = params(ctx);
    const body = await optionalBody(ctx);
    onlyFields(body, ROTATE_FIELDS);
    const overlapSeconds = body.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
    if (typeof overlapSeconds !== 'number') throw new HttpError(400, 'invalid_input', 'overlapSeconds: must be a number of seconds');
    sendKey(ctx, await keys.rotate(tenant, keyId, { overlapSeconds }, actor(ctx)));
  });

  router.post('/:tenant/:keyId/revoke', async (ctx) => {
    const { tenant, keyId } = params(ctx);
    onlyFields(await optionalBody(ctx), new Set());
    ctx.body = withStatus(await keys.revoke(tenant, keyId, actor(ctx)));
  });

  return router;
}
