/**
 * Config changes are admin changes (issue: "every admin change … config"):
 * the config file is edited outside the node, so the node records, at start,
 * that the effective configuration differs from the one it last ran with —
 * its SHA-256 and which top-level sections changed, never the values (they
 * may hold client secrets).
 */
import { createHash, randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditLog } from '../audit/index.js';
import type { NodeConfig } from '../config/config.js';
import type { Store } from '../store/db.js';

interface Recorded {
  sha256: string;
  sections: Record<string, string>;
}

function digest(value: unknown): string {
  return createHash('sha256').update(canonicalize(value) ?? 'null').digest('hex');
}

/** Appends an `admin` entry `config` when the effective config changed since the last start (or on the first). */
export async function recordConfigChange(store: Store, audit: AuditLog, config: NodeConfig, source: string): Promise<void> {
  const { dataDir: _dataDir, ...effective } = config;
  const sections = Object.fromEntries(Object.entries(effective).map(([name, value]) => [name, digest(value)]));
  const current: Recorded = { sha256: digest(effective), sections };
  const meta = store.sublevel('node-meta');
  const previous = (await meta.get('config')) as Recorded | undefined;
  if (previous?.sha256 === current.sha256) return;
  const changed = Object.keys({ ...sections, ...(previous?.sections ?? {}) })
    .filter((name) => sections[name] !== previous?.sections[name])
    .sort();
  await audit.append({
    kind: 'admin',
    correlationId: randomUUID(),
    method: 'config',
    outcome: 'ok',
    detail: { source, sha256: current.sha256, previous: previous?.sha256 ?? null, changed },
  });
  await meta.put('config', current);
}
