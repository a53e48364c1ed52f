/**
 * `toolmesh server …`: register and govern tool servers on a running node.
 *
 *   add <slug> --version V (--url URL | --stdio -- CMD [ARGS…]) [--lifecycle L]
 *       [--groups a,b] [--owner WHO] [--description TEXT] [--title TEXT] [--read-tools t1,t2]
 *       [--namespace NS] [--env NAME=VALUE …]   (--env: stdio only)
 *   import <server.json> [--slug S] [--lifecycle L] [--groups a,b] [--owner WHO] [--namespace NS]
 *   list
 *   show <slug>[@version]
 *   promote <slug>@<version> [--to beta|stable]
 *   deprecate <slug>@<version> [--sunset-at DATE] [--migration-url URL]
 *   sunset <slug>@<version> [--sunset-at DATE] [--migration-url URL]
 *   approve <slug>@<version> [--read-tools t1,t2]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS } from '../admin-client.js';
import { commaList, printJson, table } from '../format.js';
import type { ServerRecord } from '../../registry/types.js';

function splitRef(ref: string | undefined, requireVersion: boolean): { slug: string; version?: string } {
  if (!ref) throw new CliError('expected <slug>@<version>');
  const at = ref.indexOf('@');
  if (at < 0) {
    if (requireVersion) throw new CliError(`expected <slug>@<version>, got ${ref}`);
    return { slug: ref };
  }
  return { slug: ref.slice(0, at), version: ref.slice(at + 1) };
}

function transportOf(r: ServerRecord): string {
  return 'http' in r.backend ? 'http' : 'stdio' in r.backend ? 'stdio' : 'remote';
}

function summary(r: ServerRecord & { drift?: { drifted: string[] } | null }): string[] {
  const drifted = r.drift?.drifted.length ? ` (${r.drift.drifted.length} withheld)` : '';
  return [r.slug, r.version, r.lifecycle, transportOf(r), `${r.tools.length}${drifted}`, r.owner ?? '', r.approvedBy];
}

const HEADERS = ['SLUG', 'VERSION', 'LIFECYCLE', 'BACKEND', 'TOOLS', 'OWNER', 'APPROVED BY'];

export async function serverCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const dashDash = rest.indexOf('--');
  const own = dashDash >= 0 ? rest.slice(0, dashDash) : rest;
  const command = dashDash >= 0 ? rest.slice(dashDash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      version: { type: 'string' },
      url: { type: 'string' },
      stdio: { type: 'boolean' },
      lifecycle: { type: 'string' },
      groups: { type: 'string' },
      owner: { type: 'string' },
      description: { type: 'string' },
      title: { type: 'string' },
      'read-tools': { type: 'string' },
      slug: { type: 'string' },
      to: { type: 'string' },
      'sunset-at': { type: 'string' },
      'migration-url': { type: 'string' },
      env: { type: 'string', multiple: true },
      namespace: { type: 'string' },
    },
  });
  const client = new AdminClient(values);
  const out = (value: unknown, text: () => string) => (values.json ? printJson(value) : process.stdout.write(text() + '\n'));

  switch (sub) {
    case 'add': {
      const slug = positionals[0];
      if (!slug || !values.version) throw new CliError('usage: toolmesh server add <slug> --version <semver> (--url <http-url> | --stdio -- <cmd> [args…])');
      if (Boolean(values.url) === Boolean(values.stdio)) throw new CliError('give exactly one of --url <http-url> or --stdio -- <cmd> [args…]');
      if (values.stdio && command.length === 0) throw new CliError('--stdio needs the command after --, e.g. --stdio -- npx -y @modelcontextprotocol/server-everything');
      const env = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const backend = values.url ? { http: values.url } : { stdio: command[0]!, args: command.slice(1), ...(values.env ? { env } : {}) };
      const record = await client.request<ServerRecord>('POST', '/admin/v1/servers', {
        slug,
        version: values.version,
        backend,
        ...(values.lifecycle ? { lifecycle: values.lifecycle } : {}),
        ...(values.groups ? { allowedGroups: commaList(values.groups) } : {}),
        ...(values.owner ? { owner: values.owner } : {}),
        ...(values.description ? { description: values.description } : {}),
        ...(values.title ? { title: values.title } : {}),
        ...(values['read-tools'] ? { readTools: commaList(values['read-tools']) } : {}),
        ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
      });
      out(record, () => `registered ${record.slug}@${record.version} (${record.lifecycle}) with ${record.tools.length} tool(s): ${record.tools.map((t) => `${t.name}[${t.access}]`).join(', ')}\n` +
        `endpoint: ${client.baseUrl}/mcp/v${record.version.split('.')[0]}/tools/${record.slug}/rpc`);
      return;
    }
    case 'import': {
      const file = positionals[0];
      if (!file) throw new CliError('usage: toolmesh server import <server.json>');
      let doc: unknown;
      try {
        doc = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`);
      }
      const result = await client.request<{ servers: ServerRecord[]; notes: string[] }>('POST', '/admin/v1/servers/import', {
        server: doc,
        ...(values.slug ? { slug: values.slug } : {}),
        ...(values.lifecycle ? { lifecycle: values.lifecycle } : {}),
        ...(values.groups ? { allowedGroups: commaList(values.groups) } : {}),
        ...(values.owner ? { owner: values.owner } : {}),
        ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
      });
      out(result, () => [...result.servers.map((r) => `imported ${r.slug}@${r.version} with ${r.tools.length} tool(s)`), ...result.notes.map((n) => `note: ${n}`)].join('\n'));
      return;
    }
    case 'list': {
      const result = await client.request<{ servers: ServerRecord[] }>('GET', '/admin/v1/servers');
      out(result, () => (result.servers.length ? table(HEADERS, result.servers.map(summary)) : 'no servers registered'));
      return;
    }
    case 'show': {
      const { slug, version } = splitRef(positionals[0], false);
      if (version) {
        const record = await client.request<ServerRecord & { drift: { drifted: string[] } | null; backendState: unknown }>(
          'GET',
          `/admin/v1/servers/${encodeURIComponent(slug)}/versions/${encodeURIComponent(version)}`,
        );
        out(record, () => showRecord(record));
        return;
      }
      const result = await client.request<{ versions: ServerRecord[]; history: { at: string; actor: string; action: string; version: string }[] }>(
        'GET',
        `/admin/v1/servers/${encodeURIComponent(slug)}`,
      );
      out(result, () => `${table(HEADERS, result.versions.map(summary))}\n\nhistory:\n${table(['AT', 'VERSION', 'ACTION', 'ACTOR'], result.history.map((h) => [h.at, h.version, h.action, h.actor]))}`);
      return;
    }
    case 'promote':
    case 'deprecate':
    case 'sunset':
    case 'approve': {
      const { slug, version } = splitRef(positionals[0], true);
      const body = {
        ...(values.to ? { to: values.to } : {}),
        ...(values['sunset-at'] ? { sunsetAt: values['sunset-at'] } : {}),
        ...(values['migration-url'] ? { migrationUrl: values['migration-url'] } : {}),
        ...(values['read-tools'] ? { readTools: commaList(values['read-tools']) } : {}),
      };
      const record = await client.request<ServerRecord>('POST', `/admin/v1/servers/${encodeURIComponent(slug)}/versions/${encodeURIComponent(version!)}/${sub}`, body);
      out(record, () => `${record.slug}@${record.version}: ${record.lifecycle}${record.sunsetAt ? `, sunset ${record.sunsetAt}` : ''}${sub === 'approve' ? `, approved by ${record.approvedBy}` : ''}`);
      return;
    }
    default:
      throw new CliError('usage: toolmesh server add|import|list|show|promote|deprecate|sunset|approve …');
  }
}

function showRecord(r: ServerRecord & { drift: { drifted: string[]; unapproved?: string[] } | null; backendState: unknown }): string {
  const b = r.backend;
  const backend = 'http' in b ? b.http : 'stdio' in b ? [b.stdio, ...b.args].join(' ') : `peer ${b.remote.peer}: ${b.remote.slug}@${b.remote.version}`;
  const lines = [
    `${r.slug}@${r.version}  ${r.lifecycle}${r.title ? `  "${r.title}"` : ''}`,
    r.description ? `  ${r.description}` : '',
    `  backend      ${backend}`,
    `  owner        ${r.owner ?? '-'}`,
    `  groups       ${r.allowedGroups.join(', ') || '-'}`,
    r.namespace !== undefined ? `  namespace    ${r.namespace}` : '',
    `  approved     ${r.approvedBy} at ${r.approvedAt}`,
    r.deprecatedAt ? `  deprecated   ${r.deprecatedAt}` : '',
    r.sunsetAt ? `  sunset       ${r.sunsetAt}` : '',
    r.migrationUrl ? `  migration    ${r.migrationUrl}` : '',
    '',
    table(['TOOL', 'ACCESS', 'STATUS', 'APPROVED'], r.tools.map((t) => [t.name, t.access, r.drift?.drifted.includes(t.name) ? 'WITHHELD (changed)' : 'ok', `${t.approvedBy} ${t.approvedAt}`])),
  ];
  if (r.drift?.unapproved?.length) lines.push('', `unapproved new tools: ${r.drift.unapproved.join(', ')} (toolmesh server approve ${r.slug}@${r.version})`);
  return lines.filter((l) => l !== '').join('\n');
}
