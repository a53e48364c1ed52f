import type { CallContext } from '../call.js';

/**
 * One step of the policy chain. A step reads the call, may extend it
 * (identity, target, response headers, an answer of its own) and throws a
 * `GatewayError` to reject. Synchronous steps return nothing, so the chain
 * awaits only the steps that really are asynchronous.
 */
export interface PolicyStep {
  readonly name: string;
  run(call: CallContext): void | Promise<void>;
}
