/**
 * Authorization of one tool for one identity (PRODUCT.md §4): the credential
 * allows the tool AND the server's allowed groups include the caller AND the
 * lifecycle admits the caller. Pure functions: the policy step, `tools/list`
 * filtering and compliance reports all ask the same question the same way.
 *
 * Rules:
 * - scopes are exact strings: `mcp:tool:{slug}:write` allows every tool of the
 *   server, `mcp:tool:{slug}:read` only the tools the registry classified `read`;
 * - credentials that carry no scopes (mTLS agents mapped to groups only, an
 *   `anonymous` grant without scopes) are authorized by groups alone;
 * - a server with allowed groups admits only callers in one of them; a server
 *   without any admits scope-bearing callers and the explicitly granted
 *   `anonymous` identity, but not scope-less agents (map them to a group);
 * - lifecycle: `alpha` admits the teams named for alpha, `beta` those and the
 *   teams approved for beta, `stable`/`deprecated` everyone the rules above admit;
 * - tenants (API keys) see only servers of their own namespace; servers in a
 *   namespace are not shown to anyone else;
 * - a tool may narrow the server's groups further (`PinnedTool.allowedGroups`:
 *   a peer's tools imported for some local groups only);
 * - a peer's servers are never offered to the anonymous grant: a peer does not
 *   translate an anonymous caller.
 */
import type { Identity } from './identity.js';
import { toolScope } from './identity.js';
import type { PinnedTool, ServerRecord } from '../registry/types.js';

export interface LifecyclePolicy {
  /** Teams that may use alpha versions. */
  alpha: string[];
  /** Teams approved for beta versions (alpha teams are admitted too). */
  beta: string[];
}

export type Decision =
  | { allowed: true }
  | { allowed: false; reason: 'insufficient_scope'; scopes: string[]; message: string }
  | { allowed: false; reason: 'forbidden'; message: string; /** Outside the caller's namespace: to be answered as if it did not exist. */ hidden?: true };

const ALLOWED: Decision = { allowed: true };

/** The scope that grants `tool` with the least privilege. */
export function scopeFor(slug: string, tool: PinnedTool): string {
  return toolScope(slug, tool.access);
}

export function decideTool(identity: Identity, record: ServerRecord, tool: PinnedTool, lifecycle: LifecyclePolicy): Decision {
  const server = decideServer(identity, record, lifecycle);
  if (!server.allowed) return server;
  if (tool.allowedGroups !== undefined && !tool.allowedGroups.some((g) => identity.groups.includes(g))) {
    return { allowed: false, reason: 'forbidden', message: `${record.slug}/${tool.name} admits the groups ${tool.allowedGroups.join(', ') || '(none listed)'}` };
  }
  if (!isScoped(identity)) return ALLOWED; // groups already decided
  const write = toolScope(record.slug, 'write');
  if (identity.scopes.includes(write)) return ALLOWED;
  if (tool.access === 'read' && identity.scopes.includes(toolScope(record.slug, 'read'))) return ALLOWED;
  const needed = scopeFor(record.slug, tool);
  return { allowed: false, reason: 'insufficient_scope', scopes: [needed], message: `calling ${record.slug}/${tool.name} needs the scope ${needed}` };
}

/**
 * Anything a server gives that is not a tool call — resources, prompts, completions, its own
 * lists: the server (namespace, groups, lifecycle), and for a scoped credential a scope of
 * that server, read or write (a token with no scopes of it reads nothing of it).
 */
export function decideServerData(identity: Identity, record: ServerRecord, lifecycle: LifecyclePolicy): Decision {
  const server = decideServer(identity, record, lifecycle);
  if (!server.allowed || !isScoped(identity)) return server;
  const read = toolScope(record.slug, 'read');
  if (identity.scopes.includes(read) || identity.scopes.includes(toolScope(record.slug, 'write'))) return ALLOWED;
  return { allowed: false, reason: 'insufficient_scope', scopes: [read], message: `reading ${record.slug} needs the scope ${read}` };
}

/** Namespace, groups and lifecycle: everything that does not depend on the tool. */
export function decideServer(identity: Identity, record: ServerRecord, lifecycle: LifecyclePolicy): Decision {
  if (identity.kind === 'anonymous' && 'remote' in record.backend) {
    return { allowed: false, reason: 'forbidden', message: `${record.slug} is a peer's server: anonymous callers cannot be translated for it` };
  }
  if ((record.namespace ?? undefined) !== (identity.tenant ?? undefined)) {
    return { allowed: false, reason: 'forbidden', message: `${record.slug} is not available to this caller`, hidden: true };
  }
  const groups = identity.groups;
  const groupsRequired = record.allowedGroups.length > 0 || (!isScoped(identity) && identity.kind !== 'anonymous');
  if (groupsRequired) {
    if (!record.allowedGroups.some((g) => groups.includes(g))) {
      return { allowed: false, reason: 'forbidden', message: `${record.slug} admits the groups ${record.allowedGroups.join(', ') || '(none listed)'}` };
    }
  }
  if (record.lifecycle === 'alpha' && !lifecycle.alpha.some((g) => groups.includes(g))) {
    return { allowed: false, reason: 'forbidden', message: `${record.slug}@${record.version} is alpha: named teams only` };
  }
  if (record.lifecycle === 'beta' && ![...lifecycle.alpha, ...lifecycle.beta].some((g) => groups.includes(g))) {
    return { allowed: false, reason: 'forbidden', message: `${record.slug}@${record.version} is beta: approved teams only` };
  }
  return ALLOWED;
}

/** OAuth tokens and API keys are always held to their scopes (possibly none granted); others only when scopes are configured. */
function isScoped(identity: Identity): boolean {
  return identity.kind === 'oauth' || identity.kind === 'apikey' || identity.kind === 'peer' || identity.scopes.length > 0;
}
