/**
 * The policy chain (PRODUCT.md §5), in order. Every MCP request runs it
 * before anything is forwarded; the order here is the order of enforcement.
 *
 *   1. authenticate        who is calling (one credential, never a fallback)
 *   2. rate limit          token bucket per canonical principal
 *      route               which server version / tool (authorization needs it)
 *   3. authorize           scopes, groups, lifecycle, tenant namespace
 *   4. version gate        deprecation headers, 410 after sunset
 *   5. validate arguments  pinned inputSchema, isError result
 *   6. audit intent        durable before forwarding          (slot: not recorded yet)
 *   7. forward             router → backend
 *   8. audit outcome                                           (slot: not recorded yet)
 */
import type { ServerDirectory } from '../../registry/directory.js';
import type { RateLimiter } from '../../auth/rate-limit.js';
import type { LifecyclePolicy } from '../../auth/authorization.js';
import type { CallContext } from '../call.js';
import { authenticate, type AuthenticateDeps } from './authenticate.js';
import { authorize } from './authorize.js';
import type { PolicyStep } from './policy.js';
import { rateLimit } from './rate-limit.js';
import { route } from './route.js';
import { validateArguments } from './validate-arguments.js';
import { versionGate } from './version-gate.js';

export interface PolicyDeps {
  registry: ServerDirectory;
  authentication: AuthenticateDeps;
  limiter: RateLimiter;
  lifecycle: LifecyclePolicy;
}

export function buildPolicyChain(deps: PolicyDeps): readonly PolicyStep[] {
  const metadataUrl = deps.authentication.resourceMetadataUrl;
  return [
    authenticate(deps.authentication),
    rateLimit(deps.limiter),
    route(deps.registry),
    authorize({ lifecycle: deps.lifecycle, resourceMetadataUrl: metadataUrl }),
    versionGate(),
    validateArguments(),
  ];
}

/** Runs the chain; rejects with the first step's GatewayError. */
export async function runPolicyChain(chain: readonly PolicyStep[], call: CallContext): Promise<void> {
  for (const step of chain) {
    const pending = step.run(call);
    if (pending) await pending;
    if (call.answer) return;
  }
}
