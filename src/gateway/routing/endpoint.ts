/**
 * Which MCP endpoint a request path names (PRODUCT.md §3):
 * `/mcp` (aggregate) or `/mcp/v{N}/tools/{slug}/rpc` (one server, major N).
 */
import type { Endpoint } from '../call.js';
import { REMOTE_SLUG_PATTERN, SLUG_PATTERN } from '../../registry/types.js';

/** `/mcp/v{N}/tools/{slug}/rpc` — N without leading zeros. */
const PER_SERVER_PATH = /^\/mcp\/v(0|[1-9]\d{0,5})\/tools\/([^/]+)\/rpc\/?$/;

/**
 * The endpoint for `path`; `null` for a path under `/mcp/` that names no
 * endpoint; `undefined` for paths outside the MCP namespace.
 */
export function matchMcpPath(path: string): Endpoint | null | undefined {
  if (path === '/mcp' || path === '/mcp/') return { kind: 'aggregate' };
  if (!path.startsWith('/mcp/')) return undefined;
  const m = PER_SERVER_PATH.exec(path);
  if (m && (SLUG_PATTERN.test(m[2]!) || REMOTE_SLUG_PATTERN.test(m[2]!))) return { kind: 'server', slug: m[2]!, major: Number(m[1]) };
  return null;
}
