/**
 * Open dynamic client registration (RFC 7591) is for public MCP clients only:
 *
 * - `token_endpoint_auth_method` is `none` (the default here): no client secrets are handed out;
 * - grant types are `authorization_code` (+ `refresh_token`), response type `code`; PKCE is
 *   required of every client by the provider;
 * - every redirect URI is `https:`, or `http:` on a loopback host (RFC 8252 §7.3);
 * - a registered `scope` is dropped: what a token carries is decided per person at sign-in
 *   (requested ∩ supported ∩ allowed), and registry scopes (`mcp:tool:…`) come and go, so
 *   oidc-provider's check of `scope` against its static list would refuse MCP clients.
 *
 * Agents that need client_credentials are configured, never registered.
 * Runs as oidc-provider's `extraClientMetadata.validator` (synchronous by contract),
 * which it calls with a context only on registration requests.
 */
import { errors, type KoaContextWithOIDC, type ClientMetadata } from 'oidc-provider';

/** The metadata key the validator is attached to; its value is checked like any other. */
export const POLICY_PROPERTY = 'token_endpoint_auth_method';

const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function refuse(description: string): never {
  throw new errors.InvalidClientMetadata(description);
}

export function publicClientRegistrationPolicy(ctx: KoaContextWithOIDC | undefined, _key: string, _value: unknown, metadata: ClientMetadata): void {
  if (ctx === undefined) return; // configured clients, or clients loaded from storage
  delete metadata.scope;
  if (metadata.token_endpoint_auth_method !== 'none') refuse('only public clients may register: token_endpoint_auth_method must be none');
  const grantTypes = metadata.grant_types ?? ['authorization_code'];
  if (!Array.isArray(grantTypes) || grantTypes.some((g) => !GRANT_TYPES.has(g))) {
    refuse('grant_types may only contain authorization_code and refresh_token');
  }
  const responseTypes = metadata.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code')) refuse('response_types may only contain code');
  const uris = metadata.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) refuse('redirect_uris must contain members');
  for (const uri of uris) {
    const url = typeof uri === 'string' ? URL.parse(uri) : null;
    if (!url) refuse('redirect_uris must only contain valid URIs');
    if (url.protocol === 'https:') continue;
    if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) continue;
    refuse('redirect_uris must use https, or http on a loopback address (127.0.0.1, [::1], localhost)');
  }
}
