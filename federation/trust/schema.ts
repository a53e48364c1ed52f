/**
 * Validation of policy files against trust-config/schema.json (JSON Schema
 * 2020-12, Ajv2020 in strict mode), with the schema's custom formats asserted:
 *
 * - `libp2p-peer-id`: decodes as a peer id of an Ed25519 key;
 * - `multiaddr`: parses as a multiaddr;
 * - `semver-range`: a valid range (node-semver).
 *
 * Compiled once per process; the schema has no remote `$ref`.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import semver from 'semver';
import schema from '../../trust-config/schema.json' with { type: 'json' };

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** The shipped schema, as a JSON value. */
export const TRUST_POLICY_SCHEMA: Readonly<Record<string, unknown>> = schema;

export type PolicyFileKind = 'nodeFile' | 'peerFile';

/** A schema violation: JSON pointer and message (the file is the caller's). */
export interface SchemaViolation {
  pointer: string;
  message: string;
}

/** True when `value` is a base58 peer id of an Ed25519 key. */
export function isEd25519PeerId(value: string): boolean {
  try {
    return peerIdFromString(value).type === 'Ed25519';
  } catch {
    return false;
  }
}

export function isMultiaddr(value: string): boolean {
  try {
    multiaddr(value);
    return true;
  } catch {
    return false;
  }
}

export function isSemverRange(value: string): boolean {
  return semver.validRange(value) !== null;
}

const PRIVATE_JWK_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

let validators: Record<PolicyFileKind, ValidateFunction> | undefined;

function compile(): Record<PolicyFileKind, ValidateFunction> {
  // strictRequired off: the trust anchor's `oneOf` names properties declared beside it, not inside it.
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
  addFormats(ajv);
  ajv.addFormat('libp2p-peer-id', { type: 'string', validate: isEd25519PeerId });
  ajv.addFormat('multiaddr', { type: 'string', validate: isMultiaddr });
  ajv.addFormat('semver-range', { type: 'string', validate: isSemverRange });
  ajv.addSchema(schema);
  const get = (kind: PolicyFileKind): ValidateFunction => {
    const v = ajv.getSchema(`${schema.$id}#/$defs/${kind}`);
    if (!v) throw new Error(`trust-config/schema.json has no $defs/${kind}`);
    return v;
  };
  return { nodeFile: get('nodeFile'), peerFile: get('peerFile') };
}

/** Validates one parsed file; returns its violations (empty when valid). */
export function validatePolicyFile(kind: PolicyFileKind, doc: unknown): SchemaViolation[] {
  validators ??= compile();
  const validate = validators[kind];
  if (validate(doc)) return [];
  return toViolations(validate.errors ?? []);
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Ajv errors → one violation per field. Errors of a failed `anyOf`/`oneOf`
 * alternative are folded into one message at the field, so `tools: 5` reads
 * "must be `*` or a list of tool names", not three lines of alternatives.
 */
function toViolations(errors: ErrorObject[]): SchemaViolation[] {
  const composite = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const out = new Map<string, string>();
  const add = (pointer: string, message: string) => {
    const prev = out.get(pointer);
    if (prev === undefined) out.set(pointer, message);
    else if (!prev.split('; ').includes(message)) out.set(pointer, `${prev}; ${message}`);
  };
  for (const e of errors) {
    // Errors inside a composite's alternatives are replaced by the composite's own description.
    const inAlternative = composite.some((c) => e.schemaPath.startsWith(`${c.schemaPath}/`) && e.instancePath.startsWith(c.instancePath));
    if (inAlternative) continue;
    add(...violation(e));
  }
  return [...out].map(([pointer, message]) => ({ pointer, message }));
}

function violation(e: ErrorObject): [string, string] {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const pointer = `${e.instancePath}/${escapePointer(name)}`;
      if (PRIVATE_JWK_MEMBERS.has(name) && /\/keys\/\d+$/.test(e.instancePath)) return [pointer, 'private key material is not allowed in a trust policy (public JWK members only)'];
      return [pointer, `unknown field "${name}"`];
    }
    case 'required':
      return [`${e.instancePath}/${escapePointer(String(params.missingProperty))}`, 'is required'];
    case 'format':
      return [e.instancePath, formatMessage(String(params.format))];
    case 'pattern':
      return [e.instancePath, `${describe(e)} (pattern ${String(params.pattern)})`];
    case 'anyOf':
    case 'oneOf':
      return [e.instancePath, alternatives(e)];
    default:
      return [e.instancePath, e.message ?? 'is invalid'];
  }
}

/** `is not a node alias: …` from the failed schema's description. */
function describe(e: ErrorObject): string {
  const d = (e.parentSchema as { description?: string } | undefined)?.description;
  return d ? `is not ${d.charAt(0).toLowerCase()}${d.slice(1).replace(/\.$/, '')}` : 'has the wrong form';
}

/** A failed `anyOf`/`oneOf`: "needs exactly one of `jwks`, `pinnedKeys`" or "must be <description>". */
function alternatives(e: ErrorObject): string {
  const parent = e.parentSchema as { description?: string; oneOf?: unknown[]; anyOf?: unknown[] } | undefined;
  const branches = (e.keyword === 'oneOf' ? parent?.oneOf : parent?.anyOf) ?? [];
  const required = branches.map((b) => (b as { required?: string[] }).required);
  if (required.length > 0 && required.every((r) => r?.length === 1)) {
    return `needs ${e.keyword === 'oneOf' ? 'exactly one' : 'one'} of ${required.map((r) => `\`${r![0]}\``).join(', ')}`;
  }
  return parent?.description ? `must be ${parent.description.charAt(0).toLowerCase()}${parent.description.slice(1).replace(/\.$/, '')}` : (e.message ?? 'is invalid');
}

function formatMessage(format: string): string {
  switch (format) {
    case 'libp2p-peer-id':
      return 'is not a libp2p peer id of an Ed25519 key (base58 12D3KooW…)';
    case 'multiaddr':
      return 'is not a valid multiaddr (e.g. /ip4/10.0.0.7/tcp/7400)';
    case 'semver-range':
      return 'is not a valid semver range (e.g. ^2.0.0, >=1.4 <3, *)';
    case 'uri':
      return 'is not an absolute URI';
    default:
      return `must match format "${format}"`;
  }
}
