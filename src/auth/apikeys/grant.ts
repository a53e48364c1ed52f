/**
 * What an API key may do, and its stored record. Validation happens once, at
 * issue, so the hot path only reads values it can trust.
 */
import { SCOPE_ADMIN } from '../identity.js';
import { ApiKeyError } from './errors.js';
import { TENANT_ID_PATTERN } from './key-format.js';

/** What a key grants: exact-match scopes, groups, and an optional hard expiry (ISO 8601). */
export interface ApiKeyGrant {
  scopes: string[];
  groups?: string[];
  expiresAt?: string;
}

/**
 * A stored API key, as admins see it. It never holds the secret, and the
 * digest the store keeps next to it is never part of this shape.
 */
export interface ApiKeyRecord {
  tenant: string;
  keyId: string;
  scopes: string[];
  groups: string[];
  createdAt: string;
  createdBy: string;
  /** Hard expiry of the grant (carried over by rotation). */
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  /** The key this one replaced. */
  rotatedFrom?: string;
  /** The key that replaced this one. */
  rotatedTo?: string;
  /** End of the overlap after a rotation: this key is refused from then on. */
  notAfter?: string;
}

/** `active`, `rotating` (replaced, still inside its overlap), `revoked`, or `expired` (past `expiresAt` or `notAfter`). */
export type ApiKeyStatus = 'active' | 'rotating' | 'revoked' | 'expired';

/**
 * The status of a record at `now`.
 *
 * @example
 * ```ts
 * import { keyStatus } from './grant.js';
 * keyStatus({ tenant: 'acme', keyId: 'k', scopes: [], groups: [], createdAt: '', createdBy: '', notAfter: '2030-01-01T00:00:00Z' }, new Date('2029-01-01')); // 'rotating'
 * ```
 */
export function keyStatus(record: ApiKeyRecord, now: Date): ApiKeyStatus {
  if (record.revokedAt !== undefined) return 'revoked';
  const end = effectiveEnd(record);
  if (end !== undefined && end <= now.getTime()) return 'expired';
  return record.notAfter !== undefined ? 'rotating' : 'active';
}

/** Milliseconds since the epoch from which the key is refused (expiry or end of overlap), if any. */
export function effectiveEnd(record: ApiKeyRecord): number | undefined {
  const ends = [record.expiresAt, record.notAfter].filter((v): v is string => v !== undefined).map((v) => Date.parse(v));
  return ends.length ? Math.min(...ends) : undefined;
}

const TOKEN_PATTERN = /^[\x21-\x7e]{1,200}$/;
const MAX_ENTRIES = 256;

function stringList(value: unknown, field: string, required: boolean): string[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || value.length > MAX_ENTRIES) {
    throw new ApiKeyError('invalid_input', `${field}: must be an array of at most ${MAX_ENTRIES} strings`, { field });
  }
  for (const item of value) {
    if (typeof item !== 'string' || !TOKEN_PATTERN.test(item)) {
      throw new ApiKeyError('invalid_input', `${field}: each entry must be 1–200 printable ASCII characters without spaces`, { field });
    }
  }
  return [...new Set(value as string[])];
}

export function validateTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || !TENANT_ID_PATTERN.test(tenant)) {
    throw new ApiKeyError('invalid_input', 'tenant: must match [a-z0-9-]{1,63}', { field: 'tenant' });
  }
  return tenant;
}

/**
 * Checks and normalises a grant: scopes required and exact strings, groups
 * deduplicated, `expiresAt` a future instant rewritten as ISO 8601 UTC.
 * `mcp:admin` is refused: a tenant key must never open the admin API.
 */
export function validateGrant(grant: unknown, now: Date): { scopes: string[]; groups: string[]; expiresAt?: string } {
  if (typeof grant !== 'object' || grant === null) throw new ApiKeyError('invalid_input', 'grant: must be an object');
  const g = grant as Record<string, unknown>;
  const scopes = stringList(g.scopes, 'scopes', true);
  if (scopes.length === 0) throw new ApiKeyError('invalid_input', 'scopes: at least one scope is required', { field: 'scopes' });
  if (scopes.includes(SCOPE_ADMIN)) {
    throw new ApiKeyError('invalid_input', `scopes: ${SCOPE_ADMIN} cannot be granted to a tenant API key`, { field: 'scopes' });
  }
  const groups = stringList(g.groups, 'groups', false);
  if (g.expiresAt === undefined || g.expiresAt === null) return { scopes, groups };
  const at = typeof g.expiresAt === 'string' ? Date.parse(g.expiresAt) : NaN;
  if (Number.isNaN(at)) throw new ApiKeyError('invalid_input', 'expiresAt: must be an ISO 8601 date-time', { field: 'expiresAt' });
  if (at <= now.getTime()) throw new ApiKeyError('invalid_input', 'expiresAt: must be in the future', { field: 'expiresAt' });
  return { scopes, groups, expiresAt: new Date(at).toISOString() };
}
