/**
 * Step 3 — authorize (rules in auth/authorization.ts).
 *
 * - tools/call: the tool, by scope, groups and lifecycle;
 * - every other method that reaches the server (resources, prompts, completion,
 *   their lists, logging…): the server, and for a scoped credential a scope of
 *   that server (`decideServerData`, as the aggregate lists decide);
 * - what the gateway answers itself (initialize, discover, ping, tools/list):
 *   the server must be visible to the caller; tools/list is filtered per tool.
 * 403 `insufficient_scope` names the needed scope in `WWW-Authenticate`
 * (`error="insufficient_scope", scope="…"`) so a client can step up.
 */
import { GatewayError } from '../errors.js';
import { decideServer, decideServerData, decideTool, type Decision, type LifecyclePolicy } from '../../auth/authorization.js';
import type { Endpoint } from '../call.js';
import type { PolicyStep } from './policy.js';
import { unknownTool } from './route.js';

/** Answered by the gateway itself, never forwarded to the server. */
const ANSWERED_HERE = new Set(['initialize', 'server/discover', 'ping', 'tools/list']);

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
      else if (ANSWERED_HERE.has(call.method)) decision = decideServer(identity, target.record, deps.lifecycle);
      else decision = decideServerData(identity, target.record, deps.lifecycle);
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
