/**
 * The yardstick of PRODUCT.md §2: the official MCP conformance suite
 * (`@modelcontextprotocol/conformance`, server scenarios) passes through the
 * gateway wherever it passes against the same backend directly. The backend
 * is server-everything over Streamable HTTP; the suite runs on Node 22, as it
 * requires (see helpers/node22.ts).
 */
import { freePort } from '../../scripts/lib/ports.js';
import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { startTestNode, removeDir } from '../helpers/node.js';
import { node22 as findNode22 } from '../helpers/node22.js';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
const suite = require.resolve('@modelcontextprotocol/conformance/package.json').replace(/package\.json$/, 'dist/index.js');
const everything = require.resolve('@modelcontextprotocol/server-everything/package.json').replace(/package\.json$/, 'dist/index.js');


/** Runs every active server scenario against `url`; returns passed checks per scenario. */
async function conformance(url: string): Promise<Map<string, { passed: number; failed: number }>> {
  let out = '';
  try {
    out = (await run(node22, [suite, 'server', '--url', url], { timeout: 240_000, maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? ''; // the suite exits non-zero when any scenario fails
  }
  const results = new Map<string, { passed: number; failed: number }>();
  for (const m of out.matchAll(/^[✓✗] ([\w-]+): (\d+) passed, (\d+) failed$/gm)) {
    results.set(m[1]!, { passed: Number(m[2]), failed: Number(m[3]) });
  }
  return results;
}

const node22 = await findNode22();
const port = await freePort();
const backend = spawn(process.execPath, [everything, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server-everything did not start')), 15_000);
  const onOutput = (chunk: Buffer) => {
    if (/(listening|running) on port/i.test(chunk.toString())) {
      clearTimeout(timer);
      resolve();
    }
  };
  backend.stdout!.on('data', onOutput);
  backend.stderr!.on('data', onOutput);
});
const tn = await startTestNode();
t.teardown(async () => {
  await tn.stop();
  backend.kill();
  await removeDir(tn.dataDir);
});
await tn.register({ slug: 'everything', version: '1.0.0', backend: { http: `http://127.0.0.1:${port}/mcp` } });

const direct = await conformance(`http://127.0.0.1:${port}/mcp`);
const gateway = await conformance(`${tn.url}/mcp/v1/tools/everything/rpc`);

t.ok(direct.size >= 20, `the suite ran (${direct.size} scenarios directly)`);
let directPasses = 0;
let gatewayPasses = 0;
for (const [scenario, r] of direct) {
  directPasses += r.passed;
  const through = gateway.get(scenario);
  gatewayPasses += through?.passed ?? 0;
  if (r.failed === 0 && r.passed > 0) {
    t.ok(through && through.failed === 0 && through.passed >= r.passed, `${scenario}: passes directly and through the gateway`);
  }
}
t.ok(gatewayPasses >= directPasses, `checks passed through the gateway (${gatewayPasses}) ≥ directly (${directPasses})`);
t.ok(directPasses >= 13, 'server-everything passes at least its known 13 checks directly');
