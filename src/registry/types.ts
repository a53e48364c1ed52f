/**
 * Registry records (PRODUCT.md §7). A server version's identity and content
 * (backend, pinned tools) are immutable once published; lifecycle, approvals
 * and access lists change, and every change is appended to history.
 */

export type Lifecycle = 'alpha' | 'beta' | 'stable' | 'deprecated' | 'sunset';
export const LIFECYCLES: readonly Lifecycle[] = ['alpha', 'beta', 'stable', 'deprecated', 'sunset'];

export type BackendSpec =
  | { http: string; headers?: Record<string, string> }
  | { stdio: string; args: string[]; env?: Record<string, string>; cwd?: string }
  /** A server of a peer node, reached through federation (never registered by an admin). */
  | { remote: RemoteServerRef };

/** Where a peer's server lives: the peer's alias and the server as the peer names it. */
export interface RemoteServerRef {
  peer: string;
  slug: string;
  version: string;
}

export type ToolAccess = 'read' | 'write';

/** A tool as the backend describes it. */
export interface ObservedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/** A tool as pinned at approval: what clients are shown and what arguments are validated against. */
export interface PinnedTool extends ObservedTool {
  /** Registry-approved classification; the backend's hints never decide it. */
  access: ToolAccess;
  approvedBy: string;
  approvedAt: string;
  /** Narrows the server's allowed groups for this one tool (imported remote tools: the import rules). */
  allowedGroups?: string[];
}

export interface ServerRecord {
  slug: string;
  version: string;
  title?: string;
  description?: string;
  owner?: string;
  backend: BackendSpec;
  tools: PinnedTool[];
  lifecycle: Lifecycle;
  deprecatedAt?: string;
  sunsetAt?: string;
  migrationUrl?: string;
  allowedGroups: string[];
  /** Tenant namespace the server belongs to (tenants see only their own). */
  namespace?: string;
  approvedBy: string;
  approvedAt: string;
  createdAt: string;
  /** Where the record came from when imported (official registry `server.json` name). */
  source?: { registryName: string };
}

/** One entry of a server's change history, oldest first. */
export interface HistoryEntry {
  at: string;
  actor: string;
  action: 'register' | 'promote' | 'deprecate' | 'sunset' | 'approve' | 'drift_detected';
  slug: string;
  version: string;
  detail?: Record<string, unknown>;
}

/** What an admin submits to register a server version. */
export interface RegistrationInput {
  slug: string;
  version: string;
  title?: string;
  description?: string;
  owner?: string;
  backend: BackendSpec;
  lifecycle?: Exclude<Lifecycle, 'deprecated' | 'sunset'>;
  allowedGroups?: string[];
  /** Tool names the approver classifies as read-only; all others are `write`. */
  readTools?: string[];
  namespace?: string;
  source?: { registryName: string };
}

export const SLUG_PATTERN = /^[a-z0-9-]{1,63}$/;

/** A peer's server as this node shows it: `{peer alias}.{slug}` (aliases cannot contain dots). */
export const REMOTE_SLUG_PATTERN = /^[a-z][a-z0-9-]{0,31}\.[a-z0-9-]{1,63}$/;
