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
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

// --- configuration -----------------------------------------------------------

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
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

class SetupError extends Error {
  override name = 'SetupError';
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

// --- child processes -----------------------------------------------------------

const children = new Set<Child>();
const tempDirs: string[] = [];

class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly #tail: string[] = [];
  readonly #waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    // Own process group, so a grandchild (the stdio server) can be reaped with it.
    this.proc = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(this);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.#tail.push(line);
        if (this.#tail.length > 40) this.#tail.shift();
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
          const m = this.#waiters[i]!.re.exec(line);
          if (m) {
            this.#waiters[i]!.resolve(m);
            this.#waiters.splice(i, 1);
          }
        }
      }
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
      this.proc.once('error', (err) => {
        this.#tail.push(`spawn error: ${err.message}`);
        this.#exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new SetupError(`${this.name}: not running`);
    return this.proc.pid;
  }

  get tail(): string {
    return this.#tail.join('\n');
  }

  /** Resolves with the first output line matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.#tail) {
      const m = re.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SetupError(`${this.name}: no ${re} within ${timeoutMs} ms\n${this.tail}`)), timeoutMs);
      this.#waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new SetupError(`${this.name} exited (${code}) during start-up\n${this.tail}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL of the whole group after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    children.delete(this);
    if (this.#exitCode === undefined && this.proc.pid !== undefined) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(this.proc.pid!), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Whatever the child left behind in its group (e.g. a stdio server).
    if (this.proc.pid !== undefined) killGroup(this.proc.pid);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Group already gone.
  }
}

async function cleanup(): Promise<void> {
  await Promise.allSettled([...children].map((c) => c.stop()));
  await Promise.allSettled(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
}

// --- /proc accounting ------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of one process (all its threads), in µs. */
function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1e6) / CLK_TCK, sys: (Number(fields[12]) * 1e6) / CLK_TCK };
}

/** utime+stime of one process, in µs. */
function cpuMicros(pid: number): number {
  const { user, sys } = cpuSplit(pid);
  return user + sys;
}

/** Direct children of `pid` (e.g. the stdio server a proxy spawned). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // Process gone or /proc not readable.
  }
  return out;
}

/** Busy and total CPU time of the whole machine (all cores), in µs, from /proc/stat. */
function machineMicros(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: ((total - idle) * 1e6) / CLK_TCK, total: (total * 1e6) / CLK_TCK };
}

function cpuOfAll(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuMicros(pid);
    } catch {
      // A pid that vanished contributes nothing.
    }
  }
  return sum;
}

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

interface Caller {
  headers: Record<string, string>;
  prefix: string;
  suffix: string;
  nextId: number;
  sessionId: string | undefined;
}

class Stats {
  ok = 0;
  errors = 0;
  readonly errorKinds = new Map<string, number>();
  latencies: number[] = [];

  fail(kind: string): void {
    this.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }
}

const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function modernCaller(extra: Record<string, string> = {}): Caller {
  const meta = JSON.stringify({ 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} });
  return {
    headers: { ...BASE_HEADERS, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo', ...extra },
    prefix: '{"jsonrpc":"2.0","id":',
    suffix: `,"method":"tools/call","params":{"name":"echo","arguments":${ARGS_JSON},"_meta":${meta}}}`,
    nextId: 0,
    sessionId: undefined,
  };
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
  return {
    headers,
    prefix: '{"jsonrpc":"2.0","id":',
    suffix: `,"method":"tools/call","params":{"name":"echo","arguments":${ARGS_JSON}}}`,
    nextId: 0,
    sessionId,
  };
}

function headerOf(v: string | string[] | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v : (v[0] ?? '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON-RPC message answering `id`, from a JSON or an SSE body. */
function parseRpc(contentType: string, text: string, id: number): Record<string, unknown> | undefined {
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

/** Undefined when `text` is the successful echo result for `id`, else an error kind. */
function verify(status: number, contentType: string, text: string, id: number): string | undefined {
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
  if (!isObject(first) || first.text !== ECHO_TEXT) return 'result does not echo the argument';
  return undefined;
}

async function callLoop(pool: Pool, path: string, caller: Caller, until: number, stats: Stats): Promise<void> {
  while (performance.now() < until) {
    const id = ++caller.nextId;
    const t0 = performance.now();
    try {
      const res = await pool.request({ path, method: 'POST', headers: caller.headers, body: caller.prefix + id + caller.suffix });
      const text = await res.body.text();
      const elapsed = performance.now() - t0;
      const problem = verify(res.statusCode, headerOf(res.headers['content-type']), text, id);
      if (problem === undefined) {
        stats.ok++;
        stats.latencies.push(elapsed);
      } else stats.fail(problem);
    } catch (err) {
      const e = err as Error & { code?: string };
      stats.fail(`transport: ${e.code ?? e.message}`);
      await new Promise((r) => setTimeout(r, 10)); // do not spin on a dead socket
    }
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface RunResult {
  scenario: ScenarioId;
  label: string;
  concurrency: number;
  seconds: number;
  requests: number;
  errors: number;
  warmupErrors: number;
  errorKinds: Record<string, number>;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
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
    const warm = new Stats();
    if (warmupSeconds > 0) {
      const until = performance.now() + warmupSeconds * 1000;
      await Promise.all(callers.map((c) => callLoop(pool, target.path, c, until, warm)));
    }
    const stats = new Stats();
    const backendPids = target.backendPids();
    const proxyBefore = target.proxyPid === undefined ? { user: 0, sys: 0 } : cpuSplit(target.proxyPid);
    const backendBefore = cpuOfAll(backendPids);
    const loadGenBefore = process.cpuUsage();
    const machineBefore = machineMicros();
    const start = performance.now();
    const until = start + seconds * 1000;
    await Promise.all(callers.map((c) => callLoop(pool, target.path, c, until, stats)));
    const elapsed = (performance.now() - start) / 1000;
    const proxyAfter = target.proxyPid === undefined ? { user: 0, sys: 0 } : cpuSplit(target.proxyPid);
    const proxySys = proxyAfter.sys - proxyBefore.sys;
    const proxyCpu = proxyAfter.user - proxyBefore.user + proxySys;
    const backendCpu = cpuOfAll(backendPids) - backendBefore;
    const loadGenUsage = process.cpuUsage(loadGenBefore);
    const loadGenCpu = loadGenUsage.user + loadGenUsage.system;
    const machineAfter = machineMicros();
    const machineBusy = machineAfter.busy - machineBefore.busy;
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

    const sorted = Float64Array.from(stats.latencies).sort();
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
      errorKinds: Object.fromEntries([...stats.errorKinds, ...[...warm.errorKinds].map(([k, v]) => [`warm-up: ${k}`, v] as const)]),
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
        capacity: round((machineAfter.total - machineBefore.total) / wallUs, 2),
      },
    };
  } finally {
    await pool.destroy();
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// --- setup ---------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

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
  tempDirs.push(dataDir);
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

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface ProfileSummary {
  file: string;
  totalMs: number;
  byArea: Array<{ area: string; ms: number; pct: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; pct: number }>;
  topSrcFunctions: Array<{ fn: string; where: string; ms: number; pct: number }>;
}

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return `src/${url.slice(src + 10).split('/')[0]}`;
  return 'other';
}

function where(url: string, line: number): string {
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return `src/${url.slice(src + 10).replace(/\.js$/, '.ts')} (js:${line + 1})`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return `${url.slice(nm + 1)}:${line + 1}`;
  return url ? `${url}:${line + 1}` : '';
}

function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, { fn: string; where: string; us: number; src: boolean }>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? { fn: functionName || '(anonymous)', where: where(url, lineNumber), us: 0, src: url.includes('/dist/src/') };
    entry.us += us;
    fns.set(key, entry);
  }
  const pct = (us: number) => round((100 * us) / Math.max(1, total), 1);
  const fnRow = (e: { fn: string; where: string; us: number }) => ({ fn: e.fn, where: e.where, ms: round(e.us / 1000, 1), pct: pct(e.us) });
  const sortedFns = [...fns.values()].sort((x, y) => y.us - x.us);
  return {
    file: relative(ROOT, file),
    totalMs: round(total / 1000, 1),
    byArea: [...areas].sort((x, y) => y[1] - x[1]).slice(0, 15).map(([a, us]) => ({ area: a, ms: round(us / 1000, 1), pct: pct(us) })),
    topFunctions: sortedFns.slice(0, 20).map(fnRow),
    topSrcFunctions: sortedFns.filter((e) => e.src).slice(0, 15).map(fnRow),
  };
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
    tempDirs.push(profileDir);
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
  let profileSummary: ProfileSummary | undefined;
  if (toolmesh && profileDir) {
    await toolmesh.child.stop(15_000);
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      const kept = join(ROOT, 'dist/bench-gateway.cpuprofile');
      await writeFile(kept, await readFile(join(profileDir, file)));
      profileSummary = summarizeProfile(kept);
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
    for (const c of children) if (c.tail) process.stderr.write(`--- ${c.name} output (tail) ---\n${c.tail}\n`);
    await cleanup();
    process.exit(1);
  },
);
