/**
 * Rule-level answers: what a credential must carry to call one tool of one
 * server version, and, for a caller already allowed, which of its grants did
 * it. Authorization itself stays in auth/authorization.ts; this module only
 * reads the record for candidate grants and keeps those that `decideTool`
 * confirms, so a report can never claim more than enforcement allows.
 */
import { decideTool, type LifecyclePolicy } from '../auth/authorization.js';
import type { Identity } from '../auth/identity.js';
import { toolScope } from '../auth/identity.js';
import type { PinnedTool, ServerRecord } from '../registry/types.js';

/** What a scope-bearing credential (OAuth token, API key) needs to call a tool. */
export interface Requirement {
  /** False when no credential of this kind can call the tool; `why` says so. */
  reachable: boolean;
  why?: string;
  /** One of these scopes (exact strings). */
  anyScope: string[];
  /** One of these groups; empty: the server does not restrict groups. */
  anyGroup: string[];
  /** For alpha/beta versions: one of these teams (groups); empty: no team needed. */
  anyTeam: string[];
  /** Only callers of this tenant (servers in a tenant namespace). */
  tenant?: string;
}

/** Why an allowed caller is allowed: the grants of its that the decision rested on. */
export interface Via {
  /** The scope that allows the tool; absent for credentials held to groups only. */
  scope?: string;
  /** The caller's groups the server lists (empty when the server lists none). */
  groups: string[];
  /** The caller's groups the alpha/beta lifecycle admits. */
  teams: string[];
  tenant?: string;
  /** One line for tables, e.g. `scope mcp:tool:crm:write; group sales; beta team qa`. */
  summary: string;
}

/** The groups an alpha/beta lifecycle admits (empty for others). */
export function lifecycleTeams(record: ServerRecord, lifecycle: LifecyclePolicy): string[] {
  if (record.lifecycle === 'alpha') return [...lifecycle.alpha];
  if (record.lifecycle === 'beta') return [...new Set([...lifecycle.alpha, ...lifecycle.beta])];
  return [];
}

/**
 * The rule a scope-bearing credential must meet for `tool`: an OAuth token
 * (no tenant) for a server outside any namespace, else an API key of the
 * namespace's tenant. Every listed scope, group and team is checked with
 * `decideTool` on a witness identity that carries it.
 *
 * @example
 * ```ts
 * import { requirementFor } from './requirement.js';
 * declare const record: import('../registry/types.js').ServerRecord;
 * const rule = requirementFor(record, record.tools[0]!, { alpha: [], beta: [] });
 * // { reachable: true, anyScope: ['mcp:tool:crm:write'], anyGroup: ['sales'], anyTeam: [] }
 * ```
 */
export function requirementFor(record: ServerRecord, tool: PinnedTool, lifecycle: LifecyclePolicy): Requirement {
  const tenant = record.namespace;
  const witness = (scopes: string[], groups: (string | undefined)[]): Identity => ({
    kind: tenant === undefined ? 'oauth' : 'apikey',
    subject: '*',
    ...(tenant !== undefined ? { tenant } : {}),
    groups: [...new Set(groups.filter((g): g is string => g !== undefined))],
    scopes,
    principal: '*',
    class: tenant === undefined ? 'person' : 'tenant',
  });
  const allows = (identity: Identity) => decideTool(identity, record, tool, lifecycle).allowed;

  const scopes = [toolScope(record.slug, 'write'), ...(tool.access === 'read' ? [toolScope(record.slug, 'read')] : [])];
  const groups = [...record.allowedGroups];
  const teams = lifecycleTeams(record, lifecycle);
  const g0 = groups[0];
  const t0 = teams[0];
  const anyScope = scopes.filter((s) => allows(witness([s], [g0, t0])));
  const s0 = anyScope[0] ?? scopes[0]!;
  const anyGroup = groups.filter((g) => allows(witness([s0], [g, t0])));
  const anyTeam = teams.filter((t) => allows(witness([s0], [g0, t])));
  const full = decideTool(witness([s0], [g0, t0]), record, tool, lifecycle);
  const base = { anyScope, anyGroup, anyTeam, ...(tenant !== undefined ? { tenant } : {}) };
  return full.allowed ? { reachable: true, ...base } : { reachable: false, why: full.message, ...base };
}

/** One line for a requirement, e.g. `scope mcp:tool:crm:write; group in [sales, ops]; beta team in [qa]`. */
export function describeRequirement(r: Requirement): string {
  if (!r.reachable) return `no one: ${r.why ?? 'refused'}`;
  const parts = [`scope ${r.anyScope.join(' or ')}`];
  if (r.anyGroup.length) parts.push(r.anyGroup.length === 1 ? `group ${r.anyGroup[0]}` : `group in [${r.anyGroup.join(', ')}]`);
  if (r.anyTeam.length) parts.push(r.anyTeam.length === 1 ? `team ${r.anyTeam[0]}` : `team in [${r.anyTeam.join(', ')}]`);
  if (r.tenant !== undefined) parts.push(`tenant ${r.tenant}`);
  return parts.join('; ');
}

/**
 * Which grants of an allowed caller the decision rested on. Call it only
 * after `decideTool` allowed `identity` (it explains, it does not decide).
 */
export function explainAllowed(identity: Identity, record: ServerRecord, tool: PinnedTool, lifecycle: LifecyclePolicy): Via {
  const write = toolScope(record.slug, 'write');
  const read = toolScope(record.slug, 'read');
  const scope = identity.scopes.includes(write) ? write : tool.access === 'read' && identity.scopes.includes(read) ? read : undefined;
  const groups = record.allowedGroups.filter((g) => identity.groups.includes(g));
  const teamsOk = lifecycleTeams(record, lifecycle);
  const teams = teamsOk.filter((g) => identity.groups.includes(g));
  const parts: string[] = [];
  if (scope !== undefined) parts.push(`scope ${scope}`);
  else parts.push(identity.kind === 'anonymous' ? 'anonymous grant' : 'groups only (no scopes)');
  if (groups.length) parts.push(`group ${groups.join(', ')}`);
  else if (record.allowedGroups.length === 0) parts.push('server lists no groups');
  if (teams.length) parts.push(`${record.lifecycle} team ${teams.join(', ')}`);
  if (record.namespace !== undefined) parts.push(`tenant ${record.namespace}`);
  return {
    ...(scope !== undefined ? { scope } : {}),
    groups,
    teams,
    ...(record.namespace !== undefined ? { tenant: record.namespace } : {}),
    summary: parts.join('; '),
  };
}
