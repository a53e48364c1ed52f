/**
 * Real federated nodes for tests: each node's identity (hence libp2p peer
 * id), HTTP port (hence entity id) and libp2p port are fixed before any node
 * starts, so every node's trust policy can name its peers; the policies are
 * written as YAML directories exactly as an administrator would.
 */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import { planNodeIn, type NodePlan as ScriptPlan } from '../../scripts/lib/mesh-plan.js';
import { startAnchor } from '../../federation/anchor/anchor-server.js';
import { removeDir, startTestNode, type TestNode } from './node.js';

export interface NodePlan extends ScriptPlan {
  identity: NodeIdentity;
}

/** A node's identity, ports and entity id, fixed before any node starts (the plan the demo and bench use, plus the identity). */
export async function planNode(alias: string, namespace = `${alias}-org`): Promise<NodePlan> {
  const dataDir = await mkdtemp(join(tmpdir(), `toolmesh-mesh-${alias}-`));
  const plan = await planNodeIn(alias, namespace, dataDir, join(dataDir, 'trust'));
  const { identity } = await loadOrCreateIdentity(dataDir);
  return { ...plan, identity };
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

/** Polls `probe` every 100 ms until it gives a value (federation converges asynchronously: links, trust, manifests). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface TestAnchor {
  entityId: string;
  /** The anchor as a trust policy's `trustAnchors` lists it. */
  pin: { entityId: string; jwks: unknown };
  /** Stops it and removes its data directory. */
  stop(): Promise<void>;
}

/** A real OpenID Federation trust anchor in this process, vouching for the planned nodes. */
export async function startTestAnchor(members: NodePlan[]): Promise<TestAnchor> {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-anchor-'));
  const anchor = await startAnchor({ dataDir, members: members.map((p) => ({ entityId: p.entityId, peerId: p.peerId })) });
  return {
    entityId: anchor.entityId,
    pin: { entityId: anchor.entityId, jwks: anchor.jwks },
    async stop() {
      await anchor.stop();
      await removeDir(dataDir);
    },
  };
}
