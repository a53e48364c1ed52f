/**
 * The libp2p protocol remote tool calls travel on (`/toolmesh/call/1.0.0`):
 * one msgpackr request frame, one response frame (request/response framing,
 * size limits and deadlines are the peer host's).
 *
 * The request carries the token the peer issued by token exchange — never
 * the caller's own credential — and the calling node's correlation id, so
 * both audit logs name the same call. The response is what the peer's
 * gateway answered: its HTTP status and JSON-RPC body, so a refusal there
 * (`trust_denied`, `rate_limited`, …) reaches the caller with its reason.
 */
import { pack, unpack } from 'msgpackr';
import { isObject } from '../../src/mcp/jsonrpc.js';

export const CALL_PROTOCOL = '/toolmesh/call/1.0.0';

export interface RemoteCallRequest {
  v: 1;
  /** Access token issued by the peer for this caller (RFC 8693 exchange). */
  token: string;
  correlationId: string;
  /** The server as the peer names it. */
  slug: string;
  version: string;
  method: string;
  params: Record<string, unknown>;
}

export interface RemoteCallResponse {
  /** HTTP status the peer's gateway answered with. */
  status: number;
  /** Its JSON-RPC response (`result` or `error`). */
  body: Record<string, unknown>;
}

export class CallProtocolError extends Error {
  readonly code = 'call_malformed';
}

export function encodeCallRequest(request: RemoteCallRequest): Uint8Array {
  return pack(request);
}

export function decodeCallRequest(bytes: Uint8Array): RemoteCallRequest {
  const value = safeUnpack(bytes);
  const ok =
    isObject(value) &&
    value.v === 1 &&
    typeof value.token === 'string' &&
    typeof value.correlationId === 'string' &&
    typeof value.slug === 'string' &&
    typeof value.version === 'string' &&
    typeof value.method === 'string' &&
    isObject(value.params);
  if (!ok) throw new CallProtocolError('malformed remote call request');
  return value as unknown as RemoteCallRequest;
}

export function encodeCallResponse(response: RemoteCallResponse): Uint8Array {
  return pack(response);
}

export function decodeCallResponse(bytes: Uint8Array): RemoteCallResponse {
  const value = safeUnpack(bytes);
  if (!isObject(value) || typeof value.status !== 'number' || !isObject(value.body)) throw new CallProtocolError('malformed remote call response');
  return value as unknown as RemoteCallResponse;
}

function safeUnpack(bytes: Uint8Array): unknown {
  try {
    return unpack(bytes);
  } catch (err) {
    throw new CallProtocolError('undecodable frame', { cause: err });
  }
}
