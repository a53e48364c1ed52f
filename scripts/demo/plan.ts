/**
 * Where each demo node lives: `<root>/<alias>/data` and `<root>/<alias>/trust`,
 * planned (identity, peer id, ports) before any node starts.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { planNodeIn, type NodePlan } from '../lib/mesh-plan.js';

export type { NodePlan } from '../lib/mesh-plan.js';

export async function planNode(root: string, alias: string, namespace: string): Promise<NodePlan> {
  const dataDir = join(root, alias, 'data');
  const trustDir = join(root, alias, 'trust');
  await mkdir(dataDir, { recursive: true });
  await mkdir(join(trustDir, 'peers'), { recursive: true });
  return planNodeIn(alias, namespace, dataDir, trustDir);
}
