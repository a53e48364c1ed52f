/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoints, and
 * the `WWW-Authenticate` challenges that point clients at it (RFC 6750 §3,
 * RFC 9728 §5.1, MCP authorization spec).
 *
 *   GET /.well-known/oauth-protected-resource                              the aggregate `/mcp`
 *   GET /.well-known/oauth-protected-resource/mcp                          the same, path-inserted (RFC 9728 §3.1)
 *   GET /.well-known/oauth-protected-resource/mcp/v{N}/tools/{slug}/rpc    one tool server
 *
 * Anything else under the prefix is a 404. Documents are public: CORS
 * `Access-Control-Allow-Origin: *` (browser-based MCP clients fetch them,
 * with an `MCP-Protocol-Version` header, hence the preflight answer).
 */
import Router from '@koa/router';
import type { Context } from 'koa';

export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceMetadataInput {
  /** The protected resource's identifier: the URL of the MCP endpoint. */
  resource: string;
  /** Issuer identifiers of the authorization servers whose tokens the resource accepts. */
  authorizationServers: string[];
  scopesSupported: string[];
  resourceName?: string;
}

/** The RFC 9728 §2 document (the members this gateway publishes). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
}

/**
 * The metadata document of one MCP endpoint.
 *
 * @example
 * ```ts
 * const doc = protectedResourceMetadata({
 *   resource: 'https://gw.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com'],
 *   scopesSupported: ['mcp:tool:github:read'],
 * });
 * doc.bearer_methods_supported; // ['header']
 * ```
 */
export function protectedResourceMetadata(input: ProtectedResourceMetadataInput): ProtectedResourceMetadata {
  const resource = absoluteUrl(input.resource, 'resource');
  if (resource.hash !== '' || input.resource.includes('#')) throw new TypeError('resource: must not have a fragment (RFC 9728 §1.2)');
  if (!Array.isArray(input.authorizationServers) || input.authorizationServers.length === 0) {
    // The MCP authorization spec requires at least one.
    throw new TypeError('authorizationServers: at least one authorization server is required');
  }
  input.authorizationServers.forEach((as, i) => absoluteUrl(as, `authorizationServers[${i}]`));
  return {
    resource: input.resource,
    authorization_servers: [...input.authorizationServers],
    scopes_supported: [...new Set(input.scopesSupported)],
    // Tokens in the Authorization header only: never in a query string or form body.
    bearer_methods_supported: ['header'],
    ...(input.resourceName !== undefined ? { resource_name: input.resourceName } : {}),
  };
}

/** The endpoint paths that have metadata: the aggregate server and each tool server. */
const RESOURCE_PATH = /^\/mcp(?:\/v(?:0|[1-9][0-9]{0,8})\/tools\/(?:[a-z0-9-]{1,63}\.)?[a-z0-9-]{1,63}\/rpc)?$/;
const ROUTE = /^\/\.well-known\/oauth-protected-resource(\/.*)?$/;

/**
 * Routes serving the metadata. `getMetadata` receives the endpoint path
 * (`/mcp` or `/mcp/v{N}/tools/{slug}/rpc`) and returns its document, or
 * `undefined` when there is no such endpoint (→ 404).
 */
export function protectedResourceRoutes(getMetadata: (resourcePath: string) => object | undefined): Router {
  const router = new Router();
  router.get(ROUTE, (ctx) => {
    cors(ctx);
    const rest = ctx.path.slice(PROTECTED_RESOURCE_WELL_KNOWN.length);
    const resourcePath = rest === '' ? '/mcp' : rest;
    const metadata = RESOURCE_PATH.test(resourcePath) ? getMetadata(resourcePath) : undefined;
    if (metadata === undefined) {
      ctx.status = 404;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: { code: 'not_found', message: 'No protected resource at this path' } };
      return;
    }
    ctx.status = 200;
    // Scopes change when servers are registered; keep caches short.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = metadata;
  });
  router.options(ROUTE, (ctx) => {
    cors(ctx);
    ctx.set('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'mcp-protocol-version, accept');
    ctx.set('Access-Control-Max-Age', '86400');
    ctx.status = 204;
  });
  return router;
}

function cors(ctx: Context): void {
  ctx.set('Access-Control-Allow-Origin', '*');
}

/**
 * The URL of an endpoint's metadata (RFC 9728 §3.1: the well-known suffix is
 * inserted between the host and the path of the resource URL).
 *
 * @example
 * ```ts
 * resourceMetadataUrl('https://gw.example.com', '/mcp/v1/tools/github/rpc');
 * // 'https://gw.example.com/.well-known/oauth-protected-resource/mcp/v1/tools/github/rpc'
 * ```
 */
export function resourceMetadataUrl(publicUrl: string, endpointPath: string): string {
  const resource = new URL(resourceUrl(publicUrl, endpointPath));
  const path = resource.pathname === '/' ? '' : resource.pathname;
  return `${resource.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}`;
}

/** The resource identifier of an endpoint: `publicUrl` + `endpointPath`. */
export function resourceUrl(publicUrl: string, endpointPath: string): string {
  const base = absoluteUrl(publicUrl, 'publicUrl');
  if (!endpointPath.startsWith('/')) throw new TypeError('endpointPath: must start with "/"');
  return `${base.origin}${base.pathname.replace(/\/$/, '')}${endpointPath}`;
}

/**
 * The 401 challenge. Without `error` it tells a client that has sent no
 * token where to start; with `error: 'invalid_token'` it also says why the
 * presented token was refused.
 *
 * @example
 * ```ts
 * bearerChallenge401({ resourceMetadataUrl: 'https://gw.example.com/.well-known/oauth-protected-resource/mcp' });
 * // 'Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp"'
 * ```
 */
export function bearerChallenge401(options: {
  resourceMetadataUrl: string;
  error?: 'invalid_token';
  description?: string;
  /** Scopes to request (MCP: SHOULD be given so a client asks for enough). */
  scopes?: string[];
}): string {
  const params: [string, string][] = [['resource_metadata', options.resourceMetadataUrl]];
  if (options.error !== undefined) {
    params.push(['error', options.error]);
    if (options.description !== undefined) params.push(['error_description', options.description]);
  }
  if (options.scopes && options.scopes.length > 0) params.push(['scope', scopeValue(options.scopes)]);
  return bearer(params);
}

/**
 * The 403 challenge for a token lacking the scopes a call needs (RFC 6750 §3.1).
 *
 * @example
 * ```ts
 * bearerChallenge403({ resourceMetadataUrl: 'https://gw.example.com/.well-known/oauth-protected-resource/mcp', scopes: ['mcp:tool:github:read'] });
 * // 'Bearer error="insufficient_scope", scope="mcp:tool:github:read", resource_metadata="…"'
 * ```
 */
export function bearerChallenge403(options: { resourceMetadataUrl: string; scopes: string[]; description?: string }): string {
  const params: [string, string][] = [['error', 'insufficient_scope']];
  if (options.description !== undefined) params.push(['error_description', options.description]);
  params.push(['scope', scopeValue(options.scopes)], ['resource_metadata', options.resourceMetadataUrl]);
  return bearer(params);
}

function bearer(params: [string, string][]): string {
  return `Bearer ${params.map(([name, value]) => `${name}=${quote(value)}`).join(', ')}`;
}

function scopeValue(scopes: string[]): string {
  return [...new Set(scopes)].join(' ');
}

/**
 * An RFC 9110 quoted-string. Characters outside printable ASCII (CR, LF and
 * every other control character included, so no header can be split) become
 * `?`; `"` and `\` are backslash-escaped.
 */
function quote(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return `"${printable.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function absoluteUrl(value: string, path: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new TypeError(`${path}: ${String(value)} is not an absolute URL`);
  }
}
