/**
 * The peer side of a remote call (`/toolmesh/call/1.0.0`): a call arriving
 * from a pinned peer meets our trust policy, then our full gateway chain.
 *
 * 1. The peer's rate limit (trust-config `rateLimit`, one bucket per peer),
 *    taken for every frame before anything in it is looked at.
 * 2. The token must verify as one we issued, to this very peer (its `peer`
 *    claim is the link's alias): a token cannot be replayed over another
 *    peer's link, and nothing unverified is believed or recorded.
 * 3. The export policy: server, exact version, tool, access and the caller's
 *    peer groups (`peer_groups`, as the peer asserted them) must match a rule.
 *    A refusal is 403 `trust_denied`, recorded here with the calling node's
 *    correlation id.
 * 4. The call is then handed to our own gateway (in process, no socket) for
 *    exactly that version, with the translated token, so it passes the
 *    transport checks, authentication, per-identity rate limiting,
 *    authorization, version gate, schema validation and audit exactly as a
 *    local call does.
 *
 * What a refusal records comes from the peer's frame: only well-formed values
 * are kept (a correlation id that is not a UUID is replaced, an odd server,
 * version, method or tool name is left out).
 */
import { randomUUID } from 'node:crypto';
import semver from 'semver';
import { auditIdentity, type AuditLog } from '../../src/audit/index.js';
import { CORRELATION_ID } from '../../src/gateway/call.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { TOOL_NAME } from '../manifest/validate.js';
import type { Registry } from '../../src/registry/registry.js';
import { SLUG_PATTERN } from '../../src/registry/types.js';
import type { RequestHandler } from '../peer/index.js';
import { decidePeerCall, type TrustPolicy } from '../trust/index.js';
import { DISPATCH_HEADER, type VerifiedPeerToken } from './peer-tokens.js';
import { decodeCallRequest, encodeCallResponse, type RemoteCallRequest, type RemoteCallResponse } from './../remote/call-protocol.js';

export interface CallHandlerDeps {
  policy: () => TrustPolicy;
  registry: Pick<Registry, 'versions'>;
  audit: Pick<AuditLog, 'append'>;
  /** Verifies a translated token we issued (cached); throws `GatewayError('invalid_token')`. */
  verifyToken: (token: string) => Promise<VerifiedPeerToken>;
  /** Our own gateway's per-server endpoint, called in process. */
  gateway: LocalGateway;
  /** Proves to our gateway that a peer token arrives over the federation link. */
  dispatchSecret: string;
}

const MODERN = '2026-07-28';
const METHOD = /^[A-Za-z0-9_/.-]{1,64}$/;

/** The node's own gateway, as the call handler uses it. */
export interface LocalGateway {
  /** The call to exactly `slug@version` (the version the export policy allowed; never another of its major). */
  call(request: { slug: string; version: string; headers: Record<string, string>; body: string; signal: AbortSignal }): Promise<{ status: number; headers: Record<string, string | number>; body: string }>;
}

export interface CallHandler {
  handler: RequestHandler;
  close(): Promise<void>;
}

export function remoteCallHandler(deps: CallHandlerDeps): CallHandler {
  const buckets = new Map<string, { tokens: number; at: number }>();

  const refuse = async (request: RemoteCallRequest | undefined, alias: string, cause: string, error: GatewayError, caller?: VerifiedPeerToken): Promise<Uint8Array> => {
    const tool = request?.method === 'tools/call' ? request.params.name : undefined;
    await deps.audit
      .append(
        {
          kind: 'rejection',
          correlationId: request !== undefined && CORRELATION_ID.test(request.correlationId) ? request.correlationId.toLowerCase() : randomUUID(),
          method: request !== undefined && METHOD.test(request.method) ? request.method : '-',
          // The caller as the peer asserted it (its groups before our mapping): what the export rules were checked against.
          ...(caller ? { identity: auditIdentity({ ...caller.identity, groups: caller.peerGroups }) } : {}),
          ...(request !== undefined && SLUG_PATTERN.test(request.slug) ? { server: request.slug } : {}),
          ...(request !== undefined && semver.valid(request.version) === request.version ? { version: request.version } : {}),
          ...(typeof tool === 'string' && TOOL_NAME.test(tool) ? { tool } : {}),
          outcome: error.reason,
          reason: error.reason,
          status: error.status,
          detail: { peer: alias, cause },
        },
        { sync: false },
      )
      .catch(() => undefined);
    return encodeCallResponse({ status: error.status, body: { jsonrpc: '2.0', id: null, error: error.toRpcError() } });
  };

  const takeToken = (alias: string, rule: { perMinute: number; burst: number }): boolean => {
    const now = Date.now();
    const bucket = buckets.get(alias) ?? { tokens: rule.burst, at: now };
    bucket.tokens = Math.min(rule.burst, bucket.tokens + ((now - bucket.at) / 60_000) * rule.perMinute);
    bucket.at = now;
    buckets.set(alias, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  const handler: RequestHandler = async (bytes, context) => {
    const policy = deps.policy();
    const peer = policy.peers.find((p) => p.alias === context.alias);
    if (!peer) return refuse(undefined, context.alias, 'unknown_peer', new GatewayError('trust_denied', 'not a trusted peer'));
    if (!takeToken(peer.alias, peer.rateLimit)) {
      const error = new GatewayError('rate_limited', `peer ${peer.alias} is over its rate limit`, { data: { retryAfter: Math.ceil(60 / peer.rateLimit.perMinute) } });
      return refuse(undefined, context.alias, 'peer_rate_limit', error);
    }
    let request: RemoteCallRequest;
    try {
      request = decodeCallRequest(bytes);
    } catch {
      return refuse(undefined, context.alias, 'malformed_request', new GatewayError('invalid_request', 'malformed remote call'));
    }
    let caller: VerifiedPeerToken;
    try {
      caller = await deps.verifyToken(request.token);
    } catch {
      return refuse(request, context.alias, 'token_not_ours', new GatewayError('invalid_token', 'the remote call carries no valid token of ours'));
    }
    if (caller.peer !== context.alias) {
      return refuse(request, context.alias, 'token_of_another_peer', new GatewayError('trust_denied', 'this token was not issued to this peer'));
    }
    if (request.method !== 'tools/call') {
      return refuse(request, context.alias, 'method_not_exported', new GatewayError('trust_denied', 'only tools/call is offered to peers'), caller);
    }
    const toolName = typeof request.params.name === 'string' ? request.params.name : '';
    const record = deps.registry.versions(request.slug).find((r) => r.version === request.version);
    const access = record?.tools.find((t) => t.name === toolName)?.access ?? 'write';
    const decision = decidePeerCall(policy, peer.alias, caller.peerGroups, request.slug, request.version, toolName, access);
    if (!decision.allowed) {
      return refuse(request, context.alias, decision.reason, new GatewayError('trust_denied', `not exported to ${peer.alias}: ${decision.reason.replaceAll('_', ' ')}`, { data: { cause: decision.reason } }), caller);
    }
    return encodeCallResponse(await dispatch(deps.gateway, request, deps.dispatchSecret, context.signal));
  };

  return { handler, close: async () => undefined };
}

/** The call as a modern-era (stateless) MCP request to our own per-server endpoint. */
async function dispatch(gateway: LocalGateway, request: RemoteCallRequest, dispatchSecret: string, signal: AbortSignal): Promise<RemoteCallResponse> {
  const body = {
    jsonrpc: '2.0',
    id: 1,
    method: request.method,
    params: { ...request.params, _meta: { ...(isRecord(request.params._meta) ? request.params._meta : {}), 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } },
  };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${request.token}`,
    'x-correlation-id': request.correlationId,
    [DISPATCH_HEADER]: dispatchSecret,
    'mcp-protocol-version': MODERN,
    'mcp-method': request.method,
  };
  if (typeof request.params.name === 'string') headers['mcp-name'] = request.params.name;
  try {
    const res = await gateway.call({ slug: request.slug, version: request.version, headers, body: JSON.stringify(body), signal });
    const type = String(res.headers['content-type'] ?? res.headers['Content-Type'] ?? '');
    return { status: res.status, body: type.startsWith('text/event-stream') ? responseFromStream(res.body) : (JSON.parse(res.body) as Record<string, unknown>) };
  } catch (err) {
    const error = new GatewayError('upstream_unavailable', `the gateway did not answer: ${(err as Error).message}`);
    return { status: error.status, body: { jsonrpc: '2.0', id: null, error: error.toRpcError() } };
  }
}

/**
 * The JSON-RPC response out of an SSE answer (our gateway streams when the
 * tool sends notifications). Notifications are not relayed across the mesh:
 * the caller gets the result.
 */
function responseFromStream(text: string): Record<string, unknown> {
  let response: Record<string, unknown> | undefined;
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    const message = JSON.parse(data) as Record<string, unknown>;
    if ('result' in message || 'error' in message) response = message;
  }
  if (!response) throw new Error('the stream ended without a response');
  return response;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
