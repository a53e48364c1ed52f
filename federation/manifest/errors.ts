/**
 * Why a manifest was rejected. Receivers answer a push with one of these codes
 * (nack), so they are wire-stable: changing a member breaks peers.
 */

/**
 * - `manifest_too_large`: the envelope exceeds the receiver's byte limit
 *   (checked before any decoding).
 * - `manifest_malformed`: not a `{ payload, sig }` envelope, or the payload
 *   is not a valid manifest in canonical encoding (the message names the path).
 * - `manifest_bad_signature`: the signature does not verify against the
 *   pinned peer id's Ed25519 key.
 * - `manifest_issuer_mismatch`: the manifest names another issuer than the
 *   pinned peer (or the expected namespace).
 * - `manifest_wrong_audience`: the manifest is for another node.
 * - `manifest_rollback`: a lower seq than the current one, or the same seq with
 *   different content (the same seq with the same bytes is an idempotent no-op).
 * - `manifest_expired`: `expiresAt` has passed (beyond the clock-skew allowance).
 * - `manifest_not_yet_valid`: `issuedAt` is in the future beyond the skew allowance.
 */
export type ManifestErrorCode =
  | 'manifest_too_large'
  | 'manifest_malformed'
  | 'manifest_bad_signature'
  | 'manifest_issuer_mismatch'
  | 'manifest_wrong_audience'
  | 'manifest_rollback'
  | 'manifest_expired'
  | 'manifest_not_yet_valid';

/** Every code, for validating a nack read from the wire. */
export const MANIFEST_ERROR_CODES: readonly ManifestErrorCode[] = [
  'manifest_too_large',
  'manifest_malformed',
  'manifest_bad_signature',
  'manifest_issuer_mismatch',
  'manifest_wrong_audience',
  'manifest_rollback',
  'manifest_expired',
  'manifest_not_yet_valid',
];

/**
 * The one class of manifest rejections; `code` narrows.
 *
 * @example
 * ```ts
 * import { ManifestError } from './errors.js';
 * const err: unknown = new ManifestError('manifest_rollback', 'seq 3 < current 5');
 * if (err instanceof ManifestError && err.code === 'manifest_rollback') console.log('keep the current manifest');
 * ```
 */
export class ManifestError extends Error {
  readonly code: ManifestErrorCode;

  constructor(code: ManifestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ManifestError';
    this.code = code;
  }
}
