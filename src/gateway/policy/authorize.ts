/**
 * Step 3 — authorize (rules in auth/authorization.ts).
 *
 * - tools/call: the tool, by scope, groups and lifecycle;
 * - methods that read data through a server (resources, prompts, completion):
 *   the server, and a scope of that server when the credential carries scopes;
 * - everything else on a per-server endpoint (initialize, discover, lists): the
 *   server must be visible to the caller; lists are then filtered per tool.
 * 403 `insufficient_scope` names the needed scope in `WWW-Authenticate`
 * (`error="insufficient_scope", scope="…"`) so a client can step up.
 */
import { GatewayError } from '../errors.js';
import { decideServer, decideTool, type Decision, type LifecyclePolicy } from '../../auth/authorization.js';
import { toolScope } from '../../auth/identity.js';
import type { Endpoint } from '../call.js';
import type { PolicyStep } from './policy.js';
import { unknownTool } from './route.js';

const DATA_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe', 'prompts/get', 'completion/complete']);

export interface AuthorizeDeps {
  lifecycle: LifecyclePolicy;
  resourceMetadataUrl: (endpoint: Endpoint) => string;
}

export function authorize(deps: AuthorizeDeps): PolicyStep {
  return {
    name: 'authorize',
    run(call) {
      const target = call.target;
      if (!target) return; // aggregate lists and handshakes: filtered per tool later
      const identity = call.identity!;
      let decision: Decision;
      if (target.tool) decision = decideTool(identity, target.record, target.tool, deps.lifecycle);
      else {
        decision = decideServer(identity, target.record, deps.lifecycle);
        if (decision.allowed && DATA_METHODS.has(call.method) && identity.scopes.length > 0) {
          const { slug } = target.record;
          const ok = identity.scopes.includes(toolScope(slug, 'read')) || identity.scopes.includes(toolScope(slug, 'write'));
          if (!ok) decision = { allowed: false, reason: 'insufficient_scope', scopes: [toolScope(slug, 'read')], message: `${call.method} on ${slug} needs ${toolScope(slug, 'read')}` };
        }
      }
      if (decision.allowed) return;
      if (decision.reason === 'forbidden' && decision.hidden) {
        // Another namespace's server does not exist for this caller: same answers as for a missing one.
        if (call.endpoint.kind === 'server') throw new GatewayError('not_found', `no server ${target.record.slug} with major version ${call.endpoint.major}`);
        call.answer = unknownTool(String(call.params.name));
        return;
      }
      if (decision.reason === 'insufficient_scope') {
        const scope = decision.scopes.join(' ');
        throw new GatewayError('insufficient_scope', decision.message, {
          data: { scope: decision.scopes },
          headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${deps.resourceMetadataUrl(call.endpoint)}"` },
        });
      }
      // A peer's tool refused by group is our import policy speaking: a trust decision.
      if ('remote' in target.record.backend) throw new GatewayError('trust_denied', decision.message, { data: { peer: target.record.backend.remote.peer } });
      throw new GatewayError('forbidden', decision.message);
    },
  };
}
