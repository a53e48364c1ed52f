/**
 * Real MCP servers for gateway tests, started on loopback:
 * - a legacy-era HTTP server built with SDK v1 (stateful sessions),
 * - a modern-era (2026-07-28) HTTP server built with SDK v2 (`createMcpHandler`,
 *   also serving legacy clients statelessly),
 * - server-everything over stdio.
 * Every server counts the tool calls it actually executed, so a test can
 * prove a rejected call never reached it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpServer as McpServerV2, createMcpHandler } from '@modelcontextprotocol/server';
import { z } from 'zod';

const require = createRequire(import.meta.url);

export interface TestBackend {
  url: string;
  /** Tool calls executed, by tool name. */
  calls: Map<string, number>;
  /** The HTTP headers of every request the backend received. */
  seenHeaders: Record<string, string | string[] | undefined>[];
  /** Change what the `echo` tool's description says (drift). */
  setEchoDescription(text: string): void;
  close(): Promise<void>;
}

interface ToolState {
  calls: Map<string, number>;
  echoDescription: string;
}

function count(state: ToolState, name: string) {
  state.calls.set(name, (state.calls.get(name) ?? 0) + 1);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp` };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** SDK v1, legacy era, stateful Streamable HTTP. */
export async function startLegacyHttpBackend(): Promise<TestBackend> {
  const state: ToolState = { calls: new Map(), echoDescription: 'Echoes the text back' };
  const seenHeaders: TestBackend['seenHeaders'] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const build = () => {
    const s = new McpServerV1({ name: 'legacy-backend', version: '1.0.0' });
    s.registerTool('echo', { description: state.echoDescription, inputSchema: { text: z.string().max(1000) } }, async ({ text }) => {
      count(state, 'echo');
      return { content: [{ type: 'text', text }] };
    });
    s.registerTool('add', { description: 'Adds two integers', inputSchema: { a: z.number().int(), b: z.number().int() } }, async ({ a, b }) => {
      count(state, 'add');
      return { content: [{ type: 'text', text: String(a + b) }] };
    });
    s.registerTool('slow', { description: 'Sleeps', inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
      count(state, 'slow');
      await sleep(ms, extra.signal);
      return { content: [{ type: 'text', text: `slept ${ms}` }] };
    });
    s.registerTool('progress', { description: 'Reports progress', inputSchema: { steps: z.number().int().min(1).max(10) } }, async ({ steps }, extra) => {
      count(state, 'progress');
      for (let i = 1; i <= steps; i++) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: extra._meta?.progressToken ?? 0, progress: i, total: steps } });
      }
      return { content: [{ type: 'text', text: `done ${steps}` }] };
    });
    return s;
  };
  const { server, url } = await listen(async (req, res) => {
    seenHeaders.push({ ...req.headers });
    const body = req.method === 'POST' ? JSON.parse((await readBody(req)).toString() || 'null') : undefined;
    const sid = req.headers['mcp-session-id'] as string | undefined;
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid) {
        res.writeHead(404).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => {
        transports.set(id, transport!);
      } });
      await build().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  return {
    url,
    calls: state.calls,
    seenHeaders,
    setEchoDescription: (text) => (state.echoDescription = text),
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** SDK v2, modern era (2026-07-28), legacy clients served statelessly. */
export async function startModernHttpBackend(): Promise<TestBackend> {
  const state: ToolState = { calls: new Map(), echoDescription: 'Echoes the text back' };
  const seenHeaders: TestBackend['seenHeaders'] = [];
  const handler = createMcpHandler(() => {
    const s = new McpServerV2({ name: 'modern-backend', version: '2.0.0' });
    s.registerTool('echo', { description: state.echoDescription, inputSchema: z.object({ text: z.string().max(1000) }) }, async ({ text }) => {
      count(state, 'echo');
      return { content: [{ type: 'text' as const, text }] };
    });
    s.registerTool('progress', { description: 'Reports progress', inputSchema: z.object({ steps: z.number().int().min(1).max(10) }) }, async ({ steps }, ctx: any) => {
      count(state, 'progress');
      for (let i = 1; i <= steps; i++) {
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: ctx.mcpReq._meta?.progressToken ?? 0, progress: i, total: steps } });
      }
      return { content: [{ type: 'text' as const, text: `done ${steps}` }] };
    });
    s.registerTool('slow', { description: 'Sleeps', inputSchema: z.object({ ms: z.number() }) }, async ({ ms }) => {
      count(state, 'slow');
      await sleep(ms);
      return { content: [{ type: 'text' as const, text: `slept ${ms}` }] };
    });
    return s;
  });
  const { server, url } = await listen(async (req, res) => {
    seenHeaders.push({ ...req.headers });
    const body = await readBody(req);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const response = await handler.fetch(
      new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, ...(body.length ? { body } : {}) }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
    }
    res.end();
  });
  return {
    url,
    calls: state.calls,
    seenHeaders,
    setEchoDescription: (text) => (state.echoDescription = text),
    close: async () => {
      await handler.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The stdio command line of `@modelcontextprotocol/server-everything`. */
export function everythingStdio(): { stdio: string; args: string[] } {
  const pkg = require.resolve('@modelcontextprotocol/server-everything/package.json');
  return { stdio: process.execPath, args: [pkg.replace(/package\.json$/, 'dist/index.js'), 'stdio'] };
}

/** The stdio test server with crash/slow/count tools. */
export function fixtureStdio(): { stdio: string; args: string[] } {
  return { stdio: process.execPath, args: [new URL('../fixtures/stdio-server.mjs', import.meta.url).pathname] };
}
