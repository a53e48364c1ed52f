/**
 * `node dist/scripts/bench-federation.js` — what federation costs (PRODUCT.md §9).
 *
 * 1. Cross-node vs local calls. A trust anchor (in this process) and two
 *    nodes as child processes (`toolmesh start --trust DIR`): B hosts the raw
 *    HTTP backend `raw` (one `echo` tool) and exports it to A; A imports it
 *    and serves it as `b.raw`. Callers hold client-credentials JWTs from each
 *    node's own authorization server. Side by side, at each concurrency:
 *
 *      (D)  direct → raw backend                           reference
 *      (L)  POST B/mcp/v1/tools/raw/rpc                     the local call
 *      (AL) POST A/mcp/v1/tools/raw/rpc (A's own `raw`)    reference: A's gateway alone
 *      (R)  POST A/mcp/v1/tools/b.raw/rpc                   the cross-node call
 *
 *    R's translated token is exchanged on its first call and cached after.
 *    Target (issue): R − L ≤ 1.5 ms at p50, c=1. D and AL split the added
 *    latency into A's gateway and federation itself (libp2p exchange, the
 *    call handler at B, B's loopback dispatch). Single-call probes add the
 *    cold path (token exchange), a bare libp2p round trip and an fsync.
 *
 * 2. Manifest propagation. One exporting node E and five peers P1..P5 (child
 *    processes, each importing E's `svc`); a new version of `svc` is
 *    registered on E through its admin API, and each peer's /admin/v1/peers
 *    is polled until it shows E's manifest with a higher seq.
 *
 * Environment:
 *   BENCH_SECONDS=4            measured seconds per row (0.5–30)
 *   BENCH_WARMUP_SECONDS=1     warm-up seconds per row (0–10)
 *   BENCH_CONCURRENCY=1,32     concurrencies
 *   BENCH_ROUNDS=8             the rows take turns: each gets BENCH_SECONDS in this many slices
 *   BENCH_FED_ROWS=d,l,al,r    rows to run
 *   BENCH_FED_PEERS=5          peers of E for propagation (0 skips it)
 *   BENCH_FED_REPEATS=5        registrations on E
 *   BENCH_CPU_PROF=1           run A and B under --cpu-prof and print where their CPU
 *                              went, by area (inflates CPU and latency; use with
 *                              BENCH_FED_ROWS=r to see the cross-node call alone)
 *
 * Output: Markdown on stdout, progress on stderr, JSON in
 * dist/bench-federation-results.json. Exit status 1 if setup fails or any
 * call failed. Children and temp directories are removed in every case.
 */
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startAnchor, type RunningAnchor } from '../federation/anchor/anchor-server.js';
import { Child, childTails, cleanup, ROOT, round, SetupError, trackTempDir } from './bench/processes.js';
import {
  clientCredentialsToken, peerView, planNode, register, startMeshNode, toolNames, TOOLMESH_JS, waitUntil, writeTrust,
  type BenchClient, type MeshNode, type NodePlan,
} from './bench/mesh-nodes.js';
import { callOnce, echoRequest, runInterleaved, type LoadTarget } from './bench/load.js';
import { fsyncLatency, libp2pRoundTrip, type LatencySummary } from './bench/fed-probes.js';
import { measurePropagation, waitForManifests, type PropagationResult } from './bench/propagation.js';
import { summarizeProfile, type ProfileSummary } from './bench/profile-summary.js';
import { compare, markdown, profileMarkdown, ROW_LABELS, type ColdCalls, type Row, type RowId } from './bench/fed-report.js';

const RAW_BACKEND_JS = fileURLToPath(new URL('./bench/raw-backend.js', import.meta.url));
const RESULTS = join(ROOT, 'dist/bench-federation-results.json');
const log = (msg: string) => process.stderr.write(`[bench-federation] ${msg}\n`);

function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n)) throw new SetupError(`${name}: not a number: ${raw}`);
  return Math.min(max, Math.max(min, n));
}

const secret = (id: string) => `${id}-secret-0123456789abcdef`;
const client = (clientId: string, scopes: string[]): BenchClient => ({ clientId, clientSecret: secret(clientId), groups: ['bench'], scopes });
const REMOTE_SCOPE = 'mcp:tool:b.raw:write';
const LOCAL_SCOPE = 'mcp:tool:raw:write';
const COLD_CALLERS = 5;

let anchor: RunningAnchor | undefined;

async function startRawBackend(): Promise<{ child: Child; url: string }> {
  const child = new Child('raw-backend', process.execPath, [RAW_BACKEND_JS]);
  const m = await child.waitFor(/^LISTENING (\d+)$/, 10_000);
  return { child, url: `http://127.0.0.1:${m[1]}/mcp` };
}

/** A and B federated, `raw` on B exported to A (and registered on A too, for the AL row), until A lists `b.raw__echo`. */
async function startPair(plans: { a: NodePlan; b: NodePlan }, trustAnchors: unknown[], rawUrl: string, profileDir: string | undefined) {
  const { a, b } = plans;
  await writeTrust(a, [{ plan: b, imports: [{ server: 'raw', tools: '*', groups: ['bench'] }] }], trustAnchors);
  await writeTrust(
    b,
    [{ plan: a, exports: [{ server: 'raw', tools: ['echo'], access: 'write', groups: ['bench'] }], inbound: { groupMapping: { bench: ['bench'] } } }],
    trustAnchors,
  );
  const remoteClient = client('bench-remote', [REMOTE_SCOPE]);
  const coldClients = Array.from({ length: COLD_CALLERS }, (_, i) => client(`bench-cold-${i + 1}`, [REMOTE_SCOPE]));
  const aLocalClient = client('bench-a-local', [LOCAL_SCOPE]);
  const bLocalClient = client('bench-local', [LOCAL_SCOPE]);
  const [A, B] = await Promise.all([
    startMeshNode(a, [remoteClient, aLocalClient, ...coldClients], TOOLMESH_JS, profArgs(profileDir, 'a')),
    startMeshNode(b, [bLocalClient], TOOLMESH_JS, profArgs(profileDir, 'b')),
  ]);
  await Promise.all([register(B, { slug: 'raw', version: '1.0.0', backend: { http: rawUrl } }), register(A, { slug: 'raw', version: '1.0.0', backend: { http: rawUrl } })]);
  await waitUntil('A to hold B’s trusted manifest', async () => {
    const v = await peerView(A, 'b');
    return v?.status === 'connected' && v.trusted === true && (v.received?.tools ?? 0) > 0 ? v : undefined;
  });
  // The remote tool's scope exists at A only once the manifest is in: ask for tokens after.
  const remoteToken = await waitUntil('A to list b.raw__echo', async () => {
    const token = await clientCredentialsToken(A, remoteClient);
    return (await toolNames(A, token)).includes('b.raw__echo') ? token : undefined;
  });
  return {
    A,
    B,
    remoteToken,
    coldTokens: await Promise.all(coldClients.map((c) => clientCredentialsToken(A, c))),
    aLocalToken: await clientCredentialsToken(A, aLocalClient),
    bLocalToken: await clientCredentialsToken(B, bLocalClient),
  };
}

const profArgs = (dir: string | undefined, alias: string) => (dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, alias)] : []);

/** The profile node wrote at exit into `dir`, kept as dist/bench-federation-{alias}.cpuprofile and summarised over its last `lastMs`. */
async function profileOf(dir: string, alias: string, lastMs: number): Promise<ProfileSummary | undefined> {
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  if (!file) return undefined;
  const kept = join(ROOT, `dist/bench-federation-${alias}.cpuprofile`);
  await copyFile(join(dir, file), kept);
  return summarizeProfile(kept, { lastMs });
}

/** Single calls through R: the very first one, then each new caller's first and second. */
async function coldCalls(A: MeshNode, remoteToken: string, coldTokens: string[]): Promise<ColdCalls> {
  const pool = new Pool(A.url, { connections: 1, keepAliveTimeout: 60_000 });
  const path = '/mcp/v1/tools/b.raw/rpc';
  const once = async (token: string) => {
    const { ms, problem } = await callOnce(pool, path, echoRequest(token));
    if (problem) throw new SetupError(`remote call failed: ${problem}`);
    return round(ms, 3);
  };
  try {
    // Warm the load generator's own connection first, so the first call is about the mesh.
    await pool.request({ path: '/healthz', method: 'GET' }).then((r) => r.body.dump()).catch(() => undefined);
    const firstCallMs = await once(remoteToken);
    const newCallerMs: number[] = [];
    const cachedMs: number[] = [];
    for (const token of coldTokens) {
      await new Promise((r) => setTimeout(r, 50));
      newCallerMs.push(await once(token));
      cachedMs.push(await once(token));
    }
    return { firstCallMs, newCallerMs, cachedMs };
  } finally {
    await pool.destroy();
  }
}

/** E exporting `svc` to P1..Pn; new versions registered on E. */
async function propagation(plans: { e: NodePlan; peers: NodePlan[] }, trustAnchors: unknown[], rawUrl: string, repetitions: number): Promise<PropagationResult> {
  const { e, peers } = plans;
  await writeTrust(e, peers.map((plan) => ({ plan, exports: [{ server: 'svc', tools: '*', access: 'write', groups: ['bench'] }] })), trustAnchors);
  await Promise.all(peers.map((p) => writeTrust(p, [{ plan: e, imports: [{ server: 'svc', tools: '*', groups: ['bench'] }] }], trustAnchors)));
  const nodes = await Promise.all([e, ...peers].map((p) => startMeshNode(p, [], TOOLMESH_JS)));
  const [E, ...P] = nodes as [MeshNode, ...MeshNode[]];
  try {
    await register(E, { slug: 'svc', version: '1.0.0', backend: { http: rawUrl } });
    await waitForManifests(P, e.alias);
    log(`propagation: E and ${P.length} peers up, manifests in; ${repetitions} registrations`);
    return await measurePropagation({ exporter: E, exporterAlias: e.alias, peers: P, slug: 'svc', backendUrl: rawUrl, repetitions, firstPatch: 1 });
  } finally {
    await Promise.allSettled(nodes.map((n) => n.child.stop()));
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const seconds = envNumber('BENCH_SECONDS', 4, 0.5, 30);
  const warmupSeconds = envNumber('BENCH_WARMUP_SECONDS', 1, 0, 10);
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map((s) => Number(s.trim()));
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) throw new SetupError('BENCH_CONCURRENCY: integers 1–256, comma-separated');
  const wanted = new Set((process.env.BENCH_FED_ROWS ?? 'd,l,al,r').split(',').map((s) => s.trim()));
  const rowIds = (['d', 'l', 'al', 'r'] as const).filter((r) => wanted.has(r));
  const profile = process.env.BENCH_CPU_PROF === '1' || process.env.BENCH_CPU_PROF === 'true';
  const peerCount = envNumber('BENCH_FED_PEERS', 5, 0, 16);
  const repetitions = envNumber('BENCH_FED_REPEATS', 5, 1, 50);
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 8, 1, 60));
  for (const [what, path] of Object.entries({ toolmesh: TOOLMESH_JS, rawBackend: RAW_BACKEND_JS })) {
    if (!existsSync(path)) throw new SetupError(`missing ${what}: ${path} (run \`npx tsc -p .\` first)`);
  }
  if (!existsSync('/proc/self/stat')) throw new SetupError('this bench reads process CPU from /proc (Linux only)');

  log(`setup: rows ${rowIds.join(',')} at c=${concurrencies.join(',')}, ${warmupSeconds}+${seconds} s each; propagation to ${peerCount} peers × ${repetitions}`);
  const raw = await startRawBackend();
  const a = await planNode('a');
  const b = await planNode('b');
  const e = await planNode('e');
  const peers: NodePlan[] = [];
  for (let i = 1; i <= peerCount; i++) peers.push(await planNode(`p${i}`));
  const anchorDir = trackTempDir(await mkdtemp(join(tmpdir(), 'toolmesh-bench-fed-anchor-')));
  anchor = await startAnchor({ dataDir: anchorDir, members: [a, b, e, ...peers].map((p) => ({ entityId: p.entityId, peerId: p.peerId })) });
  const trustAnchors = [{ entityId: anchor.entityId, jwks: anchor.jwks }];

  const profileDir = profile ? trackTempDir(await mkdtemp(join(tmpdir(), 'toolmesh-bench-fed-prof-'))) : undefined;
  const pair = await startPair({ a, b }, trustAnchors, raw.url, profileDir);
  log(`ready after ${((Date.now() - t0) / 1000).toFixed(1)} s: A ${pair.A.url} (pid ${pair.A.child.pid}), B ${pair.B.url} (pid ${pair.B.child.pid}), raw ${raw.url}`);
  const cold = await coldCalls(pair.A, pair.remoteToken, pair.coldTokens);
  log(`cold calls: first ${cold.firstCallMs} ms, new callers ${cold.newCallerMs.join(', ')} ms, cached ${cold.cachedMs.join(', ')} ms`);

  const pids = { A: pair.A.child.pid, B: pair.B.child.pid, raw: raw.child.pid };
  const rawUrl = new URL(raw.url);
  const targets: Record<RowId, LoadTarget> = {
    d: { origin: rawUrl.origin, path: rawUrl.pathname, pids },
    l: { origin: pair.B.url, path: '/mcp/v1/tools/raw/rpc', bearer: pair.bLocalToken, pids },
    al: { origin: pair.A.url, path: '/mcp/v1/tools/raw/rpc', bearer: pair.aLocalToken, pids },
    r: { origin: pair.A.url, path: '/mcp/v1/tools/b.raw/rpc', bearer: pair.remoteToken, pids },
  };
  // Concurrency outermost; at each, the rows take turns (BENCH_ROUNDS slices each) so a drifting machine weighs on all alike.
  const rows: Row[] = [];
  const rowsStarted = Date.now();
  for (const c of concurrencies) {
    const results = await runInterleaved(rowIds.map((id) => targets[id]), c, seconds, warmupSeconds, rounds);
    rowIds.forEach((id, i) => {
      const r = results[i]!;
      rows.push({ row: id, label: ROW_LABELS[id], ...r });
      log(
        `${id} c=${c}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, CPU µs/call A ${r.cpuUsPerCall.A} B ${r.cpuUsPerCall.B} raw ${r.cpuUsPerCall.raw}, ` +
          `errors ${r.errors + r.warmupErrors}; cores busy ${JSON.stringify(r.coresBusy)}`,
      );
    });
  }
  // Stopping writes the profiles (node --cpu-prof writes at exit).
  await Promise.allSettled([pair.A.child.stop(15_000), pair.B.child.stop(15_000)]);
  const window = Date.now() - rowsStarted;
  const profiles = profileDir ? { A: await profileOf(join(profileDir, 'a'), 'a', window), B: await profileOf(join(profileDir, 'b'), 'b', window) } : undefined;

  const probes: { libp2p?: LatencySummary; fsync?: LatencySummary } = {};
  probes.libp2p = await libp2pRoundTrip(1.5);
  probes.fsync = await fsyncLatency(200);
  log(`probes: libp2p ${JSON.stringify(probes.libp2p)}, fsync ${JSON.stringify(probes.fsync)}`);

  // A failure here still prints the rows above (and fails the run).
  let prop: PropagationResult | undefined;
  let propagationError: string | undefined;
  if (peerCount > 0) {
    try {
      prop = await propagation({ e, peers }, trustAnchors, raw.url, repetitions);
      log(`propagation: ${JSON.stringify(prop.samplesMs)} ms; register ${JSON.stringify(prop.registerMs)} ms`);
    } catch (err) {
      propagationError = (err as Error).message;
      log(`propagation failed: ${propagationError}`);
    }
  }

  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    seconds,
    warmupSeconds,
    rounds,
    concurrencies,
    rows: rowIds,
    runtimeSeconds: round((Date.now() - t0) / 1000, 1),
    cpuProfiled: profile,
  };
  const comparisons = compare(rows, concurrencies);
  const totalErrors = rows.reduce((n, r) => n + r.errors + r.warmupErrors, 0);
  let out = markdown({ meta, rows, comparisons, cold, probes, propagation: prop });
  if (propagationError) out += `\n\n> **⚠ Manifest propagation could not be measured:** ${propagationError.split('\n')[0]}`;
  if (profiles) out += '\n\n' + profileMarkdown(profiles);
  process.stdout.write(out + '\n');
  await mkdir(join(ROOT, 'dist'), { recursive: true });
  await writeFile(RESULTS, JSON.stringify({ meta, rows, comparisons, coldCalls: cold, probes, propagation: prop ?? null, profiles: profiles ?? null, propagationError: propagationError ?? null, totalErrors }, null, 2) + '\n');
  log(`results written to ${relative(ROOT, RESULTS)} (${meta.runtimeSeconds} s)`);
  return totalErrors > 0 || propagationError ? 1 : 0;
}

async function shutdown(): Promise<void> {
  await cleanup();
  await anchor?.stop().catch(() => undefined);
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping children`);
    void shutdown().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await shutdown();
    process.exit(interrupted ? 130 : code);
  },
  async (err: unknown) => {
    log(`failed: ${err instanceof Error ? err.message : String(err)}`);
    if (!(err instanceof SetupError) && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    const tails = childTails();
    if (tails) process.stderr.write(tails + '\n');
    await shutdown();
    process.exit(1);
  },
);
