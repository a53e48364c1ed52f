/**
 * A real OpenID Provider (oidc-provider) on 127.0.0.1 for the OAuth tests:
 * issues JWT access tokens (client credentials, authorization code) for one
 * resource, counts requests per path (discovery, JWKS), and — since the test
 * holds its private key — can forge-sign hostile variants with the IdP's key.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';
import * as client from 'openid-client';

export interface TestIdp {
  issuer: string;
  /** The signing key the provider uses (its private JWK is configured in the provider). */
  privateKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
  /** Requests served, by path. */
  hits: Map<string, number>;
  /** Number of JWKS fetches served. */
  jwksFetches(): number;
  /** A client-credentials access token (an agent: `sub === client_id`). */
  clientCredentialsToken(scope?: string): Promise<string>;
  /** A person's tokens from an authorization-code flow with PKCE (login + consent through the dev interactions). */
  authorizationCode(login: string): Promise<{ accessToken: string; idToken: string }>;
  /** Signs arbitrary claims with the IdP's own key (ES256, `kid`, `typ: at+jwt` unless overridden). */
  sign(payload: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export const CC_CLIENT = { id: 'agent-client', secret: 'agent-secret-0123456789' };
export const WEB_CLIENT = { id: 'web-client', secret: 'web-secret-0123456789', redirect: 'http://127.0.0.1/callback' };
export const GROUPS = ['eng', 'mcp-users'];

export async function startIdp(options: { resource: string; scope?: string; accessTokenTtl?: number }): Promise<TestIdp> {
  const hits = new Map<string, number>();
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    handler!(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kid = `idp-key-${Math.random().toString(36).slice(2, 10)}`;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const scope = options.scope ?? 'mcp:tool:a:read mcp:tool:b:read';

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CC_CLIENT.id,
        client_secret: CC_CLIENT.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: WEB_CLIENT.id,
        client_secret: WEB_CLIENT.secret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [WEB_CLIENT.redirect],
      },
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    ttl: {
      AccessToken: () => options.accessTokenTtl ?? 300,
      ClientCredentials: () => options.accessTokenTtl ?? 300,
      Grant: () => 600,
      IdToken: () => 600,
      Interaction: () => 600,
      Session: () => 600,
    },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    // People get groups; client-credentials tokens (no account) do not.
    extraTokenClaims: (_ctx, token) => ('accountId' in token && token.accountId ? { groups: GROUPS } : undefined),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope,
          audience: options.resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: options.accessTokenTtl ?? 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  handler = provider.callback();

  let config: client.Configuration | undefined;
  let webConfig: client.Configuration | undefined;
  const ccConfig = async () =>
    (config ??= await client.discovery(new URL(issuer), CC_CLIENT.id, CC_CLIENT.secret, undefined, {
      execute: [client.allowInsecureRequests],
    }));
  const webClientConfig = async () =>
    (webConfig ??= await client.discovery(new URL(issuer), WEB_CLIENT.id, WEB_CLIENT.secret, undefined, {
      execute: [client.allowInsecureRequests],
    }));

  return {
    issuer,
    privateKey,
    privateJwk,
    publicJwk,
    kid,
    hits,
    jwksFetches: () => hits.get('/jwks') ?? 0,
    async clientCredentialsToken(requested = 'mcp:tool:a:read') {
      const tokens = await client.clientCredentialsGrant(await ccConfig(), { scope: requested, resource: options.resource });
      return tokens.access_token;
    },
    async authorizationCode(login) {
      const cfg = await webClientConfig();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const authUrl = client.buildAuthorizationUrl(cfg, {
        redirect_uri: WEB_CLIENT.redirect,
        scope: 'openid mcp:tool:a:read',
        resource: options.resource,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
      });
      const callback = await driveBrowser(authUrl, login);
      const tokens = await client.authorizationCodeGrant(cfg, callback, {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
      }, { resource: options.resource });
      return { accessToken: tokens.access_token, idToken: tokens.id_token! };
    },
    sign(payload, header = {}) {
      return forge(privateKey, { alg: 'ES256', kid, typ: 'at+jwt', ...header }, payload);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/**
 * An ES256 compact JWS over exactly `header` and `payload`, signed with raw
 * WebCrypto — no library in between to refuse hostile headers (`crit`, `jku`, …).
 */
export async function forge(key: CryptoKey, header: Record<string, unknown>, payload: JWTPayload): Promise<string> {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/**
 * Plays the user agent through the dev interactions: login, then consent,
 * following redirects with a cookie jar, until the redirect to the client.
 */
async function driveBrowser(start: URL, login: string): Promise<URL> {
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const remember = (res: Response) => {
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  };
  let url = start;
  let prompts = ['login', 'consent'];
  for (let step = 0; step < 12; step++) {
    if (url.href.startsWith(WEB_CLIENT.redirect)) return url;
    let res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader() } });
    remember(res);
    if (url.pathname.startsWith('/interaction/') && res.status === 200) {
      await res.text();
      const prompt = prompts.shift();
      if (!prompt) throw new Error('unexpected extra interaction');
      const body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'x' } : { prompt });
      res = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      remember(res);
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`authorization flow stuck at ${url.pathname}: HTTP ${res.status} ${await res.text()}`);
    await res.body?.cancel();
    url = new URL(location, url);
  }
  throw new Error('authorization flow did not finish');
}
