/**
 * Token translation across nodes (PRODUCT.md §9, RFC 8693): the calling node
 * never forwards a caller's token; it exchanges a signed caller assertion for
 * the peer's own short-lived token, under the peer's inbound policy.
 */
export {
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_JWT,
  TOKEN_TYPE_ACCESS_TOKEN,
  TYP_ASSERTION,
  TYP_ACTOR,
  TYP_ACCESS_TOKEN,
  LIMITS as TOKEN_EXCHANGE_LIMITS,
} from './constants.js';
export {
  TokenExchangeError,
  ExchangeClientError,
  REFUSALS,
  type OAuthErrorCode,
  type ExchangeRefusalReason,
  type ExchangeClientErrorCode,
} from './errors.js';
export type { PeerKey, PeerKeys, InboundPolicy, InboundPolicyLookup, ActorLink, ExchangeDecision, DecisionSink } from './types.js';
export { signCallerAssertion, signActorToken, type AssertionSigner, type CallerAssertionOptions } from './assertion.js';
export { tokenExchangeRouter, type TokenEndpointInit } from './endpoint.js';
export { verifyTranslatedToken, TranslatedTokenError, type TranslatedTokenErrorCode, type TranslatedTokenOptions, type TranslatedCaller } from './verify-token.js';
export { TokenExchangeClient, type TokenExchangeClientInit, type PeerTokenEndpoint, type ExchangeOptions, type ExchangedToken } from './client.js';
export { MemoryReplayCache, type ReplayCache, type ReplayVerdict } from './replay-cache.js';
export { actClaim, actorChain, type ActClaim } from './act.js';
export { entryAdmits, outsideCeiling, parseScope } from './scopes.js';
export { inboundPolicyFromTrust, peerKeysFromTrust } from './from-trust.js';
