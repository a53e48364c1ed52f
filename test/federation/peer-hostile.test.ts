/**
 * A pinned peer that sends hostile remote-call frames to a real node over
 * real libp2p: every frame counts against the peer's rate limit before
 * anything in it is read; refusals are audited with nothing the peer chose
 * beyond well-formed values (no unverified identity, no oversized fields).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { planNode, startMeshNode, startTestAnchor, writeTrust } from '../helpers/mesh.js';
import { removeDir, type TestNode } from '../helpers/node.js';
import { createPeerHost, type PeerHost } from '../../federation/peer/index.js';
import { CALL_PROTOCOL, decodeCallResponse, encodeCallRequest, type RemoteCallRequest } from '../../federation/remote/call-protocol.js';

const cleanups: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const b = await planNode('b', 'unit-b');
const evil = await planNode('evil', 'evil-org');
const anchor = await startTestAnchor([b, evil]);
cleanups.push(() => anchor.stop());
await writeTrust(b, [
  {
    plan: evil,
    rateLimit: { perMinute: 1, burst: 3 },
    exports: [{ server: 'tickets', tools: ['echo'], access: 'read', groups: ['g'] }],
    inbound: { groupMapping: { g: ['readers'] }, scopeCeiling: ['mcp:tool:tickets:read'], maxTokenTtlSeconds: 60 },
  },
], { trustAnchors: [anchor.pin] });
const B: TestNode = await startMeshNode(b, { auth: {} });
cleanups.push(() => removeDir(b.dataDir));
cleanups.push(() => B.stop());
cleanups.push(() => removeDir(evil.dataDir));
// The hostile peer: a bare libp2p host with the pinned identity, no node behind it.
const host: PeerHost = await createPeerHost({ identity: evil.identity, listen: [evil.multiaddr], peers: [{ alias: 'b', peerId: b.peerId, addresses: [b.multiaddr] }] });
cleanups.push(() => host.stop());
await host.start();
await host.whenConnected('b', { timeoutMs: 10_000 });

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** Unsigned, claiming to be a token B issued to this peer for someone important. */
const forged = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: b.entityId, peer: 'evil', sub: 'ceo@example.com', peer_groups: ['g'] })}.`;
const send = async (frame: Uint8Array) => decodeCallResponse(await host.request('b', CALL_PROTOCOL, frame, { timeoutMs: 5_000 }));
const call = (over: Partial<RemoteCallRequest>): RemoteCallRequest => ({
  v: 1,
  token: forged,
  correlationId: crypto.randomUUID(),
  slug: 'tickets',
  version: '1.0.0',
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hi' } },
  ...over,
});

t.test('hostile frames: refused with their reason, rate-limited first, audited without peer-chosen bulk', async (t) => {
  const before = (await B.node.audit.query({ limit: 1000 })).length;
  const hugeId = randomBytes(300_000).toString('base64');
  const answers = [
    await send(Uint8Array.of(0xc1)), // not msgpack
    await send(encodeCallRequest(call({ correlationId: hugeId, method: 'x'.repeat(10_000) }))),
    await send(encodeCallRequest(call({}))),
    await send(encodeCallRequest(call({}))), // over the burst of 3
  ];
  t.match(answers.map((a) => [a.status, (a.body.error as { data?: { reason?: string } }).data?.reason]), [
    [400, 'invalid_request'],
    [401, 'invalid_token'],
    [401, 'invalid_token'],
    [429, 'rate_limited'],
  ]);
  const entries = (await B.node.audit.query({ limit: 1000 })).slice(before).filter((e) => e.kind === 'rejection');
  t.equal(entries.length, 4, 'each refusal audited once');
  for (const e of entries) {
    t.match(e.correlationId, /^[0-9a-f-]{36}$/, 'a UUID: the peer’s oversized id was replaced');
    t.equal(e.identity, undefined, 'no identity taken from an unverified token');
    t.ok(JSON.stringify(e).length < 2_000, 'a small entry');
  }
  t.equal(entries[1]!.method, '-', 'an implausible method name is not recorded');
  t.match(entries[3], { reason: 'rate_limited', detail: { peer: 'evil', cause: 'peer_rate_limit' } });
});
