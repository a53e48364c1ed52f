/**
 * TrustPolicyStore: a changed directory is applied without restart (with its
 * diff, in history); an invalid one is refused once and the running policy
 * stays; history that cannot be written refuses the change (fail closed).
 */
import t from 'tap';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TrustPolicyStore, type TrustHistorySink, type TrustPolicyStoreEvents, type TrustPolicyStoreOptions, type TrustPolicyVersion } from '../../federation/trust/index.js';

const EXAMPLES = join(import.meta.dirname, '../../trust-config/examples');
const scratch = await mkdtemp(join(tmpdir(), 'toolmesh-trust-store-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
let copies = 0;

async function copyOf(node: string): Promise<string> {
  const dir = join(scratch, `${node}-${++copies}`);
  await cp(join(EXAMPLES, node), dir, { recursive: true });
  return dir;
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file}: ${from} not found`);
  await writeFile(file, text.replace(from, to));
}

/** The next `event`, or a failure after `ms`. */
async function next<E extends keyof TrustPolicyStoreEvents>(store: TrustPolicyStore, event: E, ms = 5000): Promise<TrustPolicyStoreEvents[E]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await once(store, event, { signal: ac.signal })) as TrustPolicyStoreEvents[E];
  } catch {
    throw new Error(`no ${event} event within ${ms} ms`);
  } finally {
    clearTimeout(timer);
  }
}

function memorySink(): TrustHistorySink & { kept: TrustPolicyVersion[]; failing: boolean } {
  const sink = {
    kept: [] as TrustPolicyVersion[],
    failing: false,
    latest: async () => sink.kept.at(-1),
    append: async (v: TrustPolicyVersion) => {
      if (sink.failing) throw new Error('disk full');
      // Persisted as JSON, as a LevelDB sublevel would.
      sink.kept.push(JSON.parse(JSON.stringify(v)) as TrustPolicyVersion);
    },
  };
  return sink;
}

const FAST: TrustPolicyStoreOptions = { pollIntervalMs: 50, debounceMs: 20, now: () => new Date('2026-01-02T03:04:05Z') };

async function started(dir: string, options: TrustPolicyStoreOptions = {}): Promise<TrustPolicyStore> {
  const store = new TrustPolicyStore(dir, { ...FAST, ...options });
  await store.start();
  t.teardown(() => store.stop());
  return store;
}

t.test('start: the first version, in history', async (t) => {
  const sink = memorySink();
  const store = await started(await copyOf('sales'), { history: sink });
  t.equal(store.current.node.alias, 'sales');
  t.equal(store.versions().length, 1);
  const v = store.versions()[0]!;
  t.match(v, { seq: 1, trigger: 'start', appliedAt: '2026-01-02T03:04:05.000Z', hash: store.current.source.hash });
  t.ok(v.changes.some((c) => c.kind === 'peer_added'), 'diffed from nothing');
  t.equal(sink.kept.length, 1, 'persisted');
});

t.test('a valid change is applied with its diff', async (t) => {
  const dir = await copyOf('sales');
  const sink = memorySink();
  const store = await started(dir, { history: sink });
  const before = store.current;
  const applied = next(store, 'applied');
  await edit(join(dir, 'peers/acme.yaml'), 'maxTokenTtlSeconds: 120', 'maxTokenTtlSeconds: 60');
  const [changes, policy, version] = await applied;
  t.same(changes, [{ kind: 'translation_changed', peer: 'acme', field: 'maxTokenTtlSeconds', before: 120, after: 60 }]);
  t.equal(policy, store.current, 'the running policy is the new one');
  t.not(policy.source.hash, before.source.hash);
  t.match(version, { seq: 2, trigger: 'change', hash: policy.source.hash });
  t.same(store.versions().map((v) => v.seq), [1, 2]);
  t.same(sink.kept.map((v) => v.seq), [1, 2]);
});

t.test('an invalid change is refused once; the running policy stays; a fix applies', async (t) => {
  const dir = await copyOf('sales');
  const store = await started(dir);
  const running = store.current;
  let refusals = 0;
  store.on('refused', () => refusals++);
  const refused = next(store, 'refused');
  await writeFile(join(dir, 'peers/support.yaml'), (await readFile(join(dir, 'peers/support.yaml'), 'utf8')).replace('access: read', 'access: [read'));
  const [err] = await refused;
  t.equal(err.code, 'trust_policy_syntax');
  t.equal(err.issues[0]!.file, 'peers/support.yaml');
  t.equal(store.current, running, 'previous policy kept');
  await sleep(300);
  t.equal(refusals, 1, 'refused once, not on every poll');
  t.equal(store.versions().length, 1, 'nothing recorded');

  const applied = next(store, 'applied');
  await writeFile(join(dir, 'peers/support.yaml'), (await readFile(join(EXAMPLES, 'sales/peers/support.yaml'), 'utf8')).replace('burst: 100', 'burst: 50'));
  const [changes] = await applied;
  t.same(changes.map((c) => c.kind), ['peer_changed']);
});

t.test('schema and lint errors are refused too', async (t) => {
  const dir = await copyOf('sales');
  const store = await started(dir);
  const running = store.current;
  let refused = next(store, 'refused');
  await edit(join(dir, 'peers/acme.yaml'), 'versions: "~3.1.0"', 'versions: "three"');
  t.match((await refused)[0], { code: 'trust_policy_schema', issues: [{ file: 'peers/acme.yaml', pointer: '/exports/1/versions' }] });
  refused = next(store, 'refused');
  await edit(join(dir, 'peers/acme.yaml'), 'versions: "three"', 'versions: "~3.1.0"');
  await edit(join(dir, 'peers/acme.yaml'), '12D3KooWGfA46b8RMxqJ6ggZW23HTYeiqs13cc2cJJXHXupViw8o', '12D3KooW9ztgCJZfhnYbedsju7BthY2x1TrRdUesVGqeyDbM2ufe');
  t.match((await refused)[0], { code: 'trust_policy_lint', issues: [{ file: 'peers/support.yaml', pointer: '/peerId', message: /duplicate_peer_id/ }] });
  t.equal(store.current, running);
});

t.test('the node’s own namespace, alias and entity id cannot change while it runs', async (t) => {
  const dir = await copyOf('sales');
  const store = await started(dir);
  const running = store.current;
  const node = join(dir, 'node.yaml');
  const original = await readFile(node, 'utf8');
  for (const [field, from, to] of [
    ['namespace', /^namespace: .*$/m, 'namespace: someone-else'],
    ['alias', /^alias: .*$/m, 'alias: renamed'],
  ] as const) {
    const refused = next(store, 'refused');
    await writeFile(node, original.replace(from, to));
    t.match((await refused)[0], { code: 'trust_policy_inconsistent', issues: [{ file: 'node.yaml', pointer: `/${field}`, message: /restart the node/ }] }, field);
    t.equal(store.current, running, `${field}: the running policy stays`);
    await writeFile(node, original);
    await sleep(200);
  }
});

t.test('lint against the registry: an unknown server only warns', async (t) => {
  const dir = await copyOf('sales');
  const store = await started(dir, { lint: async () => ({ knownServers: [] }) });
  const applied = next(store, 'applied');
  await edit(join(dir, 'peers/acme.yaml'), 'server: quotes', 'server: quotes-v2');
  t.same((await applied)[0].map((c) => c.kind), ['export_removed', 'export_added']);
});

t.test('history that cannot be written refuses the change (fail closed)', async (t) => {
  const dir = await copyOf('sales');
  const sink = memorySink();
  const store = await started(dir, { history: sink });
  const running = store.current;
  sink.failing = true;
  const refused = next(store, 'refused');
  await edit(join(dir, 'peers/acme.yaml'), 'perMinute: 60', 'perMinute: 6');
  const [err] = await refused;
  t.equal(err.code, 'trust_policy_history_failed');
  t.equal(err.status, 503);
  t.equal(store.current, running);
  sink.failing = false;
  const applied = next(store, 'applied');
  t.match((await applied)[2], { seq: 2 }, 'retried on the next poll once history works');
  t.same(sink.kept.map((v) => v.seq), [1, 2]);
});

t.test('restart: the sequence continues; the first diff is against the last version', async (t) => {
  const dir = await copyOf('sales');
  const sink = memorySink();
  const first = new TrustPolicyStore(dir, { ...FAST, history: sink });
  await first.start();
  await first.stop();

  const same = new TrustPolicyStore(dir, { ...FAST, history: sink });
  await same.start();
  await same.stop();
  t.same(sink.kept.map((v) => v.seq), [1], 'unchanged directory: no new version');
  t.equal(same.versions()[0]!.seq, 1);

  await edit(join(dir, 'peers/support.yaml'), 'maxTokenTtlSeconds: 300', 'maxTokenTtlSeconds: 240');
  const changed = new TrustPolicyStore(dir, { ...FAST, history: sink });
  await changed.start();
  await changed.stop();
  t.same(sink.kept.map((v) => [v.seq, v.trigger]), [[1, 'start'], [2, 'start']]);
  t.same(sink.kept[1]!.changes, [{ kind: 'translation_changed', peer: 'support', field: 'maxTokenTtlSeconds', before: 300, after: 240 }]);
});

t.test('start refuses an invalid directory and a policy for another node', async (t) => {
  const dir = await copyOf('sales');
  await edit(join(dir, 'node.yaml'), 'alias: sales', 'alias: Sales');
  await t.rejects(new TrustPolicyStore(dir, FAST).start(), { code: 'trust_policy_schema' });
  await t.rejects(new TrustPolicyStore(join(scratch, 'absent'), FAST).start(), { code: 'trust_policy_not_found' });
  const other = new TrustPolicyStore(await copyOf('sales'), { ...FAST, peerId: '12D3KooW9ztgCJZfhnYbedsju7BthY2x1TrRdUesVGqeyDbM2ufe' });
  await t.rejects(other.start(), { code: 'trust_policy_inconsistent', issues: [{ file: 'node.yaml', pointer: '/peerId' }] });
});

t.test('reload(): unchanged, applied, refused', async (t) => {
  const dir = await copyOf('support');
  const store = await started(dir, { pollIntervalMs: 0 });
  t.same(await store.reload(), { status: 'unchanged' });
  await edit(join(dir, 'peers/sales.yaml'), 'perMinute: 600', 'perMinute: 300');
  t.match(await store.reload(), { status: 'applied', version: { seq: 2, trigger: 'reload' } });
  await edit(join(dir, 'peers/sales.yaml'), 'perMinute: 300', 'perMinute: -1');
  const r = await store.reload();
  t.match(r, { status: 'refused', error: { code: 'trust_policy_schema' } });
  t.equal(store.current.peers[0]!.rateLimit.perMinute, 300);
});

t.test('fs.watch alone (no polling) sees an editor-style rename-over write and a new peers/ directory', async (t) => {
  const dir = await copyOf('support');
  const store = await started(dir, { pollIntervalMs: 0 });
  let applied = next(store, 'applied');
  const file = join(dir, 'peers/sales.yaml');
  await writeFile(`${file}.tmp`, (await readFile(file, 'utf8')).replace('burst: 100', 'burst: 80'));
  await rename(`${file}.tmp`, file);
  t.same((await applied)[0].map((c) => c.kind), ['peer_changed']);

  await rm(join(dir, 'peers'), { recursive: true });
  applied = next(store, 'applied');
  t.same((await applied)[0].map((c) => c.kind), ['peer_removed', 'export_removed', 'import_removed'], 'removing every peer is a valid change');
  applied = next(store, 'applied');
  await mkdir(join(dir, 'peers'));
  await cp(join(EXAMPLES, 'support/peers/sales.yaml'), join(dir, 'peers/sales.yaml'));
  // The new peers/ directory is watched only once a check has run; polling is the safety net, so ask once.
  const seen = await Promise.race([applied, sleep(1000).then(() => undefined)]);
  if (!seen) await store.reload();
  t.equal(store.current.peers.length, 1);
});

t.test('stop(): no more checks', async (t) => {
  const dir = await copyOf('support');
  const store = new TrustPolicyStore(dir, FAST);
  await store.start();
  await store.stop();
  let events = 0;
  store.on('applied', () => events++);
  store.on('refused', () => events++);
  await edit(join(dir, 'peers/sales.yaml'), 'burst: 100', 'burst: 90');
  await sleep(300);
  t.equal(events, 0);
});
