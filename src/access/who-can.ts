/**
 * `who-can`: every caller that can reach a server version (and its tools)
 * today, through which grant, and who approved it (PRODUCT.md §1, §4, §7).
 *
 * How the answer is made, so it cannot drift from enforcement:
 * - each caller the node can name (principals.ts) is put to `decideServer` /
 *   `decideTool`, the functions the policy chain and `tools/list` use;
 * - a version is reachable only if version routing serves it today
 *   (`resolveMajor` / `newestServable`, the router's own functions) and it is
 *   not sunset; a tool withheld for drift is reachable by no one;
 * - callers that cannot be enumerated (people of external issuers) get the
 *   rule their token must meet, each grant of it confirmed by `decideTool`;
 * - admin rights are reported next to each caller: an admin can change who
 *   may call, but admin rights alone call no tool.
 */
import semver from 'semver';
import { decideServer, decideTool, type Decision, type LifecyclePolicy } from '../auth/authorization.js';
import { SCOPE_ADMIN, toolScope, type Identity } from '../auth/identity.js';
import type { NodeConfig } from '../config/config.js';
import { isSunset, type Registry } from '../registry/registry.js';
import { SLUG_PATTERN, type Lifecycle, type ServerRecord, type ToolAccess } from '../registry/types.js';
import { newestServable, resolveMajor } from '../gateway/routing/resolve.js';
import { AccessError } from './errors.js';
import { approvalTrail, type ApprovalTrail } from './approvals.js';
import { knownPrincipals, type KnownPrincipal, type PrincipalRef, type PrincipalSources } from './principals.js';
import { explainAllowed, lifecycleTeams, requirementFor, type Requirement, type Via } from './requirement.js';

/** What to answer for: a server, optionally one version and one tool. */
export interface WhoCanQuery {
  slug: string;
  /** One version; all registered versions when absent. */
  version?: string;
  /** One tool; every pinned tool when absent. */
  tool?: string;
}

/** What the report reads. */
export interface WhoCanDeps extends Omit<PrincipalSources, 'auth'> {
  registry: Registry;
  auth: Pick<NodeConfig['auth'], 'anonymous' | 'authorizationServer' | 'mtls' | 'lifecycle' | 'issuers' | 'adminGroups' | 'bootstrapToken'>;
  /** The admin API's own test (auth-setup.ts `isAdmin`). */
  isAdmin: (identity: Identity) => boolean;
  now?: () => Date;
}

/** One pinned tool of a version: its approval and what a credential needs to call it. */
export interface ToolReport {
  name: string;
  access: ToolAccess;
  approvedBy: string;
  approvedAt: string;
  /** Drifted since approval: no one can call it until it is re-approved. */
  withheld: boolean;
  /** What a scope-bearing credential needs (OAuth token; API key of the tenant for namespaced servers). */
  requirement: Requirement;
}

/** A known caller that can call at least one selected tool, with the grant per tool. */
export interface PrincipalGrant {
  principal: PrincipalRef;
  admin: boolean;
  tools: { name: string; via: Via }[];
}

/** A known caller that can call none of the selected tools, with the refusal it would get (or why its credential is unusable). */
export interface PrincipalRefusal {
  principal: PrincipalRef;
  admin: boolean;
  reason: 'insufficient_scope' | 'forbidden' | 'unusable';
  message: string;
}

/** Tokens of an external issuer that meet a tool's requirement call it; the people behind them cannot be listed. */
export interface IssuerRule {
  issuer: string;
  groupsClaim: string;
  scopeClaim: string;
  /** Tools such tokens can reach (requirements in `tools[]`). */
  tools: string[];
}

/** The answer for one server version. */
export interface VersionReport {
  version: string;
  lifecycle: Lifecycle;
  namespace?: string;
  allowedGroups: string[];
  /** Groups admitted by an alpha/beta lifecycle (empty for stable/deprecated). */
  lifecycleTeams: string[];
  deprecatedAt?: string;
  sunsetAt?: string;
  /** Endpoints that serve this version today. */
  routes: string[];
  reachable: boolean;
  why?: string;
  approval: ApprovalTrail;
  tools: ToolReport[];
  grants: PrincipalGrant[];
  refused: PrincipalRefusal[];
  issuerRules: IssuerRule[];
}

/** Who may change the answer (the admin API), reported next to it. */
export interface Administration {
  /** Admins can register, approve and promote (so change this report); admin rights alone call no tool. */
  adminGroups: string[];
  adminScope: string;
  bootstrapToken: boolean;
  /** Known callers that are admins. */
  admins: PrincipalRef[];
}

/** The whole `who-can` answer (the admin API's JSON). */
export interface WhoCanReport {
  slug: string;
  tool?: string;
  /** When the answer was made: it holds for that moment. */
  at: string;
  versions: VersionReport[];
  administration: Administration;
  notes: string[];
}

/**
 * @example
 * ```ts
 * import { whoCan } from './who-can.js';
 * declare const deps: import('./who-can.js').WhoCanDeps;
 * const report = await whoCan(deps, { slug: 'crm', tool: 'lookup' });
 * for (const v of report.versions) for (const g of v.grants) console.log(v.version, g.principal.subject, g.tools[0]?.via.summary);
 * ```
 */
export async function whoCan(deps: WhoCanDeps, query: WhoCanQuery): Promise<WhoCanReport> {
  const now = (deps.now ?? (() => new Date()))();
  const records = selectVersions(deps.registry, query);
  const principals = knownPrincipals(deps);
  const history = await deps.registry.history(query.slug);
  const adminOf = (p: KnownPrincipal) => p.unusable === undefined && deps.isAdmin(p.identity);
  const versions = records.map((record) => versionReport(deps, record, query.tool, principals, adminOf, approvalTrail(record, history), now));
  return {
    slug: query.slug,
    ...(query.tool !== undefined ? { tool: query.tool } : {}),
    at: now.toISOString(),
    versions,
    administration: {
      adminGroups: [...deps.auth.adminGroups],
      adminScope: SCOPE_ADMIN,
      bootstrapToken: deps.auth.bootstrapToken,
      admins: principals.filter(adminOf).map((p) => p.ref),
    },
    notes: notes(deps, query.slug, principals),
  };
}

function selectVersions(registry: Registry, query: WhoCanQuery): ServerRecord[] {
  if (typeof query.slug !== 'string' || !SLUG_PATTERN.test(query.slug)) throw new AccessError('invalid_input', 'slug: must match [a-z0-9-]{1,63}');
  const all = registry.versions(query.slug);
  if (all.length === 0) throw new AccessError('not_found', `no server ${query.slug}`);
  let records = [...all];
  if (query.version !== undefined) {
    const record = semver.valid(query.version) === query.version ? registry.get(query.slug, query.version) : undefined;
    if (!record) throw new AccessError('not_found', `no server ${query.slug}@${query.version}`);
    records = [record];
  }
  if (query.tool !== undefined) {
    if (query.tool.length === 0 || query.tool.length > 256) throw new AccessError('invalid_input', 'tool: must be 1 to 256 characters');
    records = records.filter((r) => r.tools.some((t) => t.name === query.tool));
    const where = query.version !== undefined ? `${query.slug}@${query.version}` : query.slug;
    if (records.length === 0) throw new AccessError('not_found', `no tool ${query.tool} in ${where}`);
  }
  return records;
}

/** The endpoints version routing sends to `record` today. */
function routesTo(registry: Registry, record: ServerRecord, now: Date): string[] {
  const routes: string[] = [];
  const major = semver.major(record.version);
  try {
    if (resolveMajor(registry, record.slug, major, now) === record) routes.push(`/mcp/v${major}/tools/${record.slug}/rpc`);
  } catch {
    /* every version of the major is sunset: 410 */
  }
  if (newestServable(registry, record.slug, now) === record) routes.push('/mcp');
  return routes;
}

function unreachableWhy(registry: Registry, record: ServerRecord, now: Date): string {
  if (isSunset(record, now)) return `sunset${record.sunsetAt ? ` at ${record.sunsetAt}` : ''}: every call is answered 410`;
  const major = semver.major(record.version);
  let served: string | undefined;
  try {
    served = resolveMajor(registry, record.slug, major, now).version;
  } catch {
    served = undefined;
  }
  return `not routed: /mcp/v${major}/tools/${record.slug}/rpc serves ${served ?? 'no version'}, /mcp serves ${newestServable(registry, record.slug, now)?.version ?? 'no version'}`;
}

function versionReport(
  deps: WhoCanDeps,
  record: ServerRecord,
  onlyTool: string | undefined,
  principals: KnownPrincipal[],
  adminOf: (p: KnownPrincipal) => boolean,
  approval: ApprovalTrail,
  now: Date,
): VersionReport {
  const lifecycle: LifecyclePolicy = deps.auth.lifecycle;
  const routes = isSunset(record, now) ? [] : routesTo(deps.registry, record, now);
  const reachable = routes.length > 0;
  const pinned = record.tools.filter((t) => onlyTool === undefined || t.name === onlyTool);
  const tools: ToolReport[] = pinned.map((t) => {
    const withheld = deps.registry.isWithheld(record, t.name);
    let requirement = requirementFor(record, t, lifecycle);
    if (withheld) requirement = { ...requirement, reachable: false, why: 'withheld: its definition changed since approval; re-approve it' };
    else if (!reachable) requirement = { ...requirement, reachable: false, why: 'this version is not served' };
    return { name: t.name, access: t.access, approvedBy: t.approvedBy, approvedAt: t.approvedAt, withheld, requirement };
  });
  const callable = pinned.filter((t) => !deps.registry.isWithheld(record, t.name));

  const grants: PrincipalGrant[] = [];
  const refused: PrincipalRefusal[] = [];
  if (reachable) {
    for (const p of principals) {
      const admin = adminOf(p);
      if (p.unusable !== undefined) {
        refused.push({ principal: p.ref, admin, reason: 'unusable', message: p.unusable });
        continue;
      }
      const allowed: PrincipalGrant['tools'] = [];
      let firstRefusal: Decision | undefined = decideServer(p.identity, record, lifecycle);
      if (firstRefusal.allowed) {
        firstRefusal = undefined;
        for (const t of callable) {
          const decision = decideTool(p.identity, record, t, lifecycle);
          if (decision.allowed) allowed.push({ name: t.name, via: explainAllowed(p.identity, record, t, lifecycle) });
          else firstRefusal ??= decision;
        }
      }
      if (allowed.length > 0) grants.push({ principal: p.ref, admin, tools: allowed });
      else if (firstRefusal && !firstRefusal.allowed) refused.push({ principal: p.ref, admin, reason: firstRefusal.reason, message: firstRefusal.message });
      else refused.push({ principal: p.ref, admin, reason: 'forbidden', message: 'every selected tool is withheld' });
    }
  }

  const reachableTools = tools.filter((t) => t.requirement.reachable).map((t) => t.name);
  // Tokens carry no tenant: a namespaced server is its tenant's alone.
  const issuerRules: IssuerRule[] =
    record.namespace === undefined && reachableTools.length > 0
      ? deps.auth.issuers.map((i) => ({ issuer: i.issuer, groupsClaim: i.groupsClaim ?? 'groups', scopeClaim: i.scopeClaim ?? 'scope', tools: reachableTools }))
      : [];

  return {
    version: record.version,
    lifecycle: record.lifecycle,
    ...(record.namespace !== undefined ? { namespace: record.namespace } : {}),
    allowedGroups: [...record.allowedGroups],
    lifecycleTeams: lifecycleTeams(record, lifecycle),
    ...(record.deprecatedAt !== undefined ? { deprecatedAt: record.deprecatedAt } : {}),
    ...(record.sunsetAt !== undefined ? { sunsetAt: record.sunsetAt } : {}),
    routes,
    reachable,
    ...(reachable ? {} : { why: unreachableWhy(deps.registry, record, now) }),
    approval,
    tools,
    grants,
    refused,
    issuerRules,
  };
}

function notes(deps: WhoCanDeps, slug: string, principals: KnownPrincipal[]): string[] {
  const out: string[] = [];
  if (deps.auth.issuers.length > 0) {
    out.push('People who sign in at an external issuer cannot be listed: any token from that issuer meeting a tool\'s requirement can call it (issuerRules).');
  }
  const exact = new Set([toolScope(slug, 'read'), toolScope(slug, 'write')]);
  for (const p of principals) {
    for (const s of p.ref.scopes) {
      if (s.startsWith(`mcp:tool:${slug}:`) && !exact.has(s)) out.push(`${p.ref.subject} carries ${s}, which grants nothing: scopes match exactly (read or write).`);
    }
  }
  out.push('Calls from peer nodes (federation trust policies) are not covered by this report.');
  return out;
}
