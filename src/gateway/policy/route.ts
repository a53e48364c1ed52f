/**
 * Resolves the server version (and, for tools/call, the pinned tool) a request
 * is for. It runs after authentication so that unauthenticated callers learn
 * nothing about what exists, and before authorization, which needs the target.
 *
 * Rules:
 * - per-server endpoint: version routing by major (404 / 410, see resolve.ts);
 * - aggregate endpoint: `{slug}__{tool}` names the slug's newest servable version
 *   (410 when every version of the slug is sunset);
 * - a tool must be pinned in that version; an unknown tool is answered, like
 *   the SDK servers do, with an `isError` tool result naming it (the backend
 *   never sees the call); a pinned tool whose live definition drifted
 *   is withheld until re-approved (403 forbidden, `cause: schema_changed`).
 */
import { GatewayError } from '../errors.js';
import type { Registry } from '../../registry/registry.js';
import type { CallContext } from '../call.js';
import { newestServable, parseAggregateName, resolveMajor, sunsetError } from '../routing/resolve.js';
import type { PolicyStep } from './policy.js';

export function route(registry: Registry): PolicyStep {
  return {
    name: 'route',
    run(call) {
      const { endpoint } = call;
      if (endpoint.kind === 'server') {
        const record = resolveMajor(registry, endpoint.slug, endpoint.major, call.now);
        call.target = { record };
        if (call.method === 'tools/call') resolveTool(call, registry, requireName(call));
        return;
      }
      if (call.method !== 'tools/call') return;
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

function requireName(call: CallContext): string {
  const name = call.params.name;
  if (typeof name !== 'string' || name.length === 0) throw new GatewayError('invalid_params', 'tools/call requires params.name');
  return name;
}

function resolveTool(call: CallContext, registry: Registry, tool: string, shownAs = tool): void {
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
