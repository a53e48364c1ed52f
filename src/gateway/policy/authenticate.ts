/**
 * Step 1 — authenticate: establishes who is calling, from exactly one credential.
 *
 * - `Authorization: Bearer tm_…` is a tenant API key, a token this node issued
 *   to a peer's caller (federation) a peer identity, any other bearer token an
 *   OAuth access token (JWT); a request on the mTLS listener with a verified
 *   client certificate is an agent; nothing at all is `anonymous` when
 *   `auth.anonymous` grants it, else 401 `missing_credentials`.
 * - A credential that is present but bad is 401 `invalid_token`: the step never
 *   falls back to a weaker credential.
 * - Tokens in the query string are refused (RFC 6750 §2.3 leaks them to logs).
 * - Every 401 carries `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728)
 *   so MCP clients can discover the authorization server.
 */
import { GatewayError, isGatewayError } from '../errors.js';
import type { Authenticator, PresentedCredential } from '../../auth/authenticator.js';
import { API_KEY_PREFIX } from '../../auth/authenticator.js';
import type { Identity } from '../../auth/identity.js';
import type { Endpoint } from '../call.js';
import type { PolicyStep } from './policy.js';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface AuthenticateDeps {
  jwt?: Authenticator;
  apiKeys?: Authenticator;
  agents?: Authenticator;
  /** Tokens this node issued to a peer's callers (federation token exchange), told apart from other JWTs by `accepts`. */
  peerTokens?: Authenticator & { accepts(bearer: string): boolean };
  anonymous?: { groups: string[]; scopes: string[] } | undefined;
  /** The RFC 9728 metadata URL for the endpoint a request arrived at. */
  resourceMetadataUrl: (endpoint: Endpoint) => string;
}

const QUERY_TOKEN = /[?&](access_token|token|api_key|apikey)=/i;

/**
 * Resolves the caller of a request, or throws the 401 `GatewayError` (with its
 * `WWW-Authenticate` challenge). Needs only headers and the socket, so the
 * gateway runs it before reading a body: an unauthenticated caller gets 401
 * and nothing else.
 */
export function callerIdentifier(deps: AuthenticateDeps): (req: IncomingMessage, endpoint: Endpoint) => Promise<Identity> {
  const anonymous: Identity | undefined = deps.anonymous
    ? Object.freeze({
        kind: 'anonymous',
        subject: 'anonymous',
        groups: [...deps.anonymous.groups],
        scopes: [...deps.anonymous.scopes],
        principal: 'anonymous',
        class: 'person',
      } as Identity)
    : undefined;

  const challenge = (endpoint: Endpoint, error?: GatewayError): Record<string, string> => {
    const parts = [`resource_metadata="${deps.resourceMetadataUrl(endpoint)}"`];
    if (error?.reason === 'invalid_token') parts.push('error="invalid_token"', `error_description="${error.message.replace(/["\\]/g, '')}"`);
    return { 'WWW-Authenticate': `Bearer ${parts.join(', ')}` };
  };

  const resolve = (req: IncomingMessage, credential: PresentedCredential) => {
    if (credential.bearer !== undefined) {
      const bearer = credential.bearer;
      const authenticator = bearer.startsWith(API_KEY_PREFIX) ? deps.apiKeys : deps.peerTokens?.accepts(bearer) ? deps.peerTokens : deps.jwt;
      if (!authenticator) throw new GatewayError('invalid_token', 'this node does not accept this kind of token');
      return authenticator.authenticate(req, credential);
    }
    // Agents answer undefined without a client certificate and throw invalid_token for one TLS did not verify.
    if (deps.agents) return deps.agents.authenticate(req, credential);
    return undefined;
  };

  return async (req, endpoint) => {
    try {
      const identity = (await resolve(req, presentedCredential(req))) ?? anonymous;
      if (!identity) throw new GatewayError('missing_credentials', 'authentication required');
      return identity;
    } catch (err) {
      if (isGatewayError(err) && (err.reason === 'invalid_token' || err.reason === 'missing_credentials')) {
        throw new GatewayError(err.reason, err.message, { data: err.data ?? {}, headers: { ...err.headers, ...challenge(endpoint, err) } });
      }
      throw err;
    }
  };
}

/** The chain's first step. The gateway has usually identified the caller already (before the body); then this is a no-op. */
export function authenticate(deps: AuthenticateDeps): PolicyStep {
  const identify = callerIdentifier(deps);
  return {
    name: 'authenticate',
    async run(call) {
      if (!call.identity) call.identity = await identify(call.req, call.endpoint);
    },
  };
}

/** The one credential a request presents; malformed or duplicated ones are refused. */
export function presentedCredential(req: IncomingMessage): PresentedCredential {
  if (req.url !== undefined && QUERY_TOKEN.test(req.url)) {
    throw new GatewayError('invalid_token', 'tokens in the query string are refused; send Authorization: Bearer');
  }
  const header = req.headers.authorization;
  const socket = req.socket as TLSSocket;
  const tlsPeer = socket.encrypted === true && socket.authorized === true;
  if (header === undefined) return { tlsPeer };
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!m) throw new GatewayError('invalid_token', 'Authorization must be a single Bearer token');
  return { bearer: m[1]!, tlsPeer };
}
