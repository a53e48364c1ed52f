/**
 * Which server version serves a request.
 *
 * Per-server endpoint `/mcp/v{N}/tools/{slug}/rpc`: the newest version of
 * major N that is not sunset (release versions before pre-releases); if
 * every version of major N is sunset the answer is 410 with the migration
 * URL. The aggregate endpoint exposes each slug's newest non-sunset version
 * (release versions before pre-releases).
 */
import semver from 'semver';
import { GatewayError } from '../errors.js';
import { isSunset } from '../../registry/registry.js';
import type { ServerDirectory } from '../../registry/directory.js';
import type { ServerRecord } from '../../registry/types.js';

/** Parsed once per (immutable) record: version routing runs on every request. */
const parsed = new WeakMap<ServerRecord, { major: number; release: boolean }>();
function versionOf(record: ServerRecord): { major: number; release: boolean } {
  let v = parsed.get(record);
  if (!v) {
    v = { major: semver.major(record.version), release: semver.prerelease(record.version) === null };
    parsed.set(record, v);
  }
  return v;
}

export function resolveMajor(registry: ServerDirectory, slug: string, major: number, now: Date): ServerRecord {
  const ofMajor = registry.versions(slug).filter((r) => versionOf(r).major === major);
  if (ofMajor.length === 0) throw new GatewayError('not_found', `no server ${slug} with major version ${major}`);
  // Release versions before pre-releases, as on the aggregate endpoint: a 1.5.0-beta.1
  // must not silently replace 1.4.0 for every client of /mcp/v1/….
  const live = ofMajor.filter((r) => !isSunset(r, now));
  const chosen = live.find((r) => versionOf(r).release) ?? live[0];
  if (chosen) return chosen;
  throw sunsetError(ofMajor);
}

/** Exactly `slug@version` (a peer's call, checked against that version's export rule): 404 if absent, 410 if sunset. */
export function resolveExact(registry: ServerDirectory, slug: string, version: string, now: Date): ServerRecord {
  const record = registry.versions(slug).find((r) => r.version === version);
  if (!record) throw new GatewayError('not_found', `no server ${slug}@${version}`);
  if (isSunset(record, now)) throw sunsetError([record]);
  return record;
}

/** 410 for a set of sunset versions (newest first): names the newest, with the first migration URL any of them gives. */
export function sunsetError(versions: readonly ServerRecord[]): GatewayError {
  const record = versions[0]!;
  const migrationUrl = versions.find((r) => r.migrationUrl)?.migrationUrl;
  return new GatewayError('sunset', `${record.slug}@${record.version} was sunset${record.sunsetAt ? ` at ${record.sunsetAt}` : ''}`, {
    data: { ...(migrationUrl ? { migrationUrl } : {}), sunsetAt: record.sunsetAt ?? null },
  });
}

/** The version the aggregate endpoint serves for `slug`, if any. */
export function newestServable(registry: ServerDirectory, slug: string, now: Date): ServerRecord | undefined {
  const versions = registry.versions(slug).filter((r) => !isSunset(r, now));
  return versions.find((r) => versionOf(r).release) ?? versions[0];
}

export const AGGREGATE_SEPARATOR = '__';

/** Splits `{slug}__{tool}`; slugs cannot contain `_`, so the first `__` is the split. */
export function parseAggregateName(name: string): { slug: string; tool: string } | undefined {
  const at = name.indexOf(AGGREGATE_SEPARATOR);
  if (at <= 0) return undefined;
  return { slug: name.slice(0, at), tool: name.slice(at + AGGREGATE_SEPARATOR.length) };
}
