/**
 * `toolmesh peer …`: this node's federation peers (PRODUCT.md §9, §12).
 *
 *   list [--json]             every pinned peer: link, trust, the manifest it sent us, the last error
 *   status <alias> [--json]   one peer in detail, with the tools it offers us and which of our
 *                             groups may call each (our import policy)
 *   id [--data DIR] [--json]  this node's libp2p peer id, computed offline from <data>/identity.jwk
 *                             (created if missing, as `init` does), to pin in other nodes' trust-config
 *
 * `list` and `status` ask a running node (GET /admin/v1/peers, /admin/v1/peers/{alias});
 * `--json` prints the API's answer unchanged.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS, defaultDataDir } from '../admin-client.js';
import { printJson, table } from '../format.js';
import { ensureDataDir, loadOrCreateIdentity } from '../../node/identity.js';
import { toolInSubset, type ImportRule } from '../../../federation/trust/index.js';

const PEER_ALIAS = /^[a-z][a-z0-9-]{0,31}$/;
const USAGE = 'usage: toolmesh peer list [--json] | status <alias> [--json] | id [--data DIR] [--json]   (list/status: --node URL --token T)';

/** One peer as GET /admin/v1/peers and /admin/v1/peers/{alias} describe it. */
interface PeerView<Tools = number | ReceivedTool[]> {
  alias: string;
  peerId: string;
  entityId: string | null;
  addresses: string[];
  status: 'connected' | 'connecting' | 'disconnected' | 'refused';
  /** null: its trust chain has not been checked yet. */
  trusted: boolean | null;
  lastConnectedAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  rttMs: number | null;
  reconnectAttempts: number;
  received: { seq: number; expiresAt: string; tools: Tools } | null;
}

interface ReceivedTool {
  slug: string;
  version: string;
  name: string;
  access: 'read' | 'write';
  lifecycle: string;
}

interface PeersResponse {
  peerId: string;
  multiaddrs: string[];
  peers: PeerView<number>[];
}

/** `12D3KooWAbc…uvwxyz`: enough to tell peers apart in a table (the full id is in `status` and `--json`). */
function shortPeerId(id: string): string {
  return id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id;
}

/** `42s`, `5m`, `3h`, `2d`: the rough size of a duration. */
function roughly(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function expiry(at: string, now: number): string {
  const left = Date.parse(at) - now;
  return left > 0 ? `expires in ${roughly(left)}` : `expired ${roughly(left)} ago`;
}

function trustedText(trusted: boolean | null): string {
  return trusted === null ? 'pending' : trusted ? 'yes' : 'NO';
}

function receivedText(received: PeerView['received'], now: number): string {
  if (!received) return '-';
  const n = typeof received.tools === 'number' ? received.tools : received.tools.length;
  return `#${received.seq}, ${n} tool${n === 1 ? '' : 's'}, ${expiry(received.expiresAt, now)}`;
}

function lastErrorText(e: PeerView['lastError'], now: number): string {
  return e ? `${e.code} (${roughly(now - Date.parse(e.at))} ago)` : '-';
}

async function list(values: { json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  const res = await new AdminClient(values).request<PeersResponse>('GET', '/admin/v1/peers');
  if (values.json) return printJson(res);
  const now = Date.now();
  const lines = [`this node  ${res.peerId}${res.multiaddrs.length ? `  (${res.multiaddrs.join(', ')})` : ''}`, ''];
  if (res.peers.length === 0) lines.push('no peers pinned in the trust policy');
  else {
    lines.push(
      table(
        ['ALIAS', 'STATUS', 'TRUSTED', 'PEER ID', 'RTT', 'RECEIVED', 'LAST ERROR'],
        res.peers.map((p) => [
          p.alias,
          p.status,
          trustedText(p.trusted),
          shortPeerId(p.peerId),
          p.rttMs === null ? '-' : `${p.rttMs} ms`,
          receivedText(p.received, now),
          lastErrorText(p.lastError, now),
        ]),
      ),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** Our local groups that may call the peer's tool, per our import rules (default deny: none). */
function importedFor(imports: readonly ImportRule[] | undefined, tool: ReceivedTool): string[] {
  const groups = (imports ?? []).filter((r) => r.server === tool.slug && toolInSubset(r.tools, tool.name)).flatMap((r) => r.groups);
  return [...new Set(groups)];
}

async function status(alias: string, values: { json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  const client = new AdminClient(values);
  const peer = await client.request<PeerView<ReceivedTool[]>>('GET', `/admin/v1/peers/${encodeURIComponent(alias)}`);
  if (values.json) return printJson(peer);
  // The import rules say which of our groups see each tool; without them the column is left out.
  const imports = await client
    .request<{ peers: { alias: string; imports: ImportRule[] }[] }>('GET', '/admin/v1/trust')
    .then((t) => t.peers.find((p) => p.alias === alias)?.imports ?? [])
    .catch(() => undefined);
  const now = Date.now();
  const rows: [string, string][] = [
    ['alias', peer.alias],
    ['peer id', peer.peerId],
    ['entity id', peer.entityId ?? '-'],
    ['addresses', peer.addresses.join(', ') || '-'],
    ['status', peer.status + (peer.reconnectAttempts ? ` (${peer.reconnectAttempts} failed attempt(s) since the last connection)` : '')],
    ['trusted', peer.trusted === null ? 'pending (trust chain not checked yet)' : peer.trusted ? 'yes (trust chain verified)' : 'NO (trust chain refused; its tools are not used)'],
    ['rtt', peer.rttMs === null ? '-' : `${peer.rttMs} ms`],
    ['last connected', peer.lastConnectedAt ?? 'never'],
    ['last error', peer.lastError ? `${peer.lastError.code} at ${peer.lastError.at}: ${peer.lastError.message}` : '-'],
    ['received', peer.received ? `manifest #${peer.received.seq}, ${expiry(peer.received.expiresAt, now)} (${peer.received.expiresAt})` : 'no manifest'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  const tools = peer.received?.tools ?? [];
  lines.push('');
  if (tools.length === 0) lines.push(peer.received ? 'the peer offers us no tools' : 'tools: none until the peer sends a manifest');
  else {
    lines.push(`tools offered to us (${tools.length}):`);
    const headers = ['SERVER', 'VERSION', 'TOOL', 'ACCESS', 'LIFECYCLE', ...(imports ? ['IMPORTED FOR'] : [])];
    lines.push(
      table(
        headers,
        tools.map((t) => {
          const groups = imports ? [importedFor(imports, t).join(', ') || '- (not imported)'] : [];
          return [t.slug, t.version, t.name, t.access, t.lifecycle, ...groups];
        }),
      ),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function id(values: { data?: string; json?: boolean }): Promise<void> {
  const dataDir = resolve(defaultDataDir(values.data));
  await ensureDataDir(dataDir);
  const { identity, created } = await loadOrCreateIdentity(dataDir);
  // libp2p is loaded only here: list and status need none of it.
  const { peerIdFromNodeIdentity } = await import('../../../federation/peer/index.js');
  const peerId = peerIdFromNodeIdentity(identity).toString();
  if (values.json) return printJson({ peerId, kid: identity.kid, dataDir, created });
  // stdout is the id alone, so `$(toolmesh peer id)` can go straight into a trust-config file.
  if (created) process.stderr.write(`created a node identity in ${dataDir}/identity.jwk\n`);
  process.stdout.write(peerId + '\n');
}

/** Runs `toolmesh peer <sub> …` (argv after `peer`); usage errors are `CliError`s with exit code 2. */
export async function peerCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: CONNECTION_OPTIONS });
  switch (sub) {
    case 'list':
      if (positionals.length) throw new CliError(USAGE, 2);
      return list(values);
    case 'status':
      if (positionals.length !== 1) throw new CliError(USAGE, 2);
      // An alias as trust-config/schema.json defines it; anything else names no peer (and must not become another URL).
      if (!PEER_ALIAS.test(positionals[0]!)) throw new CliError(`not a peer alias: ${JSON.stringify(positionals[0]!.slice(0, 40))} (lower case, [a-z][a-z0-9-]{0,31})\n${USAGE}`, 2);
      return status(positionals[0]!, values);
    case 'id':
      if (positionals.length || values.node !== undefined || values.token !== undefined) throw new CliError('usage: toolmesh peer id [--data DIR] [--json]   (offline: no --node/--token)', 2);
      return id(values);
    default:
      throw new CliError(`unknown peer command ${sub}\n${USAGE}`, 2);
  }
}
