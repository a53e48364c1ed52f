/**
 * A verified access token's claims → Identity (PRODUCT.md §4).
 *
 * - subject = `sub`, issuer = `iss`, clientId = `client_id` (RFC 9068) or `azp`.
 * - scopes from the issuer's `scopeClaim`, else `scope` (space-separated,
 *   RFC 8693/9068), else `scp` (array, or space-separated string as some IdPs emit).
 * - groups from the issuer's `groupsClaim` (default `groups`): an array of strings.
 * - A client-credentials token (no end user: `sub === client_id`) is an agent,
 *   keyed by its client; anything else is a person, keyed by issuer and subject.
 * A claim of the wrong type refuses the token rather than being ignored.
 */
import type { JWTPayload } from 'jose';
import type { Identity } from '../identity.js';
import type { IssuerConfig } from './issuers.js';
import { tokenRejected } from './token-errors.js';

/** The Identity a verified token stands for; frozen (it is shared through the cache). */
export function identityFromClaims(claims: JWTPayload, config: IssuerConfig): Identity {
  const iss = claims.iss as string;
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') throw tokenRejected('claims_invalid', '"sub" must be a non-empty string');
  const clientId = optionalString(claims, 'client_id') ?? optionalString(claims, 'azp');
  const exp = claims.exp as number;
  const agent = clientId !== undefined && sub === clientId;
  const identity: Identity = {
    kind: 'oauth',
    subject: sub,
    groups: Object.freeze(groupsOf(claims, config.groupsClaim ?? 'groups')) as string[],
    scopes: Object.freeze(scopesOf(claims, config.scopeClaim)) as string[],
    issuer: iss,
    ...(clientId !== undefined ? { clientId } : {}),
    expiresAt: exp,
    principal: agent ? `agent:oauth:${iss}#${clientId}` : `oauth:${iss}#${sub}`,
    class: agent ? 'agent' : 'person',
  };
  return Object.freeze(identity);
}

function optionalString(claims: JWTPayload, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw tokenRejected('claims_invalid', `"${name}" must be a non-empty string`);
  return value;
}

function scopesOf(claims: JWTPayload, scopeClaim: string | undefined): string[] {
  const names = scopeClaim ? [scopeClaim] : ['scope', 'scp'];
  for (const name of names) {
    const value = claims[name];
    if (value === undefined) continue;
    if (typeof value === 'string') return unique(value.split(' ').filter((s) => s !== ''));
    if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return unique(value as string[]);
    throw tokenRejected('claims_invalid', `"${name}" must be a space-separated string or an array of strings`);
  }
  return [];
}

function groupsOf(claims: JWTPayload, name: string): string[] {
  const value = claims[name];
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((g) => typeof g === 'string' && g !== '')) return unique(value as string[]);
  throw tokenRejected('claims_invalid', `"${name}" must be an array of strings`);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
