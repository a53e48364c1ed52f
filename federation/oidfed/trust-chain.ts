/**
 * Trust chain resolution (OpenID Federation 1.0 §10): from a leaf's entity
 * configuration up its authority hints to a trust anchor we pin, fetching
 * each superior's configuration and its subordinate statement about the
 * entity below, then validating the whole chain (`validate-chain.ts`).
 *
 * Bounds, so a hostile federation cannot make us work without end:
 * - at most `maxPathLength` intermediates (default 3) — `chain_too_long`;
 * - at most `maxFetches` HTTP requests per resolution (default 24);
 * - a deadline and a byte limit per request (`http-fetch.ts`);
 * - no entity visited twice on one path (authority loops).
 * Hints naming a pinned anchor are tried first; each hint is tried in turn
 * until one yields a valid chain. When all fail, the most telling failure is
 * raised (anything but `unknown_anchor`, if there is one), with every
 * attempt in `details.attempts`.
 */
import { entityIdProblem, wellKnownUrl } from './entity-id.js';
import { verifyEntityStatement, verifySelfSigned } from './entity-statement.js';
import { FederationTrustError } from './errors.js';
import { fetchStatement, type FetchLike } from './http-fetch.js';
import { jwksProblem } from './statement-claims.js';
import type { PinnedTrustAnchor, VerifiedEntityStatement } from './types.js';
import { validateTrustChain, type ResolvedTrustChain } from './validate-chain.js';

export type { ResolvedTrustChain } from './validate-chain.js';

export interface ResolveTrustChainOptions {
  /** The anchors we trust, with keys pinned out of band. */
  trustAnchors: readonly PinnedTrustAnchor[];
  /** Default: Node's global fetch. */
  fetch?: FetchLike;
  /** Most intermediates between the leaf and the anchor; default 3. */
  maxPathLength?: number;
  /** Most HTTP requests per resolution; default 24. */
  maxFetches?: number;
  /** Deadline per request; default 5,000 ms. */
  timeoutMs?: number;
  /** Largest response accepted; default 64 KiB. */
  maxResponseBytes?: number;
  /** Clock in ms since the epoch (a value, or a function read per resolution); default `Date.now()`. */
  now?: number | (() => number);
  clockSkewSeconds?: number;
  algorithms?: readonly string[];
  /** Accept `http:` entity ids and endpoints (loopback tests only). */
  allowInsecure?: boolean;
  /** Aborts the whole resolution. */
  signal?: AbortSignal;
}

export const DEFAULT_MAX_PATH_LENGTH = 3;
export const DEFAULT_MAX_FETCHES = 24;

/** Check pinned anchors once, at construction: a bad trust-config fails at start. */
export function checkTrustAnchors(anchors: readonly PinnedTrustAnchor[], allowInsecure = false): Map<string, PinnedTrustAnchor> {
  const out = new Map<string, PinnedTrustAnchor>();
  for (const [i, a] of anchors.entries()) {
    const pins = a.pinnedKeyThumbprints;
    const p =
      entityIdProblem(a.entityId, allowInsecure) ??
      (a.jwks !== undefined
        ? jwksProblem(a.jwks)
        : Array.isArray(pins) && pins.length > 0 && pins.every((x) => typeof x === 'string' && x !== '')
          ? undefined
          : 'needs jwks or pinnedKeyThumbprints');
    if (p !== undefined) throw new FederationTrustError('invalid_configuration', `trustAnchors[${i}]: ${p}`, { entityId: a.entityId });
    if (out.has(a.entityId)) throw new FederationTrustError('invalid_configuration', `trustAnchors[${i}]: ${a.entityId} is listed twice`);
    out.set(a.entityId, a);
  }
  return out;
}

interface Walk {
  anchors: Map<string, PinnedTrustAnchor>;
  options: ResolveTrustChainOptions;
  now: number;
  fetches: number;
  maxPathLength: number;
}

async function get(walk: Walk, url: string): Promise<string> {
  const max = walk.options.maxFetches ?? DEFAULT_MAX_FETCHES;
  if (++walk.fetches > max) throw new FederationTrustError('fetch_failed', `resolution needs more than ${max} fetches`, { url });
  const { fetch, timeoutMs, maxResponseBytes, signal } = walk.options;
  return fetchStatement(url, {
    ...(fetch ? { fetch } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(maxResponseBytes !== undefined ? { maxBytes: maxResponseBytes } : {}),
    ...(signal ? { signal } : {}),
  });
}

function verifyOptions(walk: Walk) {
  const { clockSkewSeconds, algorithms, allowInsecure } = walk.options;
  return {
    now: walk.now,
    ...(clockSkewSeconds !== undefined ? { clockSkewSeconds } : {}),
    ...(algorithms ? { algorithms } : {}),
    ...(allowInsecure ? { allowInsecure } : {}),
  };
}

/** An entity's configuration, proven to come from the holder of the keys it lists. */
async function configuration(walk: Walk, entityId: string): Promise<VerifiedEntityStatement> {
  const jwt = await get(walk, wellKnownUrl(entityId));
  return verifySelfSigned(jwt, { ...verifyOptions(walk), entityId });
}

function fetchUrl(walk: Walk, superior: VerifiedEntityStatement, subject: string): string {
  const endpoint = superior.claims.metadata?.federation_entity?.federation_fetch_endpoint;
  const problem = typeof endpoint !== 'string' ? 'is missing' : entityIdProblem(endpoint.replace(/\?.*$/, ''), walk.options.allowInsecure);
  if (problem !== undefined) {
    throw new FederationTrustError('fetch_failed', `federation_fetch_endpoint of ${superior.claims.iss} ${problem}`, { entityId: superior.claims.iss });
  }
  const url = new URL(endpoint as string);
  url.searchParams.set('sub', subject);
  return url.href;
}

async function climb(walk: Walk, subject: VerifiedEntityStatement, path: readonly string[], visited: ReadonlySet<string>): Promise<ResolvedTrustChain> {
  const subjectId = subject.claims.sub;
  const hints = subject.claims.authority_hints ?? [];
  if (hints.length === 0) {
    throw new FederationTrustError('unknown_anchor', `${subjectId} has no authority hints and is not a trusted anchor`, { entityId: subjectId });
  }
  const ordered = [...hints.filter((h) => walk.anchors.has(h)), ...hints.filter((h) => !walk.anchors.has(h))];
  const failures: FederationTrustError[] = [];
  const attempts: { authority: string; code: FederationTrustError['code']; message: string }[] = [];
  for (const hint of ordered) {
    try {
      const anchor = walk.anchors.get(hint);
      if (visited.has(hint)) throw new FederationTrustError('invalid_statement', `authority hints loop back to ${hint}`, { entityId: subjectId });
      const intermediates = path.length - 1;
      if (anchor === undefined && intermediates + 1 > walk.maxPathLength) {
        throw new FederationTrustError('chain_too_long', `reaching an anchor above ${hint} needs more than ${walk.maxPathLength} intermediate(s)`, {
          entityId: hint,
        });
      }
      const superior = await configuration(walk, hint);
      const statementJwt = await get(walk, fetchUrl(walk, superior, subjectId));
      // Early check against the superior's own keys; the chain validation re-checks with the vouched ones.
      await verifyEntityStatement(statementJwt, { ...verifyOptions(walk), keys: superior.claims.jwks, kind: 'subordinate', issuer: hint, subject: subjectId });
      const next = [...path, statementJwt];
      if (anchor !== undefined) return await validateTrustChain([...next, superior.jwt], anchor, verifyOptions(walk));
      return await climb(walk, superior, next, new Set([...visited, hint]));
    } catch (err) {
      if (!(err instanceof FederationTrustError)) throw err;
      if (walk.options.signal?.aborted) throw err;
      failures.push(err);
      attempts.push({ authority: hint, code: err.code, message: err.message });
    }
  }
  const chosen = failures.find((f) => f.code !== 'unknown_anchor') ?? failures[0]!;
  if (failures.length === 1) throw chosen;
  throw new FederationTrustError(chosen.code, chosen.message, { ...chosen.details, attempts }, { cause: chosen });
}

/**
 * Resolve and validate a trust chain for `entityId` (uncached; see
 * `TrustChainResolver` for the cached form).
 *
 * @example
 * ```ts
 * import { resolveTrustChain } from './trust-chain.js';
 * import type { Jwks } from './types.js';
 * declare const anchorJwks: Jwks;
 * const { metadata, leafJwks, expiresAt, anchor } = await resolveTrustChain('https://node-b.example', {
 *   trustAnchors: [{ entityId: 'https://anchor.example', jwks: anchorJwks }],
 * });
 * ```
 */
export async function resolveTrustChain(entityId: string, options: ResolveTrustChainOptions): Promise<ResolvedTrustChain> {
  const anchors = checkTrustAnchors(options.trustAnchors, options.allowInsecure);
  return resolveWithAnchors(entityId, anchors, options);
}

/** `resolveTrustChain` with anchors already checked (the resolver checks them once). */
export async function resolveWithAnchors(
  entityId: string,
  anchors: Map<string, PinnedTrustAnchor>,
  options: ResolveTrustChainOptions,
): Promise<ResolvedTrustChain> {
  const problem = entityIdProblem(entityId, options.allowInsecure);
  if (problem !== undefined) throw new FederationTrustError('invalid_configuration', `entity id ${problem}`, { entityId });
  const walk: Walk = {
    anchors,
    options,
    now: typeof options.now === 'function' ? options.now() : (options.now ?? Date.now()),
    fetches: 0,
    maxPathLength: options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH,
  };
  const leaf = await configuration(walk, entityId);
  const selfAnchor = anchors.get(entityId);
  if (selfAnchor !== undefined) return validateTrustChain([leaf.jwt], selfAnchor, verifyOptions(walk));
  return climb(walk, leaf, [leaf.jwt], new Set([entityId]));
}
