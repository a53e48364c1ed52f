/**
 * Parsing of a token-exchange request (RFC 8693 §2.1) from a koa context:
 * a bounded `application/x-www-form-urlencoded` body, each parameter at most
 * once (RFC 6749 §3.2) except `audience` and `resource`, which may repeat.
 *
 * Rules:
 * - `grant_type` must be the token-exchange grant (`unsupported_grant_type`);
 * - `subject_token` + `subject_token_type` = jwt, required;
 * - `actor_token` + `actor_token_type` = jwt, required: the actor token is the
 *   calling node's client authentication;
 * - `requested_token_type`, if present, must be access_token;
 * - `scope` must parse (RFC 6749 §3.3); absent = the scopes the assertion carries.
 */
import type { Context } from 'koa';
import { GRANT_TYPE_TOKEN_EXCHANGE, LIMITS, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from './constants.js';
import { TokenExchangeError } from './errors.js';
import { parseScope } from './scopes.js';

export interface ExchangeRequest {
  subjectToken: string;
  actorToken: string;
  /** Every `audience` and `resource` value, in order. */
  targets: string[];
  /** Requested scopes; undefined when `scope` was absent. */
  scopes: string[] | undefined;
  /** `client_id`, when the client sent one (it must then name the actor). */
  clientId: string | undefined;
}

const REPEATABLE = new Set(['audience', 'resource']);

export async function readExchangeRequest(ctx: Context): Promise<ExchangeRequest> {
  const params = await readForm(ctx);
  const one = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new TokenExchangeError('bad_request', `parameter ${name} is repeated`);
    return values[0] === '' ? undefined : values[0];
  };
  const required = (name: string): string => {
    const value = one(name);
    if (value === undefined) throw new TokenExchangeError('bad_request', `parameter ${name} is missing`);
    return value;
  };
  for (const name of new Set(params.keys())) if (!REPEATABLE.has(name)) one(name);

  const grantType = required('grant_type');
  if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) throw new TokenExchangeError('unsupported_grant_type', 'only the token-exchange grant is supported');
  const subjectToken = required('subject_token');
  if (required('subject_token_type') !== TOKEN_TYPE_JWT) throw new TokenExchangeError('unsupported_token_type', `subject_token_type must be ${TOKEN_TYPE_JWT}`);
  const actorToken = one('actor_token');
  const actorType = one('actor_token_type');
  if (actorToken === undefined) throw new TokenExchangeError('bad_request', 'parameter actor_token is missing (it authenticates the calling node)');
  if (actorType !== TOKEN_TYPE_JWT) throw new TokenExchangeError('unsupported_token_type', `actor_token_type must be ${TOKEN_TYPE_JWT}`);
  const requestedType = one('requested_token_type');
  if (requestedType !== undefined && requestedType !== TOKEN_TYPE_ACCESS_TOKEN) {
    throw new TokenExchangeError('unsupported_token_type', `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}`);
  }
  const scope = one('scope');
  const scopes = scope === undefined ? undefined : parseScope(scope);
  if (scope !== undefined && scopes === undefined) throw new TokenExchangeError('bad_request', 'scope is malformed');
  const targets = [...params.getAll('audience'), ...params.getAll('resource')];
  if (targets.length > 8) throw new TokenExchangeError('bad_request', 'too many audience/resource values');
  return { subjectToken, actorToken, targets, scopes, clientId: one('client_id') };
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(ctx.get('content-type'))) {
    throw new TokenExchangeError('bad_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  const limit = LIMITS.maxBodyBytes;
  if (Number(ctx.get('content-length') || 0) > limit) throw new TokenExchangeError('bad_request', `body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new TokenExchangeError('bad_request', `body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
