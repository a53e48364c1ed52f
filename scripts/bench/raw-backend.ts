/**
 * Benchmark fixture: a minimal raw JSON-RPC MCP backend on `node:http`, the
 * cheapest server we can put behind the gateway (scenarios a and b).
 *
 * - modern era (2026-07-28): answers `server/discover`, so the gateway talks to
 *   it statelessly with the per-request `_meta` envelope;
 * - legacy era: answers `initialize` (no session id: a stateless legacy server);
 * - `tools/list`: one tool, `echo {text: string}`; `tools/call echo` answers a
 *   small text result carrying the given text (so callers can verify it).
 *
 * Run as its own process: `node raw-backend.js [port]` (default: an ephemeral
 * port on 127.0.0.1). Prints `LISTENING <port>` on stdout once it accepts
 * connections; stops on SIGTERM/SIGINT.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const MODERN = '2026-07-28';
const LEGACY = ['2025-11-25', '2025-06-18', '2025-03-26'];
const SERVER_INFO = { name: 'bench-raw-echo', version: '1.0.0' };
const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';

const ECHO_TOOL = {
  name: 'echo',
  description: 'Echoes its text argument.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string' } },
    required: ['text'],
    additionalProperties: false,
  },
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reply(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function answer(method: string, params: Json, modern: boolean): { result: Json } | { error: { code: number; message: string } } {
  switch (method) {
    case 'server/discover':
      return {
        result: {
          supportedVersions: [MODERN],
          capabilities: { tools: {} },
          resultType: 'complete',
          ttlMs: 0,
          cacheScope: 'private',
          _meta: { 'io.modelcontextprotocol/serverInfo': SERVER_INFO },
        },
      };
    case 'initialize': {
      const requested = params.protocolVersion;
      const version = typeof requested === 'string' && LEGACY.includes(requested) ? requested : LEGACY[0]!;
      return { result: { protocolVersion: version, capabilities: { tools: {} }, serverInfo: SERVER_INFO } };
    }
    case 'ping':
      return { result: modern ? { resultType: 'complete' } : {} };
    case 'tools/list':
      return { result: modern ? { tools: [ECHO_TOOL], resultType: 'complete', ttlMs: 0, cacheScope: 'private' } : { tools: [ECHO_TOOL] } };
    case 'tools/call': {
      const args = isObject(params.arguments) ? params.arguments : {};
      if (params.name !== 'echo') return { error: { code: -32602, message: `Unknown tool: ${String(params.name)}` } };
      if (typeof args.text !== 'string') return { error: { code: -32602, message: 'echo: text must be a string' } };
      const result: Json = { content: [{ type: 'text', text: args.text }] };
      if (modern) result.resultType = 'complete';
      return { result };
    }
    default:
      return { error: { code: -32601, message: `Method not found: ${method}` } };
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' });
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let msg: unknown;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      reply(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    if (!isObject(msg) || typeof msg.method !== 'string') {
      // Responses and anything else: accepted, no body.
      res.writeHead(202);
      res.end();
      return;
    }
    if (!('id' in msg)) {
      // A notification (notifications/initialized, cancelled, …).
      res.writeHead(202);
      res.end();
      return;
    }
    const params = isObject(msg.params) ? msg.params : {};
    const meta = isObject(params._meta) ? params._meta : undefined;
    const modern = meta?.[META_PROTOCOL_VERSION] === MODERN;
    reply(res, 200, { jsonrpc: '2.0', id: msg.id, ...answer(msg.method, params, modern) });
  });
}

const port = Number(process.argv[2] ?? 0);
const server = createServer({ keepAliveTimeout: 65_000 }, handle);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
