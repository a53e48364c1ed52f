/**
 * The OAuth/OIDC issuers this node trusts, and where their signing keys come from.
 *
 * Rules:
 * - Configuration is validated once, in the constructor, with the offending
 *   path in the message (`issuers[1].issuer: …`); a bad config never reaches
 *   the request path.
 * - `https:` issuers only; `http:` only with `allowInsecureHttp` (loopback tests).
 * - Keys are found lazily: OIDC discovery (`{issuer}/.well-known/openid-configuration`),
 *   falling back to RFC 8414 (`/.well-known/oauth-authorization-server{path}`).
 *   The discovered `issuer` must equal the configured one exactly (OIDC
 *   Discovery §4.3, RFC 8414 §3.3) — otherwise one issuer could serve keys
 *   for another.
 * - A discovery result is cached for the life of the instance; a failed
 *   discovery is remembered and retried at most once per cooldown, so a
 *   storm of tokens naming an unreachable issuer costs no outbound requests.
 * - Keys come from jose's remote JWKS set: cached for `jwksCacheMaxAgeMs`, an
 *   unknown `kid` refetches at most once per `jwksCooldownMs`. jose cools
 *   down only after a successful fetch, so a failed JWKS fetch is remembered
 *   here too: for one cooldown no fetch is made, tokens are checked against
 *   the last good set while it is fresh, and refused (`IssuerUnavailableError`)
 *   when there is none. Keys never come from the token itself.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';

/** One trusted issuer, as configured. */
export interface IssuerConfig {
  /** The exact `iss` value of this issuer's tokens (and of its discovery document). */
  issuer: string;
  /** Expected `aud` for this issuer's tokens; defaults to the gateway's resource URI. */
  audience?: string;
  /** JWS algorithms accepted from this issuer; default {@link DEFAULT_ALGORITHMS}. */
  algorithms?: string[];
  /** Claim holding the caller's groups (array of strings); default `groups`. */
  groupsClaim?: string;
  /** Claim holding the granted scopes; default `scope` (space-separated), else `scp`. */
  scopeClaim?: string;
  /** Required JWT `typ` header, e.g. `at+jwt` (RFC 9068). */
  typ?: string;
}

export interface TrustedIssuersOptions {
  /** Minimum time between two JWKS fetches caused by unknown `kid`s (and between retries of a failed discovery/fetch). Default 30 s. */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is refetched. Default 10 min. */
  jwksCacheMaxAgeMs?: number;
  /** Timeout of each discovery or JWKS request. Default 5 s. */
  timeoutMs?: number;
  /** Accept `http:` issuers and JWKS URIs (loopback tests only). Default false. */
  allowInsecureHttp?: boolean;
}

/** Asymmetric algorithms only: an HMAC algorithm would turn a public key into a shared secret. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze(['RS256', 'PS256', 'ES256', 'EdDSA']);

/** Algorithms an issuer may be configured to use (asymmetric JWS only). */
const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);

/** Largest discovery document accepted. */
const MAX_DISCOVERY_BYTES = 256 * 1024;

/**
 * Thrown by {@link TrustedIssuers.keys} (or by the key function it returns)
 * when a trusted issuer's discovery document or key set cannot be obtained.
 * Never carries token material.
 */
export class IssuerUnavailableError extends Error {
  readonly code = 'ERR_ISSUER_UNAVAILABLE';
  constructor(
    readonly issuer: string,
    readonly stage: 'discovery' | 'jwks',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IssuerUnavailableError';
  }
}

interface RemoteState {
  keys?: Promise<JWTVerifyGetKey>;
  failedAt?: number;
  failure?: IssuerUnavailableError;
}

/**
 * The set of trusted issuers.
 *
 * @example
 * ```ts
 * const issuers = new TrustedIssuers([{ issuer: 'https://idp.example.com', typ: 'at+jwt' }]);
 * issuers.has('https://idp.example.com'); // true
 * const getKey = await issuers.keys('https://idp.example.com'); // discovery + JWKS, lazily
 * ```
 */
export class TrustedIssuers {
  readonly #configs = new Map<string, Readonly<IssuerConfig>>();
  readonly #local = new Map<string, JWTVerifyGetKey>();
  readonly #remote = new Map<string, RemoteState>();
  readonly #cooldownMs: number;
  readonly #cacheMaxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #allowHttp: boolean;

  constructor(configs: IssuerConfig[], options: TrustedIssuersOptions = {}) {
    this.#cooldownMs = nonNegative(options.jwksCooldownMs, 30_000, 'jwksCooldownMs');
    this.#cacheMaxAgeMs = nonNegative(options.jwksCacheMaxAgeMs, 600_000, 'jwksCacheMaxAgeMs');
    this.#timeoutMs = Math.trunc(nonNegative(options.timeoutMs, 5_000, 'timeoutMs'));
    this.#allowHttp = options.allowInsecureHttp === true;
    configs.forEach((config, i) => this.#register(config, `issuers[${i}]`));
  }

  /** Whether `iss` names a trusted issuer (exact string match). */
  has(iss: string): boolean {
    return this.#configs.has(iss);
  }

  /** The configuration of a trusted issuer. */
  config(iss: string): IssuerConfig | undefined {
    return this.#configs.get(iss);
  }

  /** Every trusted issuer, in configuration order (e.g. for `authorization_servers`). */
  list(): string[] {
    return [...this.#configs.keys()];
  }

  /**
   * The key function for `iss` (to pass to jose's `jwtVerify`). Discovers
   * the issuer on first use. Rejects with {@link IssuerUnavailableError}
   * when discovery fails, and with a plain `Error` for an untrusted issuer.
   */
  keys(iss: string): Promise<JWTVerifyGetKey> {
    const local = this.#local.get(iss);
    if (local) return Promise.resolve(local);
    const state = this.#remote.get(iss);
    if (!state) return Promise.reject(new Error('issuer is not trusted'));
    if (state.keys) return state.keys;
    if (state.failure && state.failedAt !== undefined && Date.now() - state.failedAt < this.#cooldownMs) {
      return Promise.reject(state.failure);
    }
    const pending = this.#discover(iss).then(
      (jwksUri) => this.#remoteKeySet(iss, jwksUri),
      (err: unknown) => {
        state.keys = undefined;
        state.failedAt = Date.now();
        state.failure = err instanceof IssuerUnavailableError
          ? err
          : new IssuerUnavailableError(iss, 'discovery', 'issuer discovery failed', { cause: err });
        throw state.failure;
      },
    );
    state.keys = pending;
    return pending;
  }

  /**
   * Trusts an issuer whose keys are known locally — the node's own embedded
   * authorization server. No discovery, no fetching.
   */
  addLocal(iss: string, getKey: JWTVerifyGetKey, config: Partial<IssuerConfig> = {}): void {
    if (typeof getKey !== 'function') throw new TypeError(`addLocal(${iss}): getKey must be a function`);
    // In-process keys are never fetched, so an http issuer (a loopback node) is as safe as https.
    this.#register({ ...config, issuer: iss }, `addLocal(${iss})`, true);
    this.#local.set(iss, getKey);
  }

  #register(config: IssuerConfig, path: string, local = false): void {
    if (config === null || typeof config !== 'object') throw new TypeError(`${path}: must be an object`);
    const { issuer } = config;
    if (typeof issuer !== 'string' || issuer === '') throw new TypeError(`${path}.issuer: must be a non-empty string`);
    this.#checkUrl(issuer, `${path}.issuer`, local || this.#allowHttp);
    if (new URL(issuer).search !== '') throw new TypeError(`${path}.issuer: must not have a query`);
    if (this.#configs.has(issuer)) throw new TypeError(`${path}.issuer: ${issuer} is already trusted`);
    if (config.audience !== undefined && (typeof config.audience !== 'string' || config.audience === '')) {
      throw new TypeError(`${path}.audience: must be a non-empty string`);
    }
    if (config.algorithms !== undefined) {
      if (!Array.isArray(config.algorithms) || config.algorithms.length === 0) {
        throw new TypeError(`${path}.algorithms: must be a non-empty array`);
      }
      for (const [j, alg] of config.algorithms.entries()) {
        if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(alg)) {
          throw new TypeError(`${path}.algorithms[${j}]: ${String(alg)} is not an accepted asymmetric JWS algorithm`);
        }
      }
    }
    for (const key of ['groupsClaim', 'scopeClaim', 'typ'] as const) {
      const value = config[key];
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw new TypeError(`${path}.${key}: must be a non-empty string`);
      }
    }
    const frozen: IssuerConfig = Object.freeze({
      ...config,
      ...(config.algorithms ? { algorithms: Object.freeze([...config.algorithms]) as string[] } : {}),
    });
    this.#configs.set(issuer, frozen);
    this.#remote.set(issuer, {});
  }

  #checkUrl(value: string, path: string, allowHttp = this.#allowHttp): URL {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new TypeError(`${path}: ${value} is not an absolute URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp)) {
      throw new TypeError(`${path}: ${value} must use https${allowHttp ? ' or http' : ''}`);
    }
    if (url.hash !== '' || value.includes('#')) throw new TypeError(`${path}: ${value} must not have a fragment`);
    if (url.username !== '' || url.password !== '') throw new TypeError(`${path}: ${value} must not carry credentials`);
    return url;
  }

  /** Resolves the issuer's `jwks_uri`. */
  async #discover(iss: string): Promise<URL> {
    const base = new URL(iss);
    const path = base.pathname.replace(/\/$/, '');
    // OIDC Discovery appends the well-known suffix to the issuer; RFC 8414 inserts it before the path.
    const candidates = [
      new URL(`${base.origin}${path}/.well-known/openid-configuration`),
      new URL(`${base.origin}/.well-known/oauth-authorization-server${path}`),
    ];
    const failures: string[] = [];
    for (const url of candidates) {
      let doc: unknown;
      try {
        doc = await this.#fetchJson(url);
      } catch (err) {
        failures.push(`${url.pathname}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        failures.push(`${url.pathname}: not a JSON object`);
        continue;
      }
      const meta = doc as Record<string, unknown>;
      // A document for another issuer is a hard failure, never a reason to try the next location.
      if (meta.issuer !== iss) {
        throw new IssuerUnavailableError(iss, 'discovery', 'discovered issuer does not match the configured issuer');
      }
      if (typeof meta.jwks_uri !== 'string') {
        throw new IssuerUnavailableError(iss, 'discovery', 'discovery document has no jwks_uri');
      }
      try {
        return this.#checkUrl(meta.jwks_uri, 'jwks_uri');
      } catch (err) {
        throw new IssuerUnavailableError(iss, 'discovery', (err as Error).message);
      }
    }
    throw new IssuerUnavailableError(iss, 'discovery', `issuer discovery failed (${failures.join('; ')})`);
  }

  async #fetchJson(url: URL): Promise<unknown> {
    const response = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > MAX_DISCOVERY_BYTES) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error('document too large');
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > MAX_DISCOVERY_BYTES) throw new Error('document too large');
        chunks.push(chunk);
      }
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }

  /** jose's remote set, plus a cooldown after a failed fetch. */
  #remoteKeySet(iss: string, jwksUri: URL): JWTVerifyGetKey {
    const remote = createRemoteJWKSet(jwksUri, {
      cooldownDuration: this.#cooldownMs,
      cacheMaxAge: this.#cacheMaxAgeMs,
      timeoutDuration: this.#timeoutMs,
    });
    let failedAt = Number.NEGATIVE_INFINITY;
    let failure: IssuerUnavailableError | undefined;
    // The last good set, frozen at the failure: used (while fresh) until the cooldown ends.
    let lastGood: JWTVerifyGetKey | undefined;
    const cooldownMs = this.#cooldownMs;
    return async (protectedHeader, token) => {
      // After a failed fetch jose would fetch again on the next miss (it only
      // cools down after a success): hold off instead.
      if (failure && Date.now() - failedAt < cooldownMs) {
        if (!lastGood || !remote.fresh) throw failure;
        return lastGood(protectedHeader, token);
      }
      try {
        return await remote(protectedHeader, token);
      } catch (err) {
        if (isFetchFailure(err)) {
          failedAt = Date.now();
          failure = new IssuerUnavailableError(iss, 'jwks', 'the issuer\'s key set could not be fetched', { cause: err });
          const jwks: JSONWebKeySet | undefined = remote.fresh ? remote.jwks() : undefined;
          lastGood = jwks ? createLocalJWKSet(jwks) : undefined;
          throw failure;
        }
        throw err;
      }
    };
  }
}

/**
 * Errors of fetching or parsing the key set, as opposed to choosing a key
 * from it (`JWKSNoMatchingKey`, `JWKSMultipleMatchingKeys`, `JOSENotSupported`).
 */
function isFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  if (err instanceof errors.JOSEError) return err.code === 'ERR_JOSE_GENERIC';
  return true; // fetch's TypeError, AbortError, JSON SyntaxError
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name}: must be a non-negative number`);
  }
  return value;
}
