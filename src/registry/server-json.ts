/**
 * The official MCP Registry formats, both ways (PRODUCT.md §3, §7):
 *  - import: an official `server.json` → the {@link RegistrationInput} an admin submits;
 *  - export: a {@link ServerRecord} → a `server.json` whose remote is this gateway,
 *    and the Registry API v0.1 response shapes (`GET /v0.1/servers`, `…/versions[/{version}|latest]`).
 *
 * Formats followed: server.json schema 2025-12-11
 * (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json) and the
 * Registry API `ServerList` / `ServerResponse` (modelcontextprotocol/registry docs/reference/api/openapi.yaml).
 */
import semver from 'semver';
import { RegistryError } from './errors.js';
import { SLUG_PATTERN, type BackendSpec, type Lifecycle, type RegistrationInput, type ServerRecord } from './types.js';

/** The server.json schema the exported documents declare. */
export const SERVER_JSON_SCHEMA_URL = 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';
/** Our key inside server.json `_meta` (reverse-DNS, like the official keys). */
export const LIFECYCLE_META_KEY = 'io.toolmesh/lifecycle';
/** The registry-managed key of an API response's `_meta`. */
export const OFFICIAL_META_KEY = 'io.modelcontextprotocol.registry/official';

/** `name` as the official schema constrains it: reverse-DNS namespace, one slash. */
const NAME_PATTERN = /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/;
const NPM_REGISTRY = 'https://registry.npmjs.org';
const DEFAULT_PAGE = 30;
const MAX_PAGE = 100;

export interface ServerJsonRemote {
  type: 'streamable-http';
  url: string;
}

/** The subset of server.json this gateway publishes. */
export interface ServerJson {
  $schema: string;
  name: string;
  description: string;
  title?: string;
  version: string;
  remotes: ServerJsonRemote[];
  _meta: { [LIFECYCLE_META_KEY]: LifecycleMeta };
}

/** Governance data for clients that understand Toolmesh; other clients ignore it. */
export interface LifecycleMeta {
  lifecycle: Lifecycle;
  deprecatedAt?: string;
  sunsetAt?: string;
  migrationUrl?: string;
  owner?: string;
  approvedBy: string;
  approvedAt: string;
  slug: string;
  tools: { name: string; access: 'read' | 'write' }[];
}

export type OfficialStatus = 'active' | 'deprecated' | 'deleted';

/** Registry API v0.1 `ServerResponse`. */
export interface RegistryServerResponse {
  server: ServerJson;
  _meta: {
    [OFFICIAL_META_KEY]: {
      status: OfficialStatus;
      statusMessage?: string;
      statusChangedAt?: string;
      publishedAt: string;
      updatedAt: string;
      isLatest: boolean;
    };
  };
}

/** Registry API v0.1 `ServerList`. */
export interface RegistryServerList {
  servers: RegistryServerResponse[];
  metadata: { nextCursor?: string; count: number };
}

export interface ImportOptions {
  /** Slug to register under; defaults to the last segment of `name`, normalised. */
  slug?: string;
  /** Receives one line per part of the document that was skipped and why. */
  onNote?: (note: string) => void;
}

export interface ListOptions {
  /** Opaque cursor from a previous page's `metadata.nextCursor`. */
  cursor?: string;
  /** Page size, 1–100 (larger values are clamped); default 30. */
  limit?: number;
  /** Include sunset (`deleted`) versions, as the API's `include_deleted`; default false. */
  includeDeleted?: boolean;
}

// ───────────────────────────── import ─────────────────────────────

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
    const version = requireString(pkg, 'version', path);
    requireSemver(version, `${path}.version`);
    const base = optionalString(pkg, 'registryBaseUrl', path);
    if (base !== undefined && base.replace(/\/+$/, '') !== NPM_REGISTRY) {
      note(`${path}.registryBaseUrl: ${base} ignored; npx uses the node's configured npm registry`);
    }
    if (optionalArray(pkg, 'runtimeArguments', path).length > 0) note(`${path}.runtimeArguments: ignored`);

    const args = ['-y', `${identifier}@${version}`];
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

// ───────────────────────────── export ─────────────────────────────

/** The server.json `name` a record is published under. */
export function registryName(record: ServerRecord): string {
  return record.source?.registryName ?? `io.toolmesh/${record.slug}`;
}

/**
 * A record as a catalog entry in server.json shape, its one remote being this
 * gateway's per-tool endpoint at the version's API major.
 *
 * Placement of the lifecycle: server.json `_meta` (schema 2025-12-11) declares
 * only `io.modelcontextprotocol.registry/publisher-provided` and leaves other
 * reverse-DNS keys open (no `additionalProperties: false`); the API spec's own
 * publish example carries a `com.example` key beside it. So governance data
 * goes under our own key `io.toolmesh/lifecycle` (PRODUCT.md §3), not under
 * publisher-provided, which is the upstream publisher's data and not ours.
 * The response-level `io.modelcontextprotocol.registry/official` object is
 * closed (`additionalProperties: false`), so only the coarse status goes there.
 * Caveat: the official registry keeps only publisher-provided on publish, so
 * this key survives in our catalog and in sub-registries, not upstream.
 *
 * @example
 * ```ts
 * import { toServerJson } from './server-json.js';
 * declare const record: import('./types.js').ServerRecord;
 * const doc = toServerJson(record, 'https://mesh.example.com');
 * console.log(doc.remotes[0]?.url); // https://mesh.example.com/mcp/v1/tools/weather/rpc
 * ```
 */
export function toServerJson(record: ServerRecord, gatewayBaseUrl: string): ServerJson {
  const name = registryName(record);
  const base = gatewayBaseUrl.replace(/\/+$/, '');
  const doc: ServerJson = {
    $schema: SERVER_JSON_SCHEMA_URL,
    name,
    // Required by the schema, 1–100 characters.
    description: clip(record.description || record.title || name, 100),
    version: record.version,
    remotes: [{ type: 'streamable-http', url: `${base}/mcp/v${semver.major(record.version)}/tools/${record.slug}/rpc` }],
    _meta: { [LIFECYCLE_META_KEY]: lifecycleMeta(record) },
  };
  if (record.title) doc.title = clip(record.title, 100);
  return doc;
}

/**
 * One version as a Registry API v0.1 `ServerResponse`
 * (`GET /v0.1/servers/{serverName}/versions/{version}`).
 * Lifecycle → official status: sunset → `deleted`, deprecated → `deprecated`, else `active`.
 */
export function registryApiEntry(record: ServerRecord, gatewayBaseUrl: string, isLatest: boolean): RegistryServerResponse {
  const status = officialStatus(record.lifecycle);
  const official: RegistryServerResponse['_meta'][typeof OFFICIAL_META_KEY] = {
    status,
    publishedAt: record.createdAt,
    updatedAt: updatedAt(record),
    isLatest,
  };
  if (status !== 'active') {
    const changedAt = status === 'deleted' ? (record.sunsetAt ?? record.deprecatedAt) : record.deprecatedAt;
    if (changedAt) official.statusChangedAt = changedAt;
    official.statusMessage = statusMessage(record);
  }
  return { server: toServerJson(record, gatewayBaseUrl), _meta: { [OFFICIAL_META_KEY]: official } };
}

/**
 * The catalog as a Registry API v0.1 `ServerList` (`GET /v0.1/servers`), sorted
 * by name then version (semver), with an opaque cursor to the next page.
 *
 * @throws RegistryError `invalid_input` for a malformed cursor or limit.
 */
export function registryApiList(records: ServerRecord[], gatewayBaseUrl: string, opts: ListOptions = {}): RegistryServerList {
  const limit = pageLimit(opts.limit);
  const latest = latestVersions(records);
  let rows = visible(records, opts).sort(byNameThenVersion);
  if (opts.cursor !== undefined) {
    const after = decodeCursor(opts.cursor);
    rows = rows.filter((r) => compareKeys([registryName(r), r.version], after) > 0);
  }
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const metadata: RegistryServerList['metadata'] = { count: page.length };
  if (rows.length > limit && last) metadata.nextCursor = encodeCursor([registryName(last), last.version]);
  return {
    servers: page.map((r) => registryApiEntry(r, gatewayBaseUrl, latest.get(registryName(r)) === r.version)),
    metadata,
  };
}

/**
 * All versions of one server (`GET /v0.1/servers/{serverName}/versions`),
 * newest publication first, as the API orders them.
 *
 * @throws RegistryError `not_found` when no (visible) version has that name.
 */
export function registryApiVersions(
  records: ServerRecord[],
  name: string,
  gatewayBaseUrl: string,
  opts: Pick<ListOptions, 'includeDeleted'> = {},
): RegistryServerList {
  const latest = latestVersions(records).get(name);
  const rows = visible(records, opts)
    .filter((r) => registryName(r) === name)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || compareVersions(b.version, a.version));
  if (rows.length === 0) throw new RegistryError('not_found', `no server named ${name}`, { name });
  return { servers: rows.map((r) => registryApiEntry(r, gatewayBaseUrl, r.version === latest)), metadata: { count: rows.length } };
}

/**
 * One version, or `latest` (`GET /v0.1/servers/{serverName}/versions/{version}`).
 *
 * @throws RegistryError `not_found`.
 */
export function registryApiVersion(
  records: ServerRecord[],
  name: string,
  version: string,
  gatewayBaseUrl: string,
  opts: Pick<ListOptions, 'includeDeleted'> = {},
): RegistryServerResponse {
  const latest = latestVersions(records).get(name);
  const wanted = version === 'latest' ? latest : version;
  const record = visible(records, opts).find((r) => registryName(r) === name && r.version === wanted);
  if (!record) throw new RegistryError('not_found', `no server ${name} at version ${version}`, { name, version });
  return registryApiEntry(record, gatewayBaseUrl, record.version === latest);
}

/**
 * The latest version per server name: the highest semver that is not sunset
 * (a `deleted` version is never offered as latest), or the highest overall
 * when every version is sunset.
 */
export function latestVersions(records: ServerRecord[]): Map<string, string> {
  const rank = (x: ServerRecord) => (x.lifecycle === 'sunset' ? 0 : 1);
  const best = new Map<string, ServerRecord>();
  for (const r of records) {
    const name = registryName(r);
    const cur = best.get(name);
    if (!cur || rank(r) > rank(cur) || (rank(r) === rank(cur) && compareVersions(r.version, cur.version) > 0)) {
      best.set(name, r);
    }
  }
  return new Map([...best].map(([name, r]) => [name, r.version]));
}

function officialStatus(lifecycle: Lifecycle): OfficialStatus {
  return lifecycle === 'sunset' ? 'deleted' : lifecycle === 'deprecated' ? 'deprecated' : 'active';
}

function lifecycleMeta(record: ServerRecord): LifecycleMeta {
  const meta: LifecycleMeta = {
    lifecycle: record.lifecycle,
    approvedBy: record.approvedBy,
    approvedAt: record.approvedAt,
    slug: record.slug,
    tools: record.tools.map((t) => ({ name: t.name, access: t.access })),
  };
  if (record.deprecatedAt) meta.deprecatedAt = record.deprecatedAt;
  if (record.sunsetAt) meta.sunsetAt = record.sunsetAt;
  if (record.migrationUrl) meta.migrationUrl = record.migrationUrl;
  if (record.owner) meta.owner = record.owner;
  return meta;
}

/** Latest of the timestamps that have happened to the record (a scheduled sunset has not). */
function updatedAt(record: ServerRecord): string {
  const stamps = [record.createdAt, record.approvedAt];
  if ((record.lifecycle === 'deprecated' || record.lifecycle === 'sunset') && record.deprecatedAt) stamps.push(record.deprecatedAt);
  if (record.lifecycle === 'sunset' && record.sunsetAt) stamps.push(record.sunsetAt);
  return stamps.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
}

function statusMessage(record: ServerRecord): string {
  const parts = [record.lifecycle === 'sunset' ? 'Sunset' : 'Deprecated'];
  if (record.lifecycle === 'deprecated' && record.sunsetAt) parts.push(`sunset scheduled for ${record.sunsetAt}`);
  if (record.migrationUrl) parts.push(`migrate: ${record.migrationUrl}`);
  return clip(parts.join('; '), 500);
}

function visible(records: ServerRecord[], opts: Pick<ListOptions, 'includeDeleted'>): ServerRecord[] {
  return opts.includeDeleted ? [...records] : records.filter((r) => r.lifecycle !== 'sunset');
}

type Key = [name: string, version: string];

function byNameThenVersion(a: ServerRecord, b: ServerRecord): number {
  return compareKeys([registryName(a), a.version], [registryName(b), b.version]);
}

function compareKeys(a: Key, b: Key): number {
  // Code-unit order, not localeCompare: cursors must not depend on the node's locale.
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return compareVersions(a[1], b[1]);
}

function compareVersions(a: string, b: string): number {
  if (semver.valid(a) && semver.valid(b)) return semver.compare(a, b);
  return a === b ? 0 : a < b ? -1 : 1;
}

function encodeCursor(key: Key): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): Key {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && typeof key[1] === 'string') {
      return [key[0], key[1]];
    }
  } catch {
    // fall through to the typed error
  }
  throw new RegistryError('invalid_input', 'cursor: not a cursor returned by this API', { field: 'cursor' });
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RegistryError('invalid_input', `limit: must be a positive integer, got ${String(limit)}`, { field: 'limit' });
  }
  return Math.min(limit, MAX_PAGE);
}

function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
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
