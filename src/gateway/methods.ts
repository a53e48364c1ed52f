/**
 * What the gateway answers itself, per MCP method, once the policy chain has
 * passed: the handshakes of both eras, `tools/list` from the registry's pins,
 * and forwarding of everything else to the target server's backend.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from './errors.js';
import { isObject, type JsonRpcNotification } from '../mcp/jsonrpc.js';
import {
  GATEWAY_INFO,
  LATEST_LEGACY_PROTOCOL_VERSION,
  LEGACY_PROTOCOL_VERSIONS,
  MODERN_PROTOCOL_VERSIONS,
  META_SERVER_INFO,
} from '../mcp/protocol.js';
import { endpointKey, type CallContext } from './call.js';
import type { BackendManager } from './backends/manager.js';
import type { CancelSignal } from './backends/backend.js';
import { serverKey } from '../registry/registry.js';
import type { ServerDirectory } from '../registry/directory.js';
import type { PinnedTool, ServerRecord } from '../registry/types.js';
import type { SessionTokenCodec } from './transport/session-token.js';
import { decideServer, decideTool, type LifecyclePolicy } from '../auth/authorization.js';
import { AGGREGATE_SEPARATOR, newestServable } from './routing/resolve.js';
import { aggregateList, isAggregateList, namespaceReadResult } from './aggregate-catalogue.js';

export interface MethodDeps {
  /** Called right before a call is forwarded to a backend (the audit intent, durable). */
  beforeForward?: (call: CallContext) => Promise<void>;
  registry: ServerDirectory;
  lifecycle: LifecyclePolicy;
  backends: BackendManager;
  sessions: SessionTokenCodec;
  sessionTtlSeconds: number;
}

/** `initialize` `_meta` key under which a client names the tools it needs. */
export const WANTED_TOOLS_META = 'io.toolmesh/wantedTools';

export type MethodResult = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };


export class MethodHandlers {
  readonly #deps: MethodDeps;

  constructor(deps: MethodDeps) {
    this.#deps = deps;
  }

  async handle(call: CallContext, signal: CancelSignal): Promise<MethodResult> {
    if (call.answer) return { result: call.answer };
    switch (call.method) {
      case 'initialize':
        return this.#initialize(call);
      case 'server/discover':
        return { result: this.#discover(call) };
      case 'ping':
        return { result: {} };
      case 'tools/list':
        return { result: { tools: this.#listTools(call) } };
    }
    if (call.endpoint.kind === 'aggregate') {
      if (isAggregateList(call.method)) {
        // The fan-out reaches backends: like any forwarded call, its intent is durable first.
        if (this.#deps.beforeForward) {
          await this.#deps.beforeForward(call);
          call.forwardedAt = performance.now();
        }
        return { result: await aggregateList(call.method, this.#deps, call.identity!, call.now, call.exchange.client) };
      }
      if (call.target) {
        const outcome = await this.#forward(call, signal);
        return call.method === 'resources/read' && 'result' in outcome
          ? { result: namespaceReadResult(call.target.record.slug, outcome.result) }
          : outcome;
      }
      if (call.method === 'logging/setLevel') return { result: {} };
      throw new GatewayError('method_not_found', `Method not found: ${call.method}`);
    }
    return this.#forward(call, signal);
  }

  #capabilities(call: CallContext): Record<string, unknown> {
    if (call.endpoint.kind === 'aggregate') return { tools: { listChanged: false }, resources: {}, prompts: {}, completions: {}, logging: {} };
    const record = call.target!.record;
    const state = this.#deps.backends.get(serverKey(record.slug, record.version), record.backend).state();
    const { tools: _tools, tasks: _tasks, ...upstream } = state.capabilities ?? {};
    // Tools are always the gateway's own (pinned); other capabilities are the backend's.
    return { ...upstream, tools: { listChanged: false } };
  }

  #serverInfo(call: CallContext): Record<string, unknown> {
    if (call.endpoint.kind === 'aggregate') return { ...GATEWAY_INFO, title: 'Toolmesh aggregate' };
    const record = call.target!.record;
    return { name: `toolmesh/${record.slug}`, version: record.version, ...(record.title ? { title: record.title } : {}) };
  }

  #initialize(call: CallContext): MethodResult {
    if (call.exchange.era !== 'legacy') throw new GatewayError('invalid_request', 'initialize is not part of the 2026-07-28 protocol; use server/discover');
    this.#checkWantedTools(call);
    const requested = call.params.protocolVersion;
    const version =
      typeof requested === 'string' && LEGACY_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_LEGACY_PROTOCOL_VERSION;
    const info = isObject(call.params.clientInfo) ? call.params.clientInfo : {};
    const now = Math.floor(call.now.getTime() / 1000);
    const token = this.#deps.sessions.sign({
      pv: version,
      ep: endpointKey(call.endpoint),
      caps: isObject(call.params.capabilities) ? call.params.capabilities : {},
      ci: { name: String(info.name ?? '').slice(0, 128), version: String(info.version ?? '').slice(0, 64) },
      n: randomBytes(9).toString('base64url'),
      iat: now,
      exp: now + this.#deps.sessionTtlSeconds,
    });
    if (!token) throw new GatewayError('invalid_params', 'initialize: client capabilities too large for a session');
    call.channel.setHeader('Mcp-Session-Id', token);
    return {
      result: {
        protocolVersion: version,
        capabilities: this.#capabilities(call),
        serverInfo: this.#serverInfo(call),
      },
    };
  }

  #discover(call: CallContext): Record<string, unknown> {
    return {
      supportedVersions: [...MODERN_PROTOCOL_VERSIONS],
      capabilities: this.#capabilities(call),
      resultType: 'complete',
      _meta: { [META_SERVER_INFO]: this.#serverInfo(call) },
    };
  }

  /** Only what this caller may call: the same decision as tools/call, per tool. */
  #listTools(call: CallContext): Record<string, unknown>[] {
    const { registry, lifecycle } = this.#deps;
    const identity = call.identity!;
    if (call.endpoint.kind === 'server') {
      const record = call.target!.record;
      return registry
        .servableTools(record)
        .filter((t) => decideTool(identity, record, t, lifecycle).allowed)
        .map((t) => toolView(t, t.name, record));
    }
    const tools: Record<string, unknown>[] = [];
    for (const slug of registry.slugs()) {
      const record = newestServable(registry, slug, call.now);
      if (!record || !decideServer(identity, record, lifecycle).allowed) continue;
      for (const t of registry.servableTools(record)) {
        if (decideTool(identity, record, t, lifecycle).allowed) tools.push(toolView(t, `${slug}${AGGREGATE_SEPARATOR}${t.name}`, record));
      }
    }
    return tools;
  }

  /**
   * A legacy client may name the tools it needs at initialize
   * (`params._meta["io.toolmesh/wantedTools"]`, names as this endpoint lists
   * them); the session is refused if any of them is not callable.
   */
  #checkWantedTools(call: CallContext): void {
    const meta = isObject(call.params._meta) ? call.params._meta : undefined;
    const wanted = meta?.[WANTED_TOOLS_META];
    if (wanted === undefined) return;
    if (!Array.isArray(wanted) || !wanted.every((w) => typeof w === 'string')) {
      throw new GatewayError('invalid_params', `_meta["${WANTED_TOOLS_META}"] must be an array of tool names`);
    }
    const callable = new Set(this.#listTools(call).map((t) => t.name as string));
    const refused = (wanted as string[]).filter((w) => !callable.has(w));
    if (refused.length > 0) {
      throw new GatewayError('forbidden', `not authorized for: ${refused.join(', ')}`, { data: { tools: refused } });
    }
  }

  async #forward(call: CallContext, signal: CancelSignal): Promise<MethodResult> {
    const record = call.target!.record;
    const backend = this.#deps.backends.get(serverKey(record.slug, record.version), record.backend);
    const target = call.target!;
    const params = target.backendParams ?? (target.tool ? { ...call.params, name: target.tool.name } : call.params);
    const channel = call.channel;
    if (this.#deps.beforeForward) {
      await this.#deps.beforeForward(call);
      call.forwardedAt = performance.now();
    }
    const outcome = await backend.request({
      method: call.method,
      params,
      signal,
      client: call.exchange.client,
      caller: { identity: call.identity!, correlationId: call.correlationId },
      onNotification: (n: JsonRpcNotification) => channel.relay(n),
    });
    return outcome;
  }
}

function toolView(tool: PinnedTool, name: string, record: ServerRecord): Record<string, unknown> {
  return {
    name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema !== undefined ? { outputSchema: tool.outputSchema } : {}),
    ...(tool.annotations !== undefined ? { annotations: tool.annotations } : {}),
    _meta: {
      'io.toolmesh/server': { slug: record.slug, version: record.version, lifecycle: record.lifecycle, access: tool.access },
    },
  };
}

