/**
 * Callers as a real AI client would be: a bearer token from the node's
 * embedded authorization server (client credentials, RFC 8707 resource = the
 * node's /mcp), then the official MCP SDK client (`Client` +
 * `StreamableHTTPClientTransport`) with an Authorization header. The
 * transport's fetch is wrapped only to note the gateway's X-Correlation-Id,
 * which the audit trail is queried by.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { DemoClient } from './node-process.js';

export interface Token {
  accessToken: string;
  scope: string;
}

/** client_credentials at the node's embedded authorization server (its endpoint from RFC 8414 metadata). */
export async function clientToken(nodeUrl: string, client: DemoClient): Promise<Token> {
  const metaRes = await fetch(`${nodeUrl}/.well-known/oauth-authorization-server/oauth`, { signal: AbortSignal.timeout(10_000) });
  if (!metaRes.ok) throw new Error(`no authorization server metadata at ${nodeUrl}: HTTP ${metaRes.status}`);
  const meta = (await metaRes.json()) as { token_endpoint: string };
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    signal: AbortSignal.timeout(10_000),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: client.scopes.join(' '), resource: `${nodeUrl}/mcp` }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token request for ${client.clientId} failed: HTTP ${res.status} ${text}`);
  const body = JSON.parse(text) as { access_token: string; scope?: string };
  return { accessToken: body.access_token, scope: body.scope ?? '' };
}

/** A refusal as the gateway renders it (PRODUCT.md §6). */
export interface Refusal {
  status: number;
  code: number | undefined;
  reason: string | undefined;
  message: string;
  data: Record<string, unknown>;
}

export interface ToolOutcome {
  ok: boolean;
  /** The tool result's text content. */
  text: string;
  /** `io.toolmesh/reason` of an `isError` result answered by the gateway. */
  reason?: string;
  refusal?: Refusal;
  correlationId: string | undefined;
}

export interface McpSession {
  listTools(): Promise<string[]>;
  call(name: string, args: Record<string, unknown>): Promise<ToolOutcome>;
  close(): Promise<void>;
}

/** The gateway's JSON-RPC error out of the SDK's HTTP error (its message carries the response body). */
function refusalOf(err: unknown): Refusal | undefined {
  if (!(err instanceof StreamableHTTPError)) return undefined;
  const body = err.message.slice(err.message.indexOf('{'));
  try {
    const parsed = JSON.parse(body) as { error?: { code?: number; message?: string; data?: Record<string, unknown> } };
    const data = parsed.error?.data ?? {};
    return { status: err.code ?? 0, code: parsed.error?.code, reason: typeof data.reason === 'string' ? data.reason : undefined, message: parsed.error?.message ?? '', data };
  } catch {
    return { status: err.code ?? 0, code: undefined, reason: undefined, message: err.message, data: {} };
  }
}

/** Connects the SDK client to the node's aggregate endpoint `/mcp` as the token's holder. */
export async function connect(nodeUrl: string, token: Token, name: string): Promise<McpSession> {
  let lastCorrelationId: string | undefined;
  const transport = new StreamableHTTPClientTransport(new URL(`${nodeUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token.accessToken}` } },
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      lastCorrelationId = res.headers.get('x-correlation-id') ?? lastCorrelationId;
      return res;
    },
  });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  return {
    async listTools() {
      const names: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {});
        names.push(...page.tools.map((t) => t.name));
        cursor = page.nextCursor;
      } while (cursor);
      return names.sort();
    },
    async call(toolName, args) {
      lastCorrelationId = undefined;
      try {
        const result = await client.callTool({ name: toolName, arguments: args });
        const content = (result.content ?? []) as Array<{ type: string; text?: string }>;
        const text = content.map((c) => (c.type === 'text' ? c.text ?? '' : `[${c.type}]`)).join('\n');
        const meta = (result._meta ?? {}) as Record<string, unknown>;
        const reason = typeof meta['io.toolmesh/reason'] === 'string' ? (meta['io.toolmesh/reason'] as string) : undefined;
        return { ok: result.isError !== true, text, ...(reason ? { reason } : {}), correlationId: lastCorrelationId };
      } catch (err) {
        const refusal = refusalOf(err);
        if (!refusal) throw err;
        return { ok: false, text: refusal.message, ...(refusal.reason ? { reason: refusal.reason } : {}), refusal, correlationId: lastCorrelationId };
      }
    },
    close: () => client.close(),
  };
}
