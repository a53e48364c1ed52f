/**
 * Step 5 — schema validation of `tools/call` arguments against the pinned
 * `inputSchema`, compiled once per pinned schema.
 *
 * A violation is not a protocol error: the caller gets a tool result with
 * `isError: true` listing every violation, so a model can correct itself, and
 * the backend never sees the call.
 */
import { GatewayError } from '../errors.js';
import { isObject } from '../../mcp/jsonrpc.js';
import type { PinnedTool } from '../../registry/types.js';
import { compileArgumentSchema, type ArgumentValidator, type Violation } from './schema-compiler.js';
import type { PolicyStep } from './policy.js';

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
      let validate = validators.get(tool);
      if (!validate) {
        validate = compileArgumentSchema(tool.inputSchema);
        validators.set(tool, validate);
      }
      const violations = validate(args);
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
