/**
 * `toolmesh anchor`: a mesh's OpenID Federation trust anchor (PRODUCT.md §9),
 * in the foreground until SIGINT/SIGTERM.
 *
 *   anchor --data DIR [--host H] [--port N] [--members FILE] [--entity-id URL] [--json]
 *       serve /.well-known/openid-federation and /federation/fetch for the member
 *       nodes listed in FILE (`subordinates:` with entityId and peerId each); prints
 *       the entity id and the public JWKS nodes pin in trust-config `trustAnchors[].jwks`
 *   anchor --print-jwks --data DIR
 *       print only that JWKS (offline; creates the anchor's key if missing)
 *
 * The anchor's key is `<data>/identity.jwk`: give the anchor a data directory of
 * its own, not a node's (the JWKS nodes pin must not be a node key).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError } from '../admin-client.js';
import { printJson } from '../format.js';
import { ensureDataDir, loadOrCreateIdentity } from '../../node/identity.js';
import type { AnchorMember, RunningAnchor } from '../../../federation/anchor/anchor-server.js';
import { entityIdProblem, jwksOf } from '../../../federation/oidfed/index.js';

const USAGE = 'usage: toolmesh anchor --data DIR [--host HOST] [--port PORT] [--members FILE] [--entity-id URL] [--json] | anchor --print-jwks --data DIR';

/** Port when none is given: an anchor's entity id (its URL) is pinned by nodes, so it should not move between runs. */
export const DEFAULT_ANCHOR_PORT = 7500;

const OPTIONS = {
  data: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  members: { type: 'string' },
  'entity-id': { type: 'string' },
  'print-jwks': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Runs `toolmesh anchor …` (argv after `anchor`); serving, it returns once listening and the signal handlers stop it. */
export async function anchorCommand(argv: string[]): Promise<void> {
  if (argv[0] === 'help' || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (positionals.length) throw new CliError(USAGE, 2);
  // The anchor's key is never a node's by accident: the data directory is named explicitly.
  if (values.data === undefined) throw new CliError(`anchor: pass --data DIR (the anchor's own directory)\n${USAGE}`, 2);
  const dataDir = resolve(values.data);

  if (values['print-jwks']) {
    const served = (['host', 'port', 'members', 'entity-id'] as const).filter((k) => values[k] !== undefined);
    if (served.length) throw new CliError(`anchor --print-jwks: ${served.map((k) => `--${k}`).join(', ')} only apply when running the anchor`, 2);
    await ensureDataDir(dataDir);
    const { identity } = await loadOrCreateIdentity(dataDir);
    printJson(jwksOf(identity));
    return;
  }

  const port = values.port === undefined ? DEFAULT_ANCHOR_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port: not a port number: ${values.port}`, 2);
  const entityId = values['entity-id'];
  if (entityId !== undefined) {
    const problem = entityIdProblem(entityId, true);
    if (problem) throw new CliError(`--entity-id ${entityId}: ${problem}`, 2);
  }
  if (entityId === undefined && (values.host === '0.0.0.0' || values.host === '::')) {
    throw new CliError(`anchor: listening on ${values.host} needs --entity-id URL (the address nodes reach the anchor at)`, 2);
  }
  // Loaded only to serve: it pulls in libp2p (peer ids) and Koa, which --print-jwks does without.
  const { readMembers, startAnchor } = await import('../../../federation/anchor/anchor-server.js');
  let members: AnchorMember[] = [];
  if (values.members !== undefined) {
    try {
      members = await readMembers(resolve(values.members));
    } catch (err) {
      throw new CliError(`--members: ${(err as Error).message}`);
    }
  }

  await ensureDataDir(dataDir);
  let anchor: RunningAnchor;
  try {
    anchor = await startAnchor({
      dataDir,
      port,
      members,
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(entityId !== undefined ? { entityId } : {}),
    });
  } catch (err) {
    // A member whose peer id is not an Ed25519 one, or a port in use.
    throw new CliError(`anchor: ${(err as Error).message}`);
  }

  if (values.json) {
    process.stdout.write(JSON.stringify({ entityId: anchor.entityId, dataDir, members: members.map((m) => m.entityId), jwks: anchor.jwks }) + '\n');
  } else {
    process.stdout.write(
      [
        `Toolmesh trust anchor ${anchor.entityId}`,
        `  entity configuration  ${anchor.entityId}/.well-known/openid-federation`,
        `  data directory        ${dataDir}`,
        `  members               ${members.length ? members.map((m) => m.entityId).join(', ') : 'none (pass --members FILE)'}`,
        '',
        'JWKS to pin in each node’s trust-config trustAnchors[].jwks:',
        JSON.stringify(anchor.jwks, null, 2),
      ].join('\n') + '\n',
    );
  }

  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(130); // a second signal: stop waiting
    process.stderr.write(`${signal}: stopping the trust anchor\n`);
    anchor.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
