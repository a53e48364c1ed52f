/**
 * Federated Toolmesh nodes as child processes, for benchmarks. Each node's
 * identity (hence libp2p peer id), HTTP port (hence entity id) and libp2p
 * port are fixed before any node starts, so every node's trust policy can
 * name its peers; policies are written as YAML directories, as an
 * administrator would (trust-config/ format), and each node runs
 * `toolmesh start --trust DIR`.
 */
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { planNodeIn, type NodePlan } from '../lib/mesh-plan.js';
import { Child, ROOT, SetupError, trackTempDir } from './processes.js';

export { freePort, type NodePlan } from '../lib/mesh-plan.js';

/** A data directory (removed at cleanup) with the node's identity in it, and its ports and ids. */
export async function planNode(alias: string, namespace = `${alias}-org`): Promise<NodePlan> {
  const dataDir = trackTempDir(await mkdtemp(join(tmpdir(), `toolmesh-bench-fed-${alias}-`)));
  return planNodeIn(alias, namespace, dataDir, join(dataDir, 'trust'));
}

export interface PeerSpec {
  plan: NodePlan;
  exports?: Array<{ server: string; versions?: string; tools: string[] | '*'; access: 'read' | 'write'; groups: string[] }>;
  imports?: Array<{ server: string; tools: string[] | '*'; groups: string[] }>;
  inbound?: { groupMapping?: Record<string, string[]>; scopeCeiling?: string[]; maxTokenTtlSeconds?: number };
  rateLimit?: { perMinute: number; burst: number };
}

/** The highest peer rate limit trust-config/ accepts: never bites during a bench window. */
export const PEER_UNLIMITED = { perMinute: 1_000_000, burst: 1_000_000 };

/** Writes `self`'s trust policy directory (node.yaml + peers/*.yaml). */
export async function writeTrust(self: NodePlan, peers: PeerSpec[], trustAnchors: unknown[]): Promise<void> {
  await mkdir(join(self.trustDir, 'peers'), { recursive: true });
  await writeFile(
    join(self.trustDir, 'node.yaml'),
    stringify({ namespace: self.namespace, alias: self.alias, entityId: self.entityId, peerId: self.peerId, trustAnchors }),
  );
  for (const p of peers) {
    await writeFile(
      join(self.trustDir, 'peers', `${p.plan.alias}.yaml`),
      stringify({
        alias: p.plan.alias,
        entityId: p.plan.entityId,
        namespace: p.plan.namespace,
        peerId: p.plan.peerId,
        addresses: [p.plan.multiaddr],
        rateLimit: p.rateLimit ?? PEER_UNLIMITED,
        exports: p.exports ?? [],
        imports: p.imports ?? [],
        ...(p.inbound ? { inbound: p.inbound } : {}),
      }),
    );
  }
}

export interface MeshNode {
  plan: NodePlan;
  child: Child;
  url: string;
  adminToken: string;
}

const UNLIMITED = { perMinute: 1e9, burst: 1e9 };

/** OAuth clients of the node's embedded authorization server (client_credentials). */
export interface BenchClient {
  clientId: string;
  clientSecret: string;
  groups: string[];
  scopes: string[];
}

/**
 * Starts the planned node as `toolmesh start --trust DIR` (rate limits that
 * never bite, no drift checks, the given OAuth clients), and waits until it
 * listens. `nodeArgs` go to node itself (e.g. `--cpu-prof`).
 */
export async function startMeshNode(plan: NodePlan, clients: BenchClient[], toolmeshJs: string, nodeArgs: string[] = []): Promise<MeshNode> {
  await writeFile(
    join(plan.dataDir, 'config.json'),
    JSON.stringify({
      backends: { driftCheckIntervalMs: 0 },
      auth: { authorizationServer: { clients } },
      rateLimits: { person: UNLIMITED, agent: UNLIMITED, tenant: UNLIMITED },
      federation: { listen: [plan.multiaddr], policyPollMs: 1000 },
    }),
  );
  const child = new Child(
    `toolmesh ${plan.alias}`,
    process.execPath,
    [...nodeArgs, toolmeshJs, 'start', '--data', plan.dataDir, '--host', '127.0.0.1', '--port', String(plan.httpPort), '--trust', plan.trustDir],
    { ...process.env, TOOLMESH_LOG: 'warn' },
  );
  const m = await child.waitFor(/listening on (http:\/\/\S+)/, 30_000);
  const adminToken = (await readFile(join(plan.dataDir, 'admin.token'), 'utf8')).trim();
  return { plan, child, url: m[1]!, adminToken };
}

/** An admin API call; the parsed JSON body. */
export async function admin<T = unknown>(node: MeshNode, method: string, path: string, body?: unknown, expect = 200): Promise<T> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${node.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  if (res.status !== expect) throw new SetupError(`${node.plan.alias}: ${method} ${path}: HTTP ${res.status} ${text.slice(0, 400)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Registers a server on the node (POST /admin/v1/servers → 201). */
export function register(node: MeshNode, body: Record<string, unknown>): Promise<unknown> {
  return admin(node, 'POST', '/admin/v1/servers', body, 201);
}

/** What `GET /admin/v1/peers` says about one peer. */
export interface PeerView {
  alias: string;
  status: string;
  trusted: boolean | null;
  received: { seq: number; tools: number } | null;
}

export async function peerView(node: MeshNode, alias: string): Promise<PeerView | undefined> {
  const body = await admin<{ peers: PeerView[] }>(node, 'GET', '/admin/v1/peers');
  return body.peers.find((p) => p.alias === alias);
}

/** An access token for `client` from the node's own authorization server. */
export async function clientCredentialsToken(node: MeshNode, client: BenchClient): Promise<string> {
  const meta = (await (await fetch(`${node.url}/oauth/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: client.scopes.join(' '), resource: `${node.url}/mcp` }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token) throw new SetupError(`${node.plan.alias}: client credentials for ${client.clientId}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.access_token;
}

/** Tool names on the node's aggregate /mcp endpoint, as `bearer` sees them (modern era). */
export async function toolNames(node: MeshNode, bearer: string): Promise<string[]> {
  const res = await fetch(`${node.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/list',
      authorization: `Bearer ${bearer}`,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { result?: { tools?: Array<{ name: string }> } };
  return (body.result?.tools ?? []).map((t) => t.name);
}

/** Polls `probe` until it yields a value (every `everyMs`), or fails naming `what`. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new SetupError(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const TOOLMESH_JS = join(ROOT, 'dist/src/cli/main.js');
