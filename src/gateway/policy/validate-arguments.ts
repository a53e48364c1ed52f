/**
 * Step 5 — schema validation of `tools/call` arguments against the pinned
 * `inputSchema`, compiled once per pinned schema.
 *
 * A violation is not a protocol error: the caller gets a tool result with
 * `isError: true` listing every violation, so a model can correct itself, and
 * the backend never sees the call. Arguments no schema could sensibly describe —
 * nested deeper than {@link MAX_ARGUMENT_DEPTH}, or a number JSON cannot carry
 * (`1e400` parses to Infinity) — are `invalid_params` before any validator runs.
 */
import { GatewayError } from '../errors.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { PinnedTool } from '../../registry/types.js';
import { compileArgumentSchema, type ArgumentValidator, type Violation } from './schema-compiler.js';
import type { PolicyStep } from './policy.js';

/** Deeper than any tool's arguments need; the validator and the audit hash recurse over them. */
export const MAX_ARGUMENT_DEPTH = 64;

/** Why `args` cannot be validated or hashed, or undefined. Iterative: hostile depth must not overflow the check itself. */
function shapeProblem(args: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[args, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'number' && !Number.isFinite(value)) return 'arguments hold a number JSON cannot carry';
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_ARGUMENT_DEPTH) return `arguments are nested deeper than ${MAX_ARGUMENT_DEPTH} levels`;
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
  return undefined;
}

export function validateArguments(): PolicyStep {
  // Pinned tools are immutable objects: the object itself keys its validator.
  const validators = new WeakMap<PinnedTool, ArgumentValidator>();
  return {
    name: 'validate-arguments',
    run(call) {
      const tool = call.target?.tool;
      if (!tool) return;
      const args = call.params.arguments === undefined ? {} : call.params.arguments;
      if (!isObject(args)) throw new GatewayError('invalid_params', 'tools/call arguments must be an object');
      const problem = shapeProblem(args);
      if (problem !== undefined) throw new GatewayError('invalid_params', problem);
      let validate = validators.get(tool);
      if (!validate) {
        validate = compileArgumentSchema(tool.inputSchema);
        validators.set(tool, validate);
      }
      let violations: Violation[] | undefined;
      try {
        violations = validate(args);
      } catch {
        // A recursive schema walking hostile data can exhaust the stack: the arguments are refused, not the node.
        throw new GatewayError('invalid_params', 'arguments could not be validated against the tool schema');
      }
      if (violations) call.answer = schemaRejection(tool.name, violations);
    },
  };
}

function schemaRejection(tool: string, violations: Violation[]): Record<string, unknown> {
  const lines = violations.map((v) => `- ${v.path}: ${v.message}`);
  return {
    content: [{ type: 'text', text: `Invalid arguments for tool ${tool}:\n${lines.join('\n')}` }],
    isError: true,
    _meta: { 'io.toolmesh/violations': violations, 'io.toolmesh/reason': 'schema_reject' },
  };
}
