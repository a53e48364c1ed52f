/**
 * RFC 8785 canonical JSON of a normalised audit entry, without a generic
 * walk: the members of an entry are known, so they are written in their
 * sorted order directly. Strings and numbers go through `JSON.stringify`,
 * exactly as the generic `canonicalize` does (JCS adopts ECMAScript's
 * serialisation), and `detail` — free-form — goes through `canonicalize`
 * itself. This is the append hot path: the generic walk cost more than the
 * disk. `verify()` deliberately re-hashes with the generic `canonicalize`,
 * so the two implementations check each other.
 *
 * Only valid for inputs that went through `normalizeInput` (no undefined
 * members, strings where strings belong, finite numbers).
 */
import canonicalize from 'canonicalize';
import type { AuditActor, AuditIdentity } from './entry.js';

type Serializer = (value: never) => string;

const str = (value: string): string => JSON.stringify(value);
const num = (value: number): string => JSON.stringify(value);

function identity(value: AuditIdentity): string {
  const parts: string[] = [];
  // Sorted by UTF-16 code units: actor, clientId, groups, issuer, kind, subject, tenant.
  if (value.actor !== undefined) parts.push(`"actor":[${value.actor.map(actor).join(',')}]`);
  if (value.clientId !== undefined) parts.push(`"clientId":${str(value.clientId)}`);
  parts.push(`"groups":[${value.groups.map(str).join(',')}]`);
  if (value.issuer !== undefined) parts.push(`"issuer":${str(value.issuer)}`);
  parts.push(`"kind":${str(value.kind)}`);
  parts.push(`"subject":${str(value.subject)}`);
  if (value.tenant !== undefined) parts.push(`"tenant":${str(value.tenant)}`);
  return `{${parts.join(',')}}`;
}

function actor(value: AuditActor): string {
  return `{"node":${str(value.node)},"subject":${str(value.subject)}}`;
}

const SERIALIZERS: Record<string, Serializer> = {
  argsHash: str,
  correlationId: str,
  detail: (value: Record<string, unknown>) => canonicalize(value) as string,
  identity,
  kind: str,
  latencyMs: num,
  method: str,
  node: str,
  outcome: str,
  prev: str,
  reason: str,
  seq: num,
  server: str,
  status: num,
  time: str,
  tool: str,
  version: str,
};

/** Member names in canonical (UTF-16 code unit) order, with their JSON-quoted form. */
const MEMBERS = Object.keys(SERIALIZERS)
  .sort()
  .map((name) => ({ name, quoted: JSON.stringify(name) + ':', serialize: SERIALIZERS[name]! }));

/** How many members sort before `hash`. */
const HASH_POSITION = MEMBERS.filter((m) => m.name < 'hash').length;

/**
 * The canonical members of an entry body (everything but `hash`), split
 * where `hash` belongs, so both the hashed text and the stored text (with
 * `hash`) are built from one pass.
 */
export function canonicalMembers(body: Record<string, unknown>): { before: string[]; after: string[] } {
  const before: string[] = [];
  const after: string[] = [];
  for (let i = 0; i < MEMBERS.length; i++) {
    const member = MEMBERS[i]!;
    const value = body[member.name];
    if (value === undefined) continue;
    (i < HASH_POSITION ? before : after).push(member.quoted + member.serialize(value as never));
  }
  return { before, after };
}
