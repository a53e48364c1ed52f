/**
 * Real federated nodes for tests: each node's identity (hence libp2p peer
 * id), HTTP port (hence entity id) and libp2p port are fixed before any node
 * starts, so every node's trust policy can name its peers; the policies are
 * written as YAML directories exactly as an administrator would.
 */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import { peerIdFromNodeIdentity } from '../../federation/peer/index.js';
import { startTestNode, type TestNode } from './node.js';

export interface NodePlan {
  alias: string;
  namespace: string;
  dataDir: string;
  trustDir: string;
  identity: NodeIdentity;
  peerId: string;
  httpPort: number;
  p2pPort: number;
  entityId: string;
  multiaddr: string;
}

/** A free loopback TCP port (closed again at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function planNode(alias: string, namespace = `${alias}-org`): Promise<NodePlan> {
  const dataDir = await mkdtemp(join(tmpdir(), `toolmesh-mesh-${alias}-`));
  const { identity } = await loadOrCreateIdentity(dataDir);
  const httpPort = await freePort();
  const p2pPort = await freePort();
  return {
    alias,
    namespace,
    dataDir,
    trustDir: join(dataDir, 'trust'),
    identity,
    peerId: peerIdFromNodeIdentity(identity).toString(),
    httpPort,
    p2pPort,
    entityId: `http://127.0.0.1:${httpPort}`,
    multiaddr: `/ip4/127.0.0.1/tcp/${p2pPort}`,
  };
}

export interface PeerSpec {
  plan: NodePlan;
  /** As this node calls the peer (default its own alias). */
  alias?: string;
  exports?: Array<{ server: string; versions?: string; tools: string[] | '*'; access: 'read' | 'write'; groups: string[] }>;
  imports?: Array<{ server: string; tools: string[] | '*'; groups: string[] }>;
  inbound?: { groupMapping?: Record<string, string[]>; scopeCeiling?: string[]; maxTokenTtlSeconds?: number };
  rateLimit?: { perMinute: number; burst: number };
}

/** Writes `self`'s trust policy directory (node.yaml + peers/*.yaml). */
export async function writeTrust(self: NodePlan, peers: PeerSpec[], extra: { trustAnchors?: unknown[] } = {}): Promise<void> {
  await mkdir(join(self.trustDir, 'peers'), { recursive: true });
  await writeFile(
    join(self.trustDir, 'node.yaml'),
    stringify({ namespace: self.namespace, alias: self.alias, entityId: self.entityId, peerId: self.peerId, trustAnchors: extra.trustAnchors ?? [] }),
  );
  for (const p of peers) {
    const alias = p.alias ?? p.plan.alias;
    await writeFile(
      join(self.trustDir, 'peers', `${alias}.yaml`),
      stringify({
        alias,
        entityId: p.plan.entityId,
        namespace: p.plan.namespace,
        peerId: p.plan.peerId,
        addresses: [p.plan.multiaddr],
        ...(p.rateLimit ? { rateLimit: p.rateLimit } : {}),
        exports: p.exports ?? [],
        imports: p.imports ?? [],
        ...(p.inbound ? { inbound: p.inbound } : {}),
      }),
    );
  }
}

/** Starts the planned node with federation on (manifests short-lived so expiry is testable). */
export async function startMeshNode(plan: NodePlan, config: Record<string, unknown> = {}): Promise<TestNode> {
  return startTestNode(
    {
      ...config,
      federation: { trustDir: plan.trustDir, listen: [plan.multiaddr], policyPollMs: 200, ...(config.federation as object) },
    },
    plan.dataDir,
    { port: plan.httpPort },
  );
}
