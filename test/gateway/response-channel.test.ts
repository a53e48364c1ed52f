/**
 * The response channel over a real socket whose client stops reading: relayed
 * notifications (a backend flooding progress) are dropped past a bound instead
 * of filling the node's memory, and the result is still delivered once the
 * client reads again.
 */
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_RELAY_BUFFER_BYTES, ResponseChannel } from '../../src/gateway/transport/response.js';

t.test('a client that does not read: relayed notifications stop at the bound, the result still arrives', async (t) => {
  let serverRes: ServerResponse | undefined;
  let channel: ResponseChannel | undefined;
  const server = createServer((_req, res) => {
    serverRes = res;
    channel = new ResponseChannel(res, true);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause(); // reads nothing from here on
  socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
  while (!channel) await sleep(10);

  const note = { jsonrpc: '2.0' as const, method: 'notifications/progress', params: { progressToken: 1, progress: 1, message: 'x'.repeat(64 * 1024) } };
  for (let i = 0; i < 600; i++) channel.relay(note); // ~38 MiB offered
  t.ok(serverRes!.writableLength <= MAX_RELAY_BUFFER_BYTES + 70 * 1024, `buffered ${serverRes!.writableLength} bytes, bounded`);
  t.ok(channel.dropped > 0, `${channel.dropped} notifications dropped`);

  channel.send({ jsonrpc: '2.0', id: 1, result: { done: true } });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.resume();
  for (let i = 0; i < 200 && !received.includes('"done":true'); i++) await sleep(25);
  t.ok(received.includes('"done":true'), 'the result reached the client after the relayed notifications');
});
