/**
 * A demo node as a real `toolmesh start --trust DIR --data DIR --port N`
 * child process: its config.json (embedded authorization server clients,
 * libp2p listen address) is written first, its output goes to a log file,
 * and it is stopped with SIGTERM (SIGKILL only if it does not exit in time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodePlan } from './plan.js';

/** A client of the node's embedded authorization server (client credentials). */
export interface DemoClient {
  clientId: string;
  clientSecret: string;
  groups: string[];
  scopes: string[];
}

export interface NodeProcess {
  plan: NodePlan;
  url: string;
  adminToken: string;
  logFile: string;
  child: ChildProcess;
  /** Admin API call with the node's bootstrap admin token. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(timeoutMs?: number): Promise<void>;
}

/** Every child spawned, from the moment it exists, so an interrupted start still stops it. */
const spawned = new Set<ChildProcess>();

/** SIGTERM to every child still running (SIGKILL after `timeoutMs`); resolves with how many it stopped, once all have exited. */
export async function stopAllChildren(timeoutMs = 10_000): Promise<number> {
  const running = [...spawned].filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(
    running.map(async (child) => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }),
  );
  return running.length;
}

/** dist/scripts/demo/node-process.js → dist/src/cli/main.js */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export async function startNodeProcess(plan: NodePlan, clients: DemoClient[], root: string): Promise<NodeProcess> {
  await writeFile(
    join(plan.dataDir, 'config.json'),
    JSON.stringify(
      {
        auth: { authorizationServer: { clients } },
        // Policy edits are picked up within a fraction of a second (default: every second).
        federation: { listen: [plan.multiaddr], policyPollMs: 200 },
      },
      null,
      2,
    ),
  );
  const logFile = join(root, `${plan.alias}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [CLI, 'start', '--trust', plan.trustDir, '--data', plan.dataDir, '--port', String(plan.httpPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  spawned.add(child);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', () => setImmediate(() => log.end()));

  const url = plan.entityId;
  // `toolmesh start` prints its banner once the node is fully started (the port is bound
  // earlier, before the node answers on it); then /healthz must answer.
  let banner = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('Toolmesh node listening on')) banner = true;
  });
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${plan.alias} node exited during start (code ${child.exitCode}); see ${logFile}`);
    const ok = banner && (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false));
    if (ok) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${plan.alias} node did not become healthy within 20 s; see ${logFile}`);
    }
    await sleep(100);
  }
  const adminToken = (await readFile(join(plan.dataDir, 'admin.token'), 'utf8')).trim();

  return {
    plan,
    url,
    adminToken,
    logFile,
    child,
    async admin<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(url + path, {
        method,
        signal: AbortSignal.timeout(10_000),
        headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The last lines of a node's log, for failure messages (without the bootstrap admin token). */
export async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .trimEnd()
    .split('\n')
    .filter((line) => !line.includes('tmadm_'))
    .slice(-lines)
    .join('\n');
}
