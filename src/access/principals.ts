/**
 * Every caller this node can name (PRODUCT.md §4), as the `Identity` its
 * credential would authenticate as, so compliance reports can put each one to
 * the real authorization decision instead of re-stating the rules:
 *
 * - the `anonymous` grant (`auth.anonymous`), when configured;
 * - people (`auth.authorizationServer.users`) and agent clients (`…clients`) of
 *   the embedded authorization server, when it runs — with the most their
 *   tokens may carry (a token holds requested ∩ supported ∩ configured scopes);
 * - mTLS agents mapped by SAN (usable only when the mTLS listener is configured);
 * - tenant API keys, one principal per key (revoked and expired keys are listed
 *   as unusable: they authenticate as nobody).
 *
 * People behind external issuers cannot be enumerated: reports state the rule
 * a token from such an issuer must meet instead (see requirement.ts).
 */
import type { Identity } from '../auth/identity.js';
import type { AgentEntry } from '../auth/mtls/agents.js';
import type { ApiKeyRecord, ApiKeyStatus } from '../auth/apikeys/api-keys.js';
import type { NodeConfig } from '../config/config.js';

/** Where a principal comes from. */
export type PrincipalSource = 'anonymous' | 'authorization-server:user' | 'authorization-server:client' | 'mtls-agent' | 'api-key';

/** A caller as reports show it: who, never secrets. */
export interface PrincipalRef {
  source: PrincipalSource;
  kind: Identity['kind'];
  subject: string;
  tenant?: string;
  issuer?: string;
  /** The API key's id, for `api-key` principals. */
  keyId?: string;
  groups: string[];
  scopes: string[];
}

/** A principal with the identity it authenticates as, or why it cannot authenticate today. */
export interface KnownPrincipal {
  ref: PrincipalRef;
  identity: Identity;
  /** Set when the credential cannot be used at all right now (revoked key, no mTLS listener…). */
  unusable?: string;
}

/** What the enumeration reads: the node's auth config and its credential stores. */
export interface PrincipalSources {
  auth: Pick<NodeConfig['auth'], 'anonymous' | 'authorizationServer' | 'mtls'>;
  agents: { list(): AgentEntry[] };
  apiKeys: { list(): ApiKeyRecord[]; status(record: ApiKeyRecord): ApiKeyStatus };
  /** Issuer URL of the embedded authorization server, when it runs. */
  embeddedIssuer: string | undefined;
}

function principal(ref: PrincipalRef, identity: Identity, unusable?: string): KnownPrincipal {
  return unusable === undefined ? { ref, identity } : { ref, identity, unusable };
}

/**
 * @example
 * ```ts
 * import { knownPrincipals } from './principals.js';
 * const all = knownPrincipals({
 *   auth: { anonymous: { groups: ['dev'], scopes: [] }, authorizationServer: { enabled: false, accessTokenTtlSeconds: 600, users: [], clients: [] }, mtls: undefined },
 *   agents: { list: () => [] },
 *   apiKeys: { list: () => [], status: () => 'active' },
 *   embeddedIssuer: undefined,
 * });
 * all[0]?.identity.kind; // 'anonymous'
 * ```
 */
export function knownPrincipals(sources: PrincipalSources): KnownPrincipal[] {
  const out: KnownPrincipal[] = [];
  const anonymous = sources.auth.anonymous;
  if (anonymous) {
    // Exactly the identity callerIdentifier grants a caller without credentials.
    const identity: Identity = { kind: 'anonymous', subject: 'anonymous', groups: [...anonymous.groups], scopes: [...anonymous.scopes], principal: 'anonymous', class: 'person' };
    out.push(principal({ source: 'anonymous', kind: 'anonymous', subject: 'anonymous', groups: identity.groups, scopes: identity.scopes }, identity));
  }

  const issuer = sources.embeddedIssuer;
  if (issuer !== undefined) {
    for (const u of sources.auth.authorizationServer.users) {
      const identity: Identity = { kind: 'oauth', subject: u.username, issuer, groups: [...u.groups], scopes: [...u.scopes], principal: `oauth:${issuer}#${u.username}`, class: 'person' };
      out.push(principal({ source: 'authorization-server:user', kind: 'oauth', subject: u.username, issuer, groups: identity.groups, scopes: identity.scopes }, identity));
    }
    for (const c of sources.auth.authorizationServer.clients) {
      const identity: Identity = {
        kind: 'oauth',
        subject: c.clientId,
        issuer,
        clientId: c.clientId,
        groups: [...c.groups],
        scopes: [...c.scopes],
        principal: `agent:oauth:${issuer}#${c.clientId}`,
        class: 'agent',
      };
      out.push(principal({ source: 'authorization-server:client', kind: 'oauth', subject: c.clientId, issuer, groups: identity.groups, scopes: identity.scopes }, identity));
    }
  }

  const noListener = sources.auth.mtls ? undefined : 'the node has no mTLS listener (auth.mtls): agent certificates are not accepted';
  for (const a of sources.agents.list()) {
    const identity: Identity = { kind: 'mtls', subject: a.san, groups: [...a.groups], scopes: [...a.scopes], principal: `agent:${a.canonical}`, class: 'agent' };
    out.push(principal({ source: 'mtls-agent', kind: 'mtls', subject: a.san, groups: identity.groups, scopes: identity.scopes }, identity, noListener));
  }

  for (const k of sources.apiKeys.list()) {
    const status = sources.apiKeys.status(k);
    const identity: Identity = {
      kind: 'apikey',
      subject: k.tenant,
      tenant: k.tenant,
      groups: [...k.groups],
      scopes: [...k.scopes],
      clientId: k.keyId,
      principal: `tenant:${k.tenant}`,
      class: 'tenant',
    };
    const unusable = status === 'revoked' || status === 'expired' ? `the key is ${status}` : undefined;
    out.push(
      principal({ source: 'api-key', kind: 'apikey', subject: k.tenant, tenant: k.tenant, keyId: k.keyId, groups: identity.groups, scopes: identity.scopes }, identity, unusable),
    );
  }
  return out;
}
