/**
 * Admin API for tool servers: `/admin/v1/servers…`. Kept out of the gateway's
 * request path; every change goes through the registry, which keeps history.
 *
 *   GET    /admin/v1/servers                                   list (all versions)
 *   POST   /admin/v1/servers                                   register a version
 *   POST   /admin/v1/servers/import                            import an official server.json
 *   GET    /admin/v1/servers/:slug                             versions + history
 *   GET    /admin/v1/servers/:slug/versions/:version           one version (+ drift, backend state)
 *   POST   /admin/v1/servers/:slug/versions/:version/promote   {to?}
 *   POST   /admin/v1/servers/:slug/versions/:version/deprecate {sunsetAt?, migrationUrl?}
 *   POST   /admin/v1/servers/:slug/versions/:version/sunset    {sunsetAt?, migrationUrl?}
 *   POST   /admin/v1/servers/:slug/versions/:version/approve   {readTools?}
 *
 * `namespace` (both POSTs) puts the server in a tenant's namespace: only that
 * tenant's API keys see it. It follows the tenant id rule, `[a-z0-9-]{1,63}`.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.js';
import { readJsonBody } from '../http/json-body.js';
import { isObject } from '../mcp/jsonrpc.js';
import { serverKey, type Registry } from '../registry/registry.js';
import { registrationsFromServerJson } from '../registry/server-json.js';
import { LIFECYCLES, type Lifecycle, type RegistrationInput } from '../registry/types.js';
import { TENANT_ID_PATTERN } from '../auth/apikeys/key-format.js';
import type { BackendManager } from '../gateway/backends/manager.js';

export interface ServersRoutesDeps {
  registry: Registry;
  backends: BackendManager;
}

function actor(ctx: Context): string {
  return String(ctx.state.actor ?? 'unknown');
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, 'invalid_input', `${field}: must be a string`);
  return v;
}

/** A tenant namespace as API keys name tenants; anything else would be a namespace no tenant can see. */
function optionalNamespace(body: Record<string, unknown>): string | undefined {
  const v = optionalString(body, 'namespace');
  if (v !== undefined && !TENANT_ID_PATTERN.test(v)) throw new HttpError(400, 'invalid_input', 'namespace: must match [a-z0-9-]{1,63} (a tenant id)');
  return v;
}

export function serversRoutes(deps: ServersRoutesDeps): Router {
  const { registry, backends } = deps;
  const router = new Router({ prefix: '/v1/servers' }) // mounted under /admin;

  const describe = (slug: string, version: string) => {
    const record = registry.require(slug, version);
    return {
      ...record,
      drift: registry.drift(slug, version) ?? null,
      backendState: backends.states()[serverKey(slug, version)] ?? { status: 'idle' },
    };
  };

  // A failed registration must not leave its probe process behind.
  const register = async (input: RegistrationInput, who: string) => {
    try {
      return await registry.register(input, who);
    } catch (err) {
      if (!registry.get(input.slug, input.version)) await backends.release(serverKey(input.slug, input.version));
      throw err;
    }
  };

  router.get('/', (ctx) => {
    ctx.body = { servers: registry.list().map((r) => ({ ...r, drift: registry.drift(r.slug, r.version) ?? null })) };
  });

  router.post('/', async (ctx) => {
    const body = await readJsonBody(ctx);
    if (!isObject(body)) throw new HttpError(400, 'invalid_input', 'body must be a registration object');
    optionalNamespace(body);
    ctx.status = 201;
    ctx.body = await register(body as unknown as RegistrationInput, actor(ctx));
  });

  router.post('/import', async (ctx) => {
    const body = await readJsonBody(ctx);
    if (!isObject(body)) throw new HttpError(400, 'invalid_input', 'body must be {server, slug?, lifecycle?, allowedGroups?, owner?, readTools?, namespace?}');
    const doc = 'server' in body ? body.server : body;
    const notes: string[] = [];
    const slug = optionalString(body, 'slug');
    const inputs = registrationsFromServerJson(doc, { ...(slug ? { slug } : {}), onNote: (n) => notes.push(n) });
    const lifecycle = optionalString(body, 'lifecycle');
    const namespace = optionalNamespace(body);
    const created = [];
    for (const input of inputs) {
      if (lifecycle) input.lifecycle = lifecycle as RegistrationInput['lifecycle'];
      if (Array.isArray(body.allowedGroups)) input.allowedGroups = body.allowedGroups as string[];
      if (Array.isArray(body.readTools)) input.readTools = body.readTools as string[];
      if (typeof body.owner === 'string') input.owner = body.owner;
      if (namespace !== undefined) input.namespace = namespace;
      created.push(await register(input, actor(ctx)));
    }
    ctx.status = 201;
    ctx.body = { servers: created, notes };
  });

  router.get('/:slug', async (ctx) => {
    const versions = registry.versions(ctx.params.slug!);
    if (versions.length === 0) throw new HttpError(404, 'not_found', `no server ${ctx.params.slug}`);
    ctx.body = { slug: ctx.params.slug, versions, history: await registry.history(ctx.params.slug!) };
  });

  router.get('/:slug/history', async (ctx) => {
    ctx.body = { history: await registry.history(ctx.params.slug!) };
  });

  router.get('/:slug/versions/:version', (ctx) => {
    ctx.body = describe(ctx.params.slug!, ctx.params.version!);
  });

  router.post('/:slug/versions/:version/:action', async (ctx) => {
    const { slug, version, action } = ctx.params as { slug: string; version: string; action: string };
    const raw = ctx.get('content-length') && ctx.get('content-length') !== '0' ? await readJsonBody(ctx) : {};
    if (!isObject(raw)) throw new HttpError(400, 'invalid_input', 'body must be an object');
    const opts = {
      ...(optionalString(raw, 'sunsetAt') !== undefined ? { sunsetAt: optionalString(raw, 'sunsetAt')! } : {}),
      ...(optionalString(raw, 'migrationUrl') !== undefined ? { migrationUrl: optionalString(raw, 'migrationUrl')! } : {}),
    };
    switch (action) {
      case 'promote': {
        const to = optionalString(raw, 'to');
        if (to !== undefined && !LIFECYCLES.includes(to as Lifecycle)) throw new HttpError(400, 'invalid_input', `to: one of ${LIFECYCLES.join(', ')}`);
        await registry.promote(slug, version, to as Lifecycle | undefined, actor(ctx));
        break;
      }
      case 'deprecate':
        await registry.deprecate(slug, version, opts, actor(ctx));
        break;
      case 'sunset':
        await registry.sunset(slug, version, opts, actor(ctx));
        break;
      case 'approve': {
        const readTools = raw.readTools;
        if (readTools !== undefined && (!Array.isArray(readTools) || !readTools.every((t) => typeof t === 'string'))) {
          throw new HttpError(400, 'invalid_input', 'readTools: must be an array of tool names');
        }
        await registry.approve(slug, version, readTools ? { readTools: readTools as string[] } : {}, actor(ctx));
        break;
      }
      default:
        throw new HttpError(404, 'not_found', `unknown action ${action}`);
    }
    ctx.body = describe(slug, version);
  });

  return router;
}
