/**
 * The demo's sample tool servers: three small MCP servers built with the
 * official SDK (`McpServer` over Streamable HTTP, stateful sessions), each on
 * its own loopback port, with in-memory sample data. Each business unit's
 * node registers its own through the admin API:
 *
 *   sales   crm       lookup_customer (read), update_customer (write)
 *   support tickets   search_tickets (read), get_ticket (read), create_ticket (write)
 *   acme    shipping  track_shipment (read)
 *
 * The read/write split is the registry's (`readTools` at registration), not
 * the servers' hints: that is what trust policies and scopes refer to.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface ToolServer {
  /** The MCP endpoint (`http://127.0.0.1:PORT/mcp`). */
  url: string;
  /** Tools the registry should classify as read-only. */
  readTools: string[];
  close(): Promise<void>;
}

type Build = () => McpServer;

const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

const CUSTOMERS = new Map<string, { id: string; name: string; tier: string; owner: string }>([
  ['C-1001', { id: 'C-1001', name: 'Globex Ltd', tier: 'gold', owner: 'alice@sales' }],
  ['C-1002', { id: 'C-1002', name: 'Initech GmbH', tier: 'silver', owner: 'bob@sales' }],
]);

function crm(): McpServer {
  const s = new McpServer({ name: 'crm', version: '2.4.0' });
  s.registerTool(
    'lookup_customer',
    { description: 'Looks a customer up by id', inputSchema: { customerId: z.string().regex(/^C-\d{4}$/) } },
    async ({ customerId }) => text(CUSTOMERS.get(customerId) ?? { error: `no customer ${customerId}` }),
  );
  s.registerTool(
    'update_customer',
    { description: "Changes a customer's tier", inputSchema: { customerId: z.string(), tier: z.enum(['bronze', 'silver', 'gold']) } },
    async ({ customerId, tier }) => {
      const c = CUSTOMERS.get(customerId);
      if (c) c.tier = tier;
      return text(c ?? { error: `no customer ${customerId}` });
    },
  );
  return s;
}

const TICKETS = [
  { id: 'T-501', customer: 'C-1001', subject: 'Invoice shows wrong VAT', status: 'open' },
  { id: 'T-502', customer: 'C-1001', subject: 'Cannot log in to the portal', status: 'pending' },
  { id: 'T-503', customer: 'C-1002', subject: 'Delivery delayed', status: 'closed' },
];

function tickets(): McpServer {
  const s = new McpServer({ name: 'tickets', version: '1.3.0' });
  s.registerTool(
    'search_tickets',
    { description: "Searches a customer's support tickets", inputSchema: { customer: z.string(), status: z.enum(['open', 'pending', 'closed']).optional() } },
    async ({ customer, status }) => text(TICKETS.filter((t) => t.customer === customer && (status === undefined || t.status === status))),
  );
  s.registerTool('get_ticket', { description: 'One ticket by id', inputSchema: { id: z.string() } }, async ({ id }) =>
    text(TICKETS.find((t) => t.id === id) ?? { error: `no ticket ${id}` }),
  );
  s.registerTool(
    'create_ticket',
    { description: 'Opens a ticket for a customer', inputSchema: { customer: z.string(), subject: z.string().min(3).max(200) } },
    async ({ customer, subject }) => {
      const ticket = { id: `T-${500 + TICKETS.length + 1}`, customer, subject, status: 'open' };
      TICKETS.push(ticket);
      return text(ticket);
    },
  );
  return s;
}

function shipping(): McpServer {
  const s = new McpServer({ name: 'shipping', version: '1.0.0' });
  s.registerTool('track_shipment', { description: 'Where a shipment is', inputSchema: { trackingNumber: z.string() } }, async ({ trackingNumber }) =>
    text({ trackingNumber, status: 'in transit', location: 'Rotterdam hub', eta: '2 days' }),
  );
  return s;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString();
  return raw ? (JSON.parse(raw) as unknown) : undefined;
}

/** One SDK server per MCP session, as the SDK's stateful Streamable HTTP example does. */
async function serve(build: Build, readTools: string[]): Promise<ToolServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const sid = req.headers['mcp-session-id'];
      let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!transport) {
        if (sid !== undefined) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
          return;
        }
        const created = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, created) });
        created.onclose = () => void (created.sessionId && sessions.delete(created.sessionId));
        await build().connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, req.method === 'POST' ? await readJson(req) : undefined);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    readTools,
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts the three sample servers. */
export async function startToolServers(): Promise<{ crm: ToolServer; tickets: ToolServer; shipping: ToolServer }> {
  return {
    crm: await serve(crm, ['lookup_customer']),
    tickets: await serve(tickets, ['search_tickets', 'get_ticket']),
    shipping: await serve(shipping, ['track_shipment']),
  };
}
