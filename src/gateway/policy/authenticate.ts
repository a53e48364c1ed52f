/**
 * Step 1 — authenticate: establishes who is calling.
 *
 * This node serves its MCP endpoints to one local principal, `anonymous`,
 * with no groups or scopes; credentials (OAuth/OIDC bearer tokens, mTLS client
 * certificates, tenant API keys) replace this step's body, not its place.
 */
import type { Identity } from '../call.js';
import type { PolicyStep } from './policy.js';

const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous', subject: 'anonymous', groups: [], scopes: [] }) as Identity;

export function authenticate(): PolicyStep {
  return {
    name: 'authenticate',
    run(call) {
      call.identity = ANONYMOUS;
    },
  };
}
