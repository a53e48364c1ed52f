/**
 * Why an access token was refused: one stable code per failure, carried in
 * `error.data.detail` next to `reason: 'invalid_token'` (PRODUCT.md §6).
 * Messages name the rule that failed, never token content.
 */
import { errors } from 'jose';
import { GatewayError } from '../../gateway/errors.js';
import { IssuerUnavailableError } from './issuers.js';

export type TokenRejection =
  /** Not a compact JWS, or a header/payload that does not decode. */
  | 'malformed'
  | 'alg_none'
  /** `HS*`: a public key must never be used as an HMAC secret. */
  | 'alg_hmac'
  /** Not in the issuer's algorithm allow-list. */
  | 'alg_not_allowed'
  /** `jwk`, `jku`, `x5u` or `x5c` header: keys come only from the issuer's JWKS. */
  | 'embedded_key'
  /** A `crit` header: this verifier understands no JWS extensions. */
  | 'crit_unsupported'
  /** `typ` header not the one the issuer declares (or not a JWT access-token type). */
  | 'typ_invalid'
  /** An ID token (has `nonce`, or `typ: JWT` where the issuer declares `at+jwt`). */
  | 'not_access_token'
  /** `iss` missing or not a trusted issuer. */
  | 'untrusted_issuer'
  /** The trusted issuer's discovery document or key set cannot be fetched. */
  | 'issuer_unavailable'
  /** No key of the issuer's set matches the token's `kid`/`alg`. */
  | 'key_not_found'
  | 'signature_invalid'
  | 'aud_invalid'
  | 'aud_missing'
  | 'iss_invalid'
  | 'exp_missing'
  | 'iat_missing'
  | 'sub_missing'
  | 'expired'
  /** `nbf` in the future (beyond the skew). */
  | 'not_yet_valid'
  /** `iat` in the future (beyond the skew). */
  | 'iat_invalid'
  /** A claim of the wrong type (`sub`, `exp`, `scope`, groups, …). */
  | 'claims_invalid'
  /** Anything else the verification library refused. */
  | 'verification_failed';

/** The `GatewayError` for a refused token. */
export function tokenRejected(detail: TokenRejection, message: string, cause?: unknown): GatewayError {
  return new GatewayError('invalid_token', message, { data: { detail }, cause });
}

const MISSING: Partial<Record<string, TokenRejection>> = {
  aud: 'aud_missing',
  exp: 'exp_missing',
  iat: 'iat_missing',
  sub: 'sub_missing',
  iss: 'untrusted_issuer',
};

const CHECK_FAILED: Partial<Record<string, TokenRejection>> = {
  aud: 'aud_invalid',
  iss: 'iss_invalid',
  nbf: 'not_yet_valid',
  iat: 'iat_invalid',
  typ: 'typ_invalid',
};

/**
 * Maps an error of jose's `jwtVerify` (or of the issuer's key function) to a
 * rejection. jose's claim errors carry the decoded claims set, so they are
 * not kept as `cause` (an error logger must not print token contents).
 */
export function fromVerificationError(err: unknown): GatewayError {
  if (err instanceof IssuerUnavailableError) {
    return tokenRejected('issuer_unavailable', 'the token issuer\'s keys are unavailable', err);
  }
  if (err instanceof errors.JWTExpired) return tokenRejected('expired', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const detail = err.reason === 'missing'
      ? MISSING[err.claim]
      : err.reason === 'check_failed' ? CHECK_FAILED[err.claim] : undefined;
    if (detail) return tokenRejected(detail, `"${err.claim}" ${err.reason === 'missing' ? 'claim missing' : 'check failed'}`);
    return tokenRejected('claims_invalid', `"${err.claim}" claim invalid`);
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return tokenRejected('key_not_found', 'no unique key of the issuer matches the token');
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return tokenRejected('signature_invalid', 'signature verification failed');
  if (err instanceof errors.JOSEAlgNotAllowed) return tokenRejected('alg_not_allowed', 'algorithm not allowed');
  if (err instanceof errors.JWTInvalid) return tokenRejected('claims_invalid', 'the claims set is invalid');
  if (err instanceof errors.JWSInvalid) return tokenRejected('malformed', 'malformed token');
  if (err instanceof errors.JOSENotSupported) return tokenRejected('verification_failed', 'unsupported token or key');
  if (err instanceof errors.JOSEError) return tokenRejected('verification_failed', 'token verification failed');
  // Not jose's: keep the cause for the operator (it carries no token material).
  return tokenRejected('verification_failed', 'token verification failed', err);
}
