/**
 * The load generator of `bench` and `bench-federation`: `tools/call echo`
 * over keep-alive HTTP (undici Pool, one connection per concurrent caller),
 * a warm-up, then a fixed window; every answer is checked to be the JSON-RPC
 * result echoing the argument. CPU of the named processes is read from
 * /proc around the window.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { cpuMicros, machineMicros, percentile, round } from './processes.js';

export const MODERN = '2026-07-28';
export const ECHO_TEXT = 'hello from the toolmesh federation bench';

export interface LoadTarget {
  origin: string;
  path: string;
  bearer?: string;
  /** Processes whose CPU per call is reported, by label. */
  pids: Record<string, number>;
}

export interface LoadResult {
  concurrency: number;
  seconds: number;
  requests: number;
  errors: number;
  warmupErrors: number;
  errorKinds: Record<string, number>;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** CPU µs per call of each labelled process. */
  cpuUsPerCall: Record<string, number | null>;
  /** Cores' worth of CPU used during the window by the labelled processes, the load generator and everything else. */
  coresBusy: Record<string, number>;
}

export class Stats {
  ok = 0;
  errors = 0;
  readonly kinds = new Map<string, number>();
  readonly latencies: number[] = [];

  fail(kind: string): void {
    this.errors++;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
  }
}

/** What one caller sends: fixed headers and a body with a fresh id per call. */
export interface EchoRequest {
  headers: Record<string, string>;
  body: (id: number) => string;
  /** The argument the answer must echo (default {@link ECHO_TEXT}). */
  text?: string;
  /** The id of this caller's next call (default: one counter shared by all callers). */
  nextId?: () => number;
}

/** The modern-era request of one caller. */
export function echoRequest(bearer: string | undefined): EchoRequest {
  const meta = JSON.stringify({ 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} });
  const prefix = '{"jsonrpc":"2.0","id":';
  const suffix = `,"method":"tools/call","params":{"name":"echo","arguments":${JSON.stringify({ text: ECHO_TEXT })},"_meta":${meta}}}`;
  return {
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    body: (id) => prefix + id + suffix,
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON-RPC message answering `id`, from a JSON or an SSE body. */
export function parseRpc(contentType: string, text: string, id: number): Record<string, unknown> | undefined {
  if (contentType.startsWith('text/event-stream')) {
    for (const block of text.split(/\r?\n\r?\n/)) {
      const data = block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(l[5] === ' ' ? 6 : 5))
        .join('\n');
      if (!data) continue;
      const msg = JSON.parse(data) as unknown;
      if (isObject(msg) && msg.id === id && ('result' in msg || 'error' in msg)) return msg;
    }
    return undefined;
  }
  const msg = JSON.parse(text) as unknown;
  return isObject(msg) ? msg : undefined;
}

/** Undefined when `text` is the result for `id` echoing `expected`, else what is wrong. */
export function verifyEcho(status: number, contentType: string, text: string, id: number, expected = ECHO_TEXT): string | undefined {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 160)}`;
  let msg: Record<string, unknown> | undefined;
  try {
    msg = parseRpc(contentType, text, id);
  } catch {
    return 'body is not JSON';
  }
  if (!msg) return 'no JSON-RPC response in body';
  if (msg.jsonrpc !== '2.0' || msg.id !== id) return 'wrong jsonrpc/id';
  if (isObject(msg.error)) return `rpc error ${String(msg.error.code)}: ${String(msg.error.message).slice(0, 120)}`;
  const result = msg.result;
  if (!isObject(result)) return 'no result';
  if (result.isError === true) return `isError result: ${JSON.stringify(result.content).slice(0, 160)}`;
  const first = Array.isArray(result.content) ? (result.content[0] as unknown) : undefined;
  if (!isObject(first) || first.text !== expected) return 'result does not echo the argument';
  return undefined;
}

export function headerOf(v: string | string[] | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
}

let nextId = 0;

/** One checked call; its latency in ms, or what went wrong. */
export async function callOnce(pool: Pool, path: string, req: EchoRequest): Promise<{ ms: number; problem?: string }> {
  const id = req.nextId ? req.nextId() : ++nextId;
  const t0 = performance.now();
  try {
    const res = await pool.request({ path, method: 'POST', headers: req.headers, body: req.body(id) });
    const text = await res.body.text();
    const ms = performance.now() - t0;
    const problem = verifyEcho(res.statusCode, headerOf(res.headers['content-type']), text, id, req.text);
    return problem === undefined ? { ms } : { ms, problem };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ms: performance.now() - t0, problem: `transport: ${e.code ?? e.message}` };
  }
}

async function callLoop(pool: Pool, path: string, req: EchoRequest, until: number, stats: Stats): Promise<void> {
  while (performance.now() < until) {
    const { ms, problem } = await callOnce(pool, path, req);
    if (problem === undefined) {
      stats.ok++;
      stats.latencies.push(ms);
    } else {
      stats.fail(problem);
      if (problem.startsWith('transport:')) await new Promise((r) => setTimeout(r, 10)); // do not spin on a dead socket
    }
  }
}

/** A warm-up and a measured window of {@link driveLoad}. */
export interface LoadWindow<T> {
  warm: Stats;
  stats: Stats;
  /** Seconds the measured window lasted. */
  elapsed: number;
  /** What `measure` reported for the window. */
  measured: T;
  /** CPU µs of this process (the load generator) during the window. */
  loadGenUs: number;
  /** Busy and total CPU µs of the whole machine during the window. */
  machine: { busy: number; total: number };
  /** The window's latencies (ms), ascending. */
  sorted: Float64Array;
  /** Error kinds of the window, then of the warm-up (prefixed `warm-up: `). */
  errorKinds: Record<string, number>;
}

/**
 * Warm-up, then the measured window: one call loop per request (so one per
 * concurrent caller). `measure` is called just before the window starts; the
 * function it returns, just after it ends.
 */
export async function driveLoad<T>(
  pool: Pool,
  path: string,
  requests: EchoRequest[],
  seconds: number,
  warmupSeconds: number,
  measure: () => () => T,
): Promise<LoadWindow<T>> {
  const warm = new Stats();
  if (warmupSeconds > 0) {
    const until = performance.now() + warmupSeconds * 1000;
    await Promise.all(requests.map((req) => callLoop(pool, path, req, until, warm)));
  }
  const stats = new Stats();
  const measureEnd = measure();
  const loadGenBefore = process.cpuUsage();
  const machineBefore = machineMicros();
  const start = performance.now();
  const until = start + seconds * 1000;
  await Promise.all(requests.map((req) => callLoop(pool, path, req, until, stats)));
  const elapsed = (performance.now() - start) / 1000;
  const measured = measureEnd();
  const lg = process.cpuUsage(loadGenBefore);
  const machineAfter = machineMicros();
  return {
    warm,
    stats,
    elapsed,
    measured,
    loadGenUs: lg.user + lg.system,
    machine: { busy: machineAfter.busy - machineBefore.busy, total: machineAfter.total - machineBefore.total },
    sorted: Float64Array.from(stats.latencies).sort(),
    errorKinds: Object.fromEntries([...stats.kinds, ...[...warm.kinds].map(([k, v]) => [`warm-up: ${k}`, v] as const)]),
  };
}

/** Runs one row: warm-up, then the measured window at `concurrency`. */
export async function runLoad(target: LoadTarget, concurrency: number, seconds: number, warmupSeconds: number): Promise<LoadResult> {
  const [result] = await runInterleaved([target], concurrency, seconds, warmupSeconds, 1);
  return result!;
}

/**
 * Runs several rows at `concurrency` in alternation: each row warms up, then
 * `rounds` times every row in turn gets `seconds / rounds` measured seconds
 * (after a short re-warm of its own). A machine whose speed drifts during the
 * run (shared hosts do) then weighs on every row alike, so rows compare side
 * by side. Each row's latencies, CPU and errors are summed over its slices.
 */
export async function runInterleaved(targets: LoadTarget[], concurrency: number, seconds: number, warmupSeconds: number, rounds: number): Promise<LoadResult[]> {
  const rows = targets.map((target) => ({
    target,
    pool: new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 }),
    req: echoRequest(target.bearer),
    labels: Object.keys(target.pids),
    windows: [] as LoadWindow<number[]>[],
  }));
  const slice = seconds / rounds;
  const rewarm = rounds > 1 ? Math.min(0.25, slice / 4) : 0;
  try {
    for (const row of rows) {
      if (warmupSeconds > 0) await driveLoad(row.pool, row.target.path, Array.from({ length: concurrency }, () => row.req), 0, warmupSeconds, () => () => []);
    }
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const w = await driveLoad(row.pool, row.target.path, Array.from({ length: concurrency }, () => row.req), slice, rewarm, () => {
          const before = row.labels.map((l) => cpuMicros(row.target.pids[l]!));
          return () => row.labels.map((l, i) => cpuMicros(row.target.pids[l]!) - before[i]!);
        });
        row.windows.push(w);
      }
    }
    return rows.map((row) => summarizeWindows(concurrency, row.labels, row.windows));
  } finally {
    await Promise.all(rows.map((row) => row.pool.destroy()));
  }
}

/** One row's result over its measured windows. */
function summarizeWindows(concurrency: number, labels: string[], windows: LoadWindow<number[]>[]): LoadResult {
  const sum = (f: (w: LoadWindow<number[]>) => number) => windows.reduce((n, w) => n + f(w), 0);
  const elapsed = sum((w) => w.elapsed);
  const ok = sum((w) => w.stats.ok);
  const errors = sum((w) => w.stats.errors);
  const used = labels.map((_, i) => sum((w) => w.measured[i]!));
  const loadGenUs = sum((w) => w.loadGenUs);
  const machineBusy = sum((w) => w.machine.busy);
  const machineTotal = sum((w) => w.machine.total);
  const latencies = windows.flatMap((w) => w.stats.latencies);
  const sorted = Float64Array.from(latencies).sort();
  const errorKinds: Record<string, number> = {};
  for (const w of windows) for (const [k, v] of Object.entries(w.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  const wallUs = elapsed * 1e6;
  const calls = ok + errors;
  const measured = used.reduce((a, b) => a + b, 0) + loadGenUs;
  const coresBusy: Record<string, number> = {};
  labels.forEach((l, i) => (coresBusy[l] = round(used[i]! / wallUs, 2)));
  coresBusy.loadGen = round(loadGenUs / wallUs, 2);
  coresBusy.other = Math.max(0, round((machineBusy - measured) / wallUs, 2));
  coresBusy.capacity = round(machineTotal / wallUs, 2);
  return {
    concurrency,
    seconds: round(elapsed, 3),
    requests: ok,
    errors,
    warmupErrors: sum((w) => w.warm.errors),
    errorKinds,
    rps: round(ok / elapsed, 1),
    p50Ms: round(percentile(sorted, 0.5), 3),
    p90Ms: round(percentile(sorted, 0.9), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length), 3),
    cpuUsPerCall: Object.fromEntries(labels.map((l, i) => [l, calls === 0 ? null : round(used[i]! / calls, 1)])),
    coresBusy,
  };
}
