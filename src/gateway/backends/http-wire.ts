/**
 * What the HTTP backend puts on the wire besides the JSON-RPC body: the modern
 * era's per-request `_meta` envelope (added, or stripped for legacy servers),
 * the mirrored `Mcp-Method`/`Mcp-Name` headers and the header values read back.
 *
 * Hot path: header objects are spread from the backend's prebuilt templates, and
 * stripping copies params only when there is something to strip.
 */
import type { ClientContext } from './backend.js';
import { isObject } from '../../mcp/jsonrpc.js';
import {
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
  NAME_SOURCE,
} from '../../mcp/protocol.js';

/** Every POST accepts both answer forms of Streamable HTTP. */
export const ACCEPT = 'application/json, text/event-stream';

/**
 * The modern envelope for a call made on behalf of `client`; `clientInfo` stands in
 * for a client that did not introduce itself.
 */
export function clientEnvelope(client: ClientContext, clientInfo: { name: string; version: string }): Record<string, unknown> {
  // The backend is modern whatever era the client speaks, so the version is always ours.
  return {
    [META_PROTOCOL_VERSION]: MODERN_PROTOCOL_VERSION,
    [META_CLIENT_CAPABILITIES]: client.capabilities ?? {},
    [META_CLIENT_INFO]: client.info ?? clientInfo,
  };
}

/** Adds the modern envelope to `_meta`, keeping the caller's other keys (progressToken, …). */
export function withEnvelope(params: Record<string, unknown> | undefined, envelope: Record<string, unknown>): Record<string, unknown> {
  const meta = params?._meta;
  return { ...params, _meta: isObject(meta) ? { ...meta, ...envelope } : envelope };
}

/** Drops modern envelope keys a legacy server would not expect; untouched params are passed as is. */
export function stripEnvelope(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta;
  if (!isObject(meta) || !(META_PROTOCOL_VERSION in meta || META_CLIENT_CAPABILITIES in meta || META_CLIENT_INFO in meta)) {
    return params;
  }
  const { [META_PROTOCOL_VERSION]: _v, [META_CLIENT_CAPABILITIES]: _c, [META_CLIENT_INFO]: _i, ...rest } = meta;
  return { ...params, _meta: rest };
}

/**
 * The headers of a modern-era request: the `modern` template plus the mirrored
 * `Mcp-Method`, and `Mcp-Name` when the method names a tool, prompt or resource.
 */
export function modernHeadersFor(
  modern: Record<string, string>,
  method: string,
  params: Record<string, unknown>,
): Record<string, string> {
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  const name = field === undefined ? undefined : params[field];
  return typeof name === 'string'
    ? { ...modern, 'mcp-method': method, 'mcp-name': encodeHeaderValue(name) }
    : { ...modern, 'mcp-method': method };
}

/** `Mcp-Name` must be a plain visible-ASCII field value; anything else goes as the spec's base64 sentinel. */
function encodeHeaderValue(value: string): string {
  let plain = value.length > 0 && value === value.trim() && !(value.startsWith('=?base64?') && value.endsWith('?='));
  for (let i = 0; plain && i < value.length; i++) {
    const c = value.charCodeAt(i);
    plain = c === 9 || (c >= 32 && c <= 126);
  }
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** A response header as one string: the first of repeated values, `''` when absent. */
export function headerValue(value: string | string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : (value[0] ?? '');
}
