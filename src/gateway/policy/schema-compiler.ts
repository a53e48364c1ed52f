/**
 * Compiles tool `inputSchema`s into validators, once per pinned schema.
 *
 * - Dialect: `$schema` draft-07 (or draft-06/04 URIs) → Ajv draft-07; anything
 *   else, including no `$schema`, → JSON Schema 2020-12 (the MCP default).
 * - No remote `$ref`: nothing is ever fetched; an unresolvable `$ref` makes the
 *   schema invalid at registration instead of at call time.
 * - Bounded regex cost: `pattern`/`patternProperties` run on RE2 semantics
 *   (re2js, linear time), so `^(a|a)*$` cannot stall the gateway. Patterns
 *   RE2 cannot express (look-around, back-references) are refused.
 */
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;

export class SchemaCompileError extends Error {
  readonly code = 'invalid_schema';
  constructor(message: string) {
    super(message);
    this.name = 'SchemaCompileError';
  }
}

/** A JSON Schema violation in the shape returned to callers. */
export interface Violation {
  path: string;
  message: string;
  keyword: string;
}

export type ArgumentValidator = (args: unknown) => Violation[] | undefined;

const boundedRegExp = Object.assign(
  (pattern: string, flags = '') => {
    const re = RE2JS.compile(pattern);
    // Ajv caches compiled patterns per instance by `toString()`: it must name the
    // pattern, or every schema would share the first pattern ever compiled.
    return { test: (input: string) => re.test(input), toString: () => `/${pattern}/${flags}` };
  },
  { code: 'boundedRegExp' },
);

function makeAjv<T extends Ajv | Ajv2020>(Ctor: new (opts: object) => T): T {
  const ajv = new Ctor({
    allErrors: true,
    // Tool schemas come from third parties: unknown keywords (x-…, examples) are tolerated, never executed.
    strict: false,
    validateFormats: true,
    allowUnionTypes: true,
    code: { regExp: boundedRegExp },
    // Schemas are compiled per pinned tool; keep Ajv from retaining them by $id across servers.
    addUsedSchema: false,
  });
  addFormats(ajv);
  return ajv;
}

let draft07: Ajv | undefined;
let draft2020: Ajv2020 | undefined;

function isDraft07(schema: Record<string, unknown>): boolean {
  const s = schema.$schema;
  return typeof s === 'string' && /json-schema\.org\/draft-0[467]\/schema/.test(s);
}

/**
 * Compiles `schema`; throws SchemaCompileError with a readable reason when the
 * schema is invalid, refers to something remote, or uses unbounded regex features.
 */
export function compileArgumentSchema(schema: Record<string, unknown>): ArgumentValidator {
  const ajv = isDraft07(schema) ? (draft07 ??= makeAjv(Ajv)) : (draft2020 ??= makeAjv(Ajv2020));
  let validate: ValidateFunction;
  try {
    // Ajv keys its cache by schema identity; strip $id so two servers' schemas never share one.
    const { $id: _id, ...local } = schema;
    validate = ajv.compile(local);
  } catch (err) {
    throw new SchemaCompileError((err as Error).message);
  }
  return (args) => (validate(args) ? undefined : toViolations(validate.errors ?? []));
}

function toViolations(errors: ErrorObject[]): Violation[] {
  return errors.map((e) => {
    let path = e.instancePath || '/';
    if (e.keyword === 'required') path = `${e.instancePath}/${String((e.params as { missingProperty?: string }).missingProperty)}`;
    if (e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties') {
      const params = e.params as { additionalProperty?: string; unevaluatedProperty?: string };
      path = `${e.instancePath}/${String(params.additionalProperty ?? params.unevaluatedProperty)}`;
    }
    return { path, message: e.message ?? 'is invalid', keyword: e.keyword };
  });
}
