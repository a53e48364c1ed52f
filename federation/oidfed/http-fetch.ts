/**
 * Fetching one entity statement over HTTP, bounded: a deadline per request
 * (AbortSignal), a byte limit on the body (checked on Content-Length and
 * while streaming), no redirects (a 3xx is a failure: an entity id names
 * exactly where its statements live), and the entity-statement media type.
 */
import { FederationTrustError } from './errors.js';
import { ENTITY_STATEMENT_MEDIA_TYPE } from './types.js';
import { MAX_STATEMENT_BYTES } from './entity-statement.js';

/** The `fetch` shape used: Node's global, or an injected one (proxy, custom dispatcher). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface FetchStatementOptions {
  fetch?: FetchLike;
  /** Deadline per request; default 5,000 ms. */
  timeoutMs?: number;
  /** Largest body accepted; default MAX_STATEMENT_BYTES (64 KiB). */
  maxBytes?: number;
  /** Aborts the request (e.g. the caller's own deadline). */
  signal?: AbortSignal;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 5_000;

async function readLimited(body: ReadableStream<Uint8Array>, maxBytes: number, url: string): Promise<Buffer> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FederationTrustError('response_too_large', `response from ${url} exceeds ${maxBytes} bytes`, { url });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** OIDF error JSON, when the body is one: for the message only. */
async function errorText(res: Response): Promise<string> {
  try {
    const body = res.body ? (await readLimited(res.body, 4096, res.url)).toString('utf8') : '';
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    if (typeof parsed.error === 'string') {
      return `: ${parsed.error}${typeof parsed.error_description === 'string' ? ` (${parsed.error_description.slice(0, 200)})` : ''}`;
    }
  } catch {
    // Not JSON, or too large: the status says enough.
  }
  return '';
}

/**
 * GET one entity statement (a compact JWS) from `url`.
 *
 * @example
 * ```ts
 * import { fetchStatement } from './http-fetch.js';
 * const jwt = await fetchStatement('https://anchor.example/.well-known/openid-federation', { timeoutMs: 2000 });
 * ```
 */
export async function fetchStatement(url: string, options: FetchStatementOptions = {}): Promise<string> {
  const { timeoutMs = DEFAULT_FETCH_TIMEOUT_MS, maxBytes = MAX_STATEMENT_BYTES } = options;
  const doFetch: FetchLike = options.fetch ?? ((u, init) => fetch(u, init));
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const failed = (err: unknown): never => {
    if (err instanceof FederationTrustError) throw err;
    if (deadline.aborted) throw new FederationTrustError('fetch_timeout', `${url} did not answer within ${timeoutMs} ms`, { url }, { cause: err });
    throw new FederationTrustError('fetch_failed', `fetching ${url} failed: ${(err as Error)?.message ?? String(err)}`, { url }, { cause: err });
  };
  let res: Response;
  try {
    res = await doFetch(url, { method: 'GET', headers: { accept: ENTITY_STATEMENT_MEDIA_TYPE }, redirect: 'manual', signal });
  } catch (err) {
    return failed(err);
  }
  try {
    if (res.status !== 200) {
      const why = await errorText(res);
      throw new FederationTrustError('fetch_failed', `${url} answered ${res.status}${why}`, { url, status: res.status });
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== ENTITY_STATEMENT_MEDIA_TYPE) {
      throw new FederationTrustError('fetch_failed', `${url} answered content type "${type}", not ${ENTITY_STATEMENT_MEDIA_TYPE}`, { url, status: 200 });
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      throw new FederationTrustError('response_too_large', `response from ${url} declares ${declared} bytes, over ${maxBytes}`, { url });
    }
    if (!res.body) throw new FederationTrustError('fetch_failed', `${url} answered an empty body`, { url, status: 200 });
    return (await readLimited(res.body, maxBytes, url)).toString('utf8').trim();
  } catch (err) {
    await res.body?.cancel().catch(() => undefined);
    return failed(err);
  }
}
