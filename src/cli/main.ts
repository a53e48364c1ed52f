#!/usr/bin/env node
/**
 * `toolmesh` — one binary for the node and its administration.
 *
 *   toolmesh start [--data DIR] [--config FILE] [--host H] [--port N] [--trust DIR]
 *   toolmesh init [--data DIR]
 *   toolmesh server add|import|list|show|promote|deprecate|sunset|approve …
 *   toolmesh audit verify|query|export|tail|checkpoints …
 *   toolmesh trust check|diff|show|apply …
 *   toolmesh peer list|status|id …
 *   toolmesh anchor --data DIR …
 *   toolmesh access who-can|used …
 */
import { parseArgs } from 'node:util';
import { CliError } from './admin-client.js';

const USAGE = `usage: toolmesh <command>

  start [--data DIR] [--config FILE] [--host HOST] [--port PORT] [--trust DIR]   run a node (defaults: ./.toolmesh, 127.0.0.1:7300);
                                    --trust: federate under that trust policy directory
  init [--data DIR]                                                 create the data directory, identity, admin token and config.json
  server add <slug> --version V (--url URL | --stdio -- CMD [ARGS…]) [--lifecycle alpha|beta|stable]
             [--groups a,b] [--owner WHO] [--description TEXT] [--title TEXT] [--read-tools t1,t2]
             [--namespace NS] [--env NAME=VALUE …]   --namespace: a tenant's namespace; --env: stdio only
  server import <server.json> [--slug S] [--lifecycle alpha|beta|stable] [--groups a,b] [--owner WHO] [--namespace NS]
  server list | show <slug>[@version]
  server promote <slug>@<version> [--to beta|stable]
  server deprecate|sunset <slug>@<version> [--sunset-at DATE] [--migration-url URL]
  server approve <slug>@<version> [--read-tools t1,t2]

  credential key issue --tenant T --scopes a,b [--groups g] [--expires-at DATE]
  credential key rotate --tenant T --key-id K [--overlap SECONDS] | revoke --tenant T --key-id K | list [--tenant T]
  credential agent add <san> --groups a,b [--scopes s1,s2] | list | show <san> | remove <san>
  credential bootstrap rotate|disable  the bootstrap admin token
  credential hash-password            (reads a password on stdin; prints an scrypt hash for config)

  audit verify                         check the hash chain and signed checkpoints; names the first bad seq (exit 1)
  audit query [--since T] [--until T] [--identity S] [--tenant T] [--server S] [--tool T] [--outcome O]
              [--kind call|outcome|rejection|admin|peer|retention] [--correlation-id C] [--from-seq N] [--limit N]
  audit export [--from-seq N] [--to-seq N]   entries as JSON lines on stdout (resume with --from-seq)
  audit tail [--from-seq N]            follow new entries until Ctrl-C
  audit checkpoints                    the signed checkpoints as JSON lines, to keep elsewhere
  audit prune                          archive and prune entries older than audit.retention.hotDays now

  access who-can <slug>[@version] [--tool NAME]   who can call it today, through which grant; who approved it
  access used <slug> [--since T] [--until T]      who called it, how often, with what outcomes (T: ISO time or 24h, 7d)

  trust check DIR [--json]             validate and lint a trust-policy directory (exit 1 on errors); with --node,
                                       exported servers are checked against the running node's registry
  trust diff DIR --against DIR2 [--json]   what applying DIR would change compared to DIR2
  trust diff DIR [--json]              … compared to the policy running on the node (--node/--token/--data)
  trust show [--json]                  the running policy: hash, node, peers with exports/imports, history
  trust apply [--json]                 the node re-reads its policy directory now: applied or unchanged;
                                       a refused directory exits 1 and the running policy stays

  peer list [--json]                   pinned peers: link, trust, rtt, the manifest received, the last error
  peer status <alias> [--json]         one peer in detail, with the tools it offers us
  peer id [--data DIR] [--json]        this node's libp2p peer id (offline; for other nodes' trust-config)

  anchor --data DIR [--host H] [--port N] [--members FILE] [--entity-id URL] [--json]
                                       run a mesh trust anchor in the foreground (default port 7500);
                                       prints its entity id and the JWKS nodes pin in trustAnchors[].jwks
  anchor --print-jwks --data DIR       print only that JWKS (offline)

Talking to a running node: --node URL (or TOOLMESH_URL), --token TOKEN (or TOOLMESH_TOKEN, or <data>/admin.token); --json for JSON output.`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      const { values } = parseArgs({
        args: rest,
        options: { data: { type: 'string' }, config: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, trust: { type: 'string' } },
      });
      // Loaded on demand: admin commands should not pay for loading the whole node.
      const { startCommand } = await import('./commands/start.js');
      await startCommand(values);
      return;
    }
    case 'init': {
      const { values } = parseArgs({ args: rest, options: { data: { type: 'string' } } });
      const { initCommand } = await import('./commands/init.js');
      await initCommand(values);
      return;
    }
    case 'server': {
      const { serverCommand } = await import('./commands/server.js');
      await serverCommand(rest);
      return;
    }
    case 'credential': {
      const { credentialCommand } = await import('./commands/credential.js');
      await credentialCommand(rest);
      return;
    }
    case 'audit': {
      const { auditCommand } = await import('./commands/audit.js');
      await auditCommand(rest);
      return;
    }
    case 'trust': {
      const { trustCommand } = await import('./commands/trust.js');
      await trustCommand(rest);
      return;
    }
    case 'access': {
      const { accessCommand } = await import('./commands/access.js');
      await accessCommand(rest);
      return;
    }
    case 'peer': {
      const { peerCommand } = await import('./commands/peer.js');
      await peerCommand(rest);
      return;
    }
    case 'anchor': {
      const { anchorCommand } = await import('./commands/anchor.js');
      await anchorCommand(rest);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      throw new CliError(`unknown command ${command}\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CliError) {
    process.stderr.write(`toolmesh: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const e = err as Error & { code?: string };
  // Option parsing errors and start-up errors (bad config, locked store) are the user's to fix.
  process.stderr.write(`toolmesh: ${e.message ?? String(err)}\n`);
  process.exit(e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
});
