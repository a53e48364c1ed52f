/**
 * The child-process plumbing of a stdio backend: spawning without a shell in a
 * minimal environment, newline framing of stdout under a size cap, stderr
 * drained into lines and a ring buffer, corked writes, and termination that
 * waits for the exit. What the lines mean, supervision and multiplexing stay in
 * `stdio.ts`, which receives this module's events through {@link ChildEvents}.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** What to run. `command` is executed directly (no shell), so `args` need no quoting. */
export interface StdioBackendSpec {
  command: string;
  args: string[];
  /** Added to a minimal environment (PATH and HOME only): the gateway's secrets stay out. */
  env?: Record<string, string>;
  cwd?: string;
}

/** One spawned process and its framing state. Replaced wholesale on restart. */
export interface Child {
  proc: ChildProcessWithoutNullStreams;
  spawnedAt: number;
  ready: boolean;
  /** Set once the child is dead to us: later output and events are ignored. */
  gone: boolean;
  exitInfo: string | undefined;
  exitTimer: NodeJS.Timeout | undefined;
  corked: boolean;
  /** Pieces of a stdout line not yet terminated by '\n'. */
  parts: Buffer[];
  partsBytes: number;
  stderrPartial: string;
  /** Quoted in the error when the child dies: usually the reason it did. */
  lastStderr: string | undefined;
}

/**
 * What a child reports to the backend that spawned it. The backend passes
 * itself, so framing a line costs a method call and no closure.
 */
export interface ChildEvents {
  /** One complete, non-empty stdout line without its '\n', within the size cap. */
  onLine(child: Child, line: Buffer): void;
  /** The child broke the protocol (an oversized stdout line). */
  fault(child: Child, reason: string): void;
  /** The child is gone: it failed to start, or exited and its stdout drained (or the drain wait ran out). */
  childGone(child: Child, reason: string): void;
  /** A stderr line, or a process error worth logging. */
  log(line: string): void;
}

const CLOSE_GRACE_MS = 2_000;
/** After 'exit', how long to wait for stdout to drain before failing calls anyway. */
const EXIT_DRAIN_MS = 100;
/** Caps one stderr line so a child printing without newlines cannot grow memory. */
const MAX_STDERR_LINE = 8192;
const NEWLINE = 0x0a;

function noop(): void {}

/**
 * Spawns `spec` (never through a shell, with PATH and HOME plus `spec.env` as
 * the whole environment), tracks it in `procs` until reaped and wires its
 * streams to `events`. Throws synchronously when `spawn` does (bad arguments);
 * a missing command arrives later as `childGone`.
 */
export function startChild(
  spec: StdioBackendSpec,
  maxLineBytes: number,
  procs: Set<ChildProcessWithoutNullStreams>,
  stderr: StderrRing,
  events: ChildEvents,
): Child {
  const env: Record<string, string> = {};
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  Object.assign(env, spec.env);

  const proc = spawn(spec.command, spec.args, {
    shell: false,
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
    cwd: spec.cwd,
    windowsHide: true,
  });
  const child: Child = {
    proc,
    spawnedAt: Date.now(),
    ready: false,
    gone: false,
    exitInfo: undefined,
    exitTimer: undefined,
    corked: false,
    parts: [],
    partsBytes: 0,
    stderrPartial: '',
    lastStderr: undefined,
  };
  procs.add(proc);

  proc.on('error', (err: NodeJS.ErrnoException) => {
    if (proc.pid === undefined) {
      // Spawn failed: there is no process and there may be no 'exit'.
      procs.delete(proc);
      const hint = err.code === 'ENOENT' ? ' (command not found)' : '';
      events.childGone(child, `could not start "${spec.command}": ${err.code ?? err.message}${hint}`);
    } else {
      events.log(`stdio backend: ${err.message}`);
    }
  });
  proc.on('exit', (code, signal) => {
    procs.delete(proc);
    child.exitInfo = describeExit(code, signal);
    // 'close' normally follows at once, after stdout drained; a grandchild holding
    // the pipe open must not keep calls hanging, hence the bounded wait.
    child.exitTimer = setTimeout(() => events.childGone(child, child.exitInfo!), EXIT_DRAIN_MS);
  });
  proc.on('close', (code, signal) => {
    clearTimeout(child.exitTimer);
    events.childGone(child, child.exitInfo ?? describeExit(code, signal));
  });
  // A dead child makes writes fail with EPIPE; the exit path reports it.
  proc.stdin.on('error', noop);
  proc.stdout.on('error', noop);
  proc.stderr.on('error', noop);
  proc.stdout.on('data', (chunk: Buffer) => frameStdout(child, chunk, maxLineBytes, events));
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => onStderr(child, chunk, stderr, events));
  return child;
}

/** Writes issued in one tick are corked into a single writev to the pipe. */
export function writeLine(child: Child, line: string, cb?: (err: Error | null | undefined) => void): void {
  const stdin = child.proc.stdin;
  if (!child.corked) {
    child.corked = true;
    stdin.cork();
    process.nextTick(uncork, child);
  }
  stdin.write(line, cb);
}

function uncork(child: Child): void {
  child.corked = false;
  child.proc.stdin.uncork();
}

/** Splits stdout into lines without copying unless a line spans chunks; a line over the cap is a fault. */
function frameStdout(child: Child, chunk: Buffer, maxLineBytes: number, events: ChildEvents): void {
  let start = 0;
  let nl = chunk.indexOf(NEWLINE);
  while (nl !== -1) {
    if (child.gone) return;
    let line: Buffer;
    if (child.partsBytes > 0) {
      child.parts.push(chunk.subarray(start, nl));
      const total = child.partsBytes + nl - start;
      line = Buffer.concat(child.parts, total);
      child.parts.length = 0;
      child.partsBytes = 0;
    } else {
      line = chunk.subarray(start, nl);
    }
    if (line.length > maxLineBytes) return overflow(child, maxLineBytes, events);
    if (line.length > 0) events.onLine(child, line);
    start = nl + 1;
    nl = chunk.indexOf(NEWLINE, start);
  }
  if (start < chunk.length && !child.gone) {
    child.partsBytes += chunk.length - start;
    if (child.partsBytes > maxLineBytes) return overflow(child, maxLineBytes, events);
    child.parts.push(start === 0 ? chunk : chunk.subarray(start));
  }
}

function overflow(child: Child, maxLineBytes: number, events: ChildEvents): void {
  events.fault(child, `sent a stdout line over ${maxLineBytes} bytes (protocol fault)`);
}

function onStderr(child: Child, chunk: string, stderr: StderrRing, events: ChildEvents): void {
  let text = child.stderrPartial + chunk;
  let nl = text.indexOf('\n');
  while (nl !== -1) {
    stderrLine(child, text.slice(0, nl > 0 && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl), stderr, events);
    text = text.slice(nl + 1);
    nl = text.indexOf('\n');
  }
  if (text.length > MAX_STDERR_LINE) {
    stderrLine(child, text, stderr, events);
    text = '';
  }
  child.stderrPartial = text;
}

/** Emits what is left of a dead child's stderr without a final newline. */
export function flushStderr(child: Child, stderr: StderrRing, events: ChildEvents): void {
  if (child.stderrPartial.length > 0) stderrLine(child, child.stderrPartial, stderr, events);
  child.stderrPartial = '';
}

function stderrLine(child: Child, line: string, stderr: StderrRing, events: ChildEvents): void {
  if (line.length > MAX_STDERR_LINE) line = line.slice(0, MAX_STDERR_LINE) + '…';
  child.lastStderr = line;
  stderr.push(line);
  events.log(line);
}

/**
 * The last `cap` stderr lines of a backend's children, kept for diagnostics.
 *
 * @example
 * ```ts
 * const ring = new StderrRing(2);
 * ring.push('a'); ring.push('b'); ring.push('c');
 * ring.tail(); // ['b', 'c']
 * ```
 */
export class StderrRing {
  private readonly lines: string[] = [];
  private next = 0;

  /** `cap` 0 keeps nothing. */
  constructor(private readonly cap: number) {}

  push(line: string): void {
    if (this.cap > 0) {
      if (this.lines.length < this.cap) this.lines.push(line);
      else this.lines[this.next] = line;
      this.next = (this.next + 1) % this.cap;
    }
  }

  /** The kept lines, oldest first. */
  tail(): string[] {
    const ring = this.lines;
    if (ring.length < this.cap) return ring.slice();
    return ring.slice(this.next).concat(ring.slice(0, this.next));
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Ends stdin, SIGTERM, then SIGKILL after a grace period; resolves on 'exit'. */
export function terminate(proc: ChildProcessWithoutNullStreams): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), CLOSE_GRACE_MS);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.stdin.end();
    proc.kill('SIGTERM');
  });
}
