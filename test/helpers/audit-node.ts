/**
 * A real node for audit tests that need a `startNode` option the plain
 * harness (node.ts) does not pass: `auditWriteHook`, the seam that sees
 * every synced audit write and can throw to simulate a failing disk.
 * Same data directory layout and defaults as `startTestNode`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type RunningNode, type StartOptions } from '../../src/node/node.js';
import { createLogger } from '../../src/node/log.js';

export interface HookedNode {
  node: RunningNode;
  url: string;
  dataDir: string;
  token: string;
  admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

/** A node on a fresh data directory (anonymous callers allowed unless `config.auth` says otherwise) with `auditWriteHook`. */
export async function startHookedNode(auditWriteHook: NonNullable<StartOptions['auditWriteHook']>, config: Record<string, unknown> = {}): Promise<HookedNode> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-audit-node-'));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      ...config,
      auth: config.auth ?? { anonymous: true },
      backends: { driftCheckIntervalMs: 0, callTimeoutMs: 5000, ...(config.backends as object) },
    }),
  );
  const node = await startNode({ dataDir: dir, port: 0, auditWriteHook, logger: createLogger((process.env.TOOLMESH_TEST_LOG ?? 'silent') as 'silent') });
  const token = existsSync(join(dir, 'admin.token')) ? readFileSync(join(dir, 'admin.token'), 'utf8').trim() : '';
  return {
    node,
    url: node.url,
    dataDir: dir,
    token,
    async admin(method, path, body) {
      const res = await fetch(node.url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    stop: () => node.stop(),
  };
}
