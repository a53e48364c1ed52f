/**
 * The remote-call frame codec refuses malformed input with a typed error,
 * and a peer's manifest becomes server records only through our import
 * policy: tools no rule names are dropped, each kept tool carries the local
 * groups that may call it, and lifecycle and schemas are the manifest's. A
 * peer's refusal reaches our caller only with a reason a peer may give.
 */
import t from 'tap';
import { pack } from 'msgpackr';
import { decodeCallRequest, decodeCallResponse, encodeCallRequest, encodeCallResponse } from '../../federation/remote/call-protocol.js';
import { RemoteDirectory } from '../../federation/remote/remote-directory.js';
import { RemoteBackend } from '../../federation/remote/remote-backend.js';
import type { GatewayError } from '../../src/gateway/errors.js';
import type { Identity } from '../../src/auth/identity.js';
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

t.test('a peer’s refusal reaches our caller only with a reason a peer may give, and known data', async (t) => {
  // The peer's side of the link as bytes: what its gateway answered (status and JSON-RPC body).
  let answer: { status: number; body: Record<string, unknown> } = { status: 200, body: {} };
  const backend = new RemoteBackend(
    { peer: 'evil', slug: 'x', version: '1.0.0' },
    {
      host: { peer: () => ({ status: 'connected' }) as never, request: async () => encodeCallResponse(answer) },
      tokens: { token: async () => 'tok', forget: () => undefined },
      accessOf: () => 'read',
      callTimeoutMs: 1_000,
    },
  );
  const caller = { identity: { kind: 'oauth', subject: 's', groups: [], scopes: [], principal: 'oauth:s', class: 'person' } as Identity, correlationId: crypto.randomUUID() };
  const refusal = (reason: string, data: Record<string, unknown> = {}) => ({
    status: 403,
    body: { jsonrpc: '2.0', id: null, error: { code: -32003, message: `no: ${reason}`, data: { reason, ...data } } },
  });
  const cases: Array<[string, Record<string, unknown>, string, Record<string, unknown>]> = [
    ['trust_denied', { cause: 'tool_not_exported', extra: 'x' }, 'trust_denied', { cause: 'tool_not_exported', peer: 'evil' }],
    ['rate_limited', { retryAfter: 3 }, 'rate_limited', { retryAfter: 3, peer: 'evil' }],
    ['sunset', { migrationUrl: 'https://m.example' }, 'sunset', { migrationUrl: 'https://m.example', peer: 'evil' }],
    ['invalid_token', {}, 'trust_denied', { peer: 'evil' }],
    ['insufficient_scope', {}, 'trust_denied', { peer: 'evil' }],
    ['audit_unavailable', { extra: 'injected' }, 'upstream_unavailable', { peer: 'evil' }],
    ['internal_error', {}, 'upstream_unavailable', { peer: 'evil' }],
  ];
  for (const [given, data, expected, kept] of cases) {
    answer = refusal(given, data);
    const err = await backend.request({ method: 'tools/call', params: { name: 'echo' }, caller }).then(
      () => undefined,
      (e: unknown) => e as GatewayError,
    );
    t.equal(err?.reason, expected, `${given} → ${expected}`);
    t.same(err?.data, kept, `${given}: only known data members, and the peer`);
  }
  answer = { status: 200, body: { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } } };
  t.same(await backend.request({ method: 'tools/call', params: { name: 'echo' }, caller }), { result: { content: [{ type: 'text', text: 'ok' }] } }, 'results pass');
});

t.test('a token exchange that hangs uses up the call’s deadline: upstream_timeout, not a longer wait', async (t) => {
  let sent = 0;
  const backend = new RemoteBackend(
    { peer: 'slow', slug: 'x', version: '1.0.0' },
    {
      host: { peer: () => ({ status: 'connected' }) as never, request: async () => (sent++, encodeCallResponse({ status: 200, body: {} })) },
      tokens: { token: () => new Promise<string>(() => undefined), forget: () => undefined },
      accessOf: () => 'read',
      callTimeoutMs: 5_000,
    },
  );
  const caller = { identity: { kind: 'oauth', subject: 's', groups: [], scopes: [], principal: 'oauth:s', class: 'person' } as Identity, correlationId: crypto.randomUUID() };
  const started = performance.now();
  const err = await backend.request({ method: 'tools/call', params: { name: 'echo' }, caller, timeoutMs: 200 }).then(
    () => undefined,
    (e: unknown) => e as GatewayError,
  );
  t.match(err, { reason: 'upstream_timeout', status: 504 });
  const took = performance.now() - started;
  t.ok(took >= 190 && took < 2_000, `gave up at the deadline (${Math.round(took)} ms)`);
  t.equal(sent, 0, 'nothing was sent to the peer');
});
