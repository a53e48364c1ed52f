/**
 * Prometheus metrics, kept as plain counters: cheap enough for the hot path
 * and rendered in the text exposition format on `/metrics`.
 */

export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #gauges = new Map<string, () => number>();

  /** Counts one MCP request by endpoint kind, method and outcome (`ok` or a reason). */
  request(endpoint: string, method: string, outcome: string): void {
    const key = `endpoint="${endpoint}",method="${escapeLabel(method)}",outcome="${outcome}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  gauge(name: string, read: () => number): void {
    this.#gauges.set(name, read);
  }

  render(): string {
    const lines = ['# HELP toolmesh_mcp_requests_total MCP requests by endpoint, method and outcome.', '# TYPE toolmesh_mcp_requests_total counter'];
    for (const [labels, value] of this.#requests) lines.push(`toolmesh_mcp_requests_total{${labels}} ${value}`);
    for (const [name, read] of this.#gauges) {
      lines.push(`# TYPE ${name} gauge`, `${name} ${read()}`);
    }
    return lines.join('\n') + '\n';
  }
}

/** Method labels come from clients: only MCP's own method names are kept, the rest count as `other`. */
const KNOWN_METHODS = new Set([
  '-', 'initialize', 'server/discover', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read',
  'resources/templates/list', 'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'prompts/get',
  'completion/complete', 'logging/setLevel', 'subscriptions/listen',
]);

function escapeLabel(value: string): string {
  return KNOWN_METHODS.has(value) ? value : 'other';
}
