// Benchmark fixture: the smallest useful MCP stdio server on the v1 SDK.
// One tool, `echo {text: string}`, answering with the text it was given.
// Spawned by Toolmesh (scenario c) and by mcp-proxy (scenario d).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'bench-sdk-echo', version: '1.0.0' });

server.registerTool(
  'echo',
  { description: 'Echoes its text argument.', inputSchema: { text: z.string() } },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);

await server.connect(new StdioServerTransport());
