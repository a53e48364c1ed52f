/**
 * `toolmesh access …`: compliance answers from a running node's admin API
 * (`/admin/v1/access/…`).
 *
 *   who-can <slug>[@version] [--tool NAME]   every caller that can reach it today, through which
 *                                            grant, and who approved the version and its tools
 *   used <slug> [--since T] [--until T]      who called it, how often, with what outcomes
 *
 * T is an ISO 8601 date or date-time, or a duration back from now: `30m`,
 * `24h`, `7d`. `--json` prints the API's report unchanged.
 */
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS } from '../admin-client.js';
import { printJson, table } from '../format.js';
import type { PrincipalGrant, PrincipalRefusal, VersionReport, WhoCanReport } from '../../access/who-can.js';
import type { PrincipalRef } from '../../access/principals.js';
import type { CallerUsage, UsageReport } from '../../access/used.js';
import { describeRequirement } from '../../access/requirement.js';

const USAGE = 'usage: toolmesh access who-can <slug>[@version] [--tool NAME] | used <slug> [--since T] [--until T]   (--json for JSON)';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO time as given, or `24h`-style durations turned into the instant that long ago. */
export function timeFlag(value: string | undefined, flag: string, now = new Date()): string | undefined {
  if (value === undefined) return undefined;
  const duration = /^(\d{1,9})([smhd])$/.exec(value);
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNITS[duration[2]!]!).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new CliError(`${flag}: expected an ISO 8601 time or a duration such as 24h or 7d, got ${value}`, 2);
  return value;
}

const SOURCE_LABEL: Record<PrincipalRef['source'], string> = {
  anonymous: 'anonymous',
  'authorization-server:user': 'oauth user',
  'authorization-server:client': 'oauth client',
  'mtls-agent': 'mtls agent',
  'api-key': 'api key',
};

function who(p: PrincipalRef): string {
  return p.source === 'api-key' ? `${p.subject} (key ${p.keyId ?? '?'})` : p.subject;
}

/** One row per caller and grant: tools that share a grant share a row. */
function grantRows(g: PrincipalGrant): string[][] {
  const byVia = new Map<string, string[]>();
  for (const t of g.tools) byVia.set(t.via.summary, [...(byVia.get(t.via.summary) ?? []), t.name]);
  return [...byVia].map(([via, tools]) => [who(g.principal), SOURCE_LABEL[g.principal.source], g.principal.tenant ?? '-', g.admin ? 'yes' : 'no', tools.join(', '), via]);
}

function issuerRows(v: VersionReport): string[][] {
  const rows: string[][] = [];
  for (const rule of v.issuerRules) {
    const byRule = new Map<string, string[]>();
    for (const t of v.tools.filter((t) => rule.tools.includes(t.name))) {
      const text = describeRequirement(t.requirement);
      byRule.set(text, [...(byRule.get(text) ?? []), t.name]);
    }
    for (const [text, tools] of byRule) rows.push([`any token from ${rule.issuer}`, 'oauth issuer', '-', '-', tools.join(', '), text]);
  }
  return rows;
}

function refusal(r: PrincipalRefusal): string {
  return `  ${who(r.principal)} (${SOURCE_LABEL[r.principal.source]}): ${r.reason}: ${r.message}`;
}

function versionText(report: WhoCanReport, v: VersionReport): string {
  const head = [
    `${report.slug}@${v.version}  ${v.lifecycle}${v.namespace !== undefined ? `  tenant ${v.namespace}` : ''}`,
    `  allowed groups: ${v.allowedGroups.join(', ') || '(none listed)'}${v.lifecycleTeams.length ? `; ${v.lifecycle} teams: ${v.lifecycleTeams.join(', ')}` : ''}`,
    `  served at: ${v.routes.join(', ') || `nowhere — ${v.why ?? 'not served'}`}`,
    `  approved by ${v.approval.approvedBy} at ${v.approval.approvedAt}${v.approval.registeredBy !== undefined ? `; registered by ${v.approval.registeredBy} at ${v.approval.registeredAt}` : ''}`,
  ];
  const rows = [...v.grants.flatMap(grantRows), ...issuerRows(v)];
  const parts = [head.join('\n')];
  parts.push(rows.length ? table(['WHO', 'KIND', 'TENANT', 'ADMIN', 'TOOLS', 'VIA'], rows) : 'no one can call it today');
  parts.push(
    table(
      ['TOOL', 'ACCESS', 'APPROVED BY', 'APPROVED AT', 'STATUS'],
      v.tools.map((t) => [t.name, t.access, t.approvedBy, t.approvedAt, t.withheld ? 'withheld (drifted)' : t.requirement.reachable ? 'callable' : 'not callable']),
    ),
  );
  if (v.approval.events.length) parts.push(table(['WHEN', 'WHO', 'CHANGE'], v.approval.events.map((e) => [e.at, e.actor, e.summary])));
  if (v.refused.length) parts.push(['known callers that cannot reach it:', ...v.refused.map(refusal)].join('\n'));
  return parts.join('\n\n');
}

/** The `who-can` report as text: per version a header, the grants table, tools, changes and refusals. */
export function whoCanText(report: WhoCanReport): string {
  const a = report.administration;
  const admins = [
    `administrators (can change this access; admin rights alone call no tool): groups ${a.adminGroups.join(', ') || '(none)'}, scope ${a.adminScope}` +
      `${a.bootstrapToken ? ', the bootstrap admin token' : ''}${a.admins.length ? `; known admins: ${a.admins.map(who).join(', ')}` : ''}`,
  ];
  return [...report.versions.map((v) => versionText(report, v)), admins.join('\n'), ...report.notes.map((n) => `note: ${n}`)].join('\n\n');
}

function counts(record: Record<string, number>, sep = ' '): string {
  return Object.entries(record)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([k, n]) => `${k}${sep}${n}`)
    .join(', ');
}

function callerRow(c: CallerUsage): string[] {
  const id = c.identity;
  return [
    id.subject,
    id.kind,
    id.tenant ?? '-',
    String(c.calls),
    counts(c.outcomes),
    c.firstSeen,
    c.lastSeen,
    counts(c.tools, ' ×') || '-',
  ];
}

/** The `used` report as text: a summary line and one row per caller. */
export function usedText(report: UsageReport): string {
  const window = `${report.since ? ` since ${report.since}` : ''}${report.until ? ` until ${report.until}` : ''}`;
  const head = `${report.slug}: ${report.calls} call(s)${window}${report.calls ? ` (${counts(report.outcomes)})` : ''}${report.complete ? '' : ' — scan stopped early: narrow the window'}`;
  if (report.callers.length === 0) return head;
  return `${head}\n\n${table(['CALLER', 'KIND', 'TENANT', 'CALLS', 'OUTCOMES', 'FIRST SEEN', 'LAST SEEN', 'TOOLS'], report.callers.map(callerRow))}`;
}

/**
 * @example
 * ```ts
 * await accessCommand(['who-can', 'crm@1.2.0', '--tool', 'lookup']);
 * await accessCommand(['used', 'crm', '--since', '7d', '--json']);
 * ```
 */
export async function accessCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(USAGE + '\n');
    if (sub === undefined) process.exitCode = 2;
    return;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { ...CONNECTION_OPTIONS, tool: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' } },
  });
  const target = positionals[0];
  if (target === undefined || positionals.length > 1) throw new CliError(USAGE, 2);

  switch (sub) {
    case 'who-can': {
      if (values.since !== undefined || values.until !== undefined) throw new CliError('who-can answers for now: --since/--until belong to `access used`', 2);
      const at = target.indexOf('@');
      const slug = at < 0 ? target : target.slice(0, at);
      const version = at < 0 ? undefined : target.slice(at + 1);
      const q = new URLSearchParams();
      if (version) q.set('version', version);
      if (values.tool !== undefined) q.set('tool', values.tool);
      const report = await new AdminClient(values).request<WhoCanReport>('GET', `/admin/v1/access/who-can/${encodeURIComponent(slug)}${q.size ? `?${q}` : ''}`);
      if (values.json) printJson(report);
      else process.stdout.write(whoCanText(report) + '\n');
      return;
    }
    case 'used': {
      if (values.tool !== undefined) throw new CliError('--tool belongs to `access who-can`; `used` reports every tool', 2);
      if (target.includes('@')) throw new CliError('used <slug>: usage covers every version (each caller lists the versions it reached)', 2);
      const q = new URLSearchParams();
      const since = timeFlag(values.since, '--since');
      const until = timeFlag(values.until, '--until');
      if (since !== undefined) q.set('since', since);
      if (until !== undefined) q.set('until', until);
      const report = await new AdminClient(values).request<UsageReport>('GET', `/admin/v1/access/used/${encodeURIComponent(target)}${q.size ? `?${q}` : ''}`);
      if (values.json) printJson(report);
      else process.stdout.write(usedText(report) + '\n');
      return;
    }
    default:
      throw new CliError(USAGE, 2);
  }
}
