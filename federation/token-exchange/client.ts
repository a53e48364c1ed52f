/**
 * The calling node's side (PRODUCT.md §9): before a call to a peer's tool,
 * exchange a caller assertion + actor token at the peer's token endpoint for
 * the peer's own short-lived token (openid-client `genericGrantRequest`).
 * The caller's own token never leaves this node.
 *
 * - Cache keyed by (peer, caller principal, scope set; plus the caller's
 *   groups and actor chain, which the issued token encodes) until shortly
 *   before expiry ({@link refreshMargin}).
 * - Single flight: concurrent identical requests share one exchange (audited
 *   by the peer under the first request's correlation id).
 * - Errors: {@link ExchangeClientError} `trust_denied` when the peer refuses
 *   (any OAuth error with a 4xx), `upstream_unavailable` otherwise.
 */
import * as oidc from 'openid-client';
import type { Identity } from '../../src/auth/identity.js';
import type { NodeIdentity } from '../../src/node/identity.js';
import { signActorToken, signCallerAssertion } from './assertion.js';
import { GRANT_TYPE_TOKEN_EXCHANGE, LIMITS, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from './constants.js';
import { ExchangeClientError } from './errors.js';
import { parseScope } from './scopes.js';
import { refreshMargin, TokenCache, type CachedToken } from './token-cache.js';
import type { ActorLink } from './types.js';

export interface PeerTokenEndpoint {
  /** The peer's entity id: the assertion's `aud` and the exchange's `audience`. */
  entityId: string;
  /** The peer's token endpoint URL (from its metadata). */
  tokenEndpoint: string;
}

export interface TokenExchangeClientInit {
  node: NodeIdentity;
  /** Our entity id. */
  issuer: string;
  /** Our namespace. */
  namespace: string;
  /** Assertion and actor token lifetime, ≤ 60; default 60. */
  assertionTtlSeconds?: number;
  /** HTTP timeout of one exchange; default 10. */
  timeoutSeconds?: number;
  /** Default 10 000. */
  maxCacheEntries?: number;
  /** Permit `http:` token endpoints on loopback addresses only (tests, local meshes). */
  allowInsecureLoopback?: boolean;
  /** Milliseconds since the epoch (tests freeze it). */
  now?: () => number;
}

export interface ExchangeOptions {
  peer: PeerTokenEndpoint;
  /** The authenticated caller, already authorized here for the remote tool. */
  identity: Identity;
  /** The scopes the remote tool needs, in the peer's naming. */
  scopes: readonly string[];
  /** The caller's prior actors, when it arrived through a translated token. */
  actors?: readonly ActorLink[];
  /** Sent as `X-Correlation-Id` so both nodes audit under one id. */
  correlationId?: string;
}

export interface ExchangedToken {
  accessToken: string;
  /** Seconds since the epoch (by our clock, counted from the response). */
  expiresAt: number;
  /** The scopes the peer granted. */
  scopes: string[];
  /** True when answered without a new exchange (cache or another caller's flight). */
  cached: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * @example
 * ```ts
 * import { TokenExchangeClient } from './client.js';
 * import type { Identity } from '../../src/auth/identity.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const node: NodeIdentity;
 * declare const caller: Identity;
 * const client = new TokenExchangeClient({ node, issuer: 'https://a.test', namespace: 'a' });
 * const { accessToken } = await client.exchange({
 *   peer: { entityId: 'https://b.test', tokenEndpoint: 'https://b.test/federation/token' },
 *   identity: caller, scopes: ['mcp:tool:crm:read'], correlationId: 'c-1',
 * });
 * ```
 */
export class TokenExchangeClient {
  readonly #init: TokenExchangeClientInit;
  readonly #cache: TokenCache;
  readonly #now: () => number;

  constructor(init: TokenExchangeClientInit) {
    const ttl = init.assertionTtlSeconds ?? LIMITS.maxAssertionTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > LIMITS.maxAssertionTtlSeconds) {
      throw new RangeError(`assertionTtlSeconds must be an integer in 1..${LIMITS.maxAssertionTtlSeconds}`);
    }
    this.#init = init;
    this.#cache = new TokenCache(init.maxCacheEntries ?? 10_000);
    this.#now = init.now ?? Date.now;
  }

  /** Cached tokens (for metrics). */
  get size(): number {
    return this.#cache.size;
  }

  /** Forgets every cached token (trust policy change, peer key rotation). */
  clear(): void {
    this.#cache.clear();
  }

  async exchange(options: ExchangeOptions): Promise<ExchangedToken> {
    const scopes = [...new Set(options.scopes)].sort();
    const key = JSON.stringify([
      options.peer.entityId,
      options.peer.tokenEndpoint,
      options.identity.principal,
      scopes,
      [...options.identity.groups].sort(),
      options.actors ?? [],
    ]);
    const { entry, fresh } = await this.#cache.getOrLoad(key, () => this.#seconds(), () => this.#exchange(options, scopes));
    return { accessToken: entry.accessToken, expiresAt: entry.expiresAt, scopes: entry.scopes, cached: !fresh };
  }

  async #exchange(options: ExchangeOptions, scopes: string[]): Promise<CachedToken> {
    const { peer } = options;
    const url = endpointUrl(peer.tokenEndpoint, this.#init.allowInsecureLoopback === true);
    const signer = {
      node: this.#init.node,
      issuer: this.#init.issuer,
      namespace: this.#init.namespace,
      audience: peer.entityId,
      ttlSeconds: this.#init.assertionTtlSeconds ?? LIMITS.maxAssertionTtlSeconds,
      now: this.#now,
    };
    const [subjectToken, actorToken] = await Promise.all([
      signCallerAssertion(options.identity, { ...signer, scopes, ...(options.actors ? { actors: options.actors } : {}) }),
      signActorToken(signer),
    ]);

    const config = new oidc.Configuration({ issuer: peer.entityId, token_endpoint: url.href }, this.#init.issuer, undefined, oidc.None());
    if (url.protocol === 'http:') oidc.allowInsecureRequests(config);
    config.timeout = this.#init.timeoutSeconds ?? 10;
    const correlationId = options.correlationId;
    if (correlationId !== undefined) {
      config[oidc.customFetch] = (href, init) => fetch(href, { ...init, headers: { ...init.headers, 'X-Correlation-Id': correlationId } });
    }

    let response: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
    try {
      response = await oidc.genericGrantRequest(config, GRANT_TYPE_TOKEN_EXCHANGE, {
        subject_token: subjectToken,
        subject_token_type: TOKEN_TYPE_JWT,
        actor_token: actorToken,
        actor_token_type: TOKEN_TYPE_JWT,
        requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        audience: peer.entityId,
        scope: scopes.join(' '),
      });
    } catch (err) {
      throw clientError(err, peer.entityId);
    }
    return this.#entry(response, scopes, peer.entityId);
  }

  #entry(response: oidc.TokenEndpointResponse, requested: string[], peer: string): CachedToken {
    const invalid = (what: string) => new ExchangeClientError('upstream_unavailable', `peer ${peer} answered an invalid token-exchange response: ${what}`);
    if (response.issued_token_type !== TOKEN_TYPE_ACCESS_TOKEN) throw invalid('issued_token_type');
    if (typeof response.token_type !== 'string' || response.token_type.toLowerCase() !== 'bearer') throw invalid('token_type');
    const lifetime = response.expires_in;
    if (typeof lifetime !== 'number' || !Number.isFinite(lifetime) || lifetime < 1) throw invalid('expires_in');
    // RFC 8693 §2.2.1: `scope` may be left out when it equals the request.
    const scopes = typeof response.scope === 'string' ? parseScope(response.scope) : requested;
    if (!scopes) throw invalid('scope');
    const now = this.#seconds();
    const expiresAt = now + Math.floor(lifetime);
    return { accessToken: response.access_token, expiresAt, refreshAt: expiresAt - refreshMargin(lifetime), scopes };
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }
}

function endpointUrl(href: string, insecureLoopback: boolean): URL {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw new ExchangeClientError('upstream_unavailable', 'the peer token endpoint is not a URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && insecureLoopback && LOOPBACK.has(url.hostname)) return url;
  throw new ExchangeClientError('upstream_unavailable', `the peer token endpoint must be https: ${url.origin}`);
}

/** The peer's refusal or failure → our stable code; the message names the peer and its OAuth code only. */
function clientError(err: unknown, peer: string): ExchangeClientError {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.WWWAuthenticateChallengeError) {
    const oauthError = err instanceof oidc.ResponseBodyError ? err.error : undefined;
    const code = err.status >= 400 && err.status < 500 ? 'trust_denied' : 'upstream_unavailable';
    return new ExchangeClientError(code, `peer ${peer} refused the token exchange${oauthError ? `: ${oauthError}` : ''} (HTTP ${err.status})`, {
      cause: err,
      peerStatus: err.status,
      ...(oauthError !== undefined ? { oauthError } : {}),
    });
  }
  // openid-client reports a non-OAuth answer (5xx, wrong content) with the Response as the cause.
  const answered = err instanceof oidc.ClientError && err.cause instanceof Response ? err.cause.status : undefined;
  if (answered !== undefined) return new ExchangeClientError('upstream_unavailable', `peer ${peer} token endpoint failed (HTTP ${answered})`, { cause: err, peerStatus: answered });
  return new ExchangeClientError('upstream_unavailable', `peer ${peer} token endpoint unreachable`, { cause: err });
}
