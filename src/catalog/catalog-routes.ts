/**
 * The tool catalog: what this node offers, in three shapes.
 *
 *   GET /catalog                     a readable HTML page
 *   GET /catalog/v1/servers          JSON (every version, with lifecycle and tools)
 *   GET /v0.1/servers[…]             the official MCP Registry API v0.1 shape,
 *                                    `remotes` pointing at this gateway
 */
import Router from '@koa/router';
import semver from 'semver';
import { isSunset, type Registry } from '../registry/registry.js';
import { registryApiList, registryApiVersion, registryApiVersions } from '../registry/server-json.js';
import type { ServerRecord } from '../registry/types.js';
import { renderCatalogPage } from './catalog-page.js';

export interface CatalogDeps {
  registry: Registry;
  /** Base URL of this gateway as clients see it. */
  publicUrl: () => string;
}

export interface CatalogEntry {
  slug: string;
  version: string;
  title: string | null;
  description: string | null;
  owner: string | null;
  lifecycle: ServerRecord['lifecycle'];
  sunset: boolean;
  deprecatedAt: string | null;
  sunsetAt: string | null;
  migrationUrl: string | null;
  allowedGroups: string[];
  approvedBy: string;
  approvedAt: string;
  transport: 'http' | 'stdio' | 'remote';
  endpoint: string;
  tools: { name: string; title: string | null; description: string | null; access: 'read' | 'write'; withheld: boolean }[];
}

export function catalogEntries(registry: Registry, publicUrl: string, now = new Date()): CatalogEntry[] {
  return registry.list().map((r) => ({
    slug: r.slug,
    version: r.version,
    title: r.title ?? null,
    description: r.description ?? null,
    owner: r.owner ?? null,
    lifecycle: r.lifecycle,
    sunset: isSunset(r, now),
    deprecatedAt: r.deprecatedAt ?? null,
    sunsetAt: r.sunsetAt ?? null,
    migrationUrl: r.migrationUrl ?? null,
    allowedGroups: r.allowedGroups,
    approvedBy: r.approvedBy,
    approvedAt: r.approvedAt,
    transport: 'http' in r.backend ? 'http' : 'stdio' in r.backend ? 'stdio' : 'remote',
    endpoint: `${publicUrl}/mcp/v${semver.major(r.version)}/tools/${r.slug}/rpc`,
    tools: r.tools.map((t) => ({
      name: t.name,
      title: t.title ?? null,
      description: t.description ?? null,
      access: t.access,
      withheld: registry.isWithheld(r, t.name),
    })),
  }));
}

export function catalogRoutes(deps: CatalogDeps): Router {
  const { registry } = deps;
  const router = new Router();

  router.get('/catalog/v1/servers', (ctx) => {
    ctx.body = { servers: catalogEntries(registry, deps.publicUrl()) };
  });

  router.get('/catalog', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    ctx.body = renderCatalogPage(catalogEntries(registry, deps.publicUrl()), deps.publicUrl());
  });

  const includeDeleted = (q: unknown) => q === 'true' || q === '1';

  router.get('/v0.1/servers', (ctx) => {
    const limit = ctx.query.limit === undefined ? undefined : Number(ctx.query.limit);
    ctx.body = registryApiList(registry.list(), deps.publicUrl(), {
      ...(typeof ctx.query.cursor === 'string' ? { cursor: ctx.query.cursor } : {}),
      ...(limit !== undefined ? { limit } : {}),
      includeDeleted: includeDeleted(ctx.query.include_deleted),
    });
  });

  router.get('/v0.1/servers/:name/versions', (ctx) => {
    ctx.body = registryApiVersions(registry.list(), ctx.params.name!, deps.publicUrl(), { includeDeleted: true });
  });

  router.get('/v0.1/servers/:name/versions/:version', (ctx) => {
    ctx.body = registryApiVersion(registry.list(), ctx.params.name!, ctx.params.version!, deps.publicUrl(), { includeDeleted: true });
  });

  return router;
}
