/**
 * Failures of OpenID Federation trust (PRODUCT.md §9): building, verifying and
 * resolving entity statements and trust chains. These never cross the wire as
 * such — a peer whose chain does not validate is simply not trusted, and the
 * caller logs the code. The fetch endpoint's own HTTP errors are rendered by
 * `endpoints.ts` in the OIDF error shape, not through this class.
 *
 * Callers branch on `err.code`, never on the message.
 */

/**
 * Why trust was refused. Changing a member is a breaking change.
 * - `invalid_statement`: a statement is malformed (not a JWT, wrong `typ`,
 *   missing or ill-typed claims, private key material in `jwks`, iss/sub rules
 *   broken, an unknown `crit` claim, `iat` in the future).
 * - `bad_signature`: no key of the key set it must be signed with verifies it
 *   (the superior's statement, or the pinned anchor keys).
 * - `expired`: a statement's `exp` has passed (beyond the clock skew).
 * - `unknown_anchor`: no path of authority hints ends at a trusted anchor.
 * - `chain_too_long`: the path exceeds the resolver's own bound on intermediates.
 * - `constraint_violation`: a superior's `constraints` (max_path_length,
 *   naming_constraints, allowed_entity_types) refuse the chain.
 * - `metadata_policy_error`: policies cannot be merged (a conflict or an
 *   illegal operator combination), a critical operator is unknown, or the
 *   leaf's metadata violates the merged policy.
 * - `fetch_failed`: a statement could not be fetched (network error, non-200
 *   status, redirect, wrong content type, fetch-endpoint missing, too many fetches).
 * - `fetch_timeout`: a fetch did not complete within its deadline.
 * - `response_too_large`: a response exceeded the size limit.
 * - `invalid_configuration`: options or registrations are unusable (raised at
 *   construction, never on a request).
 */
export type FederationTrustErrorCode =
  | 'invalid_statement'
  | 'bad_signature'
  | 'expired'
  | 'unknown_anchor'
  | 'chain_too_long'
  | 'constraint_violation'
  | 'metadata_policy_error'
  | 'fetch_failed'
  | 'fetch_timeout'
  | 'response_too_large'
  | 'invalid_configuration';

/** Optional context of a failure: which entity, which statement, which constraint. */
export interface FederationTrustErrorDetails {
  /** The entity whose statement or fetch failed. */
  entityId?: string;
  /** `iss` → `sub` of the statement concerned, when it is a subordinate statement. */
  issuer?: string;
  subject?: string;
  /** The URL fetched, for fetch failures. */
  url?: string;
  /** HTTP status, for `fetch_failed` on a non-200 answer. */
  status?: number;
  /** The constraint, for `constraint_violation`. */
  constraint?: 'max_path_length' | 'naming_constraints' | 'allowed_entity_types';
  /** `entity_type.parameter`, for `metadata_policy_error`. */
  parameter?: string;
  /** When several authority hints were tried, why each failed. */
  attempts?: readonly { authority: string; code: FederationTrustErrorCode; message: string }[];
}

/**
 * A refused statement or chain.
 *
 * @example
 * ```ts
 * import { resolveTrustChain, FederationTrustError } from './index.js';
 * try {
 *   await resolveTrustChain('https://peer.example', { trustAnchors: [] });
 * } catch (err) {
 *   if (err instanceof FederationTrustError && err.code === 'unknown_anchor') console.log(err.details.attempts);
 * }
 * ```
 */
export class FederationTrustError extends Error {
  readonly code: FederationTrustErrorCode;
  readonly details: FederationTrustErrorDetails;

  constructor(code: FederationTrustErrorCode, message: string, details: FederationTrustErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FederationTrustError';
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a FederationTrustError (optionally of one code). */
export function isFederationTrustError(err: unknown, code?: FederationTrustErrorCode): err is FederationTrustError {
  return err instanceof FederationTrustError && (code === undefined || err.code === code);
}
