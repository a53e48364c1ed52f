/**
 * The policy chain (PRODUCT.md §5), in order. Every MCP request runs it
 * before anything is forwarded; the order here is the order of enforcement.
 *
 *   1. authenticate        who is calling
 *   2. rate limit          token bucket per identity          (slot: not enforced yet)
 *      route               which server version / tool        (authz needs it)
 *   3. authorize           scopes, groups, lifecycle          (slot: not enforced yet)
 *   4. version gate        deprecation headers, 410 after sunset
 *   5. validate arguments  pinned inputSchema, isError result
 *   6. audit intent        durable before forwarding          (slot: not recorded yet)
 *   7. forward             router → backend
 *   8. audit outcome                                           (slot: not recorded yet)
 */
import type { Registry } from '../../registry/registry.js';
import type { CallContext } from '../call.js';
import { authenticate } from './authenticate.js';
import type { PolicyStep } from './policy.js';
import { route } from './route.js';
import { validateArguments } from './validate-arguments.js';
import { versionGate } from './version-gate.js';

export interface PolicyDeps {
  registry: Registry;
  anonymous: { groups: string[]; scopes: string[] } | undefined;
}

export function buildPolicyChain(deps: PolicyDeps): readonly PolicyStep[] {
  return [authenticate(deps.anonymous), route(deps.registry), versionGate(), validateArguments()];
}

/** Runs the chain; rejects with the first step's GatewayError. */
export async function runPolicyChain(chain: readonly PolicyStep[], call: CallContext): Promise<void> {
  for (const step of chain) {
    const pending = step.run(call);
    if (pending) await pending;
    if (call.answer) return;
  }
}
