/**
 * Everything about a mesh node that must be known before any node starts:
 * its identity (created in its data directory, hence its libp2p peer id), its
 * HTTP port (hence its entity id) and its libp2p port (hence its multiaddr).
 * Trust policies name their peers by exactly these, so they are fixed first.
 * Shared by the demo and the federation bench.
 */
import { freePort } from './ports.js';
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

export { freePort } from './ports.js';

/** The plan of a node whose data directory is `dataDir`: its identity is created there now (the node loads it when it starts). */
export async function planNodeIn(alias: string, namespace: string, dataDir: string, trustDir: string): Promise<NodePlan> {
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
