/**
 * The gateway's authenticator for tokens this node issued to peers' callers
 * (RFC 8693 exchange at our token endpoint): recognised by their issuer (our
 * entity id), verified against our own key, cached until they expire so a
 * cached translated token costs one map lookup per call.
 *
 * Such a token is accepted only on a request our own remote-call handler
 * made (it carries the per-process dispatch secret): a translated token
 * that leaked cannot be used from outside the federation link, where the
 * export policy is checked.
 */
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Authenticator, PresentedCredential } from '../../src/auth/authenticator.js';
import type { Identity } from '../../src/auth/identity.js';
import type { NodeIdentity } from '../../src/node/identity.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { verifyTranslatedToken } from '../token-exchange/index.js';

/** A translated token we issued, verified: the caller (with its actor chain) and what the export policy needs. */
export interface VerifiedPeerToken {
  identity: Identity;
  /** The peer it was issued to. */
  peer: string;
  /** The caller's groups as that peer asserted them. */
  peerGroups: string[];
}

export interface PeerTokenAuthenticator extends Authenticator {
  accepts(bearer: string): boolean;
  /** Verifies (cached until expiry) a token we issued; throws `GatewayError('invalid_token')`. */
  verify(token: string): Promise<VerifiedPeerToken>;
}

const MAX_CACHED = 10_000;

/** The header our remote-call handler sets on its loopback dispatch. */
export const DISPATCH_HEADER = 'x-toolmesh-peer-dispatch';

export function peerTokenAuthenticator(options: { identity: NodeIdentity; entityId: string; resource: string; dispatchSecret: string }): PeerTokenAuthenticator {
  const expected = Buffer.from(options.dispatchSecret);
  const fromLink = (req: IncomingMessage): boolean => {
    const presented = req.headers[DISPATCH_HEADER];
    return typeof presented === 'string' && presented.length === expected.length && timingSafeEqual(Buffer.from(presented), expected);
  };
  const cache = new Map<string, { verified: VerifiedPeerToken; exp: number }>();
  const verify = async (token: string): Promise<VerifiedPeerToken> => {
    const now = Math.floor(Date.now() / 1000);
    const hit = cache.get(token);
    if (hit && hit.exp > now) return hit.verified;
    try {
      const { identity, actors, peer, peerGroups } = await verifyTranslatedToken(token, { issuerKey: options.identity.publicJwk, issuer: options.entityId, audience: options.resource });
      const verified: VerifiedPeerToken = { identity: { ...identity, actors: actors.map((a) => ({ subject: a.subject, node: a.node })) }, peer, peerGroups };
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(token, { verified, exp: identity.expiresAt ?? now + 60 });
      return verified;
    } catch (err) {
      throw new GatewayError('invalid_token', `peer token refused: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    accepts(bearer) {
      if (cache.has(bearer)) return true;
      try {
        return decodeJwt(bearer).iss === options.entityId;
      } catch {
        return false;
      }
    },
    verify,
    async authenticate(req: IncomingMessage, credential: PresentedCredential) {
      const token = credential.bearer;
      if (token === undefined) return undefined;
      if (!fromLink(req)) throw new GatewayError('invalid_token', 'a token issued to a peer is accepted only over the federation link');
      return (await verify(token)).identity;
    },
  };
}
