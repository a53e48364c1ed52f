/**
 * The real `toolmesh` binary as child processes: one command run to
 * completion, or a node started with `start --port 0` and stopped with SIGTERM.
 * Runs the compiled CLI from dist/ (`npm test` builds it in pretest).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = join(ROOT, 'dist/src/cli/main.js');

/** The environment for CLI children, without ambient TOOLMESH_* settings. */
export function cliEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TOOLMESH_LOG: 'warn' };
  for (const k of ['TOOLMESH_URL', 'TOOLMESH_TOKEN', 'TOOLMESH_DATA']) delete e[k];
  return e;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion; `input` goes to its stdin. */
export function runCli(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`toolmesh ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface NodeProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** `toolmesh start --data DIR --port 0`, resolved once the banner (and a new admin token, if any) is out. */
export function startNodeProcess(dataDir: string): Promise<NodeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'start', '--data', dataDir, '--port', '0'], { cwd: ROOT, env: cliEnv() });
    let out = '';
    let err = '';
    const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? -1)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node did not start in time\nstdout: ${out}\nstderr: ${err}`));
    }, 20_000);
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const url = /^Toolmesh node listening on (http:\/\/\S+)$/m.exec(out)?.[1];
      const complete = /data directory/.test(out) && (!/Bootstrap admin token/.test(out) || /tmadm_\S+\n/.test(out));
      if (url && complete) {
        clearTimeout(timer);
        resolve({ child, url, stdout: () => out, stderr: () => err, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code}) before its banner\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** SIGTERM and wait for the exit (SIGKILL after `withinMs`). */
export async function terminate(node: NodeProcess, withinMs = 8_000): Promise<{ code: number | string; ms: number }> {
  const started = Date.now();
  if (node.child.exitCode !== null || node.child.signalCode !== null) {
    return { code: node.child.exitCode ?? node.child.signalCode ?? -1, ms: 0 };
  }
  node.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([node.exited, new Promise<string>((resolve) => (timer = setTimeout(resolve, withinMs, 'timeout')))]);
  clearTimeout(timer);
  if (code === 'timeout') node.child.kill('SIGKILL');
  return { code, ms: Date.now() - started };
}

/** Whether a process (e.g. a stdio child the node spawned) is still running. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
