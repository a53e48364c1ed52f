/**
 * `npm run demo` end to end: the compiled walk-through (three `toolmesh start`
 * child processes, two trust anchors, sample MCP tool servers) runs to exit
 * code 0 and its transcript shows each of the five steps — the allowed
 * cross-unit call, the two refusals, the partner's subset, the live policy
 * edit, and the audit trail on both nodes — then everything is stopped and
 * the temporary directory removed.
 *
 * Runs dist/ (`npm test` builds it in pretest; otherwise `npx tsc -p tsconfig.json`).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cliEnv } from '../helpers/cli.js';

const DEMO = join(ROOT, 'dist/scripts/demo.js');
const LIMIT_MS = 90_000;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runDemo(): Promise<DemoRun> {
  const env = cliEnv();
  delete env.DEMO_KEEP;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // SIGINT lets the demo stop its own children before it goes.
    const timer = setTimeout(() => child.kill('SIGINT'), LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

if (!existsSync(DEMO)) {
  t.fail(`${DEMO} is missing: run \`npx tsc -p tsconfig.json\` first (npm test builds it in pretest)`);
} else {
  const run = await runDemo();
  const out = run.stdout;

  t.test('the demo exits 0 well within a minute', async (t) => {
    t.equal(run.code, 0, `exit code (signal ${run.signal})\n${out}\n${run.stderr}`);
    t.ok(run.ms < 60_000, `took ${run.ms} ms`);
    t.notMatch(out, /DEMO FAILED/);
    t.match(out, /Demo complete: all five steps passed in [\d.]+ s\./);
  });

  t.test('setup: three nodes as child processes, two anchors, one server each, a converged mesh', async (t) => {
    for (const alias of ['sales', 'support', 'acme']) {
      t.match(out, new RegExp(`node ${alias}\\s+http://127\\.0\\.0\\.1:\\d+  peer 12D3KooW\\w+  libp2p /ip4/127\\.0\\.0\\.1/tcp/\\d+  \\(pid \\d+\\)`), alias);
    }
    t.match(out, /trust anchor {2}Example Corp {2}http:\/\/127\.0\.0\.1:\d+/);
    t.match(out, /trust anchor {2}Acme Corp {5}http:\/\/127\.0\.0\.1:\d+/);
    t.match(out, /sales: registered crm@2\.4\.0/);
    t.match(out, /support: registered tickets@1\.3\.0/);
    t.match(out, /acme: registered shipping@1\.0\.0/);
    t.match(out, /mesh converged in [\d.]+ s/);
  });

  t.test('step 1: a sales rep calls support’s search_tickets through the sales node', async (t) => {
    t.match(out, /tools\/list at http:\/\/127\.0\.0\.1:\d+\/mcp \(MCP SDK client\): acme\.shipping__track_shipment, crm__lookup_customer, support\.tickets__get_ticket, support\.tickets__search_tickets\n/);
    t.match(out, /✓ STEP 1 allowed: \[\{"id":"T-501","customer":"C-1001"/);
  });

  t.test('step 2: a tool support does not export, and a group it does not export to, are refused', async (t) => {
    t.match(out, /✓ STEP 2a refused \(reason unknown_tool\): Unknown tool: support\.tickets__create_ticket/);
    t.match(out, /✓ STEP 2b refused by Support: HTTP 403, JSON-RPC -32003, reason trust_denied: .*\(cause group_not_allowed\)/);
  });

  t.test('step 3: the partner sees only the subset exported to it', async (t) => {
    t.match(out, /acme-account-manager at http:\/\/127\.0\.0\.1:\d+\/mcp sees: excorp-sales\.crm__lookup_customer, shipping__track_shipment\n/);
    t.notMatch(out, /excorp-sales\.crm__update_customer/);
    t.match(out, /✓ STEP 3 partner subset/);
    t.match(out, /excorp-sales\.crm__lookup_customer \{customerId: C-1001\} → \{"id":"C-1001","name":"Globex Ltd"/);
  });

  t.test('step 4: exporting create_ticket in support’s policy takes effect live', async (t) => {
    t.match(out, /\+ {5}tools: \[create_ticket\]/);
    t.match(out, /tools\/list shows support\.tickets__create_ticket after [\d.]+ s \(no restart\)/);
    t.match(out, /✓ STEP 4 live policy: create_ticket now allowed: \{"id":"T-\d+","customer":"C-1001","subject":"Customer asks for a refund","status":"open"\}/);
  });

  t.test('step 5: both nodes audited the calls under one correlation id, with the actor chain', async (t) => {
    t.match(out, /step 1, the allowed call — correlation id [0-9a-f-]{36}/);
    t.match(out, /sales +\d+ +call +tools\/call support\.tickets@1\.3\.0 search_tickets +oauth:sales-rep-alice \[sales-reps\]/);
    t.match(out, /sales +\d+ +outcome +tools\/call support\.tickets@1\.3\.0 search_tickets +ok +oauth:sales-rep-alice/);
    t.match(out, /support +\d+ +peer +token_exchange +ok +peer:example-corp:sales-rep-alice \[sales-desk\]/);
    t.match(out, /support +\d+ +call +tools\/call tickets@1\.3\.0 search_tickets +peer:example-corp:sales-rep-alice \[sales-desk\] +sales node \(http:\/\/127\.0\.0\.1:\d+\)/);
    t.match(out, /support +\d+ +outcome +tools\/call tickets@1\.3\.0 search_tickets +ok +peer:example-corp:sales-rep-alice/);
    t.match(out, /support +\d+ +rejection +tools\/call tickets@1\.3\.0 search_tickets +trust_denied +peer:example-corp:sales-manager-bob/);
    t.match(out, /✓ STEP 5 audit/);
  });

  t.test('everything is stopped and the working directory removed', async (t) => {
    t.match(out, /Stopped: nodes \(SIGTERM; exit sales 0, support 0, acme 0\)/);
    const dir = /working directory (\S+)/.exec(out)?.[1];
    t.ok(dir, 'the transcript names its working directory');
    t.notOk(dir && existsSync(dir), `${dir} was removed`);
  });
}
