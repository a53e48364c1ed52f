/**
 * The state of one MCP request as it moves through the policy chain: who is
 * calling, which server version and tool it is for, and what the response
 * must carry. Policies read and extend it; none of them touch HTTP directly.
 */
import type { IncomingMessage } from 'node:http';
import type { InboundExchange } from './transport/inbound.js';
import type { ResponseChannel } from './transport/response.js';
import type { PinnedTool, ServerRecord } from '../registry/types.js';

import type { Identity } from '../auth/identity.js';
export type { Identity };

/** A correlation id as the gateway issues them (a UUID); one relayed from elsewhere is kept only if it is one. */
export const CORRELATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The MCP endpoint a request arrived at. */
export type Endpoint =
  | { kind: 'aggregate' }
  /**
   * A per-server endpoint. `version`, only on the node's own in-process dispatch of a peer's
   * call, pins the exact version the peer's export rule was checked against (no routing by major).
   */
  | { kind: 'server'; slug: string; major: number; version?: string };

export function endpointKey(endpoint: Endpoint): string {
  if (endpoint.kind === 'aggregate') return 'aggregate';
  return endpoint.version === undefined ? `${endpoint.slug}@${endpoint.major}` : `${endpoint.slug}@=${endpoint.version}`;
}

export interface Target {
  record: ServerRecord;
  /** Set for tools/call. */
  tool?: PinnedTool;
  /** Params as the backend must see them, when the endpoint renamed something (aggregate names). */
  backendParams?: Record<string, unknown>;
}

export interface CallContext {
  readonly correlationId: string;
  /** The HTTP request (headers, TLS socket): read by authentication only. */
  readonly req: IncomingMessage;
  readonly exchange: InboundExchange;
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly now: Date;
  readonly channel: ResponseChannel;
  identity?: Identity;
  target?: Target;
  /**
   * A policy may answer the call itself (e.g. schema violations become an
   * `isError` tool result); the backend is then never contacted.
   */
  answer?: Record<string, unknown>;
  /** Set when the call was forwarded with its intent recorded: `performance.now()` then. */
  forwardedAt?: number;
}
