/**
 * `toolmesh start`: runs a node in the foreground until SIGINT/SIGTERM, then
 * drains in-flight calls, stops stdio children and closes the database.
 */
import { resolve } from 'node:path';
import { startNode } from '../../node/node.js';
import { defaultDataDir, CliError } from '../admin-client.js';

export interface StartFlags {
  data?: string;
  config?: string;
  host?: string;
  port?: string;
  trust?: string;
}

export async function startCommand(flags: StartFlags): Promise<void> {
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new CliError(`--port: not a port number: ${flags.port}`);
  const dataDir = resolve(defaultDataDir(flags.data));
  const node = await startNode({
    dataDir,
    ...(flags.config ? { configFile: resolve(flags.config) } : {}),
    ...(flags.host ? { host: flags.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(flags.trust ? { trustDir: resolve(flags.trust) } : {}),
  });
  const lines = [
    `Toolmesh node listening on ${node.url}`,
    `  aggregate MCP endpoint  ${node.url}/mcp`,
    `  catalog                 ${node.url}/catalog`,
    `  data directory          ${dataDir}`,
  ];
  if (node.federation) {
    lines.push(`  peer id                 ${node.federation.peerId}`);
    for (const addr of node.federation.multiaddrs()) lines.push(`  libp2p                  ${addr}`);
  }
  if (node.createdAdminToken) {
    lines.push(
      '',
      'Bootstrap admin token (shown once; also in ' + `${dataDir}/admin.token, mode 0600):`,
      `  ${node.createdAdminToken}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');

  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(130); // a second signal: stop waiting
    process.stdout.write(`${signal}: draining in-flight calls and stopping…\n`);
    node.stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
