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

function escapeLabel(value: string): string {
  return value.length > 64 ? 'other' : value.replace(/["\\\n]/g, '_');
}
