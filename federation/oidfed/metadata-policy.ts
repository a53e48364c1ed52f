/**
 * Metadata policy (OpenID Federation 1.0 §6.1): merging the policies of a
 * trust chain from the anchor down, then applying the result to the leaf's
 * metadata.
 *
 * Merge rules per operator (superior ⊕ subordinate):
 *   value, default   equal values, else a conflict
 *   add, superset_of union
 *   one_of           intersection; empty is a conflict
 *   subset_of        intersection (may be empty: the parameter is then removed)
 *   essential        true if either is true
 * Allowed combinations within one parameter (checked after every merge):
 *   value (non-null) with add ⊆ value, default, one_of ∋ value,
 *   subset_of ⊇ value, superset_of ⊆ value, essential;
 *   value null only with essential ≠ true;
 *   add with default, subset_of ⊇ add, superset_of, essential (not one_of);
 *   one_of with default and essential only;
 *   subset_of with superset_of ⊆ subset_of.
 * Application order: value, add, default, one_of, subset_of, superset_of, essential.
 * Operators other than these are ignored unless a statement lists them in
 * `metadata_policy_crit`, which refuses the chain.
 *
 * Values are compared as JSON (object key order ignored).
 */
import { FederationTrustError } from './errors.js';
import type { EntityMetadata, MetadataPolicy, PolicyOperators } from './types.js';

export const STANDARD_OPERATORS = ['value', 'add', 'default', 'one_of', 'subset_of', 'superset_of', 'essential'] as const;
const STANDARD = new Set<string>(STANDARD_OPERATORS);

function fail(parameter: string, message: string): never {
  throw new FederationTrustError('metadata_policy_error', `${parameter}: ${message}`, { parameter });
}

/** JSON text with object keys sorted: the identity of a value for comparisons. */
function key(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(key).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${key(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

const same = (a: unknown, b: unknown): boolean => key(a) === key(b);
const has = (list: readonly unknown[], v: unknown): boolean => list.some((x) => same(x, v));
const union = (a: readonly unknown[], b: readonly unknown[]): unknown[] => [...a, ...b.filter((x) => !has(a, x))];
const intersect = (a: readonly unknown[], b: readonly unknown[]): unknown[] => a.filter((x) => has(b, x));
const subset = (a: readonly unknown[], b: readonly unknown[]): boolean => a.every((x) => has(b, x));

/** Check operand types; strip unknown operators (refusing critical ones). */
function normalise(ops: PolicyOperators, parameter: string, crit: ReadonlySet<string>): PolicyOperators {
  const out: PolicyOperators = {};
  for (const [op, operand] of Object.entries(ops)) {
    if (!STANDARD.has(op)) {
      if (crit.has(op)) fail(parameter, `critical operator "${op}" is not supported`);
      continue;
    }
    if (op === 'add') {
      out.add = Array.isArray(operand) ? operand : [operand];
    } else if (op === 'one_of' || op === 'subset_of' || op === 'superset_of') {
      if (!Array.isArray(operand)) fail(parameter, `${op} must be an array`);
      if (op === 'one_of' && operand.length === 0) fail(parameter, 'one_of must not be empty');
      out[op] = operand;
    } else if (op === 'essential') {
      if (typeof operand !== 'boolean') fail(parameter, 'essential must be a boolean');
      out.essential = operand;
    } else if (op === 'default') {
      if (operand === null) fail(parameter, 'default must not be null');
      out.default = operand;
    } else {
      out.value = operand;
    }
  }
  checkCombination(out, parameter);
  return out;
}

function checkCombination(ops: PolicyOperators, parameter: string): void {
  const present = (op: string): boolean => op in ops;
  if (present('value')) {
    const v = ops.value;
    if (v === null) {
      if (ops.essential === true) fail(parameter, 'value null cannot be essential');
      for (const op of ['add', 'default', 'one_of', 'subset_of', 'superset_of']) if (present(op)) fail(parameter, `value null cannot be combined with ${op}`);
      return;
    }
    if (ops.add && !(Array.isArray(v) && subset(ops.add, v))) fail(parameter, 'add must be a subset of value');
    if (ops.one_of && !has(ops.one_of, v)) fail(parameter, 'value must be one of one_of');
    if (ops.subset_of && !(Array.isArray(v) && subset(v, ops.subset_of))) fail(parameter, 'value must be a subset of subset_of');
    if (ops.superset_of && !(Array.isArray(v) && subset(ops.superset_of, v))) fail(parameter, 'value must be a superset of superset_of');
  }
  if (ops.add && ops.one_of) fail(parameter, 'add cannot be combined with one_of');
  if (ops.add && ops.subset_of && !subset(ops.add, ops.subset_of)) fail(parameter, 'add must be a subset of subset_of');
  if (ops.one_of && (ops.subset_of || ops.superset_of)) fail(parameter, 'one_of cannot be combined with subset_of or superset_of');
  if (ops.subset_of && ops.superset_of && !subset(ops.superset_of, ops.subset_of)) {
    fail(parameter, 'superset_of must be a subset of subset_of');
  }
}

function mergeOperators(sup: PolicyOperators, sub: PolicyOperators, parameter: string): PolicyOperators {
  const out: PolicyOperators = { ...sup };
  for (const [op, operand] of Object.entries(sub)) {
    if (!(op in sup)) {
      out[op] = operand;
      continue;
    }
    const mine = sup[op];
    switch (op) {
      case 'value':
      case 'default':
        if (!same(mine, operand)) fail(parameter, `conflicting ${op} (${key(mine)} vs ${key(operand)})`);
        break;
      case 'add':
      case 'superset_of':
        out[op] = union(mine as unknown[], operand as unknown[]);
        break;
      case 'one_of': {
        const both = intersect(mine as unknown[], operand as unknown[]);
        if (both.length === 0) fail(parameter, 'one_of operands do not intersect');
        out.one_of = both;
        break;
      }
      case 'subset_of':
        out.subset_of = intersect(mine as unknown[], operand as unknown[]);
        break;
      case 'essential':
        out.essential = mine === true || operand === true;
        break;
    }
  }
  checkCombination(out, parameter);
  return out;
}

/** One statement's contribution: its policy and the operators it marks critical. */
export interface PolicyLayer {
  policy?: MetadataPolicy;
  crit?: readonly string[];
}

/**
 * Merge policies given from the trust anchor's statement down to the leaf's
 * immediate superior's.
 *
 * @example
 * ```ts
 * import { mergePolicies } from './metadata-policy.js';
 * mergePolicies([
 *   { policy: { toolmesh_node: { scopes_supported: { subset_of: ['read', 'write'] } } } },
 *   { policy: { toolmesh_node: { scopes_supported: { subset_of: ['read'] } } } },
 * ]); // { toolmesh_node: { scopes_supported: { subset_of: ['read'] } } }
 * ```
 */
export function mergePolicies(layers: readonly PolicyLayer[]): MetadataPolicy {
  const crit = new Set(layers.flatMap((l) => l.crit ?? []));
  const merged: MetadataPolicy = {};
  for (const layer of layers) {
    for (const [type, params] of Object.entries(layer.policy ?? {})) {
      const target = (merged[type] ??= {});
      for (const [param, ops] of Object.entries(params)) {
        const name = `${type}.${param}`;
        const normal = normalise(ops, name, crit);
        target[param] = target[param] === undefined ? normal : mergeOperators(target[param], normal, name);
      }
    }
  }
  return merged;
}

function applyOperators(params: Record<string, unknown>, param: string, ops: PolicyOperators, name: string): void {
  if ('value' in ops) {
    if (ops.value === null) delete params[param];
    else params[param] = structuredClone(ops.value);
  }
  if (ops.add) {
    const cur = params[param];
    if (cur === undefined) params[param] = [...ops.add];
    else if (!Array.isArray(cur)) fail(name, 'add needs an array parameter');
    else params[param] = union(cur, ops.add);
  }
  if ('default' in ops && params[param] === undefined) params[param] = structuredClone(ops.default);
  const cur = (): unknown => params[param];
  if (ops.one_of && cur() !== undefined) {
    if (Array.isArray(cur()) || !has(ops.one_of, cur())) fail(name, `${key(cur())} is not one of ${key(ops.one_of)}`);
  }
  if (ops.subset_of && cur() !== undefined) {
    if (!Array.isArray(cur())) fail(name, 'subset_of needs an array parameter');
    const kept = intersect(cur() as unknown[], ops.subset_of);
    if (kept.length === 0) delete params[param];
    else params[param] = kept;
  }
  if (ops.superset_of && cur() !== undefined) {
    if (!Array.isArray(cur())) fail(name, 'superset_of needs an array parameter');
    const missing = ops.superset_of.filter((x) => !has(cur() as unknown[], x));
    if (missing.length > 0) fail(name, `missing required values ${key(missing)}`);
  }
  if (ops.essential === true && cur() === undefined) fail(name, 'essential parameter is absent');
}

/**
 * Apply a merged policy to metadata; returns a new object. Policies for
 * entity types the metadata lacks are ignored.
 */
export function applyPolicy(metadata: EntityMetadata, policy: MetadataPolicy): EntityMetadata {
  const out = structuredClone(metadata) as EntityMetadata;
  for (const [type, params] of Object.entries(policy)) {
    const target = out[type];
    if (target === undefined) continue;
    for (const [param, ops] of Object.entries(params)) applyOperators(target, param, ops, `${type}.${param}`);
  }
  return out;
}

/**
 * The leaf's resolved metadata: its own, overridden by the immediate
 * superior's `metadata` claim, then shaped by the merged policies.
 */
export function resolveMetadata(leaf: EntityMetadata, superiorMetadata: EntityMetadata | undefined, layers: readonly PolicyLayer[]): EntityMetadata {
  const base = structuredClone(leaf) as EntityMetadata;
  for (const [type, params] of Object.entries(superiorMetadata ?? {})) {
    base[type] = { ...(base[type] ?? {}), ...structuredClone(params) };
  }
  return applyPolicy(base, mergePolicies(layers));
}
