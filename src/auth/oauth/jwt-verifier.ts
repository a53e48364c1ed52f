/**
 * Strict verification of JWT access tokens from trusted issuers (PRODUCT.md §4).
 *
 * Rules, in order (each refusal: `invalid_token` with a stable `data.detail`,
 * see token-errors.ts):
 *  1. compact JWS only: three base64url segments, bounded size            `malformed`
 *  2. the protected header, decoded without trusting it:
 *     `alg: none`                                                          `alg_none`
 *     `HS*` — a public key must never become an HMAC secret               `alg_hmac`
 *     `jwk` / `jku` / `x5u` / `x5c` — keys come only from the issuer      `embedded_key`
 *     `crit` — no JWS extension is understood here                        `crit_unsupported`
 *  3. `iss` from the unverified payload, only to choose the key set        `untrusted_issuer`
 *  4. `alg` in the issuer's allow-list                                     `alg_not_allowed`
 *  5. not an ID token: a `nonce` claim, or `typ: JWT` where the issuer
 *     declares `at+jwt` (RFC 9068 §4)                                      `not_access_token`
 *  6. jose `jwtVerify` with `issuer`, `audience` (this resource, RFC 8707,
 *     or the issuer's configured one), `algorithms`, `typ`, `clockTolerance`
 *     and `requiredClaims: exp, iat, sub`; `nbf` and `exp` with the skew
 *  7. `iat` not in the future; claim types (token-identity.ts)
 *
 * Verified identities are cached per token until `exp` (identity-cache.ts);
 * concurrent verifications of one token share one jose call. Failures are
 * never cached. Tokens are never logged, cached or put in an error.
 */
import type { IncomingMessage } from 'node:http';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { GatewayError } from '../../gateway/errors.js';
import { API_KEY_PREFIX, type Authenticator, type PresentedCredential } from '../authenticator.js';
import type { Identity } from '../identity.js';
import { IdentityCache } from './identity-cache.js';
import { DEFAULT_ALGORITHMS, type TrustedIssuers } from './issuers.js';
import { bearerChallenge401 } from './protected-resource.js';
import { fromVerificationError, tokenRejected } from './token-errors.js';
import { identityFromClaims } from './token-identity.js';

export interface JwtVerifierOptions {
  /** This gateway's resource URI (RFC 8707): the `aud` its tokens must carry. */
  audience: string;
  /** Tolerance for `exp`, `nbf` and `iat`, in seconds. Default 30. */
  clockSkewSeconds?: number;
  /** Size of the verified-token cache. Default 10,000; 0 disables it. */
  cacheMaxEntries?: number;
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * When set, each rejection carries `WWW-Authenticate: Bearer
   * resource_metadata="…", error="invalid_token", …` pointing here.
   */
  resourceMetadataUrl?: string;
}

/** Larger than any sane access token; refused before any decoding. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
/** `typ` values a JWT access token may carry when the issuer declares none. */
const ACCESS_TOKEN_TYPES = new Set(['application/jwt', 'application/at+jwt']);

/**
 * Verifies bearer JWTs and maps them to identities.
 *
 * @example
 * ```ts
 * const issuers = new TrustedIssuers([{ issuer: 'https://idp.example.com', typ: 'at+jwt' }]);
 * const verifier = new JwtVerifier(issuers, { audience: 'https://gateway.example.com/mcp' });
 * const identity = await verifier.verify(token); // throws GatewayError('invalid_token')
 * ```
 */
export class JwtVerifier implements Authenticator {
  readonly #issuers: TrustedIssuers;
  readonly #audience: string;
  readonly #skew: number;
  readonly #now: () => number;
  readonly #cache: IdentityCache;
  readonly #inflight = new Map<string, Promise<Identity>>();
  readonly #resourceMetadataUrl: string | undefined;

  constructor(issuers: TrustedIssuers, options: JwtVerifierOptions) {
    if (typeof options?.audience !== 'string' || options.audience === '') {
      throw new TypeError('audience: must be the gateway\'s resource URI');
    }
    const skew = options.clockSkewSeconds ?? 30;
    if (!Number.isFinite(skew) || skew < 0) throw new TypeError('clockSkewSeconds: must be a non-negative number');
    this.#issuers = issuers;
    this.#audience = options.audience;
    this.#skew = skew;
    this.#now = options.now ?? Date.now;
    this.#cache = new IdentityCache(options.cacheMaxEntries ?? 10_000);
    this.#resourceMetadataUrl = options.resourceMetadataUrl;
  }

  /** Applies to bearer tokens that are not API keys. */
  async authenticate(_req: IncomingMessage, credential: PresentedCredential): Promise<Identity | undefined> {
    const token = credential.bearer;
    if (token === undefined || token.startsWith(API_KEY_PREFIX)) return undefined;
    return this.verify(token);
  }

  /** The identity a valid access token stands for; throws `GatewayError('invalid_token')` otherwise. */
  async verify(token: string): Promise<Identity> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      throw this.#challenge(tokenRejected('malformed', 'the token is not a compact JWS'));
    }
    const key = IdentityCache.key(token);
    const cached = this.#cache.get(key, this.#now());
    if (cached) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#verifyUncached(token, key).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    try {
      return await pending;
    } catch (err) {
      throw err instanceof GatewayError ? this.#challenge(err) : err;
    }
  }

  async #verifyUncached(token: string, cacheKey: string): Promise<Identity> {
    const header = decodeHeader(token);
    const claims = decodeClaims(token);

    const iss = claims.iss;
    if (typeof iss !== 'string' || !this.#issuers.has(iss)) {
      throw tokenRejected('untrusted_issuer', 'the token issuer is not trusted');
    }
    const config = this.#issuers.config(iss)!;
    const algorithms = config.algorithms ?? [...DEFAULT_ALGORITHMS];
    if (!algorithms.includes(header.alg!)) throw tokenRejected('alg_not_allowed', 'algorithm not allowed for this issuer');

    // ID tokens are signed by the same keys: tell them apart before their audience is even looked at.
    if (Object.hasOwn(claims, 'nonce')) throw tokenRejected('not_access_token', 'an ID token is not an access token');
    const typ = header.typ === undefined ? undefined : normalizeTyp(header.typ);
    if (config.typ !== undefined) {
      if (typ === 'application/jwt' && normalizeTyp(config.typ) === 'application/at+jwt') {
        throw tokenRejected('not_access_token', 'a typ "JWT" token is not an access token of this issuer');
      }
    } else if (typ !== undefined && !ACCESS_TOKEN_TYPES.has(typ)) {
      throw tokenRejected('typ_invalid', 'the token type is not an access token type');
    }

    let payload: JWTPayload;
    try {
      const getKey = await this.#issuers.keys(iss);
      const nowMs = this.#now();
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: iss,
        audience: config.audience ?? this.#audience,
        algorithms,
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: this.#skew,
        currentDate: new Date(nowMs),
        ...(config.typ !== undefined ? { typ: config.typ } : {}),
      }));
    } catch (err) {
      throw fromVerificationError(err);
    }

    const nowMs = this.#now();
    if ((payload.iat as number) > nowMs / 1000 + this.#skew) throw tokenRejected('iat_invalid', 'the token was issued in the future');
    const identity = identityFromClaims(payload, config);
    this.#cache.set(cacheKey, identity, (payload.exp as number) * 1000, nowMs);
    return identity;
  }

  #challenge(err: GatewayError): GatewayError {
    if (this.#resourceMetadataUrl === undefined || err.headers?.['WWW-Authenticate']) return err;
    return new GatewayError(err.reason, err.message, {
      ...(err.data ? { data: err.data } : {}),
      headers: {
        ...err.headers,
        'WWW-Authenticate': bearerChallenge401({
          resourceMetadataUrl: this.#resourceMetadataUrl,
          error: 'invalid_token',
          description: err.message,
        }),
      },
      ...(err.cause !== undefined ? { cause: err.cause } : {}),
    });
  }
}

/** The protected header, checked before any key is looked up. */
function decodeHeader(token: string): ProtectedHeaderParameters {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw tokenRejected('malformed', 'the token header does not decode');
  }
  const { alg } = header;
  if (typeof alg !== 'string' || alg === '') throw tokenRejected('malformed', 'the token header has no "alg"');
  if (alg.toLowerCase() === 'none') throw tokenRejected('alg_none', 'unsigned tokens are refused');
  if (/^hs/i.test(alg)) throw tokenRejected('alg_hmac', 'HMAC-signed tokens are refused');
  for (const name of EMBEDDED_KEY_HEADERS) {
    if (Object.hasOwn(header, name)) throw tokenRejected('embedded_key', `a "${name}" header is refused: keys come only from the issuer`);
  }
  if (Object.hasOwn(header, 'crit')) throw tokenRejected('crit_unsupported', 'critical header extensions are not supported');
  if (header.typ !== undefined && typeof header.typ !== 'string') throw tokenRejected('malformed', 'the "typ" header is not a string');
  return header;
}

/** The unverified claims — used only to choose the issuer, or to refuse. */
function decodeClaims(token: string): JWTPayload {
  try {
    return decodeJwt(token);
  } catch {
    throw tokenRejected('malformed', 'the token payload does not decode');
  }
}

/** RFC 7515 §4.1.9: `typ` values without a `/` are in the `application/` tree; case-insensitive. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}
