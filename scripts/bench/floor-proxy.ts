/**
 * Benchmark reference (scenario e): the least a Node HTTP proxy can do per
 * MCP call — node:http in, one JSON.parse/stringify each way, a keep-alive
 * undici Pool out — with no checks, no policy and no routing. Its CPU per
 * call is the floor under any Node gateway on this machine.
 *
 * Usage: node floor-proxy.js <backend-url>   (prints `LISTENING <port>`)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const target = new URL(process.argv[2] ?? '');
const pool = new Pool(target.origin, { connections: 64 });
const forward = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' };

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method: string; params?: { name?: string } };
    pool
      .request({
        path: target.pathname,
        method: 'POST',
        headers: { ...forward, 'mcp-method': message.method, 'mcp-name': message.params?.name ?? '' },
        body: JSON.stringify(message),
      })
      .then((r) => r.body.text())
      .then((text) => {
        const body = JSON.stringify(JSON.parse(text));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      })
      .catch(() => res.writeHead(502).end());
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
