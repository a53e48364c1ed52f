/**
 * Shared by the audit tests: a temporary directory with a node identity, a
 * frozen clock, an audit log over a real LevelDB directory, and raw access
 * to that directory for tamper tests (the log closed first: LevelDB is
 * single-process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import { AuditLog, type AuditLogOptions } from '../../src/audit/audit-log.js';
import type { AuditEntryInput } from '../../src/audit/entry.js';

export interface Fixture {
  dataDir: string;
  auditDir: string;
  identity: NodeIdentity;
  open(options?: Partial<AuditLogOptions>): Promise<AuditLog>;
}

export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh data directory removed when the test ends. */
export async function fixture(t: Teardown): Promise<Fixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'toolmesh-audit-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const { identity } = await loadOrCreateIdentity(dataDir);
  const auditDir = join(dataDir, 'audit');
  const opened: AuditLog[] = [];
  t.teardown(async () => {
    for (const log of opened) await log.close().catch(() => undefined);
  });
  return {
    dataDir,
    auditDir,
    identity,
    async open(options = {}) {
      const log = await AuditLog.open(auditDir, { node: 'node-a', identity, checkpointIntervalMs: 0, now: frozenClock(), ...options });
      opened.push(log);
      return log;
    },
  };
}

/** A clock that starts at 2026-01-01T00:00:00Z and advances one second per reading. */
export function frozenClock(start = Date.parse('2026-01-01T00:00:00.000Z'), stepMs = 1000): () => Date {
  let ticks = 0;
  return () => new Date(start + stepMs * ticks++);
}

/** A typical call intent. */
export function intent(i: number, extra: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    kind: 'call',
    correlationId: `corr-${i}`,
    identity: { kind: 'oauth', subject: `user-${i % 3}`, groups: ['eng'], issuer: 'https://idp.example' },
    server: 'crm',
    version: '1.0.0',
    tool: 'lookup',
    method: 'tools/call',
    argsHash: 'ab'.repeat(32),
    ...extra,
  };
}

/** Appends `count` entries one at a time (each its own flush, so checkpoints land exactly every N). */
export async function appendSequentially(log: AuditLog, count: number, from = 1): Promise<void> {
  for (let i = from; i < from + count; i++) await log.append(intent(i));
}

type RawSublevel = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, unknown>;

export interface RawDb {
  db: Level<string, unknown>;
  entries: RawSublevel;
  checkpoints: RawSublevel;
  close(): Promise<void>;
}

/** The audit directory opened directly, as an attacker with disk access would. */
export async function openRaw(auditDir: string): Promise<RawDb> {
  const db = new Level<string, unknown>(auditDir, { valueEncoding: 'json' });
  await db.open();
  return {
    db,
    entries: db.sublevel<string, unknown>('entries', { valueEncoding: 'json' }) as RawSublevel,
    checkpoints: db.sublevel<string, unknown>('checkpoints', { valueEncoding: 'json' }) as RawSublevel,
    close: () => db.close(),
  };
}

export function key(seq: number): string {
  return String(seq).padStart(16, '0');
}
