/**
 * The official MCP Registry formats, both ways (PRODUCT.md §3, §7):
 *  - import: an official `server.json` → the {@link RegistrationInput} an admin submits;
 *  - export: a {@link ServerRecord} → a `server.json` whose remote is this gateway,
 *    and the Registry API v0.1 response shapes (`GET /v0.1/servers`, `…/versions[/{version}|latest]`).
 *
 * Formats followed: server.json schema 2025-12-11
 * (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json) and the
 * Registry API `ServerList` / `ServerResponse` (modelcontextprotocol/registry docs/reference/api/openapi.yaml).
 *
 * Each direction has its own module: import in `server-json-import.ts`, export in
 * `registry-api.ts`. This one re-exports both so callers keep a single path.
 */
// Imported for the {@link}s above only.
import type { RegistrationInput, ServerRecord } from './types.js';

export { registrationsFromServerJson, slugFromName, type ImportOptions } from './server-json-import.js';
export {
  LIFECYCLE_META_KEY,
  OFFICIAL_META_KEY,
  SERVER_JSON_SCHEMA_URL,
  latestVersions,
  registryApiEntry,
  registryApiList,
  registryApiVersion,
  registryApiVersions,
  registryName,
  toServerJson,
  type LifecycleMeta,
  type ListOptions,
  type OfficialStatus,
  type RegistryServerList,
  type RegistryServerResponse,
  type ServerJson,
  type ServerJsonRemote,
} from './registry-api.js';
