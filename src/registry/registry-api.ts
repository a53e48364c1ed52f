/**
 * Export: a {@link ServerRecord} → a `server.json` whose remote is this gateway,
 * and the Registry API v0.1 response shapes (`GET /v0.1/servers`,
 * `…/versions[/{version}|latest]`) with their opaque cursor (PRODUCT.md §3, §7).
 * The import direction lives in `server-json-import.ts`; `server-json.ts` re-exports both.
 *
 * Formats followed: server.json schema 2025-12-11
 * (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json) and the
 * Registry API `ServerList` / `ServerResponse` (modelcontextprotocol/registry docs/reference/api/openapi.yaml).
 */
import semver from 'semver';
import { RegistryError } from './errors.js';
import type { Lifecycle, ServerRecord } from './types.js';

/** The server.json schema the exported documents declare. */
export const SERVER_JSON_SCHEMA_URL = 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';
/** Our key inside server.json `_meta` (reverse-DNS, like the official keys). */
export const LIFECYCLE_META_KEY = 'io.toolmesh/lifecycle';
/** The registry-managed key of an API response's `_meta`. */
export const OFFICIAL_META_KEY = 'io.modelcontextprotocol.registry/official';

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

export interface ListOptions {
  /** Opaque cursor from a previous page's `metadata.nextCursor`. */
  cursor?: string;
  /** Page size, 1–100 (larger values are clamped); default 30. */
  limit?: number;
  /** Include sunset (`deleted`) versions, as the API's `include_deleted`; default false. */
  includeDeleted?: boolean;
}

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
