/**
 * Signed capability manifests (PRODUCT.md §9): deterministic encoding, the
 * receiver's checks as a table of hostile vectors with the expected code,
 * seq persistence across a publisher restart on a real LevelDB directory,
 * refresh before expiry, and the push protocol between two real libp2p hosts
 * (accept, change, rollback nack, expiry of a silent peer's tools).
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import { Store } from '../../src/store/db.js';
import { createPeerHost, peerIdFromNodeIdentity, type PeerHost } from '../../federation/peer/index.js';
import {
  encodeManifest,
  LevelSeqStore,
  ManifestExchange,
  ManifestPublisher,
  ManifestReceiver,
  MemorySeqStore,
  signEnvelope,
  signManifest,
  type Manifest,
  type ManifestErrorCode,
  type ManifestExchangeEvents,
  type ManifestTool,
} from '../../federation/manifest/index.js';

const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
t.teardown(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-manifest-'));
  dirs.push(dir);
  return dir;
}

async function identity(): Promise<NodeIdentity> {
  return (await loadOrCreateIdentity(await tempDir())).identity;
}

const [issuer, audience, attacker] = await Promise.all([identity(), identity(), identity()]);
const ISSUER = peerIdFromNodeIdentity(issuer).toString();
const AUDIENCE = peerIdFromNodeIdentity(audience).toString();
const ATTACKER = peerIdFromNodeIdentity(attacker).toString();
const NOW = Date.parse('2026-03-01T12:00:00Z');
const raw = new Packr({ useRecords: false });

function tool(name: string, extra: Partial<ManifestTool> = {}): ManifestTool {
  return {
    slug: 'weather',
    version: '1.2.0',
    lifecycle: 'stable',
    name,
    description: `the ${name} tool`,
    inputSchema: { type: 'object', properties: { city: { type: 'string', maxLength: 64 } }, required: ['city'] },
    access: 'read',
    ...extra,
  };
}

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    v: 1,
    issuer: { namespace: 'acme', peerId: ISSUER },
    audience: AUDIENCE,
    seq: 5,
    issuedAt: NOW - 1_000,
    expiresAt: NOW + 3_600_000,
    tools: [tool('forecast'), tool('alerts', { access: 'write', title: 'Alerts' })],
    ...over,
  };
}

function receiver(over: Partial<ConstructorParameters<typeof ManifestReceiver>[0]> = {}): ManifestReceiver {
  const r = new ManifestReceiver({ peerId: ISSUER, self: AUDIENCE, now: () => NOW, clockSkewMs: 5_000, ...over });
  cleanups.push(() => r.close());
  return r;
}

const signed = (m: Manifest, by: NodeIdentity = issuer): Uint8Array => signManifest(m, by).envelope;

t.test('encoding is deterministic: equal content, equal bytes', async (t) => {
  const a = manifest();
  const b: Manifest = {
    expiresAt: a.expiresAt,
    tools: [tool('alerts', { title: 'Alerts', access: 'write' }), { ...tool('forecast'), outputSchema: undefined }].reverse(),
    seq: a.seq,
    audience: a.audience,
    issuedAt: a.issuedAt,
    issuer: { peerId: ISSUER, namespace: 'acme' },
    v: 1,
  };
  t.same(Buffer.from(encodeManifest(a)), Buffer.from(encodeManifest(b)), 'key order, tool order and undefined members do not matter');
  t.notSame(Buffer.from(encodeManifest(a)), Buffer.from(encodeManifest(manifest({ seq: 6 }))));
});

t.test('sign → verify round trip', async (t) => {
  const r = receiver();
  const events: Manifest[] = [];
  r.on('accepted', (m) => events.push(m));
  const result = r.accept(signed(manifest()));
  t.equal(result.status, 'accepted');
  t.equal(result.manifest.seq, 5);
  t.same(result.manifest.tools.map((x) => x.name), ['alerts', 'forecast'], 'tools come back in canonical order');
  t.same(r.current(), result.manifest);
  t.equal(events.length, 1);

  // Cost of a full check (size, signature, decode, structure, canonical re-encode) of a 20-tool manifest.
  const big = manifest({ seq: 6, tools: Array.from({ length: 20 }, (_, i) => tool(`tool-${i}`)) });
  let start = performance.now();
  let env = signed(big);
  for (let i = 0; i < 199; i++) env = signed(big);
  const signMs = (performance.now() - start) / 200;
  r.accept(env);
  start = performance.now();
  for (let i = 0; i < 200; i++) r.accept(env);
  const verifyMs = (performance.now() - start) / 200;
  t.comment(`20-tool manifest: ${env.byteLength} bytes, sign ${signMs.toFixed(3)} ms, full verify ${verifyMs.toFixed(3)} ms`);
  t.equal(r.current()?.seq, 6);
});

interface Vector {
  name: string;
  envelope: () => Uint8Array;
  code: ManifestErrorCode;
  receiver?: Partial<ConstructorParameters<typeof ManifestReceiver>[0]>;
}

/** Payload bytes signed as they are (the attacker controls the encoding but not the pinned key). */
const signedRaw = (value: unknown): Uint8Array => signEnvelope(raw.pack(value), issuer);

const vectors: Vector[] = [
  { name: 'signed by another key, claiming the pinned issuer', envelope: () => signed(manifest(), attacker), code: 'manifest_bad_signature' },
  { name: 'signed by another key as itself', envelope: () => signed(manifest({ issuer: { namespace: 'evil', peerId: ATTACKER } }), attacker), code: 'manifest_bad_signature' },
  {
    name: 'one payload byte flipped',
    envelope: () => {
      const { payload } = signManifest(manifest(), issuer);
      const env = raw.unpack(signed(manifest())) as { payload: Uint8Array; sig: Uint8Array };
      const tampered = Buffer.from(payload);
      tampered[tampered.length - 3] ^= 1;
      return raw.pack({ payload: tampered, sig: env.sig });
    },
    code: 'manifest_bad_signature',
  },
  { name: 'signature truncated', envelope: () => raw.pack({ payload: encodeManifest(manifest()), sig: new Uint8Array(63) }), code: 'manifest_bad_signature' },
  { name: 'pinned key, but names another issuer', envelope: () => signed(manifest({ issuer: { namespace: 'acme', peerId: ATTACKER } })), code: 'manifest_issuer_mismatch' },
  { name: 'another namespace than pinned', envelope: () => signed(manifest({ issuer: { namespace: 'other', peerId: ISSUER } })), code: 'manifest_issuer_mismatch', receiver: { namespace: 'acme' } },
  { name: 'for another audience', envelope: () => signed(manifest({ audience: ATTACKER })), code: 'manifest_wrong_audience' },
  { name: 'expired beyond the skew', envelope: () => signed(manifest({ issuedAt: NOW - 60_000, expiresAt: NOW - 5_001 })), code: 'manifest_expired' },
  { name: 'issued in the future beyond the skew', envelope: () => signed(manifest({ issuedAt: NOW + 5_001, expiresAt: NOW + 60_000 })), code: 'manifest_not_yet_valid' },
  { name: 'over the byte limit', envelope: () => signed(manifest()), code: 'manifest_too_large', receiver: { maxBytes: 256 } },
  { name: 'garbage over the byte limit (size is checked before decoding)', envelope: () => new Uint8Array(300).fill(0xc1), code: 'manifest_too_large', receiver: { maxBytes: 256 } },
  { name: 'not msgpack', envelope: () => Uint8Array.of(0xc1), code: 'manifest_malformed' },
  { name: 'envelope is an array', envelope: () => raw.pack([1, 2]), code: 'manifest_malformed' },
  { name: 'envelope with an extra member', envelope: () => raw.pack({ payload: new Uint8Array(1), sig: new Uint8Array(64), x: 1 }), code: 'manifest_malformed' },
  { name: 'envelope with trailing bytes', envelope: () => Buffer.concat([signed(manifest()), Buffer.of(0)]), code: 'manifest_malformed' },
  { name: 'validly signed payload that is not msgpack', envelope: () => signEnvelope(Uint8Array.of(0xc1), issuer), code: 'manifest_malformed' },
  { name: 'version 2', envelope: () => signedRaw({ ...manifest(), v: 2 }), code: 'manifest_malformed' },
  { name: 'unknown top-level member', envelope: () => signedRaw({ ...manifest(), admin: true }), code: 'manifest_malformed' },
  { name: 'seq as a 64-bit integer beyond 2^53', envelope: () => signedRaw({ ...manifest(), seq: 2n ** 60n }), code: 'manifest_malformed' },
  { name: 'expiresAt before issuedAt', envelope: () => signed(manifest({ expiresAt: NOW - 2_000 })), code: 'manifest_malformed' },
  { name: 'tool with an unknown lifecycle', envelope: () => signed(manifest({ tools: [tool('x', { lifecycle: 'gold' as never })] })), code: 'manifest_malformed' },
  { name: 'tool whose version is not semver', envelope: () => signed(manifest({ tools: [tool('x', { version: 'latest' })] })), code: 'manifest_malformed' },
  { name: 'tool whose version is not in plain form', envelope: () => signed(manifest({ tools: [tool('x', { version: 'v1.0.0' })] })), code: 'manifest_malformed' },
  { name: 'tool with a bad slug', envelope: () => signed(manifest({ tools: [tool('x', { slug: '../etc' })] })), code: 'manifest_malformed' },
  { name: 'duplicate tool', envelope: () => signed(manifest({ tools: [tool('x'), tool('x')] })), code: 'manifest_malformed' },
  { name: 'a Date inside a schema', envelope: () => signedRaw({ ...manifest(), tools: [{ ...tool('x'), inputSchema: { d: new Date(0) } }] }), code: 'manifest_malformed' },
  { name: 'keys not in canonical order', envelope: () => signedRaw(Object.fromEntries(Object.entries(manifest()).reverse())), code: 'manifest_malformed' },
  {
    name: 'schema nested 40 deep',
    envelope: () => {
      let schema: Record<string, unknown> = { type: 'string' };
      for (let i = 0; i < 40; i++) schema = { items: schema };
      return signed(manifest({ tools: [tool('x', { inputSchema: schema as never })] }));
    },
    code: 'manifest_malformed',
  },
];

t.test('hostile manifests are rejected with their code', async (t) => {
  for (const v of vectors) {
    const r = receiver(v.receiver);
    t.throws(() => r.accept(v.envelope()), { code: v.code }, v.name);
    t.equal(r.current(), undefined, `${v.name}: nothing accepted`);
  }
  t.doesNotThrow(() => receiver().accept(signed(manifest({ issuedAt: NOW - 60_000, expiresAt: NOW - 4_999 }))), 'expired within the skew allowance is still accepted');
  t.doesNotThrow(() => receiver({ namespace: 'acme' }).accept(signed(manifest())), 'pinned namespace matches');
});

t.test('rollback: lower seq, or equal seq with other content; equal bytes are a no-op', async (t) => {
  const r = receiver();
  let accepted = 0;
  r.on('accepted', () => accepted++);
  const five = signed(manifest({ seq: 5 }));
  t.equal(r.accept(five).status, 'accepted');
  t.throws(() => r.accept(signed(manifest({ seq: 4 }))), { code: 'manifest_rollback' }, 'lower seq');
  t.throws(() => r.accept(signed(manifest({ seq: 5, tools: [tool('forecast')] }))), { code: 'manifest_rollback' }, 'same seq, other content');
  t.equal(r.accept(five).status, 'unchanged', 'the same bytes again');
  t.equal(r.accept(signed(manifest())).status, 'unchanged', 're-signed identical content (Ed25519 is deterministic)');
  t.equal(accepted, 1, 'no accepted event for a no-op');
  t.equal(r.accept(signed(manifest({ seq: 9, tools: [] }))).status, 'accepted', 'seq may jump');
  t.same(r.current()?.tools, []);
  t.equal(r.current()?.seq, 9);
});

t.test('an accepted manifest expires on time and cannot be replayed', async (t) => {
  let now = Date.now();
  const r = receiver({ now: () => now, clockSkewMs: 0 });
  const m = manifest({ issuedAt: now, expiresAt: now + 150 });
  const expired = new Promise<Manifest>((resolve) => r.on('expired', resolve));
  const start = performance.now();
  r.accept(signed(m));
  t.equal((await expired).seq, m.seq);
  t.ok(performance.now() - start >= 140, 'not before expiresAt');
  t.equal(r.current(), undefined, 'the tools are gone');
  now = m.expiresAt + 1;
  t.throws(() => r.accept(signed(m)), { code: 'manifest_expired' });
  t.throws(() => r.accept(signed({ ...m, seq: m.seq - 1 })), { code: 'manifest_rollback' }, 'the high-water mark survives expiry');
  t.equal(r.highestSeq(), m.seq);
});

t.test('maxTtlMs caps how long a far-future expiry is honoured', async (t) => {
  const r = receiver({ now: () => Date.now(), maxTtlMs: 100 });
  const expired = new Promise<Manifest>((resolve) => r.on('expired', resolve));
  const envelope = signed(manifest({ issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }));
  r.accept(envelope);
  await expired;
  t.equal(r.current(), undefined);
  t.throws(() => r.accept(envelope), { code: 'manifest_expired' }, 'nor revived by sending it again');
});

t.test('a manifest dropped while valid (peer removed, then re-added) is current again until its deadline', async (t) => {
  let now = NOW;
  const r = receiver({ now: () => now, clockSkewMs: 0, maxTtlMs: 60_000 });
  const envelope = signed(manifest({ issuedAt: NOW, expiresAt: NOW + 3_600_000 }));
  t.equal(r.accept(envelope).status, 'accepted');
  r.close();
  t.equal(r.current(), undefined, 'removing the peer drops its tools');
  now += 30_000;
  t.equal(r.accept(envelope).status, 'accepted', 'the same manifest, re-sent on reconnect, is accepted again');
  t.equal(r.current()?.seq, 5);
  r.close();
  now += 30_000;
  t.throws(() => r.accept(envelope), { code: 'manifest_expired' }, 'but not past the deadline it had at first acceptance (maxTtlMs from then)');
  t.throws(() => r.accept(signed(manifest({ seq: 4 }))), { code: 'manifest_rollback' }, 'and the high-water mark still holds');
});

t.test('publisher: seq rises on change only, and never goes back across a restart (LevelDB)', async (t) => {
  const location = join(await tempDir(), 'db');
  let store = new Store(location);
  await store.open();
  let publisher = new ManifestPublisher({ identity: issuer, namespace: 'acme', store: new LevelSeqStore(store.sublevel('manifest-seq')) });
  const r = receiver({ now: () => Date.now() });
  const first = await publisher.setTools(AUDIENCE, [tool('forecast'), tool('alerts')]);
  t.equal(first.manifest.seq, 1);
  t.equal(first.manifest.issuer.peerId, ISSUER);
  const same = await publisher.setTools(AUDIENCE, [tool('alerts'), tool('forecast')]);
  t.equal(same.manifest.seq, 1, 'same tools in another order: same manifest');
  t.same(Buffer.from(same.envelope), Buffer.from(first.envelope));
  const [x, y] = await Promise.all([publisher.setTools(AUDIENCE, [tool('forecast')]), publisher.setTools(AUDIENCE, [tool('alerts')])]);
  t.same([x.manifest.seq, y.manifest.seq], [2, 3], 'concurrent changes get distinct, ordered seqs');
  t.equal(r.accept(y.envelope).status, 'accepted');
  await t.rejects(publisher.setTools(AUDIENCE, [tool('bad', { slug: 'NOT A SLUG' })]), { code: 'manifest_malformed' }, 'the publisher refuses what receivers would');
  publisher.stop();
  await store.close();

  store = new Store(location);
  await store.open();
  cleanups.push(() => store.close());
  publisher = new ManifestPublisher({ identity: issuer, namespace: 'acme', store: new LevelSeqStore(store.sublevel('manifest-seq')) });
  cleanups.push(() => publisher.stop());
  const after = await publisher.setTools(AUDIENCE, [tool('alerts')]);
  t.equal(after.manifest.seq, 4, 'the restarted publisher continues after the stored seq');
  t.equal(r.accept(after.envelope).status, 'accepted', 'and the peer accepts it');
  const other = await publisher.setTools(ATTACKER, []);
  t.equal(other.manifest.seq, 1, 'seqs are per audience');
});

t.test('publisher refreshes before expiry', async (t) => {
  const publisher = new ManifestPublisher({ identity: issuer, namespace: 'acme', store: new MemorySeqStore(), ttlMs: 450 });
  cleanups.push(() => publisher.stop());
  const start = performance.now();
  const first = await publisher.setTools(AUDIENCE, [tool('forecast')]);
  const refreshed = await new Promise<number>((resolve) => publisher.on('published', ({ signed: s }) => resolve(s.manifest.seq)));
  const at = performance.now() - start;
  t.equal(refreshed, first.manifest.seq + 1);
  t.ok(at >= 290 && at < 450, `refreshed at ${at.toFixed(0)} ms of a 450 ms TTL (2/3 = 300)`);
  publisher.stop();
});

t.test('push over real hosts: accept, change, rollback nack, silent peer expires', async (t) => {
  const [ia, ib] = [issuer, audience];
  const mk = async (id: NodeIdentity): Promise<PeerHost> => {
    const h = await createPeerHost({ identity: id, backoff: { baseMs: 50, maxMs: 400 } });
    cleanups.push(() => h.stop());
    return h;
  };
  const a = await mk(ia);
  const b = await mk(ib);
  await a.start();
  await b.start();
  await a.setPeers([{ alias: 'b', peerId: b.peerId, addresses: b.multiaddrs() }]);
  await b.setPeers([{ alias: 'a', peerId: a.peerId, addresses: [] }]);

  const publisherA = new ManifestPublisher({ identity: ia, namespace: 'acme', store: new MemorySeqStore(), ttlMs: 60_000 });
  cleanups.push(() => publisherA.stop());
  const exA = new ManifestExchange({ host: a, publisher: publisherA });
  const publisherB = new ManifestPublisher({ identity: ib, namespace: 'beta', store: new MemorySeqStore() });
  cleanups.push(() => publisherB.stop());
  const exB = new ManifestExchange({
    host: b,
    publisher: publisherB,
    receiver: { clockSkewMs: 0 },
    namespaceOf: (peerId) => (peerId === a.peerId ? 'acme' : undefined),
  });
  await exA.start();
  await exB.start();
  const next = <K extends keyof ManifestExchangeEvents>(
    ex: ManifestExchange,
    event: K,
    match: (d: ManifestExchangeEvents[K]) => boolean = () => true,
  ): Promise<ManifestExchangeEvents[K]> =>
    new Promise((resolve) => {
      const off = ex.on(event, (d) => {
        if (!match(d)) return;
        off();
        resolve(d);
      });
    });

  // Tools set before the link is up are pushed on connect.
  await exA.exportTo('b', [tool('forecast')]);
  let accepted = next(exB, 'accepted');
  await a.whenConnected('b');
  const first = await accepted;
  t.equal(first.alias, 'a');
  t.same(first.manifest.tools.map((x) => x.name), ['forecast']);

  // A change is pushed at once.
  accepted = next(exB, 'accepted');
  const answered = next(exA, 'answered', (d) => d.seq === 2);
  const start = performance.now();
  await exA.exportTo('b', [tool('forecast'), tool('alerts')]);
  t.equal((await accepted).manifest.seq, 2);
  t.comment(`change → accepted at the peer in ${(performance.now() - start).toFixed(1)} ms`);
  t.same((await answered).ack, { ok: true, seq: 2, status: 'accepted' });
  t.same(exB.manifest('a')?.tools.map((x) => x.name), ['alerts', 'forecast']);
  t.same(await exA.push('b'), { ok: true, seq: 2, status: 'unchanged' }, 'a repeated push is a no-op');

  // A publisher that lost its seqs (fresh store) is answered with a rollback nack.
  await exA.stop();
  const amnesiac = new ManifestPublisher({ identity: ia, namespace: 'acme', store: new MemorySeqStore(), ttlMs: 300 });
  cleanups.push(() => amnesiac.stop());
  const exA2 = new ManifestExchange({ host: a, publisher: amnesiac });
  await exA2.start();
  const rejected = next(exB, 'rejected');
  await exA2.exportTo('b', [tool('forecast')]);
  t.same(await exA2.push('b'), { ok: false, code: 'manifest_rollback' });
  t.equal((await rejected).code, 'manifest_rollback');
  t.equal(exB.manifest('a')?.seq, 2, 'the accepted manifest stays');

  await exA2.stop();

  // Refresh over the wire, then silence: a 300 ms manifest is refreshed at ~200 ms; when A stops refreshing, B drops the tools.
  const seeded = new MemorySeqStore();
  await seeded.put(b.peerId, 2);
  const short = new ManifestPublisher({ identity: ia, namespace: 'acme', store: seeded, ttlMs: 300 });
  cleanups.push(() => short.stop());
  const exA3 = new ManifestExchange({ host: a, publisher: short });
  await exA3.start();
  accepted = next(exB, 'accepted');
  await exA3.exportTo('b', [tool('radar'), tool('forecast')]);
  t.equal((await accepted).manifest.seq, 3);
  const refreshed = await next(exB, 'accepted');
  t.equal(refreshed.manifest.seq, 4, 'refreshed before expiry and pushed');
  short.stop(); // A goes silent
  const silentAt = performance.now();
  const gone = await next(exB, 'expired');
  t.equal(gone.alias, 'a');
  t.equal(gone.manifest.seq, 4);
  t.ok(performance.now() - silentAt < 1_000, 'expired on schedule (TTL 300 ms)');
  t.equal(exB.manifest('a'), undefined, 'the silent peer’s tools disappeared');
  await exA3.stop();

  // Removing the peer from the allow-list drops its tools at once.
  const seeded2 = new MemorySeqStore();
  await seeded2.put(b.peerId, 10);
  const publisherA4 = new ManifestPublisher({ identity: ia, namespace: 'acme', store: seeded2 });
  cleanups.push(() => publisherA4.stop());
  const exA4 = new ManifestExchange({ host: a, publisher: publisherA4 });
  await exA4.start();
  accepted = next(exB, 'accepted');
  await exA4.exportTo('b', [tool('radar')]);
  t.equal((await accepted).manifest.seq, 11);
  const removed = next(exB, 'removed');
  await b.setPeers([]);
  t.same(await removed, { alias: 'a', peerId: a.peerId });
  t.equal(exB.manifest('a'), undefined);
  await exA4.stop();
  await exB.stop();
});
