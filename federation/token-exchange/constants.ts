/**
 * Wire constants of token translation (PRODUCT.md §9): the RFC 8693 URNs, the
 * JWT `typ` values that keep our three token kinds apart, and the lifetime
 * limits both sides enforce. Changing one breaks peers.
 */

/** RFC 8693 §2.1 grant type. */
export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: the subject and actor tokens are JWTs (RFC 7519 §9). */
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
/** RFC 8693 §3: what the endpoint issues. */
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/** `typ` of the caller assertion (the subject token) a calling node signs. */
export const TYP_ASSERTION = 'toolmesh-assertion+jwt';
/** `typ` of the actor token (the calling node's proof of itself). */
export const TYP_ACTOR = 'toolmesh-actor+jwt';
/** `typ` of the issued access token (RFC 9068). */
export const TYP_ACCESS_TOKEN = 'at+jwt';

/** The only signature algorithm: node keys are Ed25519. */
export const ALG = 'EdDSA';

export const LIMITS = {
  /** Longest lifetime a calling node may give an assertion or actor token. */
  maxAssertionTtlSeconds: 60,
  /** The endpoint refuses subject/actor tokens whose `exp - iat` exceeds this. */
  maxPresentedLifetimeSeconds: 300,
  /** Longest lifetime the endpoint ever issues, whatever a policy says. */
  maxIssuedTtlSeconds: 3600,
  /** Allowed clock difference between nodes. */
  clockToleranceSeconds: 5,
  /** Request body of the token endpoint (two small JWTs and a few parameters). */
  maxBodyBytes: 32 * 1024,
  /** Scopes in one request / claim. */
  maxScopes: 64,
  /** Groups in one assertion. */
  maxGroups: 256,
  /** Depth of a nested `act` chain (hops). */
  maxActorDepth: 8,
  /** Entries of the default jti replay cache. */
  replayCacheEntries: 100_000,
} as const;
