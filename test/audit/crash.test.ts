/**
 * kill -9 at random moments (issue 4): a child process appends under
 * concurrent load and is killed with SIGKILL ten times. Afterwards the chain
 * verifies, sequence numbers are contiguous and never reused, and every
 * entry the child saw acknowledged (durable) is there, unchanged.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { fixture } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
// The child runs TypeScript through the same loader tap gives this process.
const LOADER = process.execArgv.filter((arg) => arg.includes('@tapjs/typescript'));
const ROUNDS = 10;

interface Round {
  acked: Map<number, string>;
}

function runAndKill(dataDir: string, auditDir: string, afterReadyMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LOADER, CHILD, dataDir, auditDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, string>();
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('ready')) {
        setTimeout(() => child.kill('SIGKILL'), afterReadyMs);
        return;
      }
      const [seq, id] = line.split(' ');
      acked.set(Number(seq), id!);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended with ${code}/${signal}: ${stderr}`));
      else resolve({ acked });
    });
  });
}

t.test('ten kill -9s under load: chain verifies, seqs contiguous and unique, every acknowledged entry present', async (t) => {
  const f = await fixture(t);
  const acked = new Map<number, string>();
  let previousMax = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { acked: roundAcked } = await runAndKill(f.dataDir, f.auditDir, 50 + Math.floor(Math.random() * 250));
    const seqs = [...roundAcked.keys()];
    t.ok(seqs.length > 0, `round ${round + 1}: ${seqs.length} entries acknowledged before the kill`);
    t.ok(Math.min(...seqs) > previousMax, `round ${round + 1} continues after every seq acknowledged before (no reuse)`);
    previousMax = Math.max(previousMax, ...seqs);
    for (const [seq, id] of roundAcked) acked.set(seq, id);
  }

  const log = await f.open({ checkpointEvery: 100 });
  const report = await log.verify();
  t.equal(report.ok, true, JSON.stringify(report.firstProblem));
  t.equal(report.firstSeq, 1);
  t.ok(report.entries >= acked.size);
  const stored = new Map<number, string>();
  for await (const line of log.export()) {
    const entry = JSON.parse(line) as { seq: number; correlationId: string };
    stored.set(entry.seq, entry.correlationId);
  }
  const lost = [...acked].filter(([seq, id]) => stored.get(seq) !== id);
  t.same(lost, [], `all ${acked.size} acknowledged entries are stored as acknowledged`);
});
