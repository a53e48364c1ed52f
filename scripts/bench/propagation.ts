/**
 * Manifest propagation: one exporting node E and its peers. A new server
 * version is registered on E through its admin API; from the moment the
 * admin call answers, each peer's `GET /admin/v1/peers` is polled until the
 * manifest it holds from E has a higher sequence number. Polling every
 * `pollMs` bounds the resolution.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { MeshNode, PeerView } from './mesh-nodes.js';
import { peerView, register } from './mesh-nodes.js';
import { percentile, round, SetupError } from './processes.js';

export interface PropagationResult {
  peers: number;
  repetitions: number;
  pollMs: number;
  /** Every (repetition, peer) sample: ms from the admin response to the peer showing the new seq. */
  samplesMs: number[][];
  /** The admin call's own duration per repetition (registration pins the backend's tools). */
  registerMs: number[];
  perPeer: { minMs: number; p50Ms: number; maxMs: number };
  /** Per repetition, the time until the last peer had it. */
  allPeers: { minMs: number; p50Ms: number; maxMs: number };
}

async function receivedSeq(pool: Pool, token: string, alias: string): Promise<number> {
  const res = await pool.request({ path: '/admin/v1/peers', method: 'GET', headers: { authorization: `Bearer ${token}` } });
  const body = (await res.body.json()) as { peers?: PeerView[] };
  return body.peers?.find((p) => p.alias === alias)?.received?.seq ?? -1;
}

function minP50Max(values: number[]): { minMs: number; p50Ms: number; maxMs: number } {
  const sorted = Float64Array.from(values).sort();
  return { minMs: round(sorted[0] ?? NaN, 1), p50Ms: round(percentile(sorted, 0.5), 1), maxMs: round(sorted[sorted.length - 1] ?? NaN, 1) };
}

/**
 * Registers `slug` versions `1.0.{first}`, `1.0.{first+1}`, … on `exporter`
 * (its alias at the peers is `exporterAlias`) and times each peer seeing it.
 */
export async function measurePropagation(opts: {
  exporter: MeshNode;
  exporterAlias: string;
  peers: MeshNode[];
  slug: string;
  backendUrl: string;
  repetitions: number;
  firstPatch: number;
  pollMs?: number;
  timeoutMs?: number;
}): Promise<PropagationResult> {
  const pollMs = opts.pollMs ?? 5;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const pools = opts.peers.map((p) => new Pool(p.url, { connections: 1, keepAliveTimeout: 60_000 }));
  const samplesMs: number[][] = [];
  const registerMs: number[] = [];
  try {
    for (let rep = 0; rep < opts.repetitions; rep++) {
      const before = await Promise.all(opts.peers.map((p, i) => receivedSeq(pools[i]!, p.adminToken, opts.exporterAlias)));
      const t0 = performance.now();
      await register(opts.exporter, { slug: opts.slug, version: `1.0.${opts.firstPatch + rep}`, backend: { http: opts.backendUrl } });
      const answered = performance.now();
      registerMs.push(round(answered - t0, 1));
      const times = await Promise.all(
        opts.peers.map(async (p, i) => {
          for (;;) {
            const seq = await receivedSeq(pools[i]!, p.adminToken, opts.exporterAlias);
            const now = performance.now();
            if (seq > before[i]!) return round(now - answered, 1);
            if (now - answered > timeoutMs) throw new SetupError(`${p.plan.alias} did not receive a new manifest from ${opts.exporterAlias} within ${timeoutMs} ms (seq ${seq})`);
            await new Promise((r) => setTimeout(r, pollMs));
          }
        }),
      );
      samplesMs.push(times);
      // Let the mesh settle (pushes acknowledged, audit written) before the next change.
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
  return {
    peers: opts.peers.length,
    repetitions: opts.repetitions,
    pollMs,
    samplesMs,
    registerMs,
    perPeer: minP50Max(samplesMs.flat()),
    allPeers: minP50Max(samplesMs.map((s) => Math.max(...s))),
  };
}

/** Waits until every peer holds a trusted manifest from the exporter that lists at least one tool. */
export async function waitForManifests(peers: MeshNode[], exporterAlias: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(peers.map((p) => peerView(p, exporterAlias).catch(() => undefined)));
    if (views.every((v) => v?.status === 'connected' && v.trusted === true && (v.received?.tools ?? 0) > 0)) return;
    if (Date.now() > until) {
      throw new SetupError(`peers did not all receive ${exporterAlias}'s manifest: ${JSON.stringify(views.map((v) => v && { status: v.status, trusted: v.trusted, received: v.received }))}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
