/**
 * Owns one live backend per registered server version: created on first use,
 * reused by every call (pooled HTTP connections, one supervised stdio child),
 * closed when the node stops.
 */
import type { NodeConfig } from '../../config/config.js';
import { GATEWAY_INFO } from '../../mcp/protocol.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { BackendSpec, RemoteServerRef } from '../../registry/types.js';
import type { ObservedTool } from '../../registry/registry.js';
import { GatewayError } from '../errors.js';
import type { Backend } from './backend.js';
import { HttpBackend } from './http.js';
import { StdioBackend } from './stdio.js';
import { guardedLookup } from '../../registry/ssrf.js';

export interface BackendManagerOptions {
  backends: NodeConfig['backends'];
  onLog?: (key: string, line: string) => void;
  /** Creates the backend of a peer's server (federation); without it, remote servers are unavailable. */
  remote?: (ref: RemoteServerRef) => Backend;
}

export class BackendManager {
  readonly #options: BackendManagerOptions;
  readonly #live = new Map<string, Backend>();
  readonly #listChanged = new Set<(key: string, method: string) => void>();
  #closed = false;

  constructor(options: BackendManagerOptions) {
    this.#options = options;
  }

  /** The backend for `key` (slug@version), created on first use. */
  get(key: string, spec: BackendSpec): Backend {
    let backend = this.#live.get(key);
    if (!backend) {
      if (this.#closed) throw new GatewayError('upstream_unavailable', 'node is shutting down');
      backend = this.#create(key, spec);
      backend.onListChanged((method) => {
        for (const listener of this.#listChanged) listener(key, method);
      });
      this.#live.set(key, backend);
    }
    return backend;
  }

  onListChanged(listener: (key: string, method: string) => void): void {
    this.#listChanged.add(listener);
  }

  #create(key: string, spec: BackendSpec): Backend {
    const cfg = this.#options.backends;
    if ('remote' in spec) {
      if (!this.#options.remote) throw new GatewayError('upstream_unavailable', `${key}: federation is not enabled on this node`);
      return this.#options.remote(spec.remote);
    }
    if ('http' in spec) {
      return new HttpBackend(spec.http, {
        callTimeoutMs: cfg.callTimeoutMs,
        connectTimeoutMs: cfg.connectTimeoutMs,
        connections: cfg.connections,
        ...(spec.headers ? { headers: spec.headers } : {}),
        clientInfo: { ...GATEWAY_INFO },
        lookup: guardedLookup({ allowLoopback: cfg.allowLoopback, allowPrivate: cfg.allowPrivate }),
      });
    }
    return new StdioBackend(
      { command: spec.stdio, args: spec.args, ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd ? { cwd: spec.cwd } : {}) },
      {
        callTimeoutMs: cfg.callTimeoutMs,
        restart: cfg.stdioRestart,
        clientInfo: { ...GATEWAY_INFO },
        ...(this.#options.onLog ? { onLog: (line: string) => this.#options.onLog!(key, line) } : {}),
      },
    );
  }

  /** Lists every tool the backend offers now (following pagination). */
  async listTools(key: string, spec: BackendSpec): Promise<ObservedTool[]> {
    const backend = this.get(key, spec);
    const tools: ObservedTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const outcome = await backend.request({ method: 'tools/list', params: cursor ? { cursor } : {} });
      if ('error' in outcome) throw new GatewayError('upstream_unavailable', `tools/list failed: ${outcome.error.message}`);
      const list = outcome.result.tools;
      if (!Array.isArray(list)) throw new GatewayError('upstream_unavailable', 'tools/list returned no tools array');
      for (const t of list) {
        if (!isObject(t) || typeof t.name !== 'string' || !isObject(t.inputSchema)) continue;
        tools.push({
          name: t.name,
          ...(typeof t.title === 'string' ? { title: t.title } : {}),
          ...(typeof t.description === 'string' ? { description: t.description } : {}),
          inputSchema: t.inputSchema,
          ...(isObject(t.outputSchema) ? { outputSchema: t.outputSchema } : {}),
          ...(isObject(t.annotations) ? { annotations: t.annotations } : {}),
        });
      }
      cursor = typeof outcome.result.nextCursor === 'string' ? outcome.result.nextCursor : undefined;
      if (!cursor) break;
    }
    return tools;
  }

  /** Closes and forgets one backend (e.g. a failed registration's probe). */
  async release(key: string): Promise<void> {
    const backend = this.#live.get(key);
    this.#live.delete(key);
    await backend?.close();
  }

  states(): Record<string, ReturnType<Backend['state']>> {
    return Object.fromEntries([...this.#live].map(([k, b]) => [k, b.state()]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#live.values()];
    this.#live.clear();
    await Promise.allSettled(all.map((b) => b.close()));
  }
}
