/**
 * `npm run bench` — gateway overhead and a comparison with mcp-proxy.
 *
 * One run on one machine, over loopback, each scenario at concurrency 1 and 32,
 * `tools/call` of an `echo {text}` tool (the gateway validates the arguments
 * against the pinned inputSchema):
 *
 *   (a) direct     load generator → raw node:http JSON-RPC backend (modern era)
 *   (b) toolmesh   → same raw backend, per-server endpoint, modern era (stateless)
 *   (c) toolmesh   → SDK v1 stdio server, legacy-era client with a session
 *   (d) mcp-proxy  → the same SDK v1 stdio server, legacy-era client with a session
 *
 * Toolmesh, mcp-proxy and the raw backend each run as their own process, so
 * their CPU is read from /proc/<pid>/stat (utime+stime) around each measured
 * window; "proxy CPU µs/call" is the proxy process alone (not the load
 * generator, not the backend). The load generator runs here: keep-alive undici
 * Pool, one connection per concurrent caller, warm-up then a fixed window.
 * Every response is checked to be the JSON-RPC result echoing the argument.
 *
 * Environment:
 *   BENCH_SECONDS=4          measured seconds per scenario and concurrency (0.5–30)
 *   BENCH_WARMUP_SECONDS=1   warm-up seconds before each window (0–10)
 *   BENCH_CONCURRENCY=1,32   concurrencies to run
 *   BENCH_SCENARIOS=a,b,c,d  subset of scenarios
 *   BENCH_CPU_PROF=1         run the gateway with --cpu-prof and print its top
 *                            self-time functions (profiling inflates CPU numbers)
 *
 * Output: a Markdown table on stdout (for the README "Performance" section),
 * progress on stderr, JSON in dist/bench-results.json (with the load
 * generator's CPU and how busy the machine was: `coresBusy.other` is CPU used
 * by unrelated processes during a window, a warning is printed when it is high). Exit status 1 if setup fails or any request
 * failed (the numbers of a bench with errors are not valid).
 */
import { freePort } from './lib/ports.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import {
  Child, childPids, childTails, cleanup, CLK_TCK, cpuOfAll, cpuSplit, percentile, ROOT, round, SetupError, trackTempDir,
} from './bench/processes.js';
import { driveLoad, headerOf, isObject, parseRpc, type EchoRequest, type LoadResult } from './bench/load.js';
import { summarizeProfile, type ProfileSummary } from './bench/profile-summary.js';

// --- configuration -----------------------------------------------------------

const PATHS = {
  toolmesh: join(ROOT, 'dist/src/cli/main.js'),
  rawBackend: fileURLToPath(new URL('./bench/raw-backend.js', import.meta.url)),
  floorProxy: fileURLToPath(new URL('./bench/floor-proxy.js', import.meta.url)),
  sdkServer: join(ROOT, 'scripts/bench/sdk-server.mjs'),
  mcpProxy: join(ROOT, 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs'),
  results: join(ROOT, 'dist/bench-results.json'),
};

function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n)) throw new SetupError(`${name}: not a number: ${raw}`);
  return Math.min(max, Math.max(min, n));
}

const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
const ECHO_TEXT = 'hello from the toolmesh bench';
const ARGS_JSON = JSON.stringify({ text: ECHO_TEXT });
const MCP_PROXY_FLAGS = ['--server', 'stream', '--no-eventStore'];

type ScenarioId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g';
const SCENARIO_LABELS: Record<ScenarioId, string> = {
  a: '(a) direct → raw HTTP backend',
  b: '(b) Toolmesh → raw HTTP backend (modern)',
  c: '(c) Toolmesh → SDK stdio server (legacy session)',
  d: '(d) mcp-proxy → SDK stdio server (legacy session)',
  e: '(e) reference: bare Node pass-through proxy → raw HTTP backend',
  f: '(f) Toolmesh → raw HTTP backend, OAuth JWT caller',
  g: '(g) Toolmesh → raw HTTP backend, tenant API key caller',
};

// --- load generator ----------------------------------------------------------------

interface Target {
  scenario: ScenarioId;
  origin: string;
  path: string;
  era: 'modern' | 'legacy';
  /** The proxy process measured (none for direct). */
  proxyPid: number | undefined;
  /** Backend processes, for context (raw backend, or the stdio server). */
  backendPids: () => number[];
  /** Sent with every call (the caller's credential). */
  headers?: Record<string, string>;
}

/** One concurrent caller: its own ids, and its session (legacy era). */
interface Caller extends EchoRequest {
  sessionId: string | undefined;
}

function caller(headers: Record<string, string>, suffix: string, sessionId: string | undefined): Caller {
  let nextId = 0;
  return { headers, body: (id) => '{"jsonrpc":"2.0","id":' + id + suffix, text: ECHO_TEXT, nextId: () => ++nextId, sessionId };
}

const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function modernCaller(extra: Record<string, string> = {}): Caller {
  const meta = JSON.stringify({ 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} });
  return caller(
    { ...BASE_HEADERS, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo', ...extra },
    `,"method":"tools/call","params":{"name":"echo","arguments":${ARGS_JSON},"_meta":${meta}}}`,
    undefined,
  );
}

/** A legacy session: initialize, then notifications/initialized. */
async function legacyCaller(pool: Pool, path: string, n: number): Promise<Caller> {
  const init = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'toolmesh-bench', version: '1.0.0' } },
  };
  const res = await pool.request({ path, method: 'POST', headers: BASE_HEADERS, body: JSON.stringify(init) });
  const text = await res.body.text();
  const msg = parseRpc(headerOf(res.headers['content-type']), text, 0);
  if (res.statusCode !== 200 || !msg || !isObject(msg.result)) throw new SetupError(`initialize #${n} failed: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
  const sessionId = headerOf(res.headers['mcp-session-id']) || undefined;
  const version = typeof msg.result.protocolVersion === 'string' ? msg.result.protocolVersion : LEGACY;
  const headers: Record<string, string> = { ...BASE_HEADERS, 'mcp-protocol-version': version };
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const note = await pool.request({ path, method: 'POST', headers, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
  await note.body.dump();
  if (note.statusCode >= 300) throw new SetupError(`notifications/initialized #${n}: HTTP ${note.statusCode}`);
  return caller(headers, `,"method":"tools/call","params":{"name":"echo","arguments":${ARGS_JSON}}}`, sessionId);
}

interface RunResult
  extends Pick<LoadResult, 'concurrency' | 'seconds' | 'requests' | 'errors' | 'warmupErrors' | 'errorKinds' | 'rps' | 'p50Ms' | 'p99Ms' | 'meanMs'> {
  scenario: ScenarioId;
  label: string;
  proxyCpuUsPerCall: number | null;
  /** The kernel's share (stime) of proxyCpuUsPerCall; the user/sys split is tick-sampled, so approximate. */
  proxySysUsPerCall: number | null;
  backendCpuUsPerCall: number | null;
  loadGenCpuUsPerCall: number | null;
  /** Cores' worth of CPU used during the window: by the processes above, and by everything else on the machine. */
  coresBusy: { proxy: number; backend: number; loadGen: number; other: number; capacity: number };
}

async function run(target: Target, concurrency: number, seconds: number, warmupSeconds: number): Promise<RunResult> {
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  try {
    const callers: Caller[] = [];
    for (let i = 0; i < concurrency; i++) {
      callers.push(target.era === 'modern' ? modernCaller(target.headers) : await legacyCaller(pool, target.path, i));
    }
    const w = await driveLoad(pool, target.path, callers, seconds, warmupSeconds, () => {
      const backendPids = target.backendPids();
      const proxyBefore = target.proxyPid === undefined ? { user: 0, sys: 0 } : cpuSplit(target.proxyPid);
      const backendBefore = cpuOfAll(backendPids);
      return () => {
        const proxyAfter = target.proxyPid === undefined ? { user: 0, sys: 0 } : cpuSplit(target.proxyPid);
        const proxySys = proxyAfter.sys - proxyBefore.sys;
        return { backendPids, proxySys, proxyCpu: proxyAfter.user - proxyBefore.user + proxySys, backendCpu: cpuOfAll(backendPids) - backendBefore };
      };
    });
    const { backendPids, proxySys, proxyCpu, backendCpu } = w.measured;
    const { stats, warm, elapsed, loadGenUs: loadGenCpu } = w;
    const machineBusy = w.machine.busy;
    const wallUs = elapsed * 1e6;
    const cores = (us: number) => round(us / wallUs, 2);

    if (target.era === 'legacy') {
      // End the sessions (mcp-proxy keeps per-session state; Toolmesh answers 405, sessions are tokens).
      await Promise.allSettled(
        callers.map(async (c) => {
          if (!c.sessionId) return;
          const res = await pool.request({ path: target.path, method: 'DELETE', headers: c.headers });
          await res.body.dump();
        }),
      );
    }

    const sorted = w.sorted;
    const calls = stats.ok + stats.errors;
    const mean = stats.latencies.reduce((a, b) => a + b, 0) / Math.max(1, stats.latencies.length);
    return {
      scenario: target.scenario,
      label: SCENARIO_LABELS[target.scenario],
      concurrency,
      seconds: round(elapsed, 3),
      requests: stats.ok,
      errors: stats.errors,
      warmupErrors: warm.errors,
      errorKinds: w.errorKinds,
      rps: round(stats.ok / elapsed, 1),
      p50Ms: round(percentile(sorted, 0.5), 3),
      p99Ms: round(percentile(sorted, 0.99), 3),
      meanMs: round(mean, 3),
      proxyCpuUsPerCall: target.proxyPid === undefined || calls === 0 ? null : round(proxyCpu / calls, 1),
      proxySysUsPerCall: target.proxyPid === undefined || calls === 0 ? null : round(proxySys / calls, 1),
      backendCpuUsPerCall: backendPids.length === 0 || calls === 0 ? null : round(backendCpu / calls, 1),
      loadGenCpuUsPerCall: calls === 0 ? null : round(loadGenCpu / calls, 1),
      coresBusy: {
        proxy: cores(proxyCpu),
        backend: cores(backendCpu),
        loadGen: cores(loadGenCpu),
        other: Math.max(0, cores(machineBusy - proxyCpu - backendCpu - loadGenCpu)),
        capacity: round(w.machine.total / wallUs, 2),
      },
    };
  } finally {
    await pool.destroy();
  }
}

// --- setup ---------------------------------------------------------------------------

async function startRawBackend(): Promise<{ child: Child; url: string }> {
  const child = new Child('raw-backend', process.execPath, [PATHS.rawBackend]);
  const m = await child.waitFor(/^LISTENING (\d+)$/, 10_000);
  return { child, url: `http://127.0.0.1:${m[1]}/mcp` };
}

async function startFloorProxy(backendUrl: string): Promise<{ child: Child; origin: string }> {
  const child = new Child('floor-proxy', process.execPath, [PATHS.floorProxy, backendUrl]);
  const m = await child.waitFor(/^LISTENING (\d+)$/, 10_000);
  return { child, origin: `http://127.0.0.1:${m[1]}` };
}

async function startToolmesh(profileDir: string | undefined): Promise<{ child: Child; url: string; token: string; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-bench-'));
  trackTempDir(dataDir);
  const unlimited = { perMinute: 1e9, burst: 1e9 };
  await writeFile(
    join(dataDir, 'config.json'),
    JSON.stringify({
      backends: { driftCheckIntervalMs: 0 },
      // (b)/(c) call as the granted anonymous identity; (f)/(g) with real credentials. Rate limits run, but never bite.
      auth: {
        anonymous: true,
        authorizationServer: { clients: [{ clientId: 'bench-agent', clientSecret: BENCH_CLIENT_SECRET, scopes: ['mcp:tool:raw:write'] }] },
      },
      rateLimits: { person: unlimited, agent: unlimited, tenant: unlimited },
    }),
  );
  const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = new Child(
    'toolmesh',
    process.execPath,
    [...prof, PATHS.toolmesh, 'start', '--data', dataDir, '--host', '127.0.0.1', '--port', '0'],
    { ...process.env, TOOLMESH_LOG: 'warn' },
  );
  const m = await child.waitFor(/listening on (http:\/\/\S+)/, 15_000);
  const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  return { child, url: m[1]!, token, dataDir };
}

const BENCH_CLIENT_SECRET = 'bench-secret-0123456789abcdef';

/** An access token for the bench agent from the node's own authorization server (client credentials). */
async function clientCredentialsToken(nodeUrl: string): Promise<string> {
  const meta = (await (await fetch(`${nodeUrl}/oauth/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bench-agent:${BENCH_CLIENT_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'mcp:tool:raw:write', resource: `${nodeUrl}/mcp` }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token) throw new SetupError(`client credentials token: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.access_token;
}

/** A tenant API key for `raw-acme`. */
async function issueApiKey(nodeUrl: string, token: string): Promise<string> {
  const res = await fetch(`${nodeUrl}/admin/v1/credentials/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'acme', scopes: ['mcp:tool:raw-acme:write'] }),
  });
  const body = (await res.json()) as { key?: string };
  if (res.status !== 201 || !body.key) throw new SetupError(`issuing an API key: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.key;
}

async function register(nodeUrl: string, token: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${nodeUrl}/admin/v1/servers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  if (res.status !== 201) throw new SetupError(`registering ${String(body.slug)} failed: HTTP ${res.status} ${text.slice(0, 400)}`);
  const record = JSON.parse(text) as { tools?: Array<{ name: string }> };
  if (!record.tools?.some((t) => t.name === 'echo')) throw new SetupError(`${String(body.slug)}: no echo tool pinned: ${text.slice(0, 400)}`);
}

async function startMcpProxy(): Promise<{ child: Child; origin: string }> {
  const port = await freePort();
  const child = new Child('mcp-proxy', process.execPath, [
    PATHS.mcpProxy,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...MCP_PROXY_FLAGS,
    '--',
    process.execPath,
    PATHS.sdkServer,
  ]);
  await child.waitFor(/starting server on port/, 20_000);
  const origin = `http://127.0.0.1:${port}`;
  // The listener comes up just after the log line: probe until initialize answers.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pool = new Pool(origin, { connections: 1 });
    try {
      await legacyCaller(pool, '/mcp', 0);
      return { child, origin };
    } catch (err) {
      if (Date.now() > deadline) throw new SetupError(`mcp-proxy did not answer initialize: ${(err as Error).message}\n${child.tail}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await pool.destroy();
    }
  }
}

// --- CPU profile summary ------------------------------------------------------------

type ProfileRow = ProfileSummary['topFunctions'][number];

/** The gateway's profile: areas, top functions and top functions of src/. */
interface GatewayProfile {
  file: string;
  totalMs: number;
  byArea: ProfileSummary['byArea'];
  topFunctions: ProfileRow[];
  topSrcFunctions: ProfileRow[];
}

function gatewayProfile(file: string): GatewayProfile {
  const s = summarizeProfile(file, { top: 15, topFunctions: 20, srcFunctions: 15 });
  return { file: relative(ROOT, file), totalMs: s.totalMs, byArea: s.byArea, topFunctions: s.topFunctions, topSrcFunctions: s.topSrcFunctions ?? [] };
}

// --- report ---------------------------------------------------------------------------

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(x: number | undefined, y: number | undefined): number | null {
  return x === undefined || y === undefined || !(y > 0) ? null : round(x / y, 2);
}

interface Ratios {
  concurrency: number;
  overheadP50Ms: number | null;
  overheadP99Ms: number | null;
  throughputBvsA: number | null;
  throughputCvsD: number | null;
  cpuCvsD: number | null;
  gatewayCpuB: number | null;
  /** (b) − (e): what Toolmesh's transport checks, policy chain and routing cost per call. */
  gatewayCpuOverFloor: number | null;
  /** (f) − (b), (g) − (b): what authenticating a JWT / an API key (cached verification), rate limiting and authorizing add. */
  jwtAddedCpu: number | null;
  apiKeyAddedCpu: number | null;
}

function computeRatios(results: RunResult[], concurrencies: number[]): Ratios[] {
  const get = (s: ScenarioId, c: number) => results.find((r) => r.scenario === s && r.concurrency === c);
  return concurrencies.map((c) => {
    const [a, b, cc, d, e, f, g] = (['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const).map((s) => get(s, c));
    const over = (x: RunResult | undefined) =>
      x?.proxyCpuUsPerCall != null && b?.proxyCpuUsPerCall != null ? round(x.proxyCpuUsPerCall - b.proxyCpuUsPerCall, 0) : null;
    return {
      concurrency: c,
      overheadP50Ms: a && b ? round(b.p50Ms - a.p50Ms, 3) : null,
      overheadP99Ms: a && b ? round(b.p99Ms - a.p99Ms, 3) : null,
      throughputBvsA: ratio(b?.rps, a?.rps),
      throughputCvsD: ratio(cc?.rps, d?.rps),
      cpuCvsD: ratio(cc?.proxyCpuUsPerCall ?? undefined, d?.proxyCpuUsPerCall ?? undefined),
      gatewayCpuB: b?.proxyCpuUsPerCall ?? null,
      gatewayCpuOverFloor: b?.proxyCpuUsPerCall != null && e?.proxyCpuUsPerCall != null ? round(b.proxyCpuUsPerCall - e.proxyCpuUsPerCall, 0) : null,
      jwtAddedCpu: over(f),
      apiKeyAddedCpu: over(g),
    };
  });
}

function markdown(results: RunResult[], ratios: Ratios[], meta: Record<string, unknown>): string {
  const lines: string[] = [];
  lines.push(
    `Measured with \`npm run bench\` on ${String(meta.cpu)} (${String(meta.cores)} cores), Node ${String(meta.node)}: ` +
      `\`tools/call\` of \`echo {text}\` (arguments validated against the tool's inputSchema; each call's audit intent fsynced before it is forwarded, its outcome written before the answer), ` +
      `${String(meta.warmupSeconds)} s warm-up then ${String(meta.seconds)} s per row, keep-alive HTTP over loopback; ` +
      `load generator, proxies and backends share the machine. Proxy CPU is utime+stime of the proxy process alone, per call. ` +
      `mcp-proxy ${String(meta.mcpProxyVersion)} runs with \`${MCP_PROXY_FLAGS.join(' ')}\`.`,
    '',
    '| Scenario | c | req/s | p50 ms | p99 ms | proxy CPU µs/call | backend CPU µs/call | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of results) {
    lines.push(
      `| ${r.label} | ${r.concurrency} | ${fmt(r.rps)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.proxyCpuUsPerCall)} | ${fmt(r.backendCpuUsPerCall)} | ${r.errors + r.warmupErrors} |`,
    );
  }
  const cs = ratios.map((r) => r.concurrency);
  const cell = (f: (r: Ratios) => string) => ratios.map(f).join(' | ');
  const mark = (ok: boolean | null) => (ok === null ? '' : ok ? ' ✅' : ' ❌');
  lines.push(
    '',
    `| Comparison | ${cs.map((c) => `c=${c}`).join(' | ')} | target |`,
    `|---|${cs.map(() => '---:').join('|')}|---|`,
    `| Gateway latency overhead, p50 (b − a) | ${cell((r) => (r.overheadP50Ms === null ? '—' : `+${fmt(r.overheadP50Ms, 2)} ms${mark(r.concurrency === 1 ? r.overheadP50Ms <= 1.0 : null)}`))} | ≤ 1.0 ms at c=1 |`,
    `| Gateway latency overhead, p99 (b − a) | ${cell((r) => (r.overheadP99Ms === null ? '—' : `+${fmt(r.overheadP99Ms, 2)} ms`))} | |`,
    `| Throughput through the gateway (b ÷ a) | ${cell((r) => (r.throughputBvsA === null ? '—' : `${fmt(r.throughputBvsA, 2)}×`))} | |`,
    `| Throughput, Toolmesh vs mcp-proxy (c ÷ d) | ${cell((r) => (r.throughputCvsD === null ? '—' : `${fmt(r.throughputCvsD, 2)}×${mark(r.throughputCvsD >= 1.5)}`))} | ≥ 1.5× |`,
    `| Proxy CPU per call, Toolmesh vs mcp-proxy (c ÷ d) | ${cell((r) => (r.cpuCvsD === null ? '—' : `${fmt(r.cpuCvsD, 2)}×`))} | lower is better |`,
    `| Gateway CPU per call, whole chain with audit (b) | ${cell((r) => (r.gatewayCpuB === null ? '—' : `${fmt(r.gatewayCpuB)} µs${mark(r.gatewayCpuB <= 400)}`))} | ≤ 400 µs |`,
    `| … of which above a bare Node proxy (b − e) | ${cell((r) => (r.gatewayCpuOverFloor === null ? '—' : `${fmt(r.gatewayCpuOverFloor)} µs`))} | |`,
    `| Authentication + rate limit + authorization, JWT caller (f − b) | ${cell((r) => (r.jwtAddedCpu === null ? '—' : `${fmt(r.jwtAddedCpu)} µs${mark(r.jwtAddedCpu <= 60)}`))} | ≤ 60 µs |`,
    `| Authentication + rate limit + authorization, API key caller (g − b) | ${cell((r) => (r.apiKeyAddedCpu === null ? '—' : `${fmt(r.apiKeyAddedCpu)} µs${mark(r.apiKeyAddedCpu <= 60)}`))} | ≤ 60 µs |`,
  );
  return lines.join('\n');
}

// --- main ---------------------------------------------------------------------------------

async function main(): Promise<number> {
  const seconds = envNumber('BENCH_SECONDS', 4, 0.5, 30);
  const warmupSeconds = envNumber('BENCH_WARMUP_SECONDS', 1, 0, 10);
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map((s) => Number(s.trim()));
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) throw new SetupError('BENCH_CONCURRENCY: integers 1–256, comma-separated');
  const wanted = new Set((process.env.BENCH_SCENARIOS ?? 'a,b,c,d,e,f,g').split(',').map((s) => s.trim()));
  const scenarios = (['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const).filter((s) => wanted.has(s));
  if (scenarios.length === 0) throw new SetupError('BENCH_SCENARIOS: none of a,b,c,d,e,f,g');
  const profile = process.env.BENCH_CPU_PROF === '1' || process.env.BENCH_CPU_PROF === 'true';

  for (const [what, path] of Object.entries(PATHS)) {
    if (what !== 'results' && !existsSync(path)) throw new SetupError(`missing ${what}: ${path} (run \`npx tsc -p .\` / \`npm ci\` first)`);
  }
  if (!existsSync('/proc/self/stat')) throw new SetupError('this bench reads process CPU from /proc (Linux only)');
  const mcpProxyVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/mcp-proxy/package.json'), 'utf8')) as { version: string }).version;

  const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
  const needToolmesh = scenarios.some((s) => s === 'b' || s === 'c' || s === 'f' || s === 'g');
  const needRaw = scenarios.some((s) => s === 'a' || s === 'b' || s === 'e' || s === 'f' || s === 'g');

  log(`setup: ${scenarios.join(',')} at c=${concurrencies.join(',')}, ${warmupSeconds}+${seconds} s each`);
  const raw = needRaw ? await startRawBackend() : undefined;
  let profileDir: string | undefined;
  if (profile && needToolmesh) {
    profileDir = await mkdtemp(join(tmpdir(), 'toolmesh-bench-prof-'));
    trackTempDir(profileDir);
  }
  const toolmesh = needToolmesh ? await startToolmesh(profileDir) : undefined;
  if (toolmesh && raw && scenarios.includes('b')) {
    await register(toolmesh.url, toolmesh.token, { slug: 'raw', version: '1.0.0', backend: { http: raw.url } });
  }
  if (toolmesh && scenarios.includes('c')) {
    await register(toolmesh.url, toolmesh.token, { slug: 'sdk', version: '1.0.0', backend: { stdio: process.execPath, args: [PATHS.sdkServer] } });
  }
  const proxy = scenarios.includes('d') ? await startMcpProxy() : undefined;
  const floor = scenarios.includes('e') ? await startFloorProxy(raw!.url) : undefined;
  let jwt: string | undefined;
  if (toolmesh && raw && scenarios.includes('f')) {
    if (!scenarios.includes('b')) await register(toolmesh.url, toolmesh.token, { slug: 'raw', version: '1.0.0', backend: { http: raw.url } });
    jwt = await clientCredentialsToken(toolmesh.url);
  }
  let apiKey: string | undefined;
  if (toolmesh && raw && scenarios.includes('g')) {
    await register(toolmesh.url, toolmesh.token, { slug: 'raw-acme', version: '1.0.0', backend: { http: raw.url }, namespace: 'acme' });
    apiKey = await issueApiKey(toolmesh.url, toolmesh.token);
  }
  log(`ready: ${[raw && `raw ${raw.url}`, toolmesh && `toolmesh ${toolmesh.url} (pid ${toolmesh.child.pid})`, proxy && `mcp-proxy ${proxy.origin} (pid ${proxy.child.pid})`].filter(Boolean).join(', ')}`);

  const targets: Record<ScenarioId, () => Target> = {
    a: () => {
      const u = new URL(raw!.url);
      return { scenario: 'a', origin: u.origin, path: u.pathname, era: 'modern', proxyPid: undefined, backendPids: () => [raw!.child.pid] };
    },
    b: () => ({
      scenario: 'b',
      origin: toolmesh!.url,
      path: '/mcp/v1/tools/raw/rpc',
      era: 'modern',
      proxyPid: toolmesh!.child.pid,
      backendPids: () => [raw!.child.pid],
    }),
    c: () => ({
      scenario: 'c',
      origin: toolmesh!.url,
      path: '/mcp/v1/tools/sdk/rpc',
      era: 'legacy',
      proxyPid: toolmesh!.child.pid,
      backendPids: () => childPids(toolmesh!.child.pid),
    }),
    d: () => ({
      scenario: 'd',
      origin: proxy!.origin,
      path: '/mcp',
      era: 'legacy',
      proxyPid: proxy!.child.pid,
      backendPids: () => childPids(proxy!.child.pid),
    }),
    f: () => ({
      scenario: 'f',
      origin: toolmesh!.url,
      path: '/mcp/v1/tools/raw/rpc',
      era: 'modern',
      proxyPid: toolmesh!.child.pid,
      backendPids: () => [raw!.child.pid],
      headers: { authorization: `Bearer ${jwt!}` },
    }),
    g: () => ({
      scenario: 'g',
      origin: toolmesh!.url,
      path: '/mcp/v1/tools/raw-acme/rpc',
      era: 'modern',
      proxyPid: toolmesh!.child.pid,
      backendPids: () => [raw!.child.pid],
      headers: { authorization: `Bearer ${apiKey!}` },
    }),
    e: () => ({
      scenario: 'e',
      origin: floor!.origin,
      path: '/mcp',
      era: 'modern',
      proxyPid: floor!.child.pid,
      backendPids: () => [raw!.child.pid],
    }),
  };

  // Concurrency outermost: rows that are compared with each other (a/b, c/d) run
  // back to back, so a burst of unrelated load on the machine skews them less.
  const results: RunResult[] = [];
  for (const c of concurrencies) {
    for (const s of scenarios) {
      const r = await run(targets[s](), c, seconds, warmupSeconds);
      results.push(r);
      log(
        `${s} c=${c}: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, proxy ${fmt(r.proxyCpuUsPerCall)} µs/call (sys ${fmt(r.proxySysUsPerCall)}), errors ${r.errors + r.warmupErrors}; ` +
          `cores busy: proxy ${r.coresBusy.proxy}, backend ${r.coresBusy.backend}, load gen ${r.coresBusy.loadGen}, other ${r.coresBusy.other} of ${r.coresBusy.capacity}`,
      );
    }
  }

  // Stop the gateway first when profiling: the profile is written at exit.
  let profileSummary: GatewayProfile | undefined;
  if (toolmesh && profileDir) {
    await toolmesh.child.stop(15_000);
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      const kept = join(ROOT, 'dist/bench-gateway.cpuprofile');
      await writeFile(kept, await readFile(join(profileDir, file)));
      profileSummary = gatewayProfile(kept);
    } else log('no CPU profile was written by the gateway');
  }

  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    clkTck: CLK_TCK,
    seconds,
    warmupSeconds,
    concurrencies,
    mcpProxyVersion,
    mcpProxyFlags: MCP_PROXY_FLAGS,
    cpuProfiled: profile,
  };
  results.sort((x, y) => x.scenario.localeCompare(y.scenario) || concurrencies.indexOf(x.concurrency) - concurrencies.indexOf(y.concurrency));
  const ratios = computeRatios(results, concurrencies);
  const totalErrors = results.reduce((n, r) => n + r.errors + r.warmupErrors, 0);

  let out = markdown(results, ratios, meta);
  if (profile) out += '\n\n> The gateway ran under `--cpu-prof` for this run: its CPU numbers include profiler overhead.';
  const noisiest = results.reduce((m, r) => Math.max(m, r.coresBusy.other), 0);
  if (noisiest > 0.25) {
    out += `\n\n> ⚠ Other processes on the machine used up to ${fmt(noisiest, 2)} cores during a measured window; expect noise (see coresBusy in dist/bench-results.json).`;
  }
  if (totalErrors > 0) {
    out += `\n\n> **⚠ ${totalErrors} request(s) failed — these numbers are not valid.**`;
    for (const r of results) for (const [kind, n] of Object.entries(r.errorKinds)) out += `\n> - ${r.scenario} c=${r.concurrency}: ${n} × ${kind}`;
  }
  process.stdout.write(out + '\n');

  if (profileSummary) {
    const p = profileSummary;
    const rows = [
      '',
      `Gateway CPU profile (${p.file}, ${fmt(p.totalMs)} ms on-CPU, idle excluded)`,
      '',
      '| area | ms | % |',
      '|---|---:|---:|',
      ...p.byArea.map((a) => `| ${a.area} | ${fmt(a.ms, 1)} | ${fmt(a.pct, 1)} |`),
      '',
      '| top self-time function | where | ms | % |',
      '|---|---|---:|---:|',
      ...p.topFunctions.map((f) => `| ${f.fn} | ${f.where} | ${fmt(f.ms, 1)} | ${fmt(f.pct, 1)} |`),
      '',
      '| top self-time function in src/ | where | ms | % |',
      '|---|---|---:|---:|',
      ...p.topSrcFunctions.map((f) => `| ${f.fn} | ${f.where} | ${fmt(f.ms, 1)} | ${fmt(f.pct, 1)} |`),
    ];
    process.stdout.write(rows.join('\n') + '\n');
  }

  await mkdir(join(ROOT, 'dist'), { recursive: true });
  await writeFile(PATHS.results, JSON.stringify({ meta, results, ratios, totalErrors, profile: profileSummary ?? null }, null, 2) + '\n');
  log(`results written to ${relative(ROOT, PATHS.results)}`);
  return totalErrors > 0 ? 1 : 0;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`[bench] ${signal}: stopping children\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(interrupted ? 130 : code);
  },
  async (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!(err instanceof SetupError) && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    const tails = childTails();
    if (tails) process.stderr.write(tails + '\n');
    await cleanup();
    process.exit(1);
  },
);
