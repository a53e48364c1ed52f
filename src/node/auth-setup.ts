/**
 * Composes the node's authentication: trusted issuers and the JWT verifier,
 * tenant API keys, mTLS agents, the RFC 9728 metadata routes, and the admin
 * API's authentication. One resource URI (`auth.resource`, default
 * `{publicUrl}/mcp`) covers every MCP endpoint of the gateway: tokens are
 * audience-bound to it, and every 401 points at its metadata.
 */
import type { ServerDirectory } from '../registry/directory.js';
import type { IncomingMessage } from 'node:http';
import type Router from '@koa/router';
import type { NodeConfig } from '../config/config.js';
import type { Store } from '../store/db.js';
import type { AuthenticateDeps } from '../gateway/policy/authenticate.js';
import { presentedCredential } from '../gateway/policy/authenticate.js';
import { API_KEY_PREFIX } from '../auth/authenticator.js';
import type { Identity } from '../auth/identity.js';
import { SCOPE_ADMIN, toolScope } from '../auth/identity.js';
import { TrustedIssuers } from '../auth/oauth/issuers.js';
import { JwtVerifier } from '../auth/oauth/jwt-verifier.js';
import { protectedResourceMetadata, protectedResourceRoutes, PROTECTED_RESOURCE_WELL_KNOWN } from '../auth/oauth/protected-resource.js';
import { ApiKeys } from '../auth/apikeys/api-keys.js';
import { loadOrCreatePepper } from '../auth/apikeys/pepper.js';
import { apiKeyRoutes } from '../admin/credentials-keys-routes.js';
import { matchMcpPath } from '../gateway/routing/endpoint.js';
import { Agents } from '../auth/mtls/agents.js';
import { agentRoutes } from '../admin/credentials-agents-routes.js';

export interface NodeAuth {
  resource: string;
  resourceMetadataUrl: string;
  issuers: TrustedIssuers;
  jwt: JwtVerifier;
  apiKeys: ApiKeys;
  agents: Agents;
  authentication: AuthenticateDeps;
  /** Resolves the caller of an admin request from its credential (no anonymous). */
  identify(req: IncomingMessage): Promise<Identity | undefined>;
  isAdmin(identity: Identity): boolean;
  routers: Router[];
  adminRouters: Router[];
}

/** Every scope the gateway understands right now: admin, and read/write per registered server. */
export function scopesSupported(registry: Pick<ServerDirectory, 'slugs'>): string[] {
  return [SCOPE_ADMIN, ...registry.slugs().flatMap((slug) => [toolScope(slug, 'read'), toolScope(slug, 'write')])];
}

/**
 * `servers` is read on each request: the node's own servers and, once federation is up, its peers'
 * (their scopes and per-server metadata paths exist like local ones).
 */
export async function setupAuth(config: NodeConfig, store: Store, servers: () => Pick<ServerDirectory, 'slugs' | 'versions'>, publicUrl: string, extraIssuers: string[] = []): Promise<NodeAuth> {
  const resource = config.auth.resource || `${publicUrl}/mcp`;
  const metadataUrl = `${publicUrl}${PROTECTED_RESOURCE_WELL_KNOWN}${new URL(resource).pathname.replace(/\/$/, '')}`;
  const issuers = new TrustedIssuers(config.auth.issuers, {
    jwksCooldownMs: config.auth.jwksCooldownSeconds * 1000,
    allowInsecureHttp: config.auth.allowInsecureIssuers,
  });
  const jwt = new JwtVerifier(issuers, { audience: resource, clockSkewSeconds: config.auth.clockSkewSeconds });
  const apiKeys = new ApiKeys(store, await loadOrCreatePepper(config.dataDir));
  await apiKeys.load();
  const agents = new Agents(store);
  await agents.load();

  const metadata = () =>
    protectedResourceMetadata({
      resource,
      // The embedded AS is both an extra issuer and (once added as local) a trusted one: list it once.
      authorizationServers: [...new Set([...extraIssuers, ...issuers.list()])],
      scopesSupported: scopesSupported(servers()),
      resourceName: 'Toolmesh MCP gateway',
    });
  // One protected resource, the gateway: every MCP endpoint's metadata names it. A per-server
  // form for a server that is not registered does not exist (404).
  const prmRoutes = protectedResourceRoutes((path) => {
    if (extraIssuers.length + issuers.list().length === 0) return undefined;
    const endpoint = matchMcpPath(path);
    if (!endpoint || (endpoint.kind === 'server' && servers().versions(endpoint.slug).length === 0)) return undefined;
    return metadata();
  });

  const authentication: AuthenticateDeps = {
    jwt,
    apiKeys,
    agents,
    anonymous: config.auth.anonymous,
    resourceMetadataUrl: () => metadataUrl,
  };

  const identify = async (req: IncomingMessage): Promise<Identity | undefined> => {
    const credential = presentedCredential(req);
    if (credential.bearer !== undefined) {
      return credential.bearer.startsWith(API_KEY_PREFIX) ? apiKeys.authenticate(req, credential) : jwt.authenticate(req, credential);
    }
    return agents.authenticate(req, credential);
  };

  return {
    resource,
    resourceMetadataUrl: metadataUrl,
    issuers,
    jwt,
    apiKeys,
    agents,
    authentication,
    identify,
    // Tenants never administer the node, whatever their key says.
    isAdmin: (identity) =>
      identity.kind !== 'apikey' && identity.kind !== 'anonymous' && (identity.scopes.includes(SCOPE_ADMIN) || identity.groups.some((g) => config.auth.adminGroups.includes(g))),
    routers: [prmRoutes],
    adminRouters: [apiKeyRoutes(apiKeys), agentRoutes(agents)],
  };
}
