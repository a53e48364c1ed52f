/**
 * Shape checks of entity statement claims, shared by signing (we never emit a
 * statement we would refuse) and verification. Returns the first problem as
 * text, or undefined. Rules (OpenID Federation 1.0 §3):
 * - iss, sub: entity ids; an entity configuration has iss = sub, a
 *   subordinate statement iss ≠ sub;
 * - iat, exp: integers, exp > iat;
 * - jwks: 1..MAX_KEYS public keys, each with a unique `kid`, none carrying
 *   private or symmetric material;
 * - authority_hints: only in configurations, 1..MAX_AUTHORITY_HINTS entity ids;
 * - metadata_policy, metadata_policy_crit, constraints: only in subordinate statements;
 * - crit: every listed claim must be understood — we understand no extension
 *   claims, so any entry is refused.
 */
import { entityIdProblem } from './entity-id.js';
import type { EntityStatementClaims } from './types.js';

export const MAX_KEYS = 16;
export const MAX_AUTHORITY_HINTS = 16;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];

export type StatementKind = 'configuration' | 'subordinate';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Why `jwks` is not a public key set we accept, or undefined. */
export function jwksProblem(jwks: unknown): string | undefined {
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) return 'jwks must be an object with a keys array';
  if (jwks.keys.length === 0) return 'jwks must hold at least one key';
  if (jwks.keys.length > MAX_KEYS) return `jwks must hold at most ${MAX_KEYS} keys`;
  const kids = new Set<string>();
  for (const [i, key] of jwks.keys.entries()) {
    if (!isObject(key) || typeof key.kty !== 'string') return `jwks.keys[${i}] must be a JWK with kty`;
    if (typeof key.kid !== 'string' || key.kid === '') return `jwks.keys[${i}] must have a kid`;
    if (kids.has(key.kid)) return `jwks.keys[${i}] repeats kid ${key.kid}`;
    kids.add(key.kid);
    if (key.kty === 'oct') return `jwks.keys[${i}] must not be a symmetric key`;
    const leaked = PRIVATE_MEMBERS.find((m) => m in key);
    if (leaked !== undefined) return `jwks.keys[${i}] must not carry private member "${leaked}"`;
  }
  return undefined;
}

function policyProblem(policy: unknown): string | undefined {
  if (!isObject(policy)) return 'metadata_policy must be an object';
  for (const [type, params] of Object.entries(policy)) {
    if (!isObject(params)) return `metadata_policy.${type} must be an object`;
    for (const [param, ops] of Object.entries(params)) {
      if (!isObject(ops)) return `metadata_policy.${type}.${param} must be an object of operators`;
    }
  }
  return undefined;
}

function constraintsProblem(c: unknown): string | undefined {
  if (!isObject(c)) return 'constraints must be an object';
  const max = c.max_path_length;
  if (max !== undefined && !(Number.isSafeInteger(max) && (max as number) >= 0)) {
    return 'constraints.max_path_length must be a non-negative integer';
  }
  const names = c.naming_constraints;
  if (names !== undefined) {
    if (!isObject(names)) return 'constraints.naming_constraints must be an object';
    for (const k of ['permitted', 'excluded'] as const) {
      if (names[k] !== undefined && !isStringArray(names[k])) return `constraints.naming_constraints.${k} must be an array of strings`;
    }
  }
  if (c.allowed_entity_types !== undefined && !isStringArray(c.allowed_entity_types)) {
    return 'constraints.allowed_entity_types must be an array of strings';
  }
  return undefined;
}

/**
 * Why `claims` is not a valid entity statement of `kind`, or undefined.
 *
 * @example
 * ```ts
 * import { claimsProblem } from './statement-claims.js';
 * claimsProblem({ iss: 'https://a.example', sub: 'https://a.example', iat: 1, exp: 2, jwks: { keys: [] } }, 'configuration');
 * // 'jwks must hold at least one key'
 * ```
 */
export function claimsProblem(claims: unknown, kind: StatementKind, allowInsecure = false): string | undefined {
  if (!isObject(claims)) return 'claims must be an object';
  const c = claims as Partial<EntityStatementClaims>;
  for (const k of ['iss', 'sub'] as const) {
    const p = entityIdProblem(c[k], allowInsecure);
    if (p !== undefined) return `${k} ${p}`;
  }
  if (!Number.isSafeInteger(c.iat) || !Number.isSafeInteger(c.exp)) return 'iat and exp must be integers';
  if ((c.exp as number) <= (c.iat as number)) return 'exp must be after iat';
  if (kind === 'configuration' && c.iss !== c.sub) return 'an entity configuration must have iss equal to sub';
  if (kind === 'subordinate' && c.iss === c.sub) return 'a subordinate statement must have iss different from sub';
  const jp = jwksProblem(c.jwks);
  if (jp !== undefined) return jp;
  if (c.metadata !== undefined) {
    if (!isObject(c.metadata)) return 'metadata must be an object';
    for (const [type, params] of Object.entries(c.metadata)) {
      if (!isObject(params)) return `metadata.${type} must be an object`;
    }
  }
  if (kind === 'subordinate') {
    if (c.authority_hints !== undefined) return 'authority_hints must not appear in a subordinate statement';
    if (c.metadata_policy !== undefined) {
      const pp = policyProblem(c.metadata_policy);
      if (pp !== undefined) return pp;
    }
    if (c.metadata_policy_crit !== undefined && !isStringArray(c.metadata_policy_crit)) {
      return 'metadata_policy_crit must be an array of strings';
    }
    if (c.constraints !== undefined) {
      const cp = constraintsProblem(c.constraints);
      if (cp !== undefined) return cp;
    }
  } else {
    for (const k of ['metadata_policy', 'metadata_policy_crit', 'constraints'] as const) {
      if (c[k] !== undefined) return `${k} must not appear in an entity configuration`;
    }
    if (c.authority_hints !== undefined) {
      const hints = c.authority_hints;
      if (!Array.isArray(hints) || hints.length === 0 || hints.length > MAX_AUTHORITY_HINTS) {
        return `authority_hints must be an array of 1..${MAX_AUTHORITY_HINTS} entity ids`;
      }
      for (const h of hints) {
        const p = entityIdProblem(h, allowInsecure);
        if (p !== undefined) return `authority_hints entry ${p}`;
      }
      if (hints.includes(c.iss as string)) return 'authority_hints must not name the entity itself';
    }
  }
  if (c.crit !== undefined) {
    if (!isStringArray(c.crit) || c.crit.length === 0) return 'crit must be a non-empty array of strings';
    return `crit lists claims this node does not understand: ${c.crit.join(', ')}`;
  }
  return undefined;
}
