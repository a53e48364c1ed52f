/**
 * Who is calling (PRODUCT.md §4): one shape for every credential kind, so
 * authorization, rate limiting and audit never care how a caller proved it.
 */

export type CredentialKind = 'anonymous' | 'oauth' | 'mtls' | 'apikey' | 'peer' | 'admin-token';

/** The rate-limit class of a principal: people, agents (machines), tenants. */
export type PrincipalClass = 'person' | 'agent' | 'tenant';

export interface Identity {
  kind: CredentialKind;
  /** The principal as its credential names it (JWT `sub`, certificate SAN, tenant id…). */
  subject: string;
  tenant?: string;
  groups: string[];
  scopes: string[];
  /** OAuth: the token's issuer; mTLS: the SAN type (`uri`, `dns`). */
  issuer?: string;
  /** OAuth client the token was issued to, where known. */
  clientId?: string;
  /** Seconds since the epoch after which the credential is no longer valid. */
  expiresAt?: number;
  /**
   * The canonical principal: the same principal reached through different
   * credentials or encodings has the same value (rate limits key on it).
   */
  principal: string;
  class: PrincipalClass;
  /** A translated token's actor chain (RFC 8693 `act`), the node that exchanged it first: recorded in the audit log. */
  actors?: { subject: string; node: string }[];
}

export const SCOPE_ADMIN = 'mcp:admin';

export function toolScope(slug: string, access: 'read' | 'write'): string {
  return `mcp:tool:${slug}:${access}`;
}
