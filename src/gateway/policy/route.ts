/**
 * Resolves the server version (and, for tools/call, the pinned tool) a request
 * is for. It runs after authentication so that unauthenticated callers learn
 * nothing about what exists, and before authorization, which needs the target.
 *
 * Rules:
 * - per-server endpoint: version routing by major (404 / 410, see resolve.ts), or the
 *   exact version a peer's call was authorized for (the node's in-process dispatch);
 * - aggregate endpoint: `{slug}__{tool}` names the slug's newest servable version
 *   (410 when every version of the slug is sunset); prompts (`{slug}__{name}`),
 *   resources (`{slug}+{uri}`) and completion references route the same way;
 * - only servers of the caller's namespace exist here (another tenant's server is
 *   404 / unknown tool in every state, sunset or withheld included);
 * - a tool must be pinned in that version; an unknown tool is answered, like
 *   the SDK servers do, with an `isError` tool result naming it (the backend
 *   never sees the call); a pinned tool whose live definition drifted
 *   is withheld until re-approved (403 forbidden, `cause: schema_changed`).
 */
import { GatewayError } from '../errors.js';
import { namespaceView, type ServerDirectory } from '../../registry/directory.js';
import type { CallContext } from '../call.js';
import { newestServable, parseAggregateName, resolveExact, resolveMajor, sunsetError } from '../routing/resolve.js';
import { parseNamespacedUri } from '../routing/aggregate-names.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { PolicyStep } from './policy.js';

export function route(directory: ServerDirectory): PolicyStep {
  return {
    name: 'route',
    run(call) {
      const { endpoint } = call;
      const registry = namespaceView(directory, call.identity?.tenant);
      if (endpoint.kind === 'server') {
        const record =
          endpoint.version === undefined
            ? resolveMajor(registry, endpoint.slug, endpoint.major, call.now)
            : resolveExact(registry, endpoint.slug, endpoint.version, call.now);
        call.target = { record };
        if (call.method === 'tools/call') resolveTool(call, registry, requireName(call));
        return;
      }
      if (call.method !== 'tools/call') {
        routeAggregateData(call, registry);
        return;
      }
      const name = requireName(call);
      const parsed = parseAggregateName(name);
      const record = parsed && newestServable(registry, parsed.slug, call.now);
      if (parsed && !record && registry.versions(parsed.slug).length > 0) throw sunsetError(registry.versions(parsed.slug));
      if (!parsed || !record) {
        call.answer = unknownTool(name);
        return;
      }
      call.target = { record };
      resolveTool(call, registry, parsed.tool, name);
    },
  };
}

/** Aggregate prompts/get, resources/*, completion/complete: to the slug the name or URI carries. */
function routeAggregateData(call: CallContext, registry: ServerDirectory): void {
  const p = call.params;
  let slug: string | undefined;
  let backendParams: Record<string, unknown> | undefined;
  const byUri = (uri: unknown) => (typeof uri === 'string' ? parseNamespacedUri(uri) : undefined);
  const byName = (name: unknown) => (typeof name === 'string' ? parseAggregateName(name) : undefined);
  switch (call.method) {
    case 'prompts/get': {
      const n = byName(p.name);
      if (n) [slug, backendParams] = [n.slug, { ...p, name: n.tool }];
      break;
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const u = byUri(p.uri);
      if (u) [slug, backendParams] = [u.slug, { ...p, uri: u.uri }];
      break;
    }
    case 'completion/complete': {
      const ref = isObject(p.ref) ? p.ref : {};
      const n = ref.type === 'ref/prompt' ? byName(ref.name) : undefined;
      const u = ref.type === 'ref/resource' ? byUri(ref.uri) : undefined;
      if (n) [slug, backendParams] = [n.slug, { ...p, ref: { ...ref, name: n.tool } }];
      if (u) [slug, backendParams] = [u.slug, { ...p, ref: { ...ref, uri: u.uri } }];
      break;
    }
    default:
      return;
  }
  const record = slug === undefined ? undefined : newestServable(registry, slug, call.now);
  if (!record || !backendParams) throw new GatewayError('invalid_params', `${call.method}: no such prompt or resource on this endpoint`);
  call.target = { record, backendParams };
}

function requireName(call: CallContext): string {
  const name = call.params.name;
  if (typeof name !== 'string' || name.length === 0) throw new GatewayError('invalid_params', 'tools/call requires params.name');
  return name;
}

function resolveTool(call: CallContext, registry: ServerDirectory, tool: string, shownAs = tool): void {
  const record = call.target!.record;
  const pinned = record.tools.find((t) => t.name === tool);
  if (!pinned) {
    call.answer = unknownTool(shownAs);
    return;
  }
  if (registry.isWithheld(record, tool)) {
    throw new GatewayError('forbidden', `Tool ${shownAs} changed since it was approved and is withheld until re-approved`, {
      data: { cause: 'schema_changed', server: record.slug, version: record.version, tool },
    });
  }
  call.target = { record, tool: pinned };
}

/** A tool execution error, so a model can correct the name; the call goes no further. */
export function unknownTool(name: string): Record<string, unknown> {
  return {
    content: [{ type: 'text', text: `Unknown tool: ${name}` }],
    isError: true,
    _meta: { 'io.toolmesh/reason': 'unknown_tool' },
  };
}
