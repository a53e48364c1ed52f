/**
 * Composes a Toolmesh node from its components and runs their lifecycle.
 *
 * Start order: data directory and secrets → store → registry → backends →
 * gateway and HTTP listener → drift monitor. Stop runs in reverse: stop
 * accepting, drain in-flight calls, stop stdio children, close the database.
 * This is the one place that knows every component.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfig, resolvePublicUrl, type NodeConfig } from '../config/config.js';
import { Store } from '../store/db.js';
import { Registry } from '../registry/registry.js';
import { checkBackendUrl } from '../registry/ssrf.js';
import { DriftMonitor } from '../registry/drift-monitor.js';
import { BackendManager } from '../gateway/backends/manager.js';
import { Gateway } from '../gateway/gateway.js';
import { MethodHandlers } from '../gateway/methods.js';
import { buildPolicyChain } from '../gateway/policy/chain.js';
import { SessionTokenCodec } from '../gateway/transport/session-token.js';
import { originPolicy } from '../gateway/transport/origin.js';
import { serversRoutes } from '../admin/servers-routes.js';
import { requireAdmin } from '../admin/admin-auth.js';
import { catalogRoutes } from '../catalog/catalog-routes.js';
import { buildApp } from './http-app.js';
import { nodeListener } from './listener.js';
import { Metrics } from './metrics.js';
import { createLogger, type Logger } from './log.js';
import {
  digestSecret,
  ensureDataDir,
  loadOrCreateAdminToken,
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
  logger?: Logger;
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
  stop(): Promise<void>;
}

export async function startNode(options: StartOptions): Promise<RunningNode> {
  const logger = options.logger ?? createLogger();
  const config = await loadConfig(options.configFile ?? join(options.dataDir, 'config.json'), {
    dataDir: options.dataDir,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  await ensureDataDir(config.dataDir);
  const { identity, created: identityCreated } = await loadOrCreateIdentity(config.dataDir);
  const sessionKey = await loadOrCreateSessionKey(config.dataDir);
  const admin = await loadOrCreateAdminToken(config.dataDir);
  if (identityCreated) logger.log('info', 'node identity created', { kid: identity.kid });

  const store = new Store(join(config.dataDir, 'db'));
  await store.open();
  let publicUrl = '';
  const backends = new BackendManager({
    backends: config.backends,
    onLog: (key, line) => logger.log('debug', 'backend stderr', { server: key, line }),
  });
  const registry = new Registry(store, {
    probe: (key, spec) => backends.listTools(key, spec),
    checkUrl: async (url) => {
      await checkBackendUrl(url, { allowLoopback: config.backends.allowLoopback, allowPrivate: config.backends.allowPrivate });
    },
  });
  try {
    await registry.load();
  } catch (err) {
    await store.close();
    throw err;
  }

  const metrics = new Metrics();
  const onInternalError = (err: unknown) => logger.log('error', 'internal error', { error: (err as Error)?.stack ?? String(err) });
  const methods = new MethodHandlers({
    registry,
    backends,
    sessions: new SessionTokenCodec(sessionKey),
    sessionTtlSeconds: config.gateway.sessionTtlSeconds,
  });
  const origins = originPolicy({ listenHost: config.listen.host, publicUrl: () => publicUrl, allowedOrigins: config.gateway.allowedOrigins });
  const gateway = new Gateway(
    { maxBodyBytes: config.gateway.maxBodyBytes, isAllowedOrigin: origins.isAllowedOrigin, isAllowedHost: origins.isAllowedHost },
    { sessions: new SessionTokenCodec(sessionKey), chain: buildPolicyChain({ registry, anonymous: config.auth.anonymous }), methods, metrics, onInternalError },
  );
  metrics.gauge('toolmesh_inflight_requests', () => gateway.inFlight);
  metrics.gauge('toolmesh_registered_server_versions', () => registry.list().length);

  let ready = false;
  const app = buildApp({
    routers: [catalogRoutes({ registry, publicUrl: () => publicUrl })],
    adminRouters: [serversRoutes({ registry, backends })],
    adminAuth: requireAdmin({ bootstrapTokenDigest: digestSecret(admin.token) }),
    isReady: () => ready,
    renderMetrics: () => metrics.render(),
    onInternalError,
  });
  const server: Server = createServer({ keepAliveTimeout: 65_000 }, nodeListener(gateway, app.callback()));
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
    await store.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  publicUrl = resolvePublicUrl(config, port);

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
      server.close();
      server.closeIdleConnections();
      await gateway.drain(config.gateway.drainTimeoutMs);
      await driftMonitor.stop();
      await backends.close();
      server.closeAllConnections();
      await store.close();
      logger.log('info', 'node stopped', {});
    })());

  return {
    config,
    url: publicUrl,
    port,
    identity,
    createdAdminToken: admin.created ? admin.token : undefined,
    registry,
    backends,
    driftMonitor,
    stop,
  };
}
