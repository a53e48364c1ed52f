/**
 * Small probes that explain where a cross-node call's added latency goes,
 * measured in this process with nothing else of the bench running:
 *
 * - `libp2pRoundTrip`: one request/response exchange over a pinned libp2p
 *   link (TCP + Noise + Yamux, streams pooled per peer and protocol, as remote calls
 *   and manifests use it), between two peer hosts in this process;
 * - `fsyncLatency`: a small append + fdatasync on the temp directory's disk,
 *   what each durable audit write waits for (a call's intent is synced
 *   before it is forwarded, at the calling node and again at the peer).
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadOrCreateIdentity } from '../../src/node/identity.js';
import { createPeerHost, peerIdFromNodeIdentity, type PeerHost } from '../../federation/peer/index.js';
import { freePort } from './mesh-nodes.js';
import { percentile, round, trackTempDir } from './processes.js';

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

function summarize(latencies: number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  return { samples: sorted.length, p50Ms: round(percentile(sorted, 0.5), 3), p90Ms: round(percentile(sorted, 0.9), 3), p99Ms: round(percentile(sorted, 0.99), 3) };
}

const PROTOCOL = '/toolmesh-bench/echo/1.0.0';

/** Request/response round trips over a real pinned libp2p link, one at a time, for `seconds`. */
export async function libp2pRoundTrip(seconds: number, requestBytes = 1200): Promise<LatencySummary> {
  const dirA = trackTempDir(await mkdtemp(join(tmpdir(), 'toolmesh-bench-p2p-a-')));
  const dirB = trackTempDir(await mkdtemp(join(tmpdir(), 'toolmesh-bench-p2p-b-')));
  const [{ identity: idA }, { identity: idB }] = await Promise.all([loadOrCreateIdentity(dirA), loadOrCreateIdentity(dirB)]);
  const portB = await freePort();
  const hosts: PeerHost[] = [];
  try {
    const a = await createPeerHost({
      identity: idA,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [{ alias: 'b', peerId: peerIdFromNodeIdentity(idB).toString(), addresses: [`/ip4/127.0.0.1/tcp/${portB}`] }],
    });
    hosts.push(a);
    const b = await createPeerHost({
      identity: idB,
      listen: [`/ip4/127.0.0.1/tcp/${portB}`],
      peers: [{ alias: 'a', peerId: peerIdFromNodeIdentity(idA).toString(), addresses: [] }],
    });
    hosts.push(b);
    await b.handle(PROTOCOL, (bytes) => bytes);
    await b.start();
    await a.start();
    await a.whenConnected('b', { timeoutMs: 10_000 });
    const body = new Uint8Array(requestBytes).fill(7);
    const latencies: number[] = [];
    const warmUntil = performance.now() + 300;
    while (performance.now() < warmUntil) await a.request('b', PROTOCOL, body, { timeoutMs: 5_000 });
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const t0 = performance.now();
      await a.request('b', PROTOCOL, body, { timeoutMs: 5_000 });
      latencies.push(performance.now() - t0);
    }
    return summarize(latencies);
  } finally {
    await Promise.allSettled(hosts.map((h) => h.stop()));
  }
}

/** `count` appends of a small record, each followed by fdatasync, on the temp directory's disk. */
export async function fsyncLatency(count = 200): Promise<LatencySummary> {
  const dir = trackTempDir(await mkdtemp(join(tmpdir(), 'toolmesh-bench-fsync-')));
  const fd = openSync(join(dir, 'log'), 'a');
  const record = Buffer.alloc(400, 0x61);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, record);
      fdatasyncSync(fd);
      latencies.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
  }
  return summarize(latencies);
}
