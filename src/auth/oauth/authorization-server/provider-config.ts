/**
 * The oidc-provider configuration of the embedded authorization server: what
 * is enabled and the policy hooks, in one table. Protocol work (PKCE, code
 * exchange, client authentication, token formats, discovery) is oidc-provider's.
 *
 * Policy:
 * - grants: authorization_code (+ refresh_token) for people, client_credentials for configured agents;
 * - PKCE (S256) required of every client; response type `code` only;
 * - one resource (RFC 8707), the gateway: every access token is an ES256 JWT (`typ: at+jwt`)
 *   with `aud` = that resource; other resource indicators are `invalid_target`;
 * - a token's scopes = requested ∩ `scopesSupported()` (now) ∩ the principal's allowed scopes;
 * - `groups` from the config of the user (code flow) or agent (client_credentials);
 * - open registration for public clients only (registration-policy.ts);
 * - a person signs in (types the password on a page naming the client) the first time each
 *   client asks in a browser session; only then are later requests of that client silent.
 *   With open registration and implicit consent, silent sign-on for any client would let
 *   any web page obtain a signed-in person's tokens through a client it registered.
 */
import { randomBytes } from 'node:crypto';
import { errors, interactionPolicy, type Configuration, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import type { StateStore } from './adapter.js';
import type { Directory, Principal } from './directory.js';
import { interactionUrl } from './interactions.js';
import { errorPage } from './pages.js';
import { POLICY_PROPERTY, publicClientRegistrationPolicy } from './registration-policy.js';
import { SIGNING_ALG, type SigningKeys } from './keys.js';

export interface ProviderConfigInput {
  resource: string;
  mountPath: string;
  directory: Directory;
  store: StateStore;
  keys: SigningKeys;
  cookieKey: string;
  scopesSupported: () => string[];
  accessTokenTtlSeconds: number;
}

const HOUR = 3600;

/** The static clients oidc-provider knows: one per configured agent, client_credentials only. */
function agentClients(directory: Directory): ClientMetadata[] {
  return directory.agentIds.map((clientId) => ({
    client_id: clientId,
    // Never used to authenticate: compareClientSecret is replaced by the directory's check
    // (which supports hashed secrets); oidc-provider insists on a value for secret-based methods.
    client_secret: randomBytes(32).toString('base64url'),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  }));
}

/** oidc-provider's login and consent prompts, plus: sign in to approve a client new to this session. */
function promptPolicy(): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check('client_not_approved', 'sign in to approve this client', (ctx) => {
      const { oidc } = ctx;
      if (oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT; // signed in during this request
      const approved = oidc.session?.accountId !== undefined && oidc.client !== undefined && oidc.session.grantIdFor(oidc.client.clientId) !== undefined;
      return approved ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

export function providerConfiguration(input: ProviderConfigInput): Configuration {
  const { resource, mountPath, directory, store, keys, cookieKey, scopesSupported, accessTokenTtlSeconds } = input;

  const principalOf = (ctx: KoaContextWithOIDC, clientId: string): Principal | undefined => {
    const agent = directory.agent(clientId);
    if (agent) return agent;
    const accountId = ctx.oidc.entities.Account?.accountId;
    return accountId === undefined ? undefined : directory.user(accountId);
  };

  return {
    adapter: store.adapterFor,
    clients: agentClients(directory),
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: SIGNING_ALG,
    },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access'],
    jwks: { keys: keys.privateJwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: { keys: [cookieKey] },
    interactions: { policy: promptPolicy(), url: (_ctx, interaction) => interactionUrl(mountPath, interaction.uid) },
    findAccount: (_ctx, sub) => (directory.user(sub) ? { accountId: sub, claims: () => ({ sub }) } : undefined),
    extraTokenClaims: (_ctx, token) => {
      // People's tokens carry their account; client_credentials tokens only the agent's client id.
      const accountId = 'accountId' in token ? token.accountId : undefined;
      const principal = accountId ? directory.user(accountId) : token.clientId ? directory.agent(token.clientId) : undefined;
      return { groups: principal ? [...principal.groups] : [] };
    },
    // People keep working for as long as their sign-in session: refresh tokens go to every
    // client registered for them, without asking for offline_access (they still end with the session).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    extraClientMetadata: { properties: [POLICY_PROPERTY], validator: publicClientRegistrationPolicy },
    // Browser-based public clients may call the token endpoint from their redirect URIs' origins; agents never need CORS.
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' && client.clientAuthMethod === 'none' && (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage('Authorization failed', out.error_description ?? out.error);
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator, client) => {
          if (indicator !== resource) throw new errors.InvalidTarget(`the only resource here is ${resource}`);
          // Agents, and people once known (token endpoint), are limited here; during the authorization
          // request the person is not known yet and the implicit consent limits the grant instead.
          const principal = principalOf(ctx, client.clientId);
          const supported = scopesSupported();
          const scope = principal ? supported.filter((s) => principal.scopes.has(s)) : supported;
          return {
            scope: scope.join(' '),
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: accessTokenTtlSeconds,
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },
    ttl: {
      AccessToken: () => accessTokenTtlSeconds,
      ClientCredentials: () => accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: accessTokenTtlSeconds,
      Interaction: 10 * 60,
      Session: 12 * HOUR,
      RefreshToken: 12 * HOUR,
      Grant: 24 * HOUR,
    },
  };
}
