/**
 * The access token we issue to a peer's caller (RFC 9068 `at+jwt`, signed by
 * our node key): `iss` us, `aud` our MCP resource, `sub` the caller in the
 * peer's namespace (`{ns}:{subject}`), `client_id` the peer node, `scope`
 * granted, `groups` mapped, `act` the peer node with the assertion's prior
 * actors nested (RFC 8693 §4.1), `peer` our alias of the peer, `cls` the
 * caller's class. Nothing of the caller's original credential is in it.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { NodeIdentity } from '../../src/node/identity.js';
import { actClaim } from './act.js';
import { ALG, TYP_ACCESS_TOKEN } from './constants.js';
import type { Grant } from './grant.js';
import type { ActorLink } from './types.js';
import type { VerifiedAssertion } from './verify-presented.js';

export interface IssuedToken {
  token: string;
  jti: string;
  sub: string;
  /** The full chain the token's `act` encodes (most recent first). */
  actors: ActorLink[];
}

export interface IssueContext {
  node: NodeIdentity;
  entityId: string;
  resource: string;
  /** Seconds since the epoch. */
  now: number;
}

/** `{namespace}:{subject}`: the caller's name here, unique across peers' namespaces. */
export function translatedSubject(namespace: string, subject: string): string {
  return `${namespace}:${subject}`;
}

/** People stay people; machines and tenants of the peer are agents here. */
export function translatedClass(assertion: Pick<VerifiedAssertion, 'principalClass' | 'credential'>): 'person' | 'agent' {
  if (assertion.principalClass !== undefined) return assertion.principalClass === 'person' ? 'person' : 'agent';
  return assertion.credential === 'oauth' ? 'person' : 'agent';
}

export async function issueAccessToken(assertion: VerifiedAssertion, grant: Grant, ctx: IssueContext): Promise<IssuedToken> {
  const jti = randomUUID();
  const sub = translatedSubject(assertion.peer.namespace, assertion.subject);
  const actors: ActorLink[] = [{ subject: assertion.peer.entityId, node: assertion.peer.namespace }, ...assertion.actors];
  const token = await new SignJWT({
    client_id: assertion.peer.entityId,
    scope: grant.scopes.join(' '),
    groups: grant.groups,
    act: actClaim(actors),
    peer: assertion.peer.alias,
    // The caller's groups as the peer named them: our export rules say which of them may call what.
    peer_groups: assertion.groups,
    cls: translatedClass(assertion),
  })
    .setProtectedHeader({ alg: ALG, typ: TYP_ACCESS_TOKEN, kid: ctx.node.kid })
    .setIssuer(ctx.entityId)
    .setSubject(sub)
    .setAudience(ctx.resource)
    .setIssuedAt(ctx.now)
    .setExpirationTime(ctx.now + grant.expiresIn)
    .setJti(jti)
    .sign(ctx.node.privateKey);
  return { token, jti, sub, actors };
}
