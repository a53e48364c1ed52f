/**
 * `audit verify`: walks the whole retained chain and the checkpoints, and
 * names the first problem by its sequence number.
 *
 * The walk reads raw stored text (an entry that no longer parses is itself
 * evidence) in key order, which is seq order. At each key it expects the
 * next seq and a `prev` equal to the previous entry's hash:
 * - `missing`: the key skips a seq (an entry was deleted);
 * - `altered`: the entry's content does not match its own hash, or matches
 *   it but contradicts a signed checkpoint, or its successor's `prev` shows
 *   its hash was recomputed after an edit (then the edited entry is named);
 * - `reordered`: a self-consistent entry from a later position sits here
 *   (the first position of a swap or rotation always holds a later entry);
 * - `reinserted`: a self-consistent entry from an earlier position sits here
 *   (a copy of an old entry, over another one or past the end);
 * - `truncated`: the newest checkpoint is beyond the last entry;
 * - `bad_checkpoint`: a checkpoint whose signature or fields do not verify.
 *
 * Where the chain starts: at seq 1 (prev = 64 zeros), or just after the
 * newest retention checkpoint (prev = its signed hash). Entries at or below
 * that checkpoint that a crashed prune left behind are checked backwards from
 * it: the checkpoint commits to their hashes through the chain.
 */
import type { JWK } from 'jose';
import { GENESIS_HASH, entryHash, parseSeqKey } from './chain.js';
import { checkpointVerifier, type Checkpoint } from './checkpoint.js';
import type { AuditStore } from './store.js';

/** What kind of tampering (or damage) was found first. */
export type VerifyProblemKind = 'altered' | 'missing' | 'reordered' | 'reinserted' | 'truncated' | 'bad_checkpoint';

export interface VerifyProblem {
  /** The sequence number (position) of the first bad entry or checkpoint. */
  seq: number;
  kind: VerifyProblemKind;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Entries checked and found sound (the walk stops at the first bad entry). */
  entries: number;
  /** Checkpoints whose signatures were checked. */
  checkpoints: number;
  /** The first and last seq of the sound run walked. */
  firstSeq?: number;
  lastSeq?: number;
  firstProblem?: VerifyProblem;
}

export interface VerifyOptions {
  /** The key checkpoints must verify with (default: the node's own public key). */
  publicJwk?: JWK;
  /**
   * Checkpoints kept elsewhere (`exportCheckpoints()`), checked as well: they
   * catch a rewrite that also replaced or deleted the stored checkpoints.
   */
  checkpoints?: Checkpoint[];
}

interface Walk {
  problem?: VerifyProblem;
  entries: number;
  firstSeq?: number;
  lastSeq?: number;
}

/** Verifies the log in `store` against `publicJwk`. */
export async function verifyStore(store: AuditStore, publicJwk: JWK, external: Checkpoint[] = []): Promise<VerifyReport> {
  const check = await checkpointVerifier(publicJwk);
  const problems: VerifyProblem[] = [];
  const valid = new Map<number, Checkpoint>();
  const badSeqs = new Set<number>();
  let checkpoints = 0;

  const consider = async (cp: unknown, keySeq: number | undefined, origin: string): Promise<void> => {
    checkpoints++;
    const record = cp as Checkpoint;
    const seq = keySeq ?? (typeof record?.seq === 'number' ? record.seq : 0);
    let why = await check(cp);
    if (why === undefined && keySeq !== undefined && record.seq !== keySeq) why = `stored under seq ${keySeq} but signed for seq ${record.seq}`;
    const known = why === undefined ? valid.get(record.seq) : undefined;
    if (why === undefined && known !== undefined && known.hash !== record.hash) why = `${origin} checkpoint contradicts another signed checkpoint at seq ${record.seq}`;
    if (why !== undefined) {
      badSeqs.add(seq);
      problems.push({ seq, kind: 'bad_checkpoint', detail: `${origin} checkpoint at seq ${seq}: ${why}` });
      return;
    }
    if (known === undefined || record.retention === true) valid.set(record.seq, record);
  };
  for await (const [key, value] of store.checkpoints.iterator({ valueEncoding: 'utf8' })) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value as string);
    } catch {
      parsed = undefined;
    }
    await consider(parsed, parseSeqKey(key) ?? 0, 'stored');
  }
  for (const cp of external) await consider(cp, undefined, 'exported');

  let anchor = { seq: 0, hash: GENESIS_HASH };
  let newest = 0;
  for (const cp of valid.values()) {
    newest = Math.max(newest, cp.seq);
    if (cp.retention === true && cp.seq > anchor.seq) anchor = { seq: cp.seq, hash: cp.hash };
  }

  const walk = await walkEntries(store, anchor, valid, badSeqs);
  if (walk.problem !== undefined) problems.push(walk.problem);
  else {
    const last = walk.lastSeq ?? anchor.seq;
    if (newest > last) {
      problems.push({ seq: last + 1, kind: 'truncated', detail: `entries ${last + 1}..${newest} are gone but a signed checkpoint covers seq ${newest}` });
    }
  }

  // The lowest position wins; at the same position an entry problem is named before a checkpoint one.
  problems.sort((a, b) => a.seq - b.seq || Number(a.kind === 'bad_checkpoint') - Number(b.kind === 'bad_checkpoint'));
  const report: VerifyReport = { ok: problems.length === 0, entries: walk.entries, checkpoints };
  if (walk.firstSeq !== undefined) report.firstSeq = walk.firstSeq;
  if (walk.lastSeq !== undefined) report.lastSeq = walk.lastSeq;
  if (problems[0] !== undefined) report.firstProblem = problems[0];
  return report;
}

async function walkEntries(
  store: AuditStore,
  anchor: { seq: number; hash: string },
  checkpoints: Map<number, Checkpoint>,
  badCheckpointSeqs: Set<number>,
): Promise<Walk> {
  const walk: Walk = { entries: 0 };
  let expectedSeq: number | undefined;
  // undefined: a prune left entries behind the anchor; the checkpoint at the anchor checks them backwards.
  let expectedPrev: string | undefined;
  let previousWasEntry = false;
  const fail = (seq: number, kind: VerifyProblemKind, detail: string): Walk => ({ ...walk, problem: { seq, kind, detail } });

  for await (const [key, raw] of store.entries.iterator({ valueEncoding: 'utf8' })) {
    const keySeq = parseSeqKey(key);
    if (expectedSeq === undefined) {
      // The first retained entry.
      if (keySeq !== undefined && keySeq <= anchor.seq) {
        expectedSeq = keySeq;
        expectedPrev = undefined;
      } else {
        expectedSeq = anchor.seq + 1;
        expectedPrev = anchor.hash;
        if (keySeq !== undefined && keySeq > expectedSeq && badCheckpointSeqs.has(keySeq - 1)) {
          return fail(keySeq - 1, 'bad_checkpoint', `the checkpoint the first retained entry (seq ${keySeq}) chains from does not verify`);
        }
      }
    }
    if (keySeq === undefined) return fail(expectedSeq, 'altered', `an entry is stored under a key that is no sequence number (${JSON.stringify(key)})`);
    if (keySeq > expectedSeq) {
      const detail = keySeq - expectedSeq === 1 ? `entry ${expectedSeq} is missing` : `entries ${expectedSeq}..${keySeq - 1} are missing`;
      return fail(expectedSeq, 'missing', detail);
    }

    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(raw as string) as Record<string, unknown>;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new TypeError('not an object');
    } catch {
      return fail(keySeq, 'altered', `entry ${keySeq} is no longer valid JSON`);
    }
    let computed: string;
    try {
      computed = entryHash(entry);
    } catch {
      return fail(keySeq, 'altered', `entry ${keySeq} has no canonical form`);
    }
    if (computed !== entry.hash) return fail(keySeq, 'altered', `entry ${keySeq} does not match its hash`);
    if (entry.seq !== keySeq) {
      if (typeof entry.seq === 'number' && entry.seq > keySeq) {
        return fail(keySeq, 'reordered', `position ${keySeq} holds entry ${entry.seq}, which belongs later`);
      }
      return fail(keySeq, 'reinserted', `position ${keySeq} holds a copy of entry ${String(entry.seq)}`);
    }
    if (expectedPrev !== undefined && entry.prev !== expectedPrev) {
      if (previousWasEntry) {
        return fail(keySeq - 1, 'altered', `entry ${keySeq - 1} was changed and re-hashed: entry ${keySeq} chains to a different hash`);
      }
      return fail(keySeq, 'altered', `entry ${keySeq} does not chain to the signed ${anchor.seq === 0 ? 'genesis' : `retention checkpoint at seq ${anchor.seq}`}`);
    }
    const cp = checkpoints.get(keySeq);
    if (cp !== undefined && cp.hash !== entry.hash) {
      return fail(keySeq, 'altered', `entry ${keySeq} differs from the signed checkpoint at seq ${keySeq}`);
    }

    walk.entries++;
    walk.firstSeq ??= keySeq;
    walk.lastSeq = keySeq;
    expectedSeq = keySeq + 1;
    expectedPrev = entry.hash as string;
    previousWasEntry = true;
  }
  return walk;
}
