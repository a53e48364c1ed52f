/**
 * Import: an official MCP Registry `server.json` → the {@link RegistrationInput}
 * an admin submits (PRODUCT.md §3, §7). The export direction lives in `registry-api.ts`;
 * `server-json.ts` re-exports both.
 *
 * Format followed: server.json schema 2025-12-11
 * (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json).
 */
import semver from 'semver';
import { RegistryError } from './errors.js';
import { SLUG_PATTERN, type BackendSpec, type RegistrationInput } from './types.js';

/** `name` as the official schema constrains it: reverse-DNS namespace, one slash. */
const NAME_PATTERN = /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/;
const NPM_REGISTRY = 'https://registry.npmjs.org';

export interface ImportOptions {
  /** Slug to register under; defaults to the last segment of `name`, normalised. */
  slug?: string;
  /** Receives one line per part of the document that was skipped and why. */
  onNote?: (note: string) => void;
}

/**
 * Maps an official `server.json` to registration input (one entry).
 *
 * Backend choice: a `streamable-http` remote is preferred over packages (the
 * gateway proxies it as is; nothing to run on the node); otherwise the first
 * npm package with stdio transport becomes `npx -y <identifier>@<version> …`.
 * `sse` remotes, other package registries, and inputs that need a value from
 * the user (secrets, unset variables) are skipped and reported via `onNote`:
 * credentials are configured on the backend afterwards, never guessed.
 *
 * @throws RegistryError `invalid_input` naming the offending field.
 *
 * @example
 * ```ts
 * import { registrationsFromServerJson } from './server-json.js';
 * const [input] = registrationsFromServerJson(
 *   { name: 'io.github.acme/weather', version: '1.2.0', description: 'Weather',
 *     remotes: [{ type: 'streamable-http', url: 'https://mcp.acme.dev/mcp' }] },
 *   { onNote: console.warn },
 * );
 * // input.slug === 'weather', input.backend deep-equals { http: 'https://mcp.acme.dev/mcp' }
 * ```
 */
export function registrationsFromServerJson(doc: unknown, opts: ImportOptions = {}): RegistrationInput[] {
  const note = opts.onNote ?? (() => {});
  const d = asObject(doc, '(document)');
  const name = requireString(d, 'name', '');
  if (name.length > 200 || !NAME_PATTERN.test(name)) {
    throw invalid('name', `${JSON.stringify(name)} is not a reverse-DNS server name like io.github.owner/server`);
  }
  const version = requireString(d, 'version', '');
  requireSemver(version, 'version');
  const title = optionalString(d, 'title', '');
  const description = optionalString(d, 'description', '');

  const slug = opts.slug ?? slugFromName(name);
  if (!SLUG_PATTERN.test(slug)) {
    throw invalid(opts.slug !== undefined ? 'slug' : 'name', `slug ${JSON.stringify(slug)} must match ${SLUG_PATTERN}`);
  }

  let backend = backendFromRemotes(d.remotes, note);
  if (backend && d.packages !== undefined) note('packages: ignored; a streamable-http remote is preferred');
  backend ??= backendFromPackages(d.packages, note);
  if (!backend) {
    throw invalid('remotes', 'no importable transport: need a streamable-http remote or an npm package with stdio transport');
  }

  const input: RegistrationInput = { slug, version, backend, source: { registryName: name } };
  if (title !== undefined) input.title = title;
  if (description !== undefined) input.description = description;
  return [input];
}

/** `io.github.acme/Weather_API` → `weather-api`: last segment, lowercased, `[a-z0-9-]`, at most 63. */
export function slugFromName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function backendFromRemotes(remotes: unknown, note: (n: string) => void): BackendSpec | undefined {
  if (remotes === undefined) return undefined;
  let chosen: BackendSpec | undefined;
  asArray(remotes, 'remotes').forEach((raw, i) => {
    const path = `remotes[${i}]`;
    const remote = asObject(raw, path);
    const type = requireString(remote, 'type', path);
    if (chosen) return note(`${path}: ignored; using the first streamable-http remote`);
    if (type === 'sse') return note(`${path}: sse transport skipped; only streamable-http remotes are imported`);
    if (type !== 'streamable-http') return note(`${path}: unknown transport type ${JSON.stringify(type)} skipped`);

    const url = substitute(requireString(remote, 'url', path), remote.variables, `${path}.variables`);
    if (url === undefined) return note(`${path}: url needs values supplied by the user; skipped`);
    if (!isHttpUrl(url)) throw invalid(`${path}.url`, `${JSON.stringify(url)} is not an http(s) URL`);

    const headers: Record<string, string> = {};
    optionalArray(remote, 'headers', path).forEach((h, j) => {
      const hp = `${path}.headers[${j}]`;
      const header = asObject(h, hp);
      const headerName = requireString(header, 'name', hp);
      const value = resolveInput(header, hp);
      if (value === undefined) return note(`${hp} (${headerName}): needs a user-supplied value${secretHint(header)}; configure it on the backend`);
      headers[headerName] = value;
    });
    chosen = Object.keys(headers).length > 0 ? { http: url, headers } : { http: url };
  });
  return chosen;
}

/** npm's package-name grammar (lower case, optional scope, URL-safe, at most 214 characters). */
const NPM_PACKAGE_NAME = /^(?=.{1,214}$)(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

function backendFromPackages(packages: unknown, note: (n: string) => void): BackendSpec | undefined {
  if (packages === undefined) return undefined;
  let chosen: BackendSpec | undefined;
  asArray(packages, 'packages').forEach((raw, i) => {
    const path = `packages[${i}]`;
    const pkg = asObject(raw, path);
    const registryType = requireString(pkg, 'registryType', path);
    const transportType = requireString(asObject(pkg.transport, `${path}.transport`), 'type', `${path}.transport`);
    if (chosen) return note(`${path}: ignored; using the first npm stdio package`);
    if (registryType !== 'npm') return note(`${path}: ${registryType} packages are not imported (npm only)`);
    if (transportType !== 'stdio') return note(`${path}: ${transportType} transport skipped; npm packages are run over stdio`);

    const identifier = requireString(pkg, 'identifier', path);
    // An npm package name and nothing else: npx must never read it as one of its own options or a URL.
    if (!NPM_PACKAGE_NAME.test(identifier)) throw invalid(`${path}.identifier`, `${JSON.stringify(identifier.slice(0, 80))} is not an npm package name`);
    const version = requireString(pkg, 'version', path);
    requireSemver(version, `${path}.version`);
    const base = optionalString(pkg, 'registryBaseUrl', path);
    if (base !== undefined && base.replace(/\/+$/, '') !== NPM_REGISTRY) {
      note(`${path}.registryBaseUrl: ${base} ignored; npx uses the node's configured npm registry`);
    }
    if (optionalArray(pkg, 'runtimeArguments', path).length > 0) note(`${path}.runtimeArguments: ignored`);

    // `--`: what follows is the package and its own arguments, none of them npx's.
    const args = ['-y', '--', `${identifier}@${version}`];
    optionalArray(pkg, 'packageArguments', path).forEach((a, j) => {
      const ap = `${path}.packageArguments[${j}]`;
      const arg = asObject(a, ap);
      const type = requireString(arg, 'type', ap);
      const value = resolveInput(arg, ap);
      if (type === 'named') {
        const flag = requireString(arg, 'name', ap);
        if (value === undefined) return note(`${ap} (${flag}): needs a user-supplied value${secretHint(arg)}; skipped`);
        args.push(flag, value);
      } else if (type === 'positional') {
        if (value === undefined) return note(`${ap}: needs a user-supplied value${secretHint(arg)}; skipped`);
        args.push(value);
      } else {
        throw invalid(`${ap}.type`, `${JSON.stringify(type)} is neither positional nor named`);
      }
    });

    const env: Record<string, string> = {};
    optionalArray(pkg, 'environmentVariables', path).forEach((e, k) => {
      const ep = `${path}.environmentVariables[${k}]`;
      const variable = asObject(e, ep);
      const varName = requireString(variable, 'name', ep);
      const value = resolveInput(variable, ep);
      if (value === undefined) return note(`${ep} (${varName}): needs a user-supplied value${secretHint(variable)}; configure it on the backend`);
      env[varName] = value;
    });
    chosen = Object.keys(env).length > 0 ? { stdio: 'npx', args, env } : { stdio: 'npx', args };
  });
  return chosen;
}

/** An Input's fixed `value`, else its `default`, with `{variables}` filled; undefined if the user must supply something. */
function resolveInput(input: Record<string, unknown>, path: string): string | undefined {
  const raw = optionalString(input, 'value', path) ?? optionalString(input, 'default', path);
  return raw === undefined ? undefined : substitute(raw, input.variables, `${path}.variables`);
}

/**
 * Fills `{name}` from a variables map (each an Input with `value`/`default`).
 * Per the schema, identifiers absent from the map stay as written; a variable
 * present without a value needs user input → undefined.
 */
function substitute(template: string, variables: unknown, path: string): string | undefined {
  if (variables === undefined) return template;
  const vars = asObject(variables, path);
  let unresolved = false;
  const out = template.replace(/\{([^{}]+)\}/g, (whole, id: string) => {
    if (!Object.hasOwn(vars, id)) return whole;
    const v = asObject(vars[id], `${path}.${id}`);
    const value = optionalString(v, 'value', `${path}.${id}`) ?? optionalString(v, 'default', `${path}.${id}`);
    if (value === undefined) unresolved = true;
    return value ?? whole;
  });
  return unresolved ? undefined : out;
}

function secretHint(input: Record<string, unknown>): string {
  return input.isSecret === true ? ' (secret)' : '';
}

// ───────────────────────────── field checks ─────────────────────────────

function invalid(field: string, message: string): RegistryError {
  return new RegistryError('invalid_input', `server.json ${field}: ${message}`, { field });
}

function fieldPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(path, 'must be an object');
  return value as Record<string, unknown>;
}

function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be an array');
  return value;
}

function requireString(obj: Record<string, unknown>, key: string, parent: string): string {
  const value = obj[key];
  if (value === undefined) throw invalid(fieldPath(parent, key), 'is required');
  if (typeof value !== 'string' || value === '') throw invalid(fieldPath(parent, key), 'must be a non-empty string');
  return value;
}

function optionalString(obj: Record<string, unknown>, key: string, parent: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(fieldPath(parent, key), 'must be a string');
  return value;
}

function optionalArray(obj: Record<string, unknown>, key: string, parent: string): unknown[] {
  const value = obj[key];
  return value === undefined ? [] : asArray(value, fieldPath(parent, key));
}

function requireSemver(version: string, field: string): void {
  if (semver.valid(version) !== version) {
    const hint = semver.valid(version) ? ` (write ${semver.valid(version)})` : '';
    throw invalid(field, `${JSON.stringify(version)} is not a semantic version${hint}`);
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
