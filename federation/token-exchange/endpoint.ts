/**
 * Our RFC 8693 token endpoint for peer nodes (PRODUCT.md §9): a koa Router
 * the node mounts (default path `/federation/token`). One exchange, in order:
 *
 * | step                | module               | refusal (OAuth error)                         |
 * |---------------------|----------------------|-----------------------------------------------|
 * | parse the request   | request.ts           | invalid_request, unsupported_grant_type       |
 * | verify both tokens  | verify-presented.ts  | invalid_client (unknown peer), invalid_request |
 * | use each jti once   | verify-presented.ts  | invalid_request, temporarily_unavailable      |
 * | peer trusted?       | inboundPolicy()      | unauthorized_client                           |
 * | apply the policy    | grant.ts             | invalid_target, invalid_scope, invalid_request |
 * | record the decision | onDecision()         | temporarily_unavailable (fail closed)         |
 * | issue our token     | issue.ts             | —                                             |
 *
 * Responses follow RFC 8693 §2.2 / RFC 6749 §5.1–5.2 (`Cache-Control:
 * no-store`); error descriptions never contain a token. Every decision goes
 * to `onDecision` with the request's `X-Correlation-Id` (echoed back), so
 * both nodes audit the call under one id.
 */
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { NodeIdentity } from '../../src/node/identity.js';
import { LIMITS, TOKEN_TYPE_ACCESS_TOKEN } from './constants.js';
import { TokenExchangeError } from './errors.js';
import { decideGrant } from './grant.js';
import { issueAccessToken } from './issue.js';
import { MemoryReplayCache, type ReplayCache } from './replay-cache.js';
import { readExchangeRequest } from './request.js';
import type { DecisionSink, ExchangeDecision, InboundPolicyLookup, PeerKeys } from './types.js';
import { consumeOnce, verifyPresented } from './verify-presented.js';

export interface TokenEndpointInit {
  /** Our node key: signs issued tokens. */
  node: NodeIdentity;
  /** Our entity id: the `aud` of presented tokens, the `iss` of issued ones. */
  entityId: string;
  /** The `aud` of issued tokens; default `${entityId}/mcp`. */
  resource?: string;
  /** Default `/federation/token`. */
  path?: string;
  peerKeys: PeerKeys;
  inboundPolicy: InboundPolicyLookup;
  onDecision: DecisionSink;
  /** Default: in memory, {@link LIMITS.replayCacheEntries} entries. */
  replayCache?: ReplayCache;
  /** Default {@link LIMITS.clockToleranceSeconds}. */
  clockToleranceSeconds?: number;
  /** Milliseconds since the epoch (tests freeze it). */
  now?: () => number;
  /** Unexpected errors (answered as `server_error`). */
  onInternalError?: (err: unknown) => void;
}

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { tokenExchangeRouter } from './endpoint.js';
 * import type { NodeIdentity } from '../../src/node/identity.js';
 * declare const node: NodeIdentity;
 * const app = new Koa();
 * const router = tokenExchangeRouter({
 *   node, entityId: 'https://b.test',
 *   peerKeys: () => undefined, inboundPolicy: () => undefined, onDecision: () => {},
 * });
 * app.use(router.routes()).use(router.allowedMethods());
 * ```
 */
export function tokenExchangeRouter(init: TokenEndpointInit): Router {
  const resource = init.resource ?? `${init.entityId}/mcp`;
  const acceptedTargets = [init.entityId, resource];
  const replay = init.replayCache ?? new MemoryReplayCache(LIMITS.replayCacheEntries);
  const tolerance = init.clockToleranceSeconds ?? LIMITS.clockToleranceSeconds;
  const clock = init.now ?? Date.now;
  const router = new Router();

  router.post(init.path ?? '/federation/token', async (ctx: Context) => {
    const header = ctx.get('x-correlation-id');
    const correlationId = CORRELATION_ID.test(header) ? header : randomUUID();
    ctx.set('X-Correlation-Id', correlationId);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    const now = Math.floor(clock() / 1000);
    let event: ExchangeDecision = { kind: 'token_exchange', outcome: 'refused', correlationId, at: now };
    try {
      const req = await readExchangeRequest(ctx);
      const verifyContext = { entityId: init.entityId, peerKeys: init.peerKeys, replay, now, clockToleranceSeconds: tolerance };
      const assertion = await verifyPresented(req, verifyContext);
      event = {
        ...event,
        peer: assertion.peer.alias,
        peerEntityId: assertion.peer.entityId,
        subject: assertion.subject,
        credential: assertion.credential,
        ...(assertion.tenant !== undefined ? { peerTenant: assertion.tenant } : {}),
        assertionJti: assertion.jti,
        requestedScopes: req.scopes ?? assertion.scopes,
      };
      await consumeOnce(assertion, verifyContext);
      const policy = await init.inboundPolicy(assertion.peer.alias);
      if (!policy) throw new TokenExchangeError('peer_not_trusted', 'this node does not translate tokens for the peer');
      const grant = decideGrant({ assertion, requestedScopes: req.scopes, targets: req.targets, acceptedTargets, policy, now });
      const issued = await issueAccessToken(assertion, grant, { node: init.node, entityId: init.entityId, resource, now });
      const granted: ExchangeDecision = {
        ...event,
        outcome: 'granted',
        grantedScopes: grant.scopes,
        groups: grant.groups,
        expiresIn: grant.expiresIn,
        tokenJti: issued.jti,
        issuedSubject: issued.sub,
        actors: issued.actors,
      };
      try {
        await init.onDecision(granted);
      } catch (err) {
        throw new TokenExchangeError('audit_unavailable', 'the exchange could not be recorded', { cause: err });
      }
      ctx.status = 200;
      ctx.body = {
        access_token: issued.token,
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        token_type: 'Bearer',
        expires_in: grant.expiresIn,
        scope: grant.scopes.join(' '),
      };
    } catch (err) {
      const refusal = err instanceof TokenExchangeError ? err : new TokenExchangeError('internal', 'internal error', { cause: err });
      if (refusal.reason === 'internal') init.onInternalError?.(err);
      if (refusal.reason !== 'audit_unavailable') {
        try {
          await init.onDecision({ ...event, outcome: 'refused', error: refusal.error, reason: refusal.reason, message: refusal.message });
        } catch {
          // The refusal stands whether or not it could be recorded.
        }
      }
      ctx.status = refusal.status;
      ctx.body = { error: refusal.error, error_description: refusal.message };
    }
  });
  return router;
}
