/**
 * A node refuses to start with a trust policy directory that is missing or
 * invalid, naming the file and field, and leaves nothing running behind
 * (the test process would not exit otherwise).
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planNode, startMeshNode, writeTrust } from '../helpers/mesh.js';
import { removeDir } from '../helpers/node.js';

t.test('a missing policy directory refuses the start', async (t) => {
  const plan = await planNode('lonely');
  t.teardown(() => removeDir(plan.dataDir));
  await t.rejects(startMeshNode(plan), { code: 'trust_policy_not_found' });
});

t.test('an invalid node.yaml refuses the start, naming the file and field', async (t) => {
  const plan = await planNode('broken');
  t.teardown(() => removeDir(plan.dataDir));
  await writeTrust(plan, [], { trustAnchors: [{ entityId: 'https://anchor.example', pinnedKeys: ['cqG632S6a_fI9mBDn75a0C9Yk6mNpn0WS_7q26A16IA'] }] });
  await writeFile(join(plan.trustDir, 'node.yaml'), `namespace: x\nalias: Not_An_Alias\nentityId: ${plan.entityId}\ntrustAnchors: []\n`);
  const err = await startMeshNode(plan).then(
    () => undefined,
    (e: Error) => e,
  );
  t.match(err?.message, /node\.yaml/, 'names the file');
  t.match(err?.message, /\/alias/, 'names the field');
});

t.test('a policy written for another node refuses the start', async (t) => {
  const plan = await planNode('impostor');
  const other = await planNode('other');
  t.teardown(async () => {
    await removeDir(plan.dataDir);
    await removeDir(other.dataDir);
  });
  await writeTrust({ ...plan, peerId: other.peerId }, [], { trustAnchors: [{ entityId: 'https://anchor.example', pinnedKeys: ['cqG632S6a_fI9mBDn75a0C9Yk6mNpn0WS_7q26A16IA'] }] });
  await t.rejects(startMeshNode(plan), /peer ?id/i);
});
