/**
 * Protocol constants shared by both MCP eras.
 *
 * modern = 2026-07-28 (stateless, per-request `_meta` envelope, `server/discover`);
 * legacy = 2025-11-25 / 2025-06-18 / 2025-03-26 (`initialize`, `Mcp-Session-Id`).
 */

export type Era = 'modern' | 'legacy';

export const MODERN_PROTOCOL_VERSION = '2026-07-28';
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = [MODERN_PROTOCOL_VERSION];
export const LEGACY_PROTOCOL_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26'];
export const LATEST_LEGACY_PROTOCOL_VERSION = '2025-11-25';

/** `_meta` keys of the modern per-request envelope. */
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

/** JSON-RPC codes the modern transport defines beyond the base range. */
export const HEADER_MISMATCH = -32020;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/** Methods whose `Mcp-Name` header mirrors a body field (modern era). */
export const NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'resources/subscribe': 'uri',
  'resources/unsubscribe': 'uri',
};

export const GATEWAY_INFO = { name: 'toolmesh', version: '0.1.0' } as const;
