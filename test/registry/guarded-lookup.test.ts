/**
 * The dial-time SSRF guard: a backend host name is re-checked on every
 * connection, so DNS answers that change after registration cannot reach a
 * refused address class.
 */
import t from 'tap';
import { Pool } from 'undici';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { guardedLookup } from '../../src/registry/ssrf.js';

const lookupOnce = (lookup: ReturnType<typeof guardedLookup>, host: string) =>
  new Promise<{ err: (Error & { code?: string }) | null; address: unknown }>((resolve) =>
    lookup(host, {}, (err, address) => resolve({ err: err as (Error & { code?: string }) | null, address })),
  );

t.test('a loopback name is refused when loopback is not allowed', async (t) => {
  const { err } = await lookupOnce(guardedLookup({ allowLoopback: false, allowPrivate: false }), 'localhost');
  t.equal(err?.code, 'ssrf_blocked');
});

t.test('a loopback name resolves when loopback is allowed', async (t) => {
  const { err, address } = await lookupOnce(guardedLookup({ allowLoopback: true, allowPrivate: false }), 'localhost');
  t.equal(err, null);
  t.match(String(address), /^(127\.|::1)/);
});

t.test('an undici pool with the guard cannot connect to a refused address', async (t) => {
  const server = createServer((_req, res) => res.end('reached'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const denied = new Pool(`http://localhost:${port}`, { connect: { lookup: guardedLookup({ allowLoopback: false, allowPrivate: false }) } });
  t.teardown(() => denied.close());
  await t.rejects(denied.request({ path: '/', method: 'GET' }), { code: 'ssrf_blocked' });
  const allowed = new Pool(`http://localhost:${port}`, { connect: { lookup: guardedLookup({ allowLoopback: true, allowPrivate: false }) } });
  t.teardown(() => allowed.close());
  const res = await allowed.request({ path: '/', method: 'GET' });
  t.equal(await res.body.text(), 'reached');
});
