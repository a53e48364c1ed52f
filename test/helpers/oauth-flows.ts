/**
 * OAuth flows against real authorization servers, for end-to-end tests:
 * - an in-memory `OAuthClientProvider` for the unchanged MCP SDK v1 client;
 * - a person's authorization code + PKCE flow at the node's embedded
 *   authorization server (dynamic registration, login page in a test browser);
 * - client credentials at any token endpoint;
 * - a person's code flow at the test "corporate IdP" (test/auth/oidc-idp.ts,
 *   oidc-provider's dev interactions) with the scopes the test chooses.
 * Endpoints always come from the authorization server's metadata.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { TestBrowser, loginForm } from '../auth/oauth-browser.js';
import { WEB_CLIENT } from '../auth/oidc-idp.js';

export const REDIRECT_URI = 'http://127.0.0.1:1/callback';

export interface AsMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint?: string;
  [key: string]: unknown;
}

export interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
  token_type: string;
  expires_in?: number;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** RFC 8414 metadata of an issuer with a path (`{origin}/.well-known/oauth-authorization-server{path}`), else OIDC discovery. */
export async function discover(issuer: string): Promise<AsMetadata> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  for (const candidate of [`${url.origin}/.well-known/oauth-authorization-server${path}`, `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`]) {
    const res = await fetch(candidate);
    if (res.status === 200) return (await res.json()) as AsMetadata;
    await res.body?.cancel();
  }
  throw new Error(`no authorization server metadata for ${issuer}`);
}

async function tokenRequest(endpoint: string, params: Record<string, string>, basic?: { id: string; secret: string }): Promise<TokenResponse> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basic ? { authorization: `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${text}`);
  return JSON.parse(text) as TokenResponse;
}

/** The client_credentials grant (client_secret_basic). */
export function clientCredentials(
  meta: AsMetadata,
  client: { id: string; secret: string },
  params: { scope?: string; resource?: string } = {},
): Promise<TokenResponse> {
  return tokenRequest(
    meta.token_endpoint,
    { grant_type: 'client_credentials', ...(params.scope ? { scope: params.scope } : {}), ...(params.resource ? { resource: params.resource } : {}) },
    client,
  );
}

/**
 * A person signs in at the embedded authorization server: a public client is
 * registered dynamically, the browser opens the authorization URL, the login
 * form is submitted, and the code is exchanged with its PKCE verifier.
 */
export async function personToken(
  meta: AsMetadata,
  login: { username: string; password: string },
  params: { scope: string; resource: string },
): Promise<TokenResponse> {
  const reg = await fetch(meta.registration_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'e2e test client', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' }),
  });
  if (reg.status !== 201) throw new Error(`registration failed: ${reg.status} ${await reg.text()}`);
  const clientId = ((await reg.json()) as { client_id: string }).client_id;
  const { verifier, challenge } = pkce();
  const authorize = new URL(meta.authorization_endpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: params.scope,
    resource: params.resource,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  const code = await signIn(new TestBrowser(), authorize.href, login);
  return tokenRequest(meta.token_endpoint, {
    grant_type: 'authorization_code',
    client_id: clientId,
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    resource: params.resource,
  });
}

/** Opens an authorization URL of the embedded authorization server, signs in, returns the code. */
export async function signIn(browser: TestBrowser, authorizationUrl: string, login: { username: string; password: string }): Promise<string> {
  const landing = await browser.navigate(authorizationUrl);
  const form = loginForm(landing.body, landing.url);
  if (!form) throw new Error(`no login form at ${landing.url} (${landing.response.status}): ${landing.body.slice(0, 300)}`);
  const done = await browser.submit(form.action, { username: login.username, password: login.password });
  const code = done.redirectedTo?.searchParams.get('code');
  if (!code) throw new Error(`no code after sign-in: ${done.hops.map((h) => `${h.status} ${h.url}`).join(' → ')} ${done.redirectedTo?.href ?? ''}`);
  return code;
}

/**
 * A person's code flow (PKCE, nonce) at the test IdP of test/auth/oidc-idp.ts
 * with the scopes the caller asks for; login and consent through
 * oidc-provider's dev interactions (any password).
 */
export async function idpPersonTokens(issuer: string, login: string, params: { scope: string; resource: string }): Promise<TokenResponse> {
  const meta = await discover(issuer);
  const { verifier, challenge } = pkce();
  const authorize = new URL(meta.authorization_endpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: WEB_CLIENT.id,
    redirect_uri: WEB_CLIENT.redirect,
    scope: `openid ${params.scope}`,
    resource: params.resource,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    nonce: randomBytes(8).toString('hex'),
  }).toString();
  const browser = new TestBrowser();
  let landing = await browser.navigate(authorize.href);
  for (const prompt of ['login', 'consent']) {
    if (landing.redirectedTo) break;
    if (landing.response.status !== 200) throw new Error(`IdP ${prompt}: HTTP ${landing.response.status} at ${landing.url}`);
    landing = await browser.submit(landing.url, prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
  }
  const code = landing.redirectedTo?.searchParams.get('code');
  if (!code) throw new Error(`IdP flow ended without a code at ${landing.url}: ${landing.body.slice(0, 300)}`);
  return tokenRequest(
    meta.token_endpoint,
    { grant_type: 'authorization_code', code, redirect_uri: WEB_CLIENT.redirect, code_verifier: verifier, resource: params.resource },
    { id: WEB_CLIENT.id, secret: WEB_CLIENT.secret },
  );
}

/** What the MCP SDK v1 client keeps between its OAuth steps, in memory. */
export class InMemoryOAuthProvider implements OAuthClientProvider {
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  authorizationUrl: URL | undefined;
  readonly redirectUrl = 'http://127.0.0.1:1/mcp-callback';
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: 'MCP SDK e2e client',
    redirect_uris: [this.redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
}
