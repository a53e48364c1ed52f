/**
 * Starts a real Toolmesh node in-process for a test: a fresh temporary data
 * directory (real LevelDB), an ephemeral loopback port, and the admin token.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type RunningNode, type StartOptions } from '../../src/node/node.js';
import { createLogger } from '../../src/node/log.js';
import { existsSync, readFileSync } from 'node:fs';

export interface TestNode {
  node: RunningNode;
  url: string;
  dataDir: string;
  token: string;
  admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  register(input: Record<string, unknown>): Promise<any>;
  restart(): Promise<TestNode>;
  stop(): Promise<void>;
}

/** `auditWriteHook`: the seam that sees every synced audit write; throwing simulates a failing disk. */
export interface TestNodeOptions {
  auditWriteHook?: StartOptions['auditWriteHook'];
  /** A fixed HTTP port (federation tests need entity ids known before start); default an ephemeral one. */
  port?: number;
}

export async function startTestNode(config: Record<string, unknown> = {}, dataDir?: string, options: TestNodeOptions = {}): Promise<TestNode> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'toolmesh-test-')));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      ...config,
      // Tests of the gateway itself run as the explicitly granted anonymous identity unless they configure auth.
      auth: config.auth ?? { anonymous: true },
      backends: { driftCheckIntervalMs: 0, callTimeoutMs: 5000, ...(config.backends as object) },
    }),
  );
  const node = await startNode({ dataDir: dir, port: 0, ...options, logger: createLogger((process.env.TOOLMESH_TEST_LOG ?? 'silent') as 'silent') });
  // A node whose bootstrap token was disabled has no token file.
  const token = existsSync(join(dir, 'admin.token')) ? readFileSync(join(dir, 'admin.token'), 'utf8').trim() : '';
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(node.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const t: TestNode = {
    node,
    url: node.url,
    dataDir: dir,
    token,
    admin,
    async register(input) {
      const res = await admin('POST', '/admin/v1/servers', input);
      if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async restart() {
      await node.stop();
      return startTestNode(config, dir, options);
    },
    async stop() {
      await node.stop();
    },
  };
  return t;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
