/**
 * The trust policy's history in the node's LevelDB: every applied version
 * (sequence, content hash, files, changes, the policy itself), so a restart
 * continues the sequence and diffs against what last ran. `beforeAppend`
 * runs first (the audit entry): if it fails, the version does not apply.
 */
import type { JsonSublevel } from '../../src/store/db.js';
import type { TrustHistorySink, TrustPolicyVersion } from '../trust/index.js';

const key = (seq: number): string => String(seq).padStart(12, '0');

export function levelTrustHistory(sublevel: JsonSublevel, beforeAppend: (version: TrustPolicyVersion) => Promise<void>): TrustHistorySink {
  return {
    async latest() {
      const rows = await sublevel.iterator({ reverse: true, limit: 1 }).all();
      return rows[0]?.[1] as TrustPolicyVersion | undefined;
    },
    async append(version) {
      await beforeAppend(version);
      await sublevel.put(key(version.seq), version);
    },
  };
}
