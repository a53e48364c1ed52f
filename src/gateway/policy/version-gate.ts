/**
 * Step 4 — version gate.
 *
 * - deprecated: the response carries `Deprecation` (RFC 9745, `@<unix seconds>`),
 *   `Sunset` (RFC 8594, HTTP-date) when a date is set, `X-MCP-Deprecated: true`
 *   and `Link: <migration>; rel="deprecation"` when a migration URL is set;
 * - after its sunset: 410 `sunset` with `data.migrationUrl`.
 */
import { isSunset } from '../../registry/registry.js';
import type { ServerRecord } from '../../registry/types.js';
import { sunsetError } from '../routing/resolve.js';
import type { PolicyStep } from './policy.js';

export function versionGate(): PolicyStep {
  return {
    name: 'version-gate',
    run(call) {
      const record = call.target?.record;
      if (!record) return;
      if (isSunset(record, call.now)) throw sunsetError([record]);
      if (record.lifecycle !== 'deprecated') return;
      for (const [name, value] of Object.entries(deprecationHeaders(record))) call.channel.setHeader(name, value);
    },
  };
}

export function deprecationHeaders(record: ServerRecord): Record<string, string> {
  const headers: Record<string, string> = { 'X-MCP-Deprecated': 'true' };
  const since = record.deprecatedAt ? Date.parse(record.deprecatedAt) : Date.now();
  headers['Deprecation'] = `@${Math.floor(since / 1000)}`;
  if (record.sunsetAt) headers['Sunset'] = new Date(record.sunsetAt).toUTCString();
  if (record.migrationUrl) headers['Link'] = `<${record.migrationUrl}>; rel="deprecation"`;
  return headers;
}
