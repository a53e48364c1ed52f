/**
 * Composes a Toolmesh node from its components and runs their lifecycle.
 *
 * Start order: data directory and secrets → store → registry → backends →
 * gateway and HTTP listener → drift monitor. Stop runs in reverse: stop
 * accepting, drain in-flight calls, stop stdio children, close the database.
 * This is the one place that knows every component.
 */
import semver from 'semver';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { createMtlsServer, loadMtlsFiles, watchCrlFile, type MtlsServer } from '../auth/mtls/listener.js';
import { loadConfig, resolvePublicUrl, type NodeConfig } from '../config/config.js';
import { Store } from '../store/db.js';
import { AuditLog, loadOrCreateAuditKey } from '../audit/index.js';
import { scheduleRetention } from '../audit/retention-schedule.js';
import { recordConfigChange } from './config-audit.js';
import { CombinedDirectory, type ServerDirectory } from '../registry/directory.js';
import { GatewayError } from '../gateway/errors.js';
import type { Federation } from '../../federation/mesh/federation.js';
import { AuditRecorder } from '../gateway/audit-recorder.js';
import { auditAdminChanges } from '../admin/admin-audit.js';
import { Registry } from '../registry/registry.js';
import { checkBackendUrl } from '../registry/ssrf.js';
import { DriftMonitor } from '../registry/drift-monitor.js';
import { BackendManager } from '../gateway/backends/manager.js';
import { Gateway } from '../gateway/gateway.js';
import { MethodHandlers } from '../gateway/methods.js';
import { buildPolicyChain } from '../gateway/policy/chain.js';
import { callerIdentifier } from '../gateway/policy/authenticate.js';
import { SessionTokenCodec } from '../gateway/transport/session-token.js';
import { originPolicy } from '../gateway/transport/origin.js';
import { serversRoutes } from '../admin/servers-routes.js';
import { auditRoutes } from '../admin/audit-routes.js';
import { accessRoutes } from '../admin/access-routes.js';
import { requireAdmin } from '../admin/admin-auth.js';
import { BootstrapToken, bootstrapTokenRoutes } from '../admin/bootstrap-token.js';
import { scopesSupported, setupAuth, type NodeAuth } from './auth-setup.js';
import { createAuthorizationServer, type AuthorizationServer } from '../auth/oauth/authorization-server/index.js';
import { RateLimiter } from '../auth/rate-limit.js';
import { catalogRoutes } from '../catalog/catalog-routes.js';
import { buildApp } from './http-app.js';
import { nodeListener } from './listener.js';
import { Metrics } from './metrics.js';
import { createLogger, type Logger } from './log.js';
import {
  ensureDataDir,
  loadOrCreateIdentity,
  loadOrCreateSessionKey,
  type NodeIdentity,
} from './identity.js';

export interface StartOptions {
  dataDir: string;
  /** Config file; defaults to `<dataDir>/config.json` when it exists. */
  configFile?: string;
  host?: string;
  port?: number;
  /** Trust policy directory: enables federation (overrides config `federation.trustDir`). */
  trustDir?: string;
  logger?: Logger;
  /** Test seam: runs before every audit write; throwing simulates a failing disk. */
  auditWriteHook?: (ops: readonly unknown[]) => void | Promise<void>;
}

export interface RunningNode {
  readonly config: NodeConfig;
  readonly url: string;
  readonly port: number;
  readonly identity: NodeIdentity;
  /** Set only on the start that created it (to print once). */
  readonly createdAdminToken: string | undefined;
  readonly registry: Registry;
  readonly backends: BackendManager;
  readonly driftMonitor: DriftMonitor;
  readonly audit: AuditLog;
  /** Port of the mTLS listener, when configured. */
  readonly mtlsPort: number | undefined;
  /** Issuer URL of the embedded authorization server, when it runs. */
  readonly authorizationServer: string | undefined;
  /** The libp2p side, when federation is on. */
  readonly federation: { peerId: string; multiaddrs(): string[] } | undefined;
  stop(): Promise<void>;
}

export async function startNode(options: StartOptions): Promise<RunningNode> {
  const logger = options.logger ?? createLogger();
  const config = await loadConfig(options.configFile ?? join(options.dataDir, 'config.json'), {
    dataDir: options.dataDir,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.trustDir !== undefined ? { trustDir: options.trustDir } : {}),
  }, { required: options.configFile !== undefined });
  await ensureDataDir(config.dataDir);
  // mTLS files are read before anything is opened: a bad file fails the start.
  const mtls = config.auth.mtls;
  const inData = (p: string) => (isAbsolute(p) ? p : resolvePath(config.dataDir, p));
  const mtlsFiles = mtls
    ? await loadMtlsFiles({ cert: inData(mtls.cert), key: inData(mtls.key), ca: inData(mtls.ca), ...(mtls.crl ? { crl: inData(mtls.crl) } : {}) })
    : undefined;
  const { identity, created: identityCreated } = await loadOrCreateIdentity(config.dataDir);
  const sessionKey = await loadOrCreateSessionKey(config.dataDir);
  if (identityCreated) logger.log('info', 'node identity created', { kid: identity.kid });

  const store = new Store(join(config.dataDir, 'db'));
  await store.open();
  let publicUrl = '';
  let federation: Federation | undefined;
  /** The servers the gateway serves: the registry's, and with federation the peers'. */
  let directory: ServerDirectory;
  const backends = new BackendManager({
    backends: config.backends,
    onLog: (key, line) => logger.log('debug', 'backend stderr', { server: key, line }),
    remote: (ref) => {
      if (!federation) throw new GatewayError('upstream_unavailable', 'federation is not running');
      return federation.remoteBackend(ref);
    },
  });
  const registry = new Registry(store, {
    probe: (key, spec) => backends.listTools(key, spec),
    checkUrl: async (url) => {
      await checkBackendUrl(url, { allowLoopback: config.backends.allowLoopback, allowPrivate: config.backends.allowPrivate });
    },
  });
  directory = registry;
  // The audit log has its own LevelDB: synced group commits, never blocked by registry writes.
  let audit: AuditLog;
  try {
    await registry.load();
    audit = await AuditLog.open(join(config.dataDir, 'audit'), {
      node: identity.kid,
      identity,
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalSeconds * 1000,
      ...(options.auditWriteHook ? { writeHook: options.auditWriteHook } : {}),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  audit.onAvailabilityChange((available, cause) =>
    logger.log(available ? 'info' : 'error', available ? 'audit log writable again' : 'audit log unavailable: calls are refused', {
      ...(cause ? { error: (cause as Error).message } : {}),
    }),
  );
  const retention = config.audit.retention
    ? scheduleRetention(audit, {
        ...config.audit.retention,
        onPruned: (r) => logger.log('info', 'audit entries archived and pruned', { pruned: r.pruned, fromSeq: r.fromSeq, toSeq: r.toSeq, file: r.file }),
        onError: (err) => logger.log('error', 'audit retention pass failed; nothing was deleted that is not archived', { error: (err as Error).message }),
      })
    : undefined;
  const closeStores = async () => {
    retention?.stop();
    await audit.close().catch(() => {});
    await store.close();
  };
  try {
    await recordConfigChange(store, audit, config, options.configFile ?? join(options.dataDir, 'config.json'));
  } catch (err) {
    await closeStores();
    throw err;
  }
  const recorder = new AuditRecorder(audit, await loadOrCreateAuditKey(config.dataDir));

  // Bind first: the public URL (hence the resource URI tokens must name) needs the real port.
  const server: Server = createServer({ keepAliveTimeout: 65_000 });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await backends.close();
    await closeStores();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  publicUrl = resolvePublicUrl(config, port);
  // Until the app is composed, the bound port answers 503 rather than leaving a caller hanging.
  const starting = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' }).end('{"error":"starting","error_description":"the node is starting"}');
  };
  server.on('request', starting);

  const metrics = new Metrics();
  const onInternalError = (err: unknown) => logger.log('error', 'internal error', { error: (err as Error)?.stack ?? String(err) });
  // The embedded authorization server, when it has anyone to sign in (people or agent clients).
  const asConfig = config.auth.authorizationServer;
  let authorizationServer: AuthorizationServer | undefined;
  let auth: NodeAuth;
  /** Undoes a start that failed after the listener was bound. */
  const abortStart = async (): Promise<void> => {
    await federation?.stop().catch(() => undefined);
    server.close();
    await authorizationServer?.close();
    await backends.close();
    await closeStores();
  };
  try {
    if (asConfig.enabled && (asConfig.users.length > 0 || asConfig.clients.length > 0)) {
      authorizationServer = await createAuthorizationServer(
        {
          issuer: `${publicUrl}/oauth`,
          resource: config.auth.resource || `${publicUrl}/mcp`,
          users: asConfig.users,
          clients: asConfig.clients,
          scopesSupported: () => scopesSupported(directory),
          accessTokenTtlSeconds: asConfig.accessTokenTtlSeconds,
          dataDir: config.dataDir,
        },
        { onInternalError, configPath: '/auth/authorizationServer/' },
      );
    }
    auth = await setupAuth(config, store, () => directory, publicUrl, authorizationServer ? [authorizationServer.issuer] : []);
    if (authorizationServer) auth.issuers.addLocal(authorizationServer.issuer, authorizationServer.localKeys(), { algorithms: ['ES256'], typ: 'at+jwt' });
  } catch (err) {
    await abortStart();
    throw err;
  }
  // Federation is the one part of the node that lives in federation/: loaded only when configured.
  if (config.federation) {
    try {
      const { startFederation } = await import('../../federation/mesh/federation.js');
      federation = await startFederation({
        trustDir: config.federation.trustDir,
        identity,
        entityId: publicUrl,
        // The gateway exists once federation (which it serves) is up: bound late.
        gateway: {
          call: (r) => {
            const major = semver.major(r.version);
            return gateway.handleInProcess({
              endpoint: { kind: 'server', slug: r.slug, major, version: r.version },
              path: `/mcp/v${major}/tools/${r.slug}/rpc`,
              headers: r.headers,
              body: r.body,
              signal: r.signal,
            });
          },
        },
        listen: config.federation.listen,
        registry,
        audit,
        store,
        callTimeoutMs: config.backends.callTimeoutMs,
        manifestTtlMs: config.federation.manifestTtlSeconds * 1000,
        policyPollMs: config.federation.policyPollMs,
        log: (level, message, fields) => logger.log(level, message, fields ?? {}),
      });
    } catch (err) {
      await abortStart();
      throw err;
    }
    auth.authentication.peerTokens = federation.peerTokens;
  }
  if (federation) directory = new CombinedDirectory([registry, federation.directory]);
  const bootstrap = new BootstrapToken(store, config.dataDir);
  const { created: createdAdminToken } = await bootstrap.load(config.auth.bootstrapToken);
  const limiter = new RateLimiter(config.rateLimits);
  const methods = new MethodHandlers({
    // The audit intent is durable before anything is forwarded (fail closed).
    beforeForward: (call) => recorder.intent(call),
    registry: directory,
    lifecycle: config.auth.lifecycle,
    backends,
    sessions: new SessionTokenCodec(sessionKey),
    sessionTtlSeconds: config.gateway.sessionTtlSeconds,
  });
  const origins = originPolicy({ listenHost: config.listen.host, publicUrl: () => publicUrl, allowedOrigins: config.gateway.allowedOrigins });
  const chain = buildPolicyChain({ registry: directory, authentication: auth.authentication, limiter, lifecycle: config.auth.lifecycle });
  const gateway = new Gateway(
    { maxBodyBytes: config.gateway.maxBodyBytes, isAllowedOrigin: origins.isAllowedOrigin, isAllowedHost: origins.isAllowedHost },
    { sessions: new SessionTokenCodec(sessionKey), chain, identify: callerIdentifier(auth.authentication), methods, metrics, onInternalError, audit: recorder },
  );
  metrics.gauge('toolmesh_inflight_requests', () => gateway.inFlight);
  metrics.gauge('toolmesh_registered_server_versions', () => registry.list().length);
  metrics.gauge('toolmesh_rate_limit_tracked_identities', () => limiter.tracked);
  if (federation) {
    const fed = federation;
    metrics.gauge('toolmesh_peers_pinned', () => fed.stats().peers);
    metrics.gauge('toolmesh_peers_connected', () => fed.stats().connected);
    metrics.gauge('toolmesh_remote_server_versions', () => fed.stats().remoteServers);
  }

  let ready = false;
  const app = buildApp({
    routers: [catalogRoutes({ registry, publicUrl: () => publicUrl }), ...auth.routers, ...(federation?.routers ?? [])],
    adminRouters: [serversRoutes({ registry, backends }), ...auth.adminRouters, bootstrapTokenRoutes(bootstrap), auditRoutes(audit, retention), accessRoutes({ registry, audit, config, auth, issuer: authorizationServer?.issuer }), ...(federation?.adminRouters ?? [])],
    adminAudit: auditAdminChanges(audit),
    adminAuth: requireAdmin({ bootstrapTokenDigest: () => bootstrap.digest(), identify: auth.identify, isAdmin: auth.isAdmin }),
    isReady: () => ready,
    renderMetrics: () => metrics.render(),
    onInternalError,
  });
  const requestListener = nodeListener(gateway, app.callback(), authorizationServer);
  server.off('request', starting);
  server.on('request', requestListener);
  // Peers fetch our entity configuration and token endpoint as soon as they connect: serve first, then dial.
  if (federation) {
    try {
      await federation.start();
      logger.log('info', 'federation started', { peerId: federation.peerId, multiaddrs: federation.multiaddrs() });
    } catch (err) {
      await abortStart();
      throw err;
    }
  }
  auth.agents.onChange((c) => logger.log('info', 'agent mapping changed', { action: c.action, san: c.entry.san, actor: c.actor }));

  // The mTLS listener serves the same requests; agents authenticate with their certificates there.
  let mtlsServer: MtlsServer | undefined;
  let stopCrlWatch = () => {};
  if (mtls && mtlsFiles) {
    const s = createMtlsServer({ ...mtlsFiles, keepAliveTimeout: 65_000 }, requestListener);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(mtls.port, mtls.host ?? config.listen.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      server.close();
      await backends.close();
      await closeStores();
      throw err;
    }
    mtlsServer = s;
    if (mtls.crl) {
      stopCrlWatch = watchCrlFile(s, inData(mtls.crl), {
        onReload: (closed) => logger.log('info', 'CRL reloaded', { closedConnections: closed }),
        onError: (err) => logger.log('error', 'CRL reload failed; the previous CRL stays in force', { error: (err as Error).message }),
      });
    }
  }

  const driftMonitor = new DriftMonitor(registry, backends, {
    intervalMs: config.backends.driftCheckIntervalMs,
    onDrift: (key, drifted) => logger.log('warn', 'tool drift detected; tools withheld until re-approved', { server: key, drifted }),
    onError: (key, err) => logger.log('debug', 'drift check failed', { server: key, error: (err as Error).message }),
  });
  driftMonitor.start();
  ready = true;
  logger.log('info', 'node started', { url: publicUrl, dataDir: config.dataDir });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ready = false;
      stopCrlWatch();
      server.close();
      server.closeIdleConnections();
      mtlsServer?.close();
      mtlsServer?.closeIdleConnections();
      await gateway.drain(config.gateway.drainTimeoutMs);
      await federation?.stop();
      await authorizationServer?.close();
      await driftMonitor.stop();
      await backends.close();
      server.closeAllConnections();
      mtlsServer?.closeAllConnections();
      await closeStores();
      logger.log('info', 'node stopped', {});
    })());

  return {
    config,
    url: publicUrl,
    port,
    identity,
    createdAdminToken,
    registry,
    backends,
    driftMonitor,
    audit,
    mtlsPort: mtlsServer ? (mtlsServer.address() as AddressInfo).port : undefined,
    authorizationServer: authorizationServer?.issuer,
    federation: federation && { peerId: federation.peerId, multiaddrs: () => federation!.multiaddrs() },
    stop,
  };
}

