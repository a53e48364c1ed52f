/**
 * The node's embedded OAuth 2.0 authorization server: oidc-provider,
 * configured (provider-config.ts) and mounted under the issuer's path on the
 * node's one listener. See PRODUCT.md §4.
 *
 * Routing (done by `handle`):
 * - `{mount}/interaction/…`  → our login page (interactions.ts)
 * - `{mount}/…`              → oidc-provider, with the prefix stripped (`/auth`, `/token`, `/reg`,
 *                              `/jwks`, `/.well-known/openid-configuration`, …)
 * - `/.well-known/oauth-authorization-server{mount}` → the RFC 8414 metadata (same document)
 *
 * Every URL the provider prints is built from the issuer, never from the
 * request's Host header or X-Forwarded-* (which `handle` overwrites), so a
 * client cannot make the server advertise its endpoints elsewhere.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { StateStore } from './adapter.js';
import { Directory } from './directory.js';
import { AuthorizationServerError } from './errors.js';
import { interactionHandler } from './interactions.js';
import { loadOrCreateCookieKey, loadOrCreateSigningKeys } from './keys.js';
import { errorPage, sendHtml } from './pages.js';
import { providerConfiguration } from './provider-config.js';
import type { AuthorizationServer, AuthorizationServerConfig } from './types.js';

export type { AuthorizationServer, AuthorizationServerConfig, AgentClient, LocalUser } from './types.js';
export { AuthorizationServerError, type AuthorizationServerErrorCode } from './errors.js';
export { hashPassword, verifyPassword } from './password.js';

const OAUTH_METADATA = '/.well-known/oauth-authorization-server';

export interface AuthorizationServerOptions {
  /** Failures that are bugs (logged by the caller), never shown to clients. */
  onInternalError?: (err: unknown) => void;
  /** Prefixed to the field paths of config errors, e.g. `/auth/authorizationServer/`. */
  configPath?: string;
}

function checkIssuer(issuer: string): URL {
  const url = URL.parse(issuer);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
    throw new AuthorizationServerError('invalid_config', `issuer: expected an http(s) URL without query or fragment, got ${JSON.stringify(issuer)}`);
  }
  if (url.pathname === '/' || url.pathname.endsWith('/')) {
    throw new AuthorizationServerError('invalid_config', `issuer: expected a path prefix such as ${url.origin}/oauth (no trailing slash), got ${JSON.stringify(issuer)}`);
  }
  return url;
}

/**
 * Starts the authorization server (keys created on first start in `dataDir`).
 * A bad config throws `AuthorizationServerError` (`invalid_config`) naming the field.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { jwtVerify } from 'jose';
 * import { createAuthorizationServer, hashPassword } from './index.js';
 *
 * const as = await createAuthorizationServer({
 *   issuer: 'http://127.0.0.1:7300/oauth',
 *   resource: 'http://127.0.0.1:7300/mcp',
 *   users: [{ username: 'ada', passwordHash: await hashPassword('s3cret-pass'), groups: ['eng'], scopes: ['mcp:tool:weather:read'] }],
 *   clients: [],
 *   scopesSupported: () => ['mcp:tool:weather:read'],
 *   dataDir: '/var/lib/toolmesh',
 * });
 * createServer((req, res) => {
 *   if (as.owns((req.url ?? '/').split('?')[0]!)) return as.handle(req, res);
 *   res.writeHead(404).end();
 * }).listen(7300, '127.0.0.1');
 * const verify = (token: string) => jwtVerify(token, as.localKeys(), { issuer: as.issuer, audience: 'http://127.0.0.1:7300/mcp', typ: 'at+jwt' });
 * ```
 */
export async function createAuthorizationServer(config: AuthorizationServerConfig, options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const issuerUrl = checkIssuer(config.issuer);
  if (!URL.parse(config.resource)) throw new AuthorizationServerError('invalid_config', `resource: not an absolute URI: ${JSON.stringify(config.resource)}`);
  const ttl = config.accessTokenTtlSeconds ?? 600;
  if (!Number.isSafeInteger(ttl) || ttl < 1) throw new AuthorizationServerError('invalid_config', `accessTokenTtlSeconds: expected a positive integer, got ${ttl}`);
  const directory = new Directory(config.users, config.clients, options.configPath);
  const mountPath = issuerUrl.pathname;
  const issuer = `${issuerUrl.origin}${mountPath}`;

  const [keys, cookieKey] = await Promise.all([loadOrCreateSigningKeys(config.dataDir), loadOrCreateCookieKey(config.dataDir)]);
  const store = new StateStore({ clientsFile: join(config.dataDir, 'oauth-clients.json') });
  await store.load();

  const provider = new Provider(
    issuer,
    providerConfiguration({ resource: config.resource, mountPath, directory, store, keys, cookieKey, scopesSupported: config.scopesSupported, accessTokenTtlSeconds: ttl }),
  );
  // The headers handle() sets from the issuer are the ones Koa then trusts (protocol → secure cookies, host → URLs).
  provider.proxy = true;
  // Hashed agent secrets: oidc-provider only compares clear secrets, so the directory decides.
  provider.Client.prototype.compareClientSecret = function (this: { clientId: string }, actual: string) {
    return directory.agentSecretMatches(this.clientId, actual);
  };
  // Scopes come and go with the registry: advertise the current ones.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as { scopes_supported?: string[] };
      body.scopes_supported = [...new Set([...(body.scopes_supported ?? []), ...config.scopesSupported()])];
    }
  });
  if (options.onInternalError) provider.on('server_error', (_ctx, err) => options.onInternalError?.(err));

  const callback = provider.callback();
  const interactions = interactionHandler({ provider, directory, mountPath, ...(options.onInternalError ? { onInternalError: options.onInternalError } : {}) });
  const metadataPath = `${OAUTH_METADATA}${mountPath}`;
  const forwardedProto = issuerUrl.protocol.slice(0, -1);

  const owns = (path: string) => path === mountPath || path.startsWith(`${mountPath}/`) || path === metadataPath;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (!owns(path)) return sendHtml(res, 404, errorPage('Not found', 'No such page.'));
    if (path === metadataPath) url = `${mountPath}${OAUTH_METADATA}${q < 0 ? '' : url.slice(q)}`;
    req.headers['x-forwarded-proto'] = forwardedProto;
    req.headers['x-forwarded-host'] = issuerUrl.host;
    delete req.headers['x-forwarded-for'];
    const rest = url.slice(mountPath.length);
    if (rest.startsWith('/interaction/')) {
      void interactions(req, res, path.slice(mountPath.length));
      return;
    }
    // As Express's mount does: the provider routes on the rest and prefixes its URLs with baseUrl.
    (req as IncomingMessage & { baseUrl?: string }).baseUrl = mountPath;
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    void callback(req, res);
  };

  return {
    issuer,
    metadataPath,
    owns,
    handle,
    localKeys: () => keys.getKey,
    close: () => store.flush(),
  };
}
