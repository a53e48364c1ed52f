/**
 * The remote-call frame codec refuses malformed input with a typed error,
 * and a peer's manifest becomes server records only through our import
 * policy: tools no rule names are dropped, each kept tool carries the local
 * groups that may call it, and lifecycle and schemas are the manifest's.
 */
import t from 'tap';
import { pack } from 'msgpackr';
import { decodeCallRequest, decodeCallResponse, encodeCallRequest, encodeCallResponse } from '../../federation/remote/call-protocol.js';
import { RemoteDirectory } from '../../federation/remote/remote-directory.js';
import type { Manifest } from '../../federation/manifest/index.js';
import type { PeerPolicy } from '../../federation/trust/index.js';

t.test('call frames: round trip, and malformed frames are call_malformed', async (t) => {
  const request = { v: 1 as const, token: 'tok', correlationId: 'c-1', slug: 'crm', version: '1.0.0', method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } };
  t.same(decodeCallRequest(encodeCallRequest(request)), request);
  t.same(decodeCallResponse(encodeCallResponse({ status: 200, body: { result: {} } })), { status: 200, body: { result: {} } });
  const bad: Array<[string, Uint8Array]> = [
    ['not msgpack', Uint8Array.of(0xc1, 0xff, 0x00)],
    ['empty', new Uint8Array()],
    ['a string', pack('hello')],
    ['wrong version', pack({ ...request, v: 2 })],
    ['no token', pack({ ...request, token: undefined })],
    ['params not an object', pack({ ...request, params: [1, 2] })],
    ['method not a string', pack({ ...request, method: 42 })],
  ];
  for (const [name, bytes] of bad) {
    t.throws(() => decodeCallRequest(bytes), { code: 'call_malformed' }, name);
  }
  t.throws(() => decodeCallResponse(pack({ status: '200', body: {} })), { code: 'call_malformed' }, 'response status not a number');
});

const manifest: Manifest = {
  v: 1,
  issuer: { namespace: 'example-corp', peerId: '12D3KooWpeer' },
  audience: '12D3KooWus',
  seq: 3,
  issuedAt: Date.parse('2026-11-27T00:00:00Z'),
  expiresAt: Date.parse('2026-11-27T01:00:00Z'),
  tools: [
    { slug: 'tickets', version: '1.2.0', lifecycle: 'stable', name: 'search', inputSchema: { type: 'object' }, access: 'read' },
    { slug: 'tickets', version: '1.2.0', lifecycle: 'stable', name: 'create', inputSchema: { type: 'object', required: ['title'] }, access: 'write' },
    { slug: 'tickets', version: '1.2.0', lifecycle: 'stable', name: 'purge', inputSchema: { type: 'object' }, access: 'write' },
    { slug: 'tickets', version: '2.0.0-beta.1', lifecycle: 'beta', name: 'search', inputSchema: { type: 'object' }, access: 'read' },
    { slug: 'billing', version: '1.0.0', lifecycle: 'deprecated', name: 'invoice', inputSchema: { type: 'object' }, access: 'read' },
  ],
};

const policy = {
  alias: 'support',
  imports: [
    { server: 'tickets', tools: ['search', 'create'], groups: ['reps'] },
    { server: 'tickets', tools: ['search'], groups: ['managers'] },
  ],
} as unknown as PeerPolicy;

t.test('a manifest becomes records only through the import policy', async (t) => {
  const dir = new RemoteDirectory();
  dir.setPeer('support', manifest, policy);
  t.same(dir.slugs(), ['support.tickets'], 'billing is not imported: absent');
  const versions = dir.versions('support.tickets');
  t.same(versions.map((r) => r.version), ['2.0.0-beta.1', '1.2.0'], 'both versions, newest first');
  const v1 = versions.find((r) => r.version === '1.2.0')!;
  t.same(v1.tools.map((x) => x.name), ['search', 'create'], 'purge is exported but not imported: dropped');
  t.same(v1.tools.find((x) => x.name === 'search')?.allowedGroups, ['managers', 'reps']);
  t.same(v1.tools.find((x) => x.name === 'create')?.allowedGroups, ['reps'], 'managers may not create');
  t.same(v1.allowedGroups, ['managers', 'reps']);
  t.same(v1.backend, { remote: { peer: 'support', slug: 'tickets', version: '1.2.0' } });
  t.same(v1.tools.find((x) => x.name === 'create')?.inputSchema, { type: 'object', required: ['title'] }, 'the manifest’s schema is what we validate against');
  t.equal(versions.find((r) => r.version === '2.0.0-beta.1')?.lifecycle, 'beta');
  t.equal(dir.isWithheld(), false);

  dir.setPeer('support', undefined, policy);
  t.same(dir.slugs(), [], 'no manifest (expired, removed): nothing');
  dir.setPeer('support', manifest, undefined);
  t.same(dir.slugs(), [], 'no policy for the peer: nothing');
});
