/**
 * A mesh's OpenID Federation trust anchor as a small HTTP service (`toolmesh
 * anchor`): its own Ed25519 key (a data directory of its own), its entity
 * configuration at `/.well-known/openid-federation`, and a subordinate
 * statement for each member node at `/federation/fetch?sub=…`, vouching for
 * the key of the node's pinned peer id. Members are listed in a YAML or JSON
 * file a mesh admin edits:
 *
 *   subordinates:
 *     - entityId: https://sales.example-corp.test
 *       peerId: 12D3KooW…
 *       metadataPolicy: { toolmesh_node: { namespace: { value: example-corp } } }
 *
 * Nodes pin the anchor's public key (`toolmesh anchor --print-jwks`) in their
 * trust-config `trustAnchors`.
 */
import '../polyfill.js';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { parse } from 'yaml';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import { AnchorRegistry, federationRouter, jwksOf, type Jwks, type MetadataPolicy } from '../oidfed/index.js';
import { publicKeyFromPeerId } from '../peer/index.js';

export interface AnchorMember {
  entityId: string;
  peerId: string;
  metadataPolicy?: MetadataPolicy;
}

export interface AnchorOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** The anchor's entity id; default `http://{host}:{port}`. */
  entityId?: string;
  members: readonly AnchorMember[];
  organizationName?: string;
}

export interface RunningAnchor {
  entityId: string;
  identity: NodeIdentity;
  /** The public keys nodes pin for this anchor. */
  jwks: Jwks;
  stop(): Promise<void>;
}

/** The member list from a YAML/JSON file (`subordinates:`). */
export async function readMembers(file: string): Promise<AnchorMember[]> {
  const doc = parse(await readFile(file, 'utf8')) as { subordinates?: unknown };
  if (!Array.isArray(doc?.subordinates)) throw new Error(`${file}: expected a "subordinates" list`);
  return doc.subordinates.map((s, i) => {
    const m = s as Partial<AnchorMember>;
    if (typeof m.entityId !== 'string' || typeof m.peerId !== 'string') throw new Error(`${file}: subordinates[${i}] needs entityId and peerId`);
    return { entityId: m.entityId, peerId: m.peerId, ...(m.metadataPolicy ? { metadataPolicy: m.metadataPolicy } : {}) };
  });
}

export async function startAnchor(options: AnchorOptions): Promise<RunningAnchor> {
  const { identity } = await loadOrCreateIdentity(options.dataDir);
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const entityId = options.entityId ?? `http://${options.host ?? '127.0.0.1'}:${port}`;
  const allowInsecure = entityId.startsWith('http://');
  const registry = new AnchorRegistry({ issuer: entityId, allowInsecure });
  for (const member of options.members) {
    const key = publicKeyFromPeerId(member.peerId).export({ format: 'jwk' }) as JWK;
    registry.add({
      entityId: member.entityId,
      // kid: the RFC 7638 thumbprint, as the node's own statements name their key.
      jwks: { keys: [{ ...key, kid: await calculateJwkThumbprint(key), use: 'sig' }] } as Jwks,
      ...(member.metadataPolicy ? { metadataPolicy: member.metadataPolicy } : {}),
    });
  }
  const app = new Koa();
  const router = federationRouter({
    identity,
    entityId,
    allowInsecure,
    registry,
    metadata: { federation_entity: { organization_name: options.organizationName ?? 'Toolmesh mesh trust anchor' } },
  });
  app.use(router.routes()).use(router.allowedMethods());
  server.on('request', app.callback());
  return {
    entityId,
    identity,
    jwks: jwksOf(identity),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
