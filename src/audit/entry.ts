/**
 * The audit entry model (PRODUCT.md §8): what one entry records, and the
 * normalisation every input goes through before it is hashed.
 *
 * Normalisation keeps only the named fields (so a caller that passes a whole
 * `Identity`, a token or raw arguments by mistake cannot get them recorded),
 * checks their types, and turns `detail` into plain JSON, so the entry that
 * is stored is exactly the entry that was hashed.
 */
import canonicalize from 'canonicalize';
import type { CredentialKind, Identity } from '../auth/identity.js';
import { AuditError } from './errors.js';

/** What happened: a call's intent, its outcome, a rejection, an admin change, a peer event, a retention run. */
export type AuditKind = 'call' | 'outcome' | 'rejection' | 'admin' | 'peer' | 'retention';

export const AUDIT_KINDS: readonly AuditKind[] = ['call', 'outcome', 'rejection', 'admin', 'peer', 'retention'];

/** One hop of a translated token's actor chain (RFC 8693 `act`): who acted, through which node. */
export interface AuditActor {
  subject: string;
  node: string;
}

/**
 * The caller as recorded: who, through which credential kind, in which tenant
 * and groups. Never tokens, secrets, scopes or key material.
 */
export interface AuditIdentity {
  kind: CredentialKind;
  subject: string;
  tenant?: string;
  groups: string[];
  issuer?: string;
  clientId?: string;
  /** For translated tokens: the chain of actors, outermost first. */
  actor?: AuditActor[];
}

/** What a caller hands to `AuditLog.append`. */
export interface AuditEntryInput {
  kind: AuditKind;
  /** Shared by a call's intent and outcome entries, returned to the caller, and shared across nodes for remote calls. */
  correlationId: string;
  identity?: AuditIdentity;
  server?: string;
  version?: string;
  tool?: string;
  /** The MCP method (`tools/call`, `resources/read`, …) or admin operation. */
  method?: string;
  /** `argsHash(key, arguments)`: never the raw arguments. */
  argsHash?: string;
  /** `ok` | `error` | `isError` | a rejection reason (`rate_limited`, `schema_reject`, …). */
  outcome?: string;
  reason?: string;
  status?: number;
  latencyMs?: number;
  /** Anything else worth keeping: plain JSON, no secrets. */
  detail?: Record<string, unknown>;
}

/** A recorded entry: the input plus its place in the chain. */
export type AuditEntry = AuditEntryInput & {
  /** 1, 2, 3, … without gaps or reuse. */
  seq: number;
  /** ISO 8601 time the entry was appended. */
  time: string;
  /** The node that recorded it. */
  node: string;
  /** The previous entry's `hash` (64 zeros for the first entry). */
  prev: string;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the entry without `hash`. */
  hash: string;
};

/**
 * The audit view of an authenticated caller: only the fields worth recording.
 *
 * @example
 * ```ts
 * import { auditIdentity } from './entry.js';
 * const who = auditIdentity({ kind: 'oauth', subject: 'alice', groups: ['eng'], scopes: ['mcp:admin'], principal: 'alice', class: 'person' });
 * // { kind: 'oauth', subject: 'alice', groups: ['eng'] } — no scopes, no token
 * ```
 */
export function auditIdentity(identity: Identity, actor?: AuditActor[]): AuditIdentity {
  const out: AuditIdentity = { kind: identity.kind, subject: identity.subject, groups: [...identity.groups] };
  if (identity.tenant !== undefined) out.tenant = identity.tenant;
  if (identity.issuer !== undefined) out.issuer = identity.issuer;
  if (identity.clientId !== undefined) out.clientId = identity.clientId;
  const chain = actor ?? identity.actors;
  if (chain !== undefined && chain.length > 0) out.actor = chain.map((a) => ({ subject: a.subject, node: a.node }));
  return out;
}

const STRING_FIELDS = ['server', 'version', 'tool', 'method', 'argsHash', 'outcome', 'reason'] as const;
/** Longest text kept in one field, and in `detail` as JSON: a hostile caller or peer must not grow the log at will. */
const MAX_TEXT = 512;
const MAX_DETAIL = 16 * 1024;

/** `value`, or its first {@link MAX_TEXT} characters saying how many were cut. */
function bounded(value: string): string {
  return value.length <= MAX_TEXT ? value : `${value.slice(0, MAX_TEXT)}…[+${value.length - MAX_TEXT} chars]`;
}
const NUMBER_FIELDS = ['status', 'latencyMs'] as const;
const KINDS = new Set<string>(AUDIT_KINDS);

function invalid(message: string): never {
  throw new AuditError('invalid_entry', message);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(`${name} must be a string`);
  return bounded(value);
}

function normalizeIdentity(value: unknown): AuditIdentity {
  if (typeof value !== 'object' || value === null) invalid('identity must be an object');
  const v = value as Record<string, unknown>;
  if (typeof v.kind !== 'string' || typeof v.subject !== 'string') invalid('identity.kind and identity.subject must be strings');
  if (!Array.isArray(v.groups) || !v.groups.every((g) => typeof g === 'string')) invalid('identity.groups must be an array of strings');
  const out: AuditIdentity = { kind: v.kind as CredentialKind, subject: bounded(v.subject), groups: (v.groups as string[]).map(bounded) };
  const tenant = optionalString(v.tenant, 'identity.tenant');
  const issuer = optionalString(v.issuer, 'identity.issuer');
  const clientId = optionalString(v.clientId, 'identity.clientId');
  if (tenant !== undefined) out.tenant = tenant;
  if (issuer !== undefined) out.issuer = issuer;
  if (clientId !== undefined) out.clientId = clientId;
  if (v.actor !== undefined) {
    if (!Array.isArray(v.actor)) invalid('identity.actor must be an array');
    out.actor = v.actor.map((a: unknown, i) => {
      const hop = a as Record<string, unknown> | null;
      if (typeof hop?.subject !== 'string' || typeof hop.node !== 'string') invalid(`identity.actor[${i}] needs subject and node strings`);
      return { subject: bounded(hop.subject), node: bounded(hop.node) };
    });
  }
  return out;
}

function normalizeDetail(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('detail must be an object');
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new AuditError('invalid_entry', `detail is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if ((text as string).length > MAX_DETAIL) return { truncated: true, length: (text as string).length, head: (text as string).slice(0, MAX_TEXT) };
  // A JSON round trip: Dates become strings, undefined members vanish — as they would in storage.
  return JSON.parse(text as string) as Record<string, unknown>;
}

/**
 * A fresh input holding only the named fields, type-checked, with `detail`
 * reduced to plain JSON. Throws `AuditError('invalid_entry')`.
 */
export function normalizeInput(input: AuditEntryInput): AuditEntryInput {
  if (typeof input !== 'object' || input === null) invalid('an audit entry must be an object');
  if (!KINDS.has(input.kind)) invalid(`kind must be one of ${AUDIT_KINDS.join(', ')}`);
  if (typeof input.correlationId !== 'string' || input.correlationId.length === 0) invalid('correlationId must be a non-empty string');
  const out: AuditEntryInput = { kind: input.kind, correlationId: bounded(input.correlationId) };
  if (input.identity !== undefined) out.identity = normalizeIdentity(input.identity);
  for (const name of STRING_FIELDS) {
    const value = optionalString(input[name], name);
    if (value !== undefined) out[name] = value;
  }
  for (const name of NUMBER_FIELDS) {
    const value = input[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`${name} must be a finite number`);
    out[name] = value;
  }
  if (input.detail !== undefined) out.detail = normalizeDetail(input.detail);
  return out;
}
