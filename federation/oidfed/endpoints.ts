/**
 * The federation endpoints of a node (OpenID Federation 1.0 §8–9):
 *
 *   GET /.well-known/openid-federation   this node's entity configuration
 *   GET /federation/fetch?sub=<id>        a subordinate statement (anchors and
 *                                         intermediates only: given a registry)
 *
 * Statements are served as `application/entity-statement+jwt`. Fetch errors
 * use the spec's error JSON `{ error, error_description }`:
 *   400 invalid_request   `sub` missing, repeated, not an entity id, or ourselves
 *   404 not_found         `sub` is not a registered subordinate
 *   500 server_error      signing failed (details stay in the log)
 * Options are checked at construction (`invalid_configuration`), so a bad
 * configuration fails at start, never on a request.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { entityIdProblem } from './entity-id.js';
import { buildEntityConfiguration, buildSubordinateStatement, type StatementSigner } from './entity-statement.js';
import { FederationTrustError } from './errors.js';
import type { AnchorRegistry } from './registry.js';
import { ENTITY_STATEMENT_MEDIA_TYPE, WELL_KNOWN_PATH, type EntityMetadata, type Jwks } from './types.js';

export const FETCH_PATH = '/federation/fetch';

export interface FederationEndpointsOptions {
  /** The node's identity (or a standalone anchor key): signs every statement. */
  identity: StatementSigner;
  /** This node's entity id: its public base URL. */
  entityId: string;
  /** What the node publishes about itself (`toolmesh_node`, …); read on each (re)signing. */
  metadata: EntityMetadata | (() => EntityMetadata);
  /** Our superiors; absent for a trust anchor. */
  authorityHints?: string[];
  /** Subordinates we vouch for; enables the fetch endpoint. */
  registry?: AnchorRegistry;
  /** Extra public keys to publish in our configuration (key rollover). */
  extraKeys?: Jwks;
  /** Default 86,400 s; the configuration is re-signed after half of it. */
  configurationTtlSeconds?: number;
  /** Default 86,400 s. */
  subordinateTtlSeconds?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
  allowInsecure?: boolean;
  /** Called with internal failures (never shown to clients). */
  onError?: (err: unknown) => void;
}

/** An answer of the fetch endpoint, independent of the HTTP framework. */
export type FetchAnswer =
  | { status: 200; jwt: string }
  | { status: 400 | 404 | 500; error: 'invalid_request' | 'not_found' | 'server_error'; error_description: string };

/** The endpoints as plain functions (a router, a test or another framework can mount them). */
export interface FederationEndpoints {
  /** This node's signed entity configuration (cached until half its lifetime). */
  entityConfiguration(): Promise<string>;
  /** The answer to `GET /federation/fetch?sub=…`; `sub` as parsed from the query. */
  fetchSubordinate(sub: string | string[] | undefined): Promise<FetchAnswer>;
  /** Drop the cached configuration (after a metadata or key change). */
  refresh(): void;
}

function checkOptions(o: FederationEndpointsOptions): void {
  const bad = (msg: string): never => {
    throw new FederationTrustError('invalid_configuration', msg, { entityId: o.entityId });
  };
  const p = entityIdProblem(o.entityId, o.allowInsecure);
  if (p !== undefined) bad(`entityId ${p}`);
  for (const h of o.authorityHints ?? []) {
    const hp = entityIdProblem(h, o.allowInsecure);
    if (hp !== undefined) bad(`authorityHints entry ${hp}`);
  }
  if (o.registry && o.registry.issuer !== o.entityId) bad(`registry issuer ${o.registry.issuer} is not this node (${o.entityId})`);
}

/**
 * @example
 * ```ts
 * import { federationEndpoints } from './endpoints.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const identity: NodeIdentity;
 * const endpoints = federationEndpoints({ identity, entityId: 'https://anchor.example', metadata: {} });
 * const jwt = await endpoints.entityConfiguration();
 * ```
 */
export function federationEndpoints(options: FederationEndpointsOptions): FederationEndpoints {
  checkOptions(options);
  const now = options.now ?? Date.now;
  const ttl = options.configurationTtlSeconds ?? 86_400;
  const base = options.entityId.replace(/\/+$/, '');
  let cached: { jwt: string; renewAt: number } | undefined;

  const metadata = (): EntityMetadata => {
    const own = typeof options.metadata === 'function' ? options.metadata() : options.metadata;
    if (!options.registry) return own;
    return { ...own, federation_entity: { ...(own.federation_entity ?? {}), federation_fetch_endpoint: `${base}${FETCH_PATH}` } };
  };

  return {
    async entityConfiguration() {
      const t = now();
      if (cached !== undefined && t < cached.renewAt) return cached.jwt;
      const jwt = await buildEntityConfiguration(options.identity, {
        entityId: options.entityId,
        metadata: metadata(),
        ttlSeconds: ttl,
        now: t,
        ...(options.authorityHints ? { authorityHints: options.authorityHints } : {}),
        ...(options.extraKeys ? { extraKeys: options.extraKeys } : {}),
        ...(options.allowInsecure ? { allowInsecure: true } : {}),
      });
      cached = { jwt, renewAt: t + (ttl * 1000) / 2 };
      return jwt;
    },

    async fetchSubordinate(sub) {
      if (!options.registry) return { status: 404, error: 'not_found', error_description: 'this entity has no subordinates' };
      if (sub === undefined || sub === '') return { status: 400, error: 'invalid_request', error_description: 'the sub parameter is required' };
      if (Array.isArray(sub)) return { status: 400, error: 'invalid_request', error_description: 'the sub parameter must appear once' };
      const p = entityIdProblem(sub, options.allowInsecure);
      if (p !== undefined) return { status: 400, error: 'invalid_request', error_description: `sub ${p}` };
      if (sub === options.entityId) return { status: 400, error: 'invalid_request', error_description: 'sub must not be the issuer itself' };
      const entry = options.registry.get(sub);
      if (entry === undefined) return { status: 404, error: 'not_found', error_description: `${sub} is not a subordinate of ${options.entityId}` };
      try {
        const jwt = await buildSubordinateStatement(options.identity, {
          issuer: options.entityId,
          subject: sub,
          jwks: entry.jwks,
          ttlSeconds: options.subordinateTtlSeconds ?? 86_400,
          now: now(),
          ...(entry.metadataPolicy ? { metadataPolicy: entry.metadataPolicy } : {}),
          ...(entry.metadataPolicyCrit ? { metadataPolicyCrit: entry.metadataPolicyCrit } : {}),
          ...(entry.constraints ? { constraints: entry.constraints } : {}),
          ...(entry.metadata ? { metadata: entry.metadata } : {}),
          ...(options.allowInsecure ? { allowInsecure: true } : {}),
        });
        return { status: 200, jwt };
      } catch (err) {
        options.onError?.(err);
        return { status: 500, error: 'server_error', error_description: 'the statement could not be issued' };
      }
    },

    refresh() {
      cached = undefined;
    },
  };
}

function sendStatement(ctx: Context, jwt: string): void {
  ctx.status = 200;
  ctx.type = ENTITY_STATEMENT_MEDIA_TYPE;
  ctx.set('Cache-Control', 'no-cache');
  ctx.body = jwt;
}

/**
 * A koa router serving the endpoints; mount with `app.use(router.routes())`.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { federationRouter } from './endpoints.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const identity: NodeIdentity;
 * const app = new Koa();
 * app.use(federationRouter({ identity, entityId: 'https://anchor.example', metadata: {} }).routes());
 * ```
 */
export function federationRouter(options: FederationEndpointsOptions | FederationEndpoints): Router {
  const endpoints = 'fetchSubordinate' in options ? options : federationEndpoints(options);
  const onError = 'fetchSubordinate' in options ? undefined : options.onError;
  const router = new Router();
  router.get(WELL_KNOWN_PATH, async (ctx) => {
    try {
      sendStatement(ctx, await endpoints.entityConfiguration());
    } catch (err) {
      onError?.(err);
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'the entity configuration could not be issued' };
    }
  });
  router.get(FETCH_PATH, async (ctx) => {
    const answer = await endpoints.fetchSubordinate(ctx.query.sub);
    if (answer.status === 200) return sendStatement(ctx, answer.jwt);
    ctx.status = answer.status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: answer.error, error_description: answer.error_description };
  });
  return router;
}
