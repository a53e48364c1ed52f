/**
 * A node's federation, composed (PRODUCT.md §9): the trust policy directory,
 * the libp2p peer host pinned to the policy's peers, signed capability
 * manifests both ways, trust chains checked before a peer is used, token
 * exchange both ways, and remote calls both ways. What the rest of the node
 * sees is small: a server directory of the peers' tools, a backend factory
 * for them, an authenticator for tokens we issued to peers, and routers.
 *
 * Everything a peer does is audited (`peer` entries): links, manifests
 * accepted or rejected, trust verified or refused, token exchanges; policy
 * changes are `admin` entries and are kept in history.
 */
import '../polyfill.js';
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { AuditLog } from '../../src/audit/index.js';
import type { Identity } from '../../src/auth/identity.js';
import type { Backend } from '../../src/gateway/backends/backend.js';
import { GatewayError, isGatewayError } from '../../src/gateway/errors.js';
import type { NodeIdentity } from '../../src/node/identity.js';
import type { ServerDirectory } from '../../src/registry/directory.js';
import type { Registry } from '../../src/registry/registry.js';
import type { RemoteServerRef } from '../../src/registry/types.js';
import type { Store } from '../../src/store/db.js';
import { LevelSeqStore, ManifestExchange, ManifestPublisher, MANIFEST_PROTOCOL } from '../manifest/index.js';
import { createPeerHost, type PeerHost } from '../peer/index.js';
import { federationRouter } from '../oidfed/index.js';
import { ExchangeClientError, inboundPolicyFromTrust, peerKeysFromTrust, TokenExchangeClient, tokenExchangeRouter } from '../token-exchange/index.js';
import { findPeer, TrustPolicyStore, type TrustPolicy } from '../trust/index.js';
import { CALL_PROTOCOL } from '../remote/call-protocol.js';
import { RemoteBackend, type TokenSource } from '../remote/remote-backend.js';
import { RemoteDirectory, remoteSlug } from '../remote/remote-directory.js';
import { remoteCallHandler, type LocalGateway } from './call-handler.js';
import { manifestToolsFor } from './exports.js';
import { peerTokenAuthenticator, type PeerTokenAuthenticator } from './peer-tokens.js';
import { PeerVerifier, TOKEN_PATH } from './peer-verifier.js';
import { peerAdminRoutes } from './admin-routes.js';
import { levelTrustHistory } from './trust-history.js';
import { auditLinksAndManifests, peerEventRecorder, tokenExchangeAuditor, trustPolicyAuditor } from './peer-audit.js';
import { PeerTrust } from './peer-trust.js';

export interface FederationInit {
  /** The trust policy directory (`--trust DIR`). */
  trustDir: string;
  identity: NodeIdentity;
  /** This node's entity id: its public URL. */
  entityId: string;
  /** Our own gateway, where calls from peers are dispatched (in process). */
  gateway: LocalGateway;
  /** libp2p listen multiaddrs. */
  listen: string[];
  registry: Registry;
  audit: AuditLog;
  store: Store;
  callTimeoutMs: number;
  /** Lifetime of our manifests (default 1 h; refreshed at 2/3). */
  manifestTtlMs?: number;
  /** How often the policy directory is re-read (default 1000 ms). */
  policyPollMs?: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export interface Federation {
  readonly peerId: string;
  readonly directory: ServerDirectory;
  remoteBackend(ref: RemoteServerRef): Backend;
  readonly peerTokens: PeerTokenAuthenticator;
  /** Public routes: the token endpoint and the entity configuration. */
  readonly routers: Router[];
  /** Admin routes (under /admin): peers and trust policy. */
  readonly adminRouters: Router[];
  multiaddrs(): string[];
  policy(): TrustPolicy;
  /** For metrics: pinned peers, connected ones, and the remote server versions offered to us now. */
  stats(): { peers: number; connected: number; remoteServers: number };
  /**
   * Starts listening and dialing peers. Call it once the node serves HTTP:
   * peers fetch our entity configuration and token endpoint as soon as they connect.
   */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFederation(init: FederationInit): Promise<Federation> {
  const { identity, registry, audit } = init;
  const record = peerEventRecorder(audit);

  const allowInsecure = init.entityId.startsWith('http://');
  const host: PeerHost = await createPeerHost({ identity, listen: init.listen, requestTimeoutMs: init.callTimeoutMs });
  const trust = new TrustPolicyStore(init.trustDir, {
    peerId: host.peerId,
    pollIntervalMs: init.policyPollMs ?? 1000,
    lint: () => ({ knownServers: registry.slugs() }),
    history: levelTrustHistory(init.store.sublevel('trust-history'), trustPolicyAuditor(audit)),
  });
  const policy = (): TrustPolicy => trust.current;
  await trust.start();

  const verifier = new PeerVerifier(policy, { allowInsecure });
  const directory = new RemoteDirectory();
  const publisher = new ManifestPublisher({
    identity,
    namespace: policy().node.namespace,
    store: new LevelSeqStore(init.store.sublevel('manifest-seq')),
    ...(init.manifestTtlMs !== undefined ? { ttlMs: init.manifestTtlMs } : {}),
  });
  // Mesh nodes keep their clocks in sync (NTP): 5 s of skew is allowance enough, and a silent peer's tools go soon after expiry.
  const exchange = new ManifestExchange({ host, publisher, receiver: { clockSkewMs: 5_000 }, namespaceOf: (peerId) => policy().peers.find((p) => p.peerId === peerId)?.namespace });

  /** What a peer contributes now: its manifest, if it is verified, under our current import policy. */
  const applyPeer = (alias: string): void => {
    directory.setPeer(alias, peerTrust.trusted(alias) === true ? exchange.manifest(alias) : undefined, findPeer(policy(), alias));
  };
  const peerTrust = new PeerTrust({
    verifier,
    inPolicy: (alias) => findPeer(policy(), alias) !== undefined,
    record,
    log: (level, message, fields) => init.log(level, message, fields),
    onChange: applyPeer,
  });

  auditLinksAndManifests(host, exchange, record);
  host.on('peer:connected', (state) => {
    // A peer that comes back is verified again before it is used.
    const peer = findPeer(policy(), state.alias);
    if (peer) verifier.invalidate(peer.entityId);
    void peerTrust.verify(state.alias);
  });
  exchange.on('accepted', ({ alias }) => {
    if (peerTrust.trusted(alias) === true) applyPeer(alias);
    else void peerTrust.verify(alias);
  });
  exchange.on('expired', ({ alias }) => directory.setPeer(alias, undefined, undefined));
  exchange.on('removed', ({ alias }) => {
    peerTrust.forget(alias);
    directory.setPeer(alias, undefined, undefined);
  });

  const pinned = (p: TrustPolicy) => p.peers.map((peer) => ({ alias: peer.alias, peerId: peer.peerId, addresses: [...peer.addresses] }));
  const refreshExports = async (): Promise<void> => {
    const p = policy();
    for (const peer of p.peers) {
      await exchange.exportTo(peer.alias, manifestToolsFor(p, peer.alias, registry)).catch((err: unknown) => {
        init.log('error', 'manifest for a peer could not be built', { peer: peer.alias, error: (err as Error).message });
      });
    }
  };
  let refreshing: Promise<void> = Promise.resolve();
  const scheduleRefresh = (): void => {
    refreshing = refreshing.then(refreshExports, refreshExports);
  };

  const dispatchSecret = randomBytes(32).toString('hex');
  const peerTokens = peerTokenAuthenticator({ identity, entityId: init.entityId, resource: `${init.entityId}/mcp`, dispatchSecret });
  const calls = remoteCallHandler({ policy, registry, audit, verifyToken: (token) => peerTokens.verify(token), gateway: init.gateway, dispatchSecret });
  await host.setPeers(pinned(policy()));
  await exchange.start();
  await host.handle(CALL_PROTOCOL, calls.handler);
  registry.onChange(() => scheduleRefresh());

  trust.on('applied', (_changes, next) => {
    init.log('info', 'trust policy applied', { hash: next.source.hash, peers: next.peers.length });
    void (async () => {
      await host.setPeers(pinned(next));
      for (const peer of next.peers) verifier.invalidate(peer.entityId);
      for (const alias of new Set([...directory.peers(), ...next.peers.map((p) => p.alias)])) {
        if (findPeer(next, alias)) await peerTrust.verify(alias);
        else {
          peerTrust.forget(alias);
          directory.setPeer(alias, undefined, undefined);
        }
      }
      scheduleRefresh();
    })().catch((err: unknown) => init.log('error', 'applying the trust policy failed', { error: (err as Error).message }));
  });
  trust.on('refused', (err) => {
    init.log('error', 'trust policy change refused; the running policy stays', { code: err.code, error: err.message });
    void record({ kind: 'admin', method: 'trust-policy', outcome: 'refused', reason: err.code, detail: { error: err.message.slice(0, 2000) } });
  });

  // ── outbound: token exchange and remote calls ──
  const client = new TokenExchangeClient({ node: identity, issuer: init.entityId, namespace: policy().node.namespace, allowInsecureLoopback: allowInsecure });
  const tokens: TokenSource = {
    async token(peer: string, caller: Identity, scopes: string[], correlationId: string): Promise<string> {
      const verified = await verifier.verify(peer);
      try {
        const issued = await client.exchange({
          peer: { entityId: verified.entityId, tokenEndpoint: verified.tokenEndpoint },
          identity: caller,
          scopes,
          ...(caller.actors ? { actors: caller.actors } : {}),
          correlationId,
        });
        return issued.accessToken;
      } catch (err) {
        if (isGatewayError(err)) throw err;
        const denied = err instanceof ExchangeClientError && err.code === 'trust_denied';
        throw new GatewayError(denied ? 'trust_denied' : 'upstream_unavailable', `token exchange with ${peer}: ${(err as Error).message}`, { data: { peer }, cause: err });
      }
    },
    forget: () => client.clear(),
  };
  const remoteBackend = (ref: RemoteServerRef): Backend =>
    new RemoteBackend(ref, {
      host,
      tokens,
      callTimeoutMs: init.callTimeoutMs,
      accessOf: (tool) => directory.versions(remoteSlug(ref.peer, ref.slug)).find((r) => r.version === ref.version)?.tools.find((t) => t.name === tool)?.access,
    });

  // ── inbound: our token endpoint, our entity configuration, peer tokens ──
  const basePeerKeys = peerKeysFromTrust(policy, { namespaceOf: (peer) => peer.namespace });
  const tokenRouter = tokenExchangeRouter({
    node: identity,
    entityId: init.entityId,
    path: TOKEN_PATH,
    // A peer's key is used only while its trust chain holds.
    peerKeys: async (entityId) => {
      const key = await basePeerKeys(entityId);
      if (!key) return undefined;
      try {
        await verifier.verify(key.alias);
        return key;
      } catch {
        return undefined;
      }
    },
    inboundPolicy: inboundPolicyFromTrust(policy),
    onDecision: tokenExchangeAuditor(audit, policy),
  });
  const entityRouter = federationRouter({
    identity,
    entityId: init.entityId,
    allowInsecure,
    authorityHints: policy().trustAnchors.map((a) => a.entityId),
    metadata: () => ({
      toolmesh_node: { peer_id: host.peerId, namespace: policy().node.namespace, token_endpoint: `${init.entityId}${TOKEN_PATH}`, manifest_protocol: MANIFEST_PROTOCOL },
    }),
  });

  return {
    peerId: host.peerId,
    directory,
    remoteBackend,
    peerTokens,
    routers: [tokenRouter, entityRouter],
    adminRouters: [peerAdminRoutes({ host, exchange, trust, trusted: (alias) => peerTrust.trusted(alias) })],
    multiaddrs: () => host.multiaddrs(),
    policy,
    stats: () => {
      const peers = host.peers();
      return {
        peers: peers.length,
        connected: peers.filter((p) => p.status === 'connected').length,
        remoteServers: directory.slugs().reduce((n, slug) => n + directory.versions(slug).length, 0),
      };
    },
    async start() {
      await host.start();
      await refreshExports();
    },
    async stop() {
      peerTrust.stop();
      publisher.stop();
      await trust.stop();
      await exchange.stop();
      await host.stop();
      await calls.close();
      await refreshing.catch(() => undefined);
    },
  };
}

