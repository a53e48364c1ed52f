/**
 * OpenID Federation 1.0 trust for a mesh of Toolmesh nodes (PRODUCT.md §9):
 * entity statements signed with the node's Ed25519 identity, the
 * well-known and fetch endpoints, and trust chain resolution against pinned
 * anchors (signatures, expiry, constraints, metadata policy).
 */
export * from './errors.js';
export * from './types.js';
export { entityIdProblem, isEntityId, wellKnownUrl, entityHost } from './entity-id.js';
export { claimsProblem, jwksProblem, type StatementKind } from './statement-claims.js';
export {
  jwksOf,
  signEntityStatement,
  buildEntityConfiguration,
  buildSubordinateStatement,
  verifyEntityStatement,
  verifySelfSigned,
  peekEntityStatement,
  MAX_STATEMENT_BYTES,
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_ALGORITHMS,
  type StatementSigner,
  type EntityStatementInput,
  type EntityConfigurationInput,
  type SubordinateStatementInput,
  type VerifyStatementOptions,
} from './entity-statement.js';
export { mergePolicies, applyPolicy, resolveMetadata, STANDARD_OPERATORS, type PolicyLayer } from './metadata-policy.js';
export { checkConstraints, filterEntityTypes, nameMatches } from './constraints.js';
export { fetchStatement, DEFAULT_FETCH_TIMEOUT_MS, type FetchLike, type FetchStatementOptions } from './http-fetch.js';
export { validateTrustChain, type ResolvedTrustChain, type ChainValidationOptions } from './validate-chain.js';
export {
  resolveTrustChain,
  checkTrustAnchors,
  DEFAULT_MAX_PATH_LENGTH,
  DEFAULT_MAX_FETCHES,
  type ResolveTrustChainOptions,
} from './trust-chain.js';
export { TrustChainResolver, type TrustChainResolverOptions } from './resolver.js';
export { AnchorRegistry, type SubordinateRegistration, type AnchorRegistryOptions } from './registry.js';
export {
  federationEndpoints,
  federationRouter,
  FETCH_PATH,
  type FederationEndpoints,
  type FederationEndpointsOptions,
  type FetchAnswer,
} from './endpoints.js';
