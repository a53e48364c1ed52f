/**
 * The official MCP clients, unchanged, pointed at the gateway:
 * SDK v1 (`@modelcontextprotocol/sdk`, legacy era) and SDK v2
 * (`@modelcontextprotocol/client`, pinned to 2026-07-28).
 */
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';

export type Era = 'legacy' | 'modern';

export interface AnyClient {
  era: Era;
  listTools(): Promise<{ tools: { name: string; description?: string; inputSchema: unknown }[] }>;
  callTool(name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; total?: number }) => void): Promise<any>;
  close(): Promise<void>;
}

/** `headers` go with every request (e.g. `Authorization: Bearer …`). */
export async function connect(era: Era, url: string, headers?: Record<string, string>): Promise<AnyClient> {
  const options = headers ? { requestInit: { headers } } : undefined;
  if (era === 'legacy') {
    const client = new ClientV1({ name: 'test-v1', version: '1.0.0' });
    await client.connect(new TransportV1(new URL(url), options));
    return {
      era,
      listTools: () => client.listTools() as any,
      callTool: (name, args, onprogress) => client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress } : {}),
      close: () => client.close(),
    };
  }
  const client = new ClientV2({ name: 'test-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new TransportV2(new URL(url), options));
  return {
    era,
    listTools: () => client.listTools() as any,
    callTool: (name, args, onprogress) => client.callTool({ name, arguments: args }, onprogress ? { onprogress } : {}),
    close: () => client.close(),
  };
}

/** A raw JSON-RPC POST, for hostile-input tests: returns status, headers and parsed body. */
export async function rawPost(
  url: string,
  body: string | object,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Modern-era request body and headers for a method. */
export function modern(method: string, params: Record<string, unknown> = {}, id: number | string = 1) {
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
  };
  const headers: Record<string, string> = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
  const name = (params.name ?? params.uri) as string | undefined;
  if (name !== undefined) headers['mcp-name'] = name;
  return { body, headers };
}
