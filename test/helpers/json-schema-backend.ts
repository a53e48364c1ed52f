/**
 * A legacy-era HTTP backend (SDK v1 low-level `Server`, stateless Streamable
 * HTTP) that offers tools with hand-written JSON Schemas, exactly as given —
 * no zod in between — for schema-validation tests. Every tool echoes its
 * arguments as JSON text, and every executed call is counted by tool name.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export interface RawTool {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  /** Characters of filler appended to every answer of this tool (for oversized answers). */
  pad?: number;
}

export interface JsonSchemaBackend {
  url: string;
  /** Tool calls executed, by tool name. */
  calls: Map<string, number>;
  /** Total HTTP requests received (any method). */
  requests(): number;
  close(): Promise<void>;
}

export async function startJsonSchemaBackend(tools: RawTool[]): Promise<JsonSchemaBackend> {
  const calls = new Map<string, number>();
  let requests = 0;
  const build = () => {
    const server = new Server({ name: 'json-schema-backend', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools as never }));
    server.setRequestHandler(CallToolRequestSchema, async (req) => {
      const { name, arguments: args } = req.params;
      if (!tools.some((t) => t.name === name)) return { content: [{ type: 'text', text: `no tool ${name}` }], isError: true };
      calls.set(name, (calls.get(name) ?? 0) + 1);
      const pad = tools.find((t) => t.name === name)?.pad ?? 0;
      return { content: [{ type: 'text', text: JSON.stringify(args ?? {}) + ' '.repeat(pad) }] };
    });
    return server;
  };
  const http: HttpServer = createServer(async (req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = build();
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, text ? JSON.parse(text) : undefined);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    calls,
    requests: () => requests,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
