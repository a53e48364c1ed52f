/**
 * The peer host over real libp2p on loopback TCP (no mocks): pinned peers
 * link up and exchange requests; everyone else is refused in both directions,
 * including a listener at a pinned address that proves another key; the
 * allow-list is hot-replaced; a stopped peer fails requests at once and is
 * redialed when it comes back; frames over the limit are refused.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import {
  createPeerHost,
  backoffDelay,
  peerIdFromNodeIdentity,
  type PeerHost,
  type PeerHostEvents,
  type PeerHostInit,
  type PinnedPeer,
} from '../../federation/peer/index.js';

const ECHO = '/toolmesh/test-echo/1.0.0';
const FAST = { baseMs: 50, maxMs: 400 };

const dirs: string[] = [];
const hosts: PeerHost[] = [];
t.teardown(async () => {
  await Promise.allSettled(hosts.map((h) => h.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function identity(): Promise<NodeIdentity> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-peer-'));
  dirs.push(dir);
  return (await loadOrCreateIdentity(dir)).identity;
}

async function host(id: NodeIdentity, init: Partial<PeerHostInit> = {}): Promise<PeerHost> {
  const h = await createPeerHost({ identity: id, backoff: FAST, dialTimeoutMs: 2_000, ...init });
  hosts.push(h);
  await h.handle(ECHO, (bytes, ctx) => Buffer.concat([Buffer.from(`${ctx.alias}:`), bytes]));
  await h.start();
  return h;
}

function pin(alias: string, h: PeerHost): PinnedPeer {
  return { alias, peerId: h.peerId, addresses: h.multiaddrs() };
}

function next<K extends keyof PeerHostEvents>(h: PeerHost, event: K, match: (d: PeerHostEvents[K]) => boolean = () => true, ms = 5_000): Promise<PeerHostEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const off = h.on(event, (detail) => {
      if (!match(detail)) return;
      clearTimeout(timer);
      off();
      resolve(detail);
    });
  });
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const bytes = (s: string): Uint8Array => Buffer.from(s);

t.test('the peer id is the node identity key', async (t) => {
  const id = await identity();
  const h = await host(id);
  t.equal(h.peerId, peerIdFromNodeIdentity(id).toString());
  t.match(h.peerId, /^12D3KooW/);
  t.ok(h.multiaddrs().every((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.endsWith(`/p2p/${h.peerId}`)));
  t.throws(() => peerIdFromNodeIdentity({ privateJwk: { ...id.privateJwk, x: peerlessX() } }), TypeError, 'x that is not d’s public key');
  await h.stop();
});

function peerlessX(): string {
  return Buffer.alloc(32, 7).toString('base64url');
}

t.test('pinned peers connect and exchange requests', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib);
  const a = await host(ia, { peers: [pin('b', b)] });
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]); // inbound only
  const state = await a.whenConnected('b', { timeoutMs: 5_000 });
  t.equal(state.status, 'connected');
  t.equal(state.reconnectAttempts, 0);
  t.type(state.lastConnectedAt, 'number');
  t.type(state.rttMs, 'number');
  await b.whenConnected('a', { timeoutMs: 5_000 });

  t.equal(text(await a.request('b', ECHO, bytes('hello'))), 'a:hello', 'B sees the request from alias a');
  t.equal(text(await b.request('a', ECHO, bytes('back'))), 'b:back', 'and the other way round');

  // Round trip of one request over a fresh stream (sequential, 1 KiB body).
  const body = new Uint8Array(1024);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    await a.request('b', ECHO, body);
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const p = (q: number): string => times[Math.floor(q * (times.length - 1))]!.toFixed(2);
  t.comment(`request round trip over a new stream, 1 KiB: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms`);
  const start = performance.now();
  await Promise.all(Array.from({ length: 100 }, () => a.request('b', ECHO, body)));
  t.comment(`100 concurrent requests: ${(performance.now() - start).toFixed(1)} ms`);

  await t.rejects(a.request('b', '/toolmesh/nothing/1.0.0', body), { code: 'protocol_unsupported' });
  await t.rejects(a.request('nobody', ECHO, body), { code: 'unknown_peer' });
  await b.handle('/toolmesh/test-fail/1.0.0', () => {
    throw new Error('secret detail');
  });
  const failed = a.request('b', '/toolmesh/test-fail/1.0.0', body);
  await t.rejects(failed, { code: 'remote_error' });
  await failed.catch((err: Error) => t.notMatch(err.message, /secret/, 'the handler error stays on the peer'));
});

t.test('a silent handler times out and a caller abort is its own code', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib, { requestTimeoutMs: 2_000 });
  const a = await host(ia, { peers: [pin('b', b)] });
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]);
  await a.whenConnected('b');
  await b.handle('/toolmesh/test-silent/1.0.0', (_bytes, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('gone')))));
  let start = performance.now();
  await t.rejects(a.request('b', '/toolmesh/test-silent/1.0.0', bytes('x'), { timeoutMs: 150 }), { code: 'peer_timeout' });
  t.ok(performance.now() - start < 1_000, 'deadline honoured');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  start = performance.now();
  await t.rejects(a.request('b', '/toolmesh/test-silent/1.0.0', bytes('x'), { signal: controller.signal }), { code: 'request_aborted' });
  t.ok(performance.now() - start < 1_000);
  t.equal(text(await a.request('b', ECHO, bytes('still fine'))), 'a:still fine', 'the link survives');
});

t.test('unpinned peers are refused in both directions', async (t) => {
  const [ia, ic, id] = await Promise.all([identity(), identity(), identity()]);
  const a = await host(ia);
  const d = await host(id); // pins nobody
  // Inbound: C pins A, A does not pin C.
  const refusedAtA = next(a, 'peer:refused', (r) => r.direction === 'inbound');
  const c = await host(ic, { peers: [pin('a', a)] });
  const inbound = await refusedAtA;
  t.equal(inbound.peerId, c.peerId, 'A names the unpinned peer it refused');
  t.equal(inbound.alias, undefined);
  const refusedAtC = await next(c, 'peer:refused', (r) => r.alias === 'a');
  t.equal(refusedAtC.direction, 'outbound');
  t.equal(c.peer('a')?.status, 'refused', 'C sees the link refused, not connected');
  t.equal(c.peer('a')?.lastError?.code, 'peer_refused');
  await t.rejects(c.request('a', ECHO, bytes('x')), { code: 'peer_refused' });
  t.equal(a.peers().length, 0);

  // Outbound: A pins D, D does not pin A.
  const refusedAtD = next(d, 'peer:refused', (r) => r.peerId === a.peerId);
  const refusedAtA2 = next(a, 'peer:refused', (r) => r.alias === 'd');
  await a.setPeers([pin('d', d)]);
  t.equal((await refusedAtD).direction, 'inbound');
  t.equal((await refusedAtA2).direction, 'outbound');
  t.equal(a.peer('d')?.status, 'refused');
  await t.rejects(a.request('d', ECHO, bytes('x')), { code: 'peer_refused' });
  await c.stop();
});

t.test('a listener at the pinned address with another key is refused', async (t) => {
  const [ia, ib, ic] = await Promise.all([identity(), identity(), identity()]);
  const a = await host(ia);
  const c = await host(ic, { peers: [{ alias: 'a', peerId: a.peerId, addresses: [] }] }); // C would accept A
  const bId = peerIdFromNodeIdentity(ib).toString();
  const cAddr = c.multiaddrs()[0]!.replace(`/p2p/${c.peerId}`, '');
  const refused = next(a, 'peer:refused', (r) => r.alias === 'b');
  await a.setPeers([{ alias: 'b', peerId: bId, addresses: [cAddr] }]); // B's id, C's socket
  const refusal = await refused;
  t.equal(refusal.direction, 'outbound');
  t.match(refusal.reason, /does not match/, 'the Noise handshake proved another key');
  t.equal(a.peer('b')?.status, 'refused');
  t.equal(a.peer('b')?.lastError?.code, 'peer_refused');
  t.not(c.peer('a')?.status, 'connected', 'C never gets a usable link either');
  await t.rejects(a.request('b', ECHO, bytes('x')), { code: 'peer_refused' });
  await t.rejects(a.setPeers([{ alias: 'b', peerId: bId, addresses: [`${cAddr}/p2p/${c.peerId}`] }]), { code: 'invalid_peer_config' });
  await t.rejects(a.setPeers([{ alias: 'b', peerId: 'not-a-peer-id', addresses: [] }]), { code: 'invalid_peer_config' });
  await t.rejects(a.setPeers([{ alias: 'x', peerId: bId, addresses: [] }, { alias: 'x', peerId: c.peerId, addresses: [] }]), { code: 'invalid_peer_config' });
  t.equal(a.peer('b')?.addresses[0], cAddr, 'a rejected list leaves the old one in place');
});

t.test('replacing the allow-list drops a peer, and re-adding it restores the link', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib);
  const a = await host(ia, { peers: [pin('b', b)] });
  await b.setPeers([pin('a', a)]);
  await Promise.all([a.whenConnected('b'), b.whenConnected('a')]);

  const droppedAtB = next(b, 'peer:disconnected', (s) => s.alias === 'a');
  const droppedAtA = next(a, 'peer:disconnected', (s) => s.alias === 'b');
  const refusedAtA = next(a, 'peer:refused', (r) => r.peerId === b.peerId && r.direction === 'inbound');
  await a.setPeers([]);
  t.equal((await droppedAtA).status, 'disconnected');
  t.equal((await droppedAtB).status, 'disconnected', 'the connection is closed, B notices');
  await refusedAtA;
  t.pass('B redials and A refuses it');
  await t.rejects(a.request('b', ECHO, bytes('x')), { code: 'unknown_peer' });
  const bSide = b.peer('a');
  t.ok(bSide?.status === 'refused' || bSide?.status === 'connecting', `B is ${bSide?.status}`);

  await a.setPeers([pin('b', b)]);
  await Promise.all([a.whenConnected('b'), b.whenConnected('a', { timeoutMs: 5_000 })]);
  t.equal(text(await b.request('a', ECHO, bytes('again'))), 'b:again');
});

t.test('a stopped peer fails fast; when it is back it is redialed with backoff', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  let b = await host(ib);
  const a = await host(ia, { peers: [pin('b', b)] });
  await b.setPeers([pin('a', a)]);
  await a.whenConnected('b');
  const bListen = b.multiaddrs().map((m) => m.replace(`/p2p/${b.peerId}`, ''));

  const down = next(a, 'peer:disconnected', (s) => s.alias === 'b');
  await b.stop();
  await down;
  const start = performance.now();
  await t.rejects(a.request('b', ECHO, bytes('x')), { code: 'peer_unavailable' });
  const failMs = performance.now() - start;
  t.ok(failMs < 50, `failed in ${failMs.toFixed(2)} ms`);
  t.comment(`request to a stopped peer failed in ${failMs.toFixed(2)} ms`);

  await new Promise((r) => setTimeout(r, 600));
  const during = a.peer('b');
  t.ok((during?.reconnectAttempts ?? 0) >= 2, `${during?.reconnectAttempts} redials while down`);
  t.equal(during?.lastError?.code, 'peer_unavailable');

  const back = next(a, 'peer:connected', (s) => s.alias === 'b', 5_000);
  const restartedAt = performance.now();
  b = await host(ib, { listen: bListen, peers: [{ alias: 'a', peerId: a.peerId, addresses: [] }] });
  const state = await back;
  t.comment(`reconnected ${(performance.now() - restartedAt).toFixed(0)} ms after the restart (backoff cap ${FAST.maxMs} ms)`);
  t.equal(state.reconnectAttempts, 0, 'attempts reset on success');
  t.equal(text(await a.request('b', ECHO, bytes('welcome back'))), 'a:welcome back');
});

t.test('frames over the limit are refused', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib, { maxFrameBytes: 16 * 1024 });
  const a = await host(ia, { peers: [pin('b', b)], maxFrameBytes: 64 * 1024 });
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]);
  await a.whenConnected('b');
  await b.handle('/toolmesh/test-big/1.0.0', () => new Uint8Array(32 * 1024));

  await t.rejects(a.request('b', ECHO, new Uint8Array(64 * 1024 + 1)), { code: 'frame_too_large' }, 'over our own limit: never sent');
  await t.rejects(a.request('b', ECHO, new Uint8Array(20 * 1024)), { code: 'frame_too_large' }, 'over the peer’s limit: refused by the peer');
  await t.rejects(a.request('b', '/toolmesh/test-big/1.0.0', bytes('x')), { code: 'frame_too_large' }, 'a response over the peer’s limit is not sent');
  t.equal(text(await a.request('b', ECHO, new Uint8Array(16 * 1024 - 2).fill(0x61))).length, 16 * 1024, 'at the limit it works');
});

t.test('backoff grows, is jittered and bounded', async (t) => {
  const opts = { baseMs: 100, maxMs: 1_000 };
  t.equal(backoffDelay(1, opts, () => 0), 50);
  t.equal(backoffDelay(1, opts, () => 1), 100);
  t.equal(backoffDelay(3, opts, () => 1), 400);
  t.equal(backoffDelay(50, opts, () => 1), 1_000);
  t.equal(backoffDelay(5_000, opts, () => 0.5), 750);
});

t.test('requests beyond the stream limit are peer_busy, not hung', async (t) => {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib);
  const a = await host(ia, { peers: [pin('b', b)], maxConcurrentStreams: 4 });
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]);
  await a.whenConnected('b');
  await b.handle('/toolmesh/test-slow/1.0.0', async (body) => {
    await new Promise((r) => setTimeout(r, 100));
    return body;
  });
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => a.request('b', '/toolmesh/test-slow/1.0.0', bytes('x'))));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const busy = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'peer_busy').length;
  t.equal(ok, 4, 'the limit is served');
  t.equal(busy, 4, 'the rest fail at once with peer_busy');
});
