/**
 * Step 1 — authenticate: establishes who is calling.
 *
 * This node serves its MCP endpoints to one principal, `anonymous`; the
 * `auth.anonymous` setting names the groups and scopes it carries.
 * Credentials (OAuth/OIDC bearer tokens, mTLS client certificates, tenant API
 * keys) replace this step's body, not its place in the chain.
 */
import type { Identity } from '../call.js';
import type { PolicyStep } from './policy.js';

export function authenticate(anonymous: { groups: string[]; scopes: string[] } | undefined): PolicyStep {
  const identity: Identity = Object.freeze({
    kind: 'anonymous',
    subject: 'anonymous',
    groups: [...(anonymous?.groups ?? [])],
    scopes: [...(anonymous?.scopes ?? [])],
  }) as Identity;
  return {
    name: 'authenticate',
    run(call) {
      call.identity = identity;
    },
  };
}
