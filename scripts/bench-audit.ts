/**
 * Durable audit entries per second under concurrency (issue 4 target:
 * ≥ 20,000/s). Each of C workers appends entries one after another and
 * waits for each to be durable (group commit, `sync: true`), as C in-flight
 * gateway calls would; entries look like real call intents (identity,
 * server, tool, keyed args hash). Runs each concurrency for a fixed time on a
 * fresh LevelDB directory, then verifies the chain.
 *
 * Usage: node dist/scripts/bench-audit.js
 *   BENCH_AUDIT_SECONDS (default 3), BENCH_AUDIT_CONCURRENCY (default "1,64,512,2048")
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadOrCreateIdentity } from '../src/node/identity.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { argsHash } from '../src/audit/args-hash.js';
import type { AuditEntryInput } from '../src/audit/entry.js';

const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 3);
const CONCURRENCY = (process.env.BENCH_AUDIT_CONCURRENCY ?? '1,64,512,2048').split(',').map(Number);

const key = randomBytes(32);
function intent(i: number): AuditEntryInput {
  return {
    kind: 'call',
    correlationId: randomUUID(),
    identity: { kind: 'oauth', subject: `user-${i % 97}@example.com`, groups: ['eng', 'ops'], issuer: 'https://idp.example.com', clientId: 'claude-desktop' },
    server: 'crm',
    version: '1.4.2',
    tool: 'lookup_customer',
    method: 'tools/call',
    argsHash: argsHash(key, { customerId: i, fields: ['name', 'email'] }),
  };
}

async function run(concurrency: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-bench-audit-'));
  try {
    const { identity } = await loadOrCreateIdentity(dir);
    const log = await AuditLog.open(join(dir, 'audit'), { node: 'bench', identity });
    let count = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          await log.append(intent(count));
          count++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await log.close();
    const reopened = await AuditLog.open(join(dir, 'audit'), { node: 'bench', identity });
    const v0 = performance.now();
    const report = await reopened.verify();
    const verifySeconds = (performance.now() - v0) / 1000;
    await reopened.close();
    const perSec = Math.round(count / elapsed);
    const cpuUs = ((cpu.user + cpu.system) / count).toFixed(1);
    console.log(
      `c=${String(concurrency).padStart(5)}  ${String(perSec).padStart(7)} durable entries/s  ` +
        `(${count} in ${elapsed.toFixed(2)} s, ${cpuUs} µs CPU/entry)  ` +
        `verify ${report.ok ? 'ok' : `FAILED ${JSON.stringify(report.firstProblem)}`} ${Math.round(report.entries / verifySeconds)} entries/s`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`audit log group commit, ${SECONDS} s per concurrency level`);
for (const c of CONCURRENCY) await run(c);
