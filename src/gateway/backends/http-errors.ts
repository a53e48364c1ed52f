/**
 * How the HTTP backend's failures become {@link GatewayError}s: socket and
 * undici errors mapped to the gateway's reasons, and the few messages it makes
 * itself. A transport failure keeps the original error as `cause`, which is
 * how {@link isTransportFailure} tells it from an odd answer.
 */
import { GatewayError } from '../errors.js';
import { isObject } from '../../mcp/jsonrpc.js';

/** The backend answered, but not with something usable: `upstream_unavailable` with `message`. */
export function unavailable(message: string): GatewayError {
  return new GatewayError('upstream_unavailable', message);
}

/** What every call on a closed backend rejects with. */
export function closedError(): GatewayError {
  return new GatewayError('upstream_unavailable', 'backend is closed');
}

/** Maps a socket/undici error to the gateway's reasons; the original stays as `cause`. */
export function transportError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = isObject(err) ? err.code : undefined;
  const name = err instanceof Error ? err.name : '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError') {
    return new GatewayError('upstream_timeout', 'backend timed out', { cause: err });
  }
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : 'unknown error';
  return new GatewayError('upstream_unavailable', `backend unreachable (${detail})`, { cause: err });
}

/** True for failures of the connection itself (made by `transportError`, which keeps the cause). */
export function isTransportFailure(err: unknown): boolean {
  return err instanceof GatewayError && err.cause !== undefined;
}
