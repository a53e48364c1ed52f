/**
 * Everything about a demo node that must be known before any node starts:
 * its identity (created in its data directory, hence its libp2p peer id), its
 * HTTP port (hence its entity id) and its libp2p port (hence its multiaddr).
 * Trust policies name their peers by exactly these, so they are fixed first.
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/node/identity.js';
import { peerIdFromNodeIdentity } from '../../federation/peer/index.js';

export interface NodePlan {
  /** The node's own alias (node.yaml `alias`). */
  alias: string;
  namespace: string;
  dataDir: string;
  trustDir: string;
  peerId: string;
  httpPort: number;
  p2pPort: number;
  entityId: string;
  multiaddr: string;
}

/** A free loopback TCP port: listen on 0, note the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function planNode(root: string, alias: string, namespace: string): Promise<NodePlan> {
  const dataDir = join(root, alias, 'data');
  const trustDir = join(root, alias, 'trust');
  await mkdir(dataDir, { recursive: true });
  await mkdir(join(trustDir, 'peers'), { recursive: true });
  // The node loads this identity when it starts: its peer id is known now.
  const { identity } = await loadOrCreateIdentity(dataDir);
  const httpPort = await freePort();
  const p2pPort = await freePort();
  return {
    alias,
    namespace,
    dataDir,
    trustDir,
    peerId: peerIdFromNodeIdentity(identity).toString(),
    httpPort,
    p2pPort,
    entityId: `http://127.0.0.1:${httpPort}`,
    multiaddr: `/ip4/127.0.0.1/tcp/${p2pPort}`,
  };
}
