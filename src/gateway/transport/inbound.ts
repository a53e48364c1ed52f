/**
 * The inbound half of the MCP Streamable HTTP transport, for both eras:
 * HTTP-level checks (Origin, Content-Type, Accept, body size), JSON-RPC shape,
 * and era classification with the header cross-checks of each era.
 *
 * Classification is body-primary: a request whose `params._meta` carries the
 * modern protocol-version claim is modern (2026-07-28); anything else is
 * legacy and, except `initialize`, must present a valid session token.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { isObject, isValidId, type JsonRpcId, type JsonRpcMessage } from '../../mcp/jsonrpc.js';
import {
  LEGACY_PROTOCOL_VERSIONS,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSIONS,
  NAME_SOURCE,
  type Era,
} from '../../mcp/protocol.js';
import type { ClientContext } from '../backends/backend.js';
import type { SessionClaims, SessionTokenCodec } from './session-token.js';

export interface InboundExchange {
  era: Era;
  message: JsonRpcMessage;
  /** The request id, when the message is a request (for error replies). */
  id: JsonRpcId | null;
  client: ClientContext;
  /** Legacy, non-initialize: the verified session. */
  session?: SessionClaims;
  /** The client accepts a text/event-stream answer. */
  acceptsSse: boolean;
}

/** Rejects a cross-site caller (DNS rebinding) before anything is read. */
export function checkOrigin(req: IncomingMessage, isAllowed: (origin: string) => boolean): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !isAllowed(origin)) {
    throw new GatewayError('origin_not_allowed', `Origin ${origin} is not allowed`);
  }
}

/** Checks Content-Type and Accept of an MCP POST; returns whether SSE is acceptable. */
export function checkPostHeaders(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new GatewayError('unsupported_media_type', 'Content-Type must be application/json');
  }
  const accept = req.headers.accept ?? '';
  const anything = accept.includes('*/*');
  const json = anything || accept.includes('application/json') || accept.includes('application/*');
  const sse = anything || accept.includes('text/event-stream') || accept.includes('text/*');
  if (!json || !sse) {
    throw new GatewayError('not_acceptable', 'Accept must list both application/json and text/event-stream');
  }
  return true;
}

/** Reads the request body, refusing more than `limit` bytes without buffering them. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new GatewayError('payload_too_large', `request body exceeds ${limit} bytes`, { data: { limit } }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume(); // drain the rest so the connection can answer
        reject(new GatewayError('payload_too_large', `request body exceeds ${limit} bytes`, { data: { limit } }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Parses one JSON-RPC message; batches are refused (removed from MCP in 2025-06-18). */
export function parseMessage(body: Buffer): JsonRpcMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('parse_error', 'Parse error: body is not valid JSON');
  }
  if (Array.isArray(parsed)) throw new GatewayError('batch_rejected', 'JSON-RPC batches are not supported');
  if (!isObject(parsed) || parsed.jsonrpc !== '2.0') {
    throw new GatewayError('invalid_request', 'Invalid request: not a JSON-RPC 2.0 message');
  }
  if ('method' in parsed) {
    if (typeof parsed.method !== 'string' || parsed.method.length === 0 || parsed.method.length > 256) {
      throw new GatewayError('invalid_request', 'Invalid request: method must be a non-empty string');
    }
    if ('id' in parsed && !isValidId(parsed.id)) {
      throw new GatewayError('invalid_request', 'Invalid request: id must be a string or a number');
    }
    if ('params' in parsed && parsed.params !== undefined && !isObject(parsed.params)) {
      throw new GatewayError('invalid_request', 'Invalid request: params must be an object', { data: {} });
    }
    return parsed as unknown as JsonRpcMessage;
  }
  if ('id' in parsed && ('result' in parsed || 'error' in parsed)) return parsed as unknown as JsonRpcMessage;
  throw new GatewayError('invalid_request', 'Invalid request: neither a request, a notification nor a response');
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Decides the era and checks the era's header rules. `endpointKey` binds legacy
 * sessions to the endpoint that issued them.
 */
export function classify(
  req: IncomingMessage,
  message: JsonRpcMessage,
  sessions: SessionTokenCodec,
  endpointKey: string,
  nowSeconds: number,
): InboundExchange {
  const id = 'id' in message && isValidId(message.id) ? message.id : null;
  const method = 'method' in message ? message.method : undefined;
  const params = 'params' in message && isObject(message.params) ? message.params : undefined;
  const meta = params && isObject(params._meta) ? params._meta : undefined;
  const headerVersion = headerValue(req, 'mcp-protocol-version');
  const claim = meta?.[META_PROTOCOL_VERSION];

  if (claim !== undefined) {
    if (typeof claim !== 'string') throw new GatewayError('invalid_params', `_meta["${META_PROTOCOL_VERSION}"] must be a string`);
    if (!MODERN_PROTOCOL_VERSIONS.includes(claim)) {
      throw new GatewayError('unsupported_protocol_version', `Unsupported protocol version ${claim}`, {
        data: { supported: [...MODERN_PROTOCOL_VERSIONS, ...LEGACY_PROTOCOL_VERSIONS], requested: claim },
      });
    }
    if (headerVersion !== undefined && headerVersion !== claim) {
      throw new GatewayError('header_mismatch', 'MCP-Protocol-Version header does not match the request body');
    }
    if (method !== undefined) checkModernHeaders(req, method, params, id !== null);
    const caps = meta![META_CLIENT_CAPABILITIES];
    const info = meta![META_CLIENT_INFO];
    return {
      era: 'modern',
      message,
      id,
      acceptsSse: true,
      client: {
        protocolVersion: claim,
        capabilities: isObject(caps) ? caps : {},
        ...(isObject(info) ? { info } : {}),
      },
    };
  }

  if (headerVersion !== undefined && MODERN_PROTOCOL_VERSIONS.includes(headerVersion) && method !== undefined && id !== null) {
    throw new GatewayError('invalid_params', `modern request without _meta["${META_PROTOCOL_VERSION}"]`);
  }

  if (method === 'initialize') {
    return { era: 'legacy', message, id, acceptsSse: true, client: { protocolVersion: '' } };
  }

  const token = headerValue(req, 'mcp-session-id');
  if (token === undefined) {
    throw new GatewayError('invalid_request', 'Bad Request: Mcp-Session-Id header is required (send initialize first)');
  }
  const session = sessions.verify(token, nowSeconds);
  if (!session || session.ep !== endpointKey) {
    // 404 tells a legacy client to start a new session (Streamable HTTP, 2025-03-26+).
    throw new GatewayError('session_invalid', 'Session not found or expired');
  }
  // Any legacy revision is accepted on a session, as the SDK servers do (the conformance
  // suite sends 2025-03-26 on a 2025-11-25 session); an unknown one is refused (400).
  if (headerVersion !== undefined && !LEGACY_PROTOCOL_VERSIONS.includes(headerVersion)) {
    throw new GatewayError('unsupported_protocol_version', `Unsupported MCP-Protocol-Version ${headerVersion}`, {
      data: { supported: [...MODERN_PROTOCOL_VERSIONS, ...LEGACY_PROTOCOL_VERSIONS], requested: headerVersion },
    });
  }
  return {
    era: 'legacy',
    message,
    id,
    session,
    acceptsSse: true,
    client: { protocolVersion: session.pv, capabilities: session.caps ?? {}, ...(session.ci ? { info: session.ci } : {}) },
  };
}

function checkModernHeaders(req: IncomingMessage, method: string, params: Record<string, unknown> | undefined, isRequest: boolean): void {
  const methodHeader = headerValue(req, 'mcp-method');
  if (methodHeader === undefined) {
    if (isRequest) throw new GatewayError('header_mismatch', 'Mcp-Method header is required');
  } else if (methodHeader !== method) {
    throw new GatewayError('header_mismatch', `Mcp-Method header ${methodHeader} does not match body method ${method}`);
  }
  if (!isRequest) return;
  const field = NAME_SOURCE[method];
  if (field === undefined) return;
  const bodyName = params?.[field];
  if (typeof bodyName !== 'string') return;
  const nameHeader = headerValue(req, 'mcp-name');
  if (nameHeader === undefined) throw new GatewayError('header_mismatch', 'Mcp-Name header is required');
  if (nameHeader !== bodyName && decodeSentinel(nameHeader) !== bodyName) {
    throw new GatewayError('header_mismatch', 'Mcp-Name header does not match the request body');
  }
}

/** Header values that are not plain ASCII travel as `=?base64?…?=` (SEP-2243). */
function decodeSentinel(value: string): string | undefined {
  const m = /^=\?base64\?(.*)\?=$/.exec(value);
  return m ? Buffer.from(m[1]!, 'base64').toString('utf8') : undefined;
}
