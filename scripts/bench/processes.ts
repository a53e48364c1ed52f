/**
 * Benchmark plumbing shared by `bench` and `bench-federation`: child
 * processes that are always reaped (own process group, SIGTERM then
 * SIGKILL), temporary directories that are always removed, and CPU
 * accounting from /proc.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/scripts/bench/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A failure to set the bench up: reported without a stack trace. */
export class SetupError extends Error {
  override name = 'SetupError';
}

const children = new Set<Child>();
const tempDirs = new Set<string>();

/** Registers a directory to remove in {@link cleanup}. */
export function trackTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

/**
 * A child process with its output kept (last 60 lines) and matched against
 * waiters, so start-up lines ("listening on …") can be awaited.
 *
 * @example
 * ```ts
 * import { Child } from './processes.js';
 * const c = new Child('raw', process.execPath, ['raw-backend.js']);
 * const [, port] = await c.waitFor(/^LISTENING (\d+)$/, 10_000);
 * await c.stop();
 * ```
 */
export class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly exited: Promise<number | null>;
  readonly #tail: string[] = [];
  readonly #waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  #done = false;

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    // Own process group, so anything the child spawns is reaped with it.
    this.proc = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(this);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.#tail.push(line);
        if (this.#tail.length > 60) this.#tail.shift();
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
      this.proc.once('exit', (code) => {
        this.#done = true;
        resolve(code);
      });
      this.proc.once('error', (err) => {
        this.#tail.push(`spawn error: ${err.message}`);
        this.#done = true;
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

  /** The first output line matching `re`; rejects when the child exits or the time is up. */
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
    const pid = this.proc.pid;
    if (!this.#done && pid !== undefined) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(pid), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    if (pid !== undefined) killGroup(pid);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/** Stops every child still running and removes every tracked directory. */
export async function cleanup(): Promise<void> {
  await Promise.allSettled([...children].map((c) => c.stop()));
  await Promise.allSettled([...tempDirs].map((d) => rm(d, { recursive: true, force: true })));
  tempDirs.clear();
}

/** Output tails of the children still running that printed anything (for a failure report). */
export function childTails(): string {
  return [...children]
    .filter((c) => c.tail)
    .map((c) => `--- ${c.name} output (tail) ---\n${c.tail}`)
    .join('\n');
}

// --- /proc accounting --------------------------------------------------------------

/** Clock ticks per second of the /proc CPU times. */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of one process (all its threads), in µs; throws once it is gone. */
export function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1e6) / CLK_TCK, sys: (Number(fields[12]) * 1e6) / CLK_TCK };
}

/** utime+stime of one process (all its threads), in µs; 0 once it is gone. */
export function cpuMicros(pid: number): number {
  try {
    const { user, sys } = cpuSplit(pid);
    return user + sys;
  } catch {
    return 0;
  }
}

/** utime+stime of several processes, in µs (a pid that vanished contributes nothing). */
export function cpuOfAll(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
}

/** Direct children of `pid` (e.g. the stdio server a proxy spawned). */
export function childPids(pid: number): number[] {
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
export function machineMicros(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: ((total - idle) * 1e6) / CLK_TCK, total: (total * 1e6) / CLK_TCK };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
