/**
 * The hash chain: each entry's `hash` is SHA-256 over the RFC 8785 canonical
 * JSON of the entry without `hash`; the entry carries its predecessor's hash
 * in `prev`, so changing, removing or moving any entry breaks the chain.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { canonicalMembers } from './canonical-entry.js';
import type { AuditEntry, AuditEntryInput } from './entry.js';

/** `prev` of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

const SEQ_DIGITS = 16;

/** The LevelDB key of a sequence number: zero-padded so key order is seq order. */
export function seqKey(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/** The sequence number of a key, or undefined when the key is not one of ours. */
export function parseSeqKey(key: string): number | undefined {
  if (key.length !== SEQ_DIGITS || !/^[0-9]+$/.test(key)) return undefined;
  const seq = Number(key);
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/**
 * The hash an entry must carry: SHA-256 (hex) of the canonical JSON of every
 * member except `hash`. Works on stored, exported or in-memory entries alike.
 *
 * @example
 * ```ts
 * import { entryHash, GENESIS_HASH } from './chain.js';
 * const line = { kind: 'call', correlationId: 'c1', seq: 1, time: '2026-01-01T00:00:00.000Z', node: 'n', prev: GENESIS_HASH, hash: '' };
 * line.hash = entryHash(line); // the value `AuditLog.append` would have stored
 * ```
 */
export function entryHash(entry: Record<string, unknown>): string {
  const { hash: _hash, ...body } = entry;
  return createHash('sha256').update(canonicalize(body) as string, 'utf8').digest('hex');
}

/**
 * Seals a normalised input at a position in the chain: the entry, and the
 * JSON text to store — itself canonical (RFC 8785), `hash` included.
 */
export function sealEntry(
  input: AuditEntryInput,
  position: { seq: number; prev: string; time: string; node: string },
): { entry: AuditEntry; json: string } {
  const body = { ...input, seq: position.seq, time: position.time, node: position.node, prev: position.prev };
  const { before, after } = canonicalMembers(body);
  const hash = createHash('sha256').update(`{${before.concat(after).join(',')}}`, 'utf8').digest('hex');
  before.push(`"hash":"${hash}"`);
  const entry: AuditEntry = { ...body, hash };
  return { entry, json: `{${before.concat(after).join(',')}}` };
}
