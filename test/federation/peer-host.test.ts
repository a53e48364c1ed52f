/**
 * The peer host over real libp2p on loopback TCP (no mocks): pinned peers
 * link up and exchange requests; everyone else is refused in both directions,
 * including a listener at a pinned address that proves another key; the
 * allow-list is hot-replaced; a stopped peer fails requests at once and is
 * redialed when it comes back; frames over the limit are refused; requests
 * reuse streams without ever taking a late answer for the next one's, and a
 * peer process killed mid-call fails the call at once.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import {
  createPeerHost,
  backoffDelay,
  peerStreamStats,
  peerIdFromNodeIdentity,
  type PeerHost,
  type PeerHostEvents,
  type PeerHostInit,
  type PinnedPeer,
} from '../../federation/peer/index.js';

const ECHO = '/toolmesh/test-echo/1.0.0';
const HANG = '/toolmesh/test-hang/1.0.0';
const FAST = { baseMs: 50, maxMs: 400 };

// This file doubles as the peer process killed in 'a peer killed mid-call…': it serves, and never reaches the tests.
if (process.env.TOOLMESH_TEST_PEER_CHILD !== undefined) await runChildPeer(JSON.parse(process.env.TOOLMESH_TEST_PEER_CHILD) as { dir: string; parent: string });

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

  // Round trip of one request (sequential, 1 KiB body; after the first, on the pooled stream).
  const body = new Uint8Array(1024);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    await a.request('b', ECHO, body);
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const p = (q: number): string => times[Math.floor(q * (times.length - 1))]!.toFixed(2);
  t.comment(`request round trip (pooled stream), 1 KiB: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms`);
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

// ---- stream reuse ------------------------------------------------------------

const SLOW = '/toolmesh/test-slow-echo/1.0.0';

/** A linked pair; B answers SLOW `wait:<ms>:<tag>` after <ms> (ignoring its signal) and fails on `fail`. */
async function pair(init: Partial<PeerHostInit> = {}, initB: Partial<PeerHostInit> = {}): Promise<{ a: PeerHost; b: PeerHost }> {
  const [ia, ib] = await Promise.all([identity(), identity()]);
  const b = await host(ib, initB);
  const a = await host(ia, { peers: [pin('b', b)], ...init });
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]);
  await b.handle(SLOW, async (body) => {
    const msg = text(body);
    if (msg === 'fail') throw new Error('handler failed');
    const wait = /^wait:(\d+):/.exec(msg);
    if (wait !== null) await new Promise((r) => setTimeout(r, Number(wait[1])));
    return body;
  });
  await a.whenConnected('b');
  return { a, b };
}

const stats = (h: PeerHost) => peerStreamStats(h)!;

t.test('sequential requests reuse one stream', async (t) => {
  const { a } = await pair();
  const before = stats(a);
  for (let i = 0; i < 50; i++) t.equal(text(await a.request('b', ECHO, bytes(`n${i}`))), `a:n${i}`);
  const after = stats(a);
  t.equal(after.opened - before.opened, 1, 'one stream opened for 50 requests');
  t.equal(after.reused - before.reused, 49, 'the other 49 reused it');
  t.match(after, { idle: 1, busy: 0 }, 'it rests in the pool');
});

/**
 * Socket writes Node issues (one per write(2)/writev(2)) while `fn` runs, on the connections
 * to or from `port` only: other hosts of this file keep their own links (pings, identify).
 */
async function countSocketWrites(port: number, fn: () => Promise<void>): Promise<number> {
  const proto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
  const original = proto._writeGeneric;
  let writes = 0;
  proto._writeGeneric = function (this: Socket, ...args: unknown[]) {
    if (this.remotePort === port || this.localPort === port) writes++;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto._writeGeneric = original;
  }
  return writes;
}

t.test('an exchange is two socket writes: one per encrypted message, no window update per frame', async (t) => {
  const { a, b } = await pair();
  await a.request('b', ECHO, bytes('warm')); // the stream is open and pooled
  await new Promise((r) => setTimeout(r, 300)); // the link's own start-up traffic (identify) is over
  const port = Number(/\/tcp\/(\d+)/.exec(b.multiaddrs()[0]!)![1]);
  const exchanges = 20;
  const writes = await countSocketWrites(port, async () => {
    for (let i = 0; i < exchanges; i++) await a.request('b', ECHO, bytes(`m${i}`.repeat(200)));
  });
  // Uncorked, Noise's length prefix, ciphertext pieces and tag went out as separate writes, and
  // Yamux answered every data frame with a window update: 12 writes per exchange. A few writes
  // of the link's own (a ping) may fall in the window.
  t.ok(writes >= exchanges * 2, `${writes} socket writes for ${exchanges} exchanges: the requests and responses were counted`);
  t.ok(writes <= exchanges * 2 + 6, 'one write per request and per response');
});

t.test('flow control still carries frames larger than the Yamux window, both ways', async (t) => {
  const { a } = await pair();
  for (const size of [300_000, 700_000, 1_000_000]) {
    const body = new Uint8Array(size).map((_, i) => i % 251);
    const answer = await a.request('b', SLOW, body, { timeoutMs: 10_000 });
    t.equal(answer.byteLength, size, `${size} bytes there and back (the window is 256 KiB)`);
    t.ok(Buffer.from(answer).equals(Buffer.from(body)), 'unchanged');
  }
  const small = await a.request('b', ECHO, bytes('after'));
  t.equal(text(small), 'a:after', 'the stream still serves small exchanges afterwards');
});

t.test('concurrent requests each get their own answer; the pool keeps at most maxIdleStreams', async (t) => {
  const { a } = await pair({ maxIdleStreams: 4 });
  const before = stats(a);
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => a.request('b', SLOW, bytes(`wait:${(i * 7) % 30}:${i}`))));
  t.same(answers.map(text), Array.from({ length: 20 }, (_, i) => `wait:${(i * 7) % 30}:${i}`), 'no answer crossed to another request');
  const after = stats(a);
  t.equal(after.opened - before.opened, 20, 'one stream per concurrent request');
  t.match(after, { idle: 4, busy: 0 }, 'the pool is bounded');
  for (let i = 0; i < 10; i++) await a.request('b', SLOW, bytes('x'));
  t.equal(stats(a).opened, after.opened, 'later requests use the pooled streams');
});

t.test('a timed-out request does not poison later ones: its late answer is never read', async (t) => {
  const { a } = await pair();
  t.equal(text(await a.request('b', SLOW, bytes('warm'))), 'warm');
  t.equal(stats(a).idle, 1);
  await t.rejects(a.request('b', SLOW, bytes('wait:300:late'), { timeoutMs: 100 }), { code: 'peer_timeout' });
  t.match(stats(a), { idle: 0, busy: 0 }, 'the timed-out stream was aborted, not pooled');
  t.equal(text(await a.request('b', SLOW, bytes('next'))), 'next', 'the next request gets its own answer');
  await new Promise((r) => setTimeout(r, 350)); // the late answer would have arrived by now
  for (const tag of ['one', 'two', 'three']) t.equal(text(await a.request('b', SLOW, bytes(tag))), tag);

  const controller = new AbortController();
  const aborted = a.request('b', SLOW, bytes('wait:200:aborted'), { signal: controller.signal });
  setTimeout(() => controller.abort(), 30);
  await t.rejects(aborted, { code: 'request_aborted' });
  await new Promise((r) => setTimeout(r, 250));
  t.equal(text(await a.request('b', SLOW, bytes('after abort'))), 'after abort');
  t.equal(stats(a).busy, 0);
});

t.test('a handler error answers remote_error and keeps the stream usable', async (t) => {
  const { a } = await pair();
  const before = stats(a);
  for (let i = 0; i < 3; i++) {
    t.equal(text(await a.request('b', SLOW, bytes(`ok${i}`))), `ok${i}`);
    await t.rejects(a.request('b', SLOW, bytes('fail')), { code: 'remote_error' });
  }
  t.equal(text(await a.request('b', SLOW, bytes('last'))), 'last');
  t.equal(stats(a).opened - before.opened, 1, 'all seven exchanges on one stream');
});

t.test('idle streams are closed by either side, and the next request opens a new one', async (t) => {
  // Our own idle timer.
  const { a } = await pair({ idleStreamMs: 100 });
  await a.request('b', ECHO, bytes('x'));
  t.equal(stats(a).idle, 1);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(stats(a).idle, 0, 'closed after idleStreamMs');
  const opened = stats(a).opened;
  t.equal(text(await a.request('b', ECHO, bytes('y'))), 'a:y');
  t.equal(stats(a).opened, opened + 1);

  // The responder's (2 × its idleStreamMs): it ends its side, we drop the stream.
  const p = await pair({ idleStreamMs: 60_000 }, { idleStreamMs: 50 });
  await p.a.request('b', ECHO, bytes('x'));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(stats(p.a).idle, 0, 'a stream the responder closed leaves the pool');
  t.equal(text(await p.a.request('b', ECHO, bytes('z'))), 'a:z');
});

t.test('unhandle closes the pooled streams of the protocol', async (t) => {
  const { a, b } = await pair();
  t.equal(text(await a.request('b', SLOW, bytes('before'))), 'before');
  await b.unhandle(SLOW);
  // Whether or not the responder's close has reached us yet, the answer is the same.
  await t.rejects(a.request('b', SLOW, bytes('after')), { code: 'protocol_unsupported' });
  t.equal(text(await a.request('b', ECHO, bytes('echo'))), 'a:echo', 'other protocols are untouched');
});

t.test('a peer killed mid-call fails the call with peer_unavailable at once', async (t) => {
  const a = await host(await identity(), { requestTimeoutMs: 20_000 });
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-peer-'));
  dirs.push(dir);
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, TOOLMESH_TEST_PEER_CHILD: JSON.stringify({ dir, parent: a.peerId }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    seen.push(line);
    for (const wake of waiters.splice(0)) wake();
  });
  const waitFor = async (prefix: string): Promise<string> => {
    for (;;) {
      const line = seen.find((l) => l.startsWith(prefix));
      if (line !== undefined) return line.slice(prefix.length);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const ready = JSON.parse(await waitFor('READY ')) as { peerId: string; addresses: string[] };
  await a.setPeers([{ alias: 'c', peerId: ready.peerId, addresses: ready.addresses }]);
  await a.whenConnected('c', { timeoutMs: 10_000 });
  t.equal(text(await a.request('c', HANG, bytes('warm'))), 'warm');
  t.equal(peerStreamStats(a)?.idle, 1);

  const onPooled = a.request('c', HANG, bytes('x'), { timeoutMs: 15_000 }); // takes the pooled stream
  const onFresh = a.request('c', HANG, bytes('y'), { timeoutMs: 15_000 });
  await Promise.all([waitFor('GOT x'), waitFor('GOT y')]);
  const killedAt = performance.now();
  child.kill('SIGKILL');
  const [pooled, fresh] = await Promise.allSettled([onPooled, onFresh]);
  const ms = performance.now() - killedAt;
  t.match(pooled, { status: 'rejected', reason: { code: 'peer_unavailable' } }, 'on a reused stream');
  t.match(fresh, { status: 'rejected', reason: { code: 'peer_unavailable' } }, 'on a new stream');
  t.ok(ms < 2_000, `failed ${ms.toFixed(0)} ms after the kill`);
  t.comment(`calls failed ${ms.toFixed(0)} ms after the peer process was killed`);
  await once(child, 'exit');
  t.match(peerStreamStats(a), { idle: 0, busy: 0 }, 'the dead connection’s pool is gone');
  await t.rejects(a.request('c', HANG, bytes('x')), { code: 'peer_unavailable' });
});

/** The killed peer: serves HANG, answering only `warm` (and announcing each other request on stdout). */
async function runChildPeer(opts: { dir: string; parent: string }): Promise<never> {
  const { identity: id } = await loadOrCreateIdentity(opts.dir);
  const h = await createPeerHost({ identity: id, peers: [{ alias: 'a', peerId: opts.parent, addresses: [] }] });
  await h.handle(HANG, (body) => {
    if (Buffer.from(body).toString() === 'warm') return body;
    process.stdout.write(`GOT ${Buffer.from(body).toString()}\n`);
    return new Promise<Uint8Array>(() => undefined);
  });
  await h.start();
  process.stdout.write(`READY ${JSON.stringify({ peerId: h.peerId, addresses: h.multiaddrs() })}\n`);
  return new Promise<never>(() => undefined); // until killed; the tests below this file's top never run here
}
