/**
 * OpenID Federation trust chains between real koa servers on 127.0.0.1, each
 * with a real Ed25519 node identity (no mocks): a mesh anchor vouching for
 * leaf nodes directly and through intermediates, a partner anchor, and
 * hostile servers. The clock is frozen at NOW on every server and resolver.
 *
 * Evidence, in order: a valid chain resolves with the anchor's policy applied
 * (namespace forced by `value`, scopes cut by `subset_of`) and is cached
 * until invalidated; a four-statement chain merges two policies; then each
 * failure with its code; then the endpoints' own error answers.
 */
import t, { type Test } from 'tap';
import Koa from 'koa';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity, type NodeIdentity } from '../../src/node/identity.js';
import {
  AnchorRegistry,
  federationRouter,
  jwksOf,
  resolveTrustChain,
  TrustChainResolver,
  ENTITY_STATEMENT_MEDIA_TYPE,
  type EntityMetadata,
  type FederationEndpointsOptions,
  type FederationTrustErrorCode,
  type FetchLike,
  type ResolveTrustChainOptions,
  type SubordinateRegistration,
} from '../../federation/oidfed/index.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const clock = (): number => NOW;

const dirs: string[] = [];
const servers: Server[] = [];
t.teardown(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function identity(): Promise<NodeIdentity> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-oidfed-'));
  dirs.push(dir);
  return (await loadOrCreateIdentity(dir)).identity;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback server whose entity id is known before its routes are: chains refer to each other. */
interface Entity {
  entityId: string;
  identity: NodeIdentity;
  serve(handler: Handler): void;
}

async function entity(): Promise<Entity> {
  let handler: Handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handler(req, res));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { entityId: `http://127.0.0.1:${port}`, identity: await identity(), serve: (h) => (handler = h) };
}

/** Serve the federation endpoints on `e` (with a registry of `subordinates`, when given). */
function federate(
  e: Entity,
  opts: { metadata?: EntityMetadata; hints?: Entity[]; subordinates?: SubordinateRegistration[] } & Partial<FederationEndpointsOptions> = {},
): AnchorRegistry | undefined {
  const { metadata = {}, hints, subordinates, ...rest } = opts;
  const registry = subordinates ? new AnchorRegistry({ issuer: e.entityId, allowInsecure: true, entries: subordinates }) : undefined;
  const app = new Koa();
  app.use(
    federationRouter({
      identity: e.identity,
      entityId: e.entityId,
      metadata,
      now: clock,
      allowInsecure: true,
      ...(hints ? { authorityHints: hints.map((h) => h.entityId) } : {}),
      ...(registry ? { registry } : {}),
      ...rest,
    }).routes(),
  );
  e.serve(app.callback());
  return registry;
}

function nodeMetadata(e: Entity, extra: Record<string, unknown> = {}): EntityMetadata {
  return {
    toolmesh_node: {
      peer_id: `12D3KooW-${e.entityId.slice(-5)}`,
      namespace: 'sales',
      token_endpoint: `${e.entityId}/federation/token`,
      manifest_protocol: '/toolmesh/manifest/1',
      scopes_supported: ['tools:read', 'tools:call', 'admin'],
      ...extra,
    },
  };
}

function sub(e: Entity, extra: Partial<SubordinateRegistration> = {}): SubordinateRegistration {
  return { entityId: e.entityId, jwks: jwksOf(e.identity), ...extra };
}

const MESH_POLICY = {
  toolmesh_node: {
    namespace: { value: 'mesh' },
    scopes_supported: { subset_of: ['tools:read', 'tools:call'] },
  },
};

// --- The federation -------------------------------------------------------
const [anchor, partner, leaf1, leaf2, wrongKeyLeaf, orphan, excludedLeaf, badProtocolLeaf] = await Promise.all(
  Array.from({ length: 8 }, () => entity()),
);
const [inter, interLimited, interConflict, deepLeaf, limitedLeaf, conflictLeaf] = await Promise.all(Array.from({ length: 6 }, () => entity()));
const [shortAnchor, expiringLeaf, hugeDeclared, hugeChunked, slow, wrongType] = await Promise.all(Array.from({ length: 6 }, () => entity()));
const [partnerLeaf, multiHomed] = await Promise.all([entity(), entity()]);
const stranger = await identity();

federate(anchor, {
  metadata: { federation_entity: { organization_name: 'Mesh anchor' } },
  subordinates: [
    sub(leaf1, { metadataPolicy: MESH_POLICY, constraints: { naming_constraints: { permitted: ['127.0.0.1'] } } }),
    sub(leaf2, { metadataPolicy: MESH_POLICY }),
    // The anchor registered a key the leaf does not sign with.
    { entityId: wrongKeyLeaf.entityId, jwks: jwksOf(stranger) },
    sub(excludedLeaf, { constraints: { naming_constraints: { excluded: ['127.0.0.1'] } } }),
    sub(badProtocolLeaf, { metadataPolicy: { toolmesh_node: { manifest_protocol: { one_of: ['/toolmesh/manifest/1'] } } } }),
    sub(inter, { metadataPolicy: MESH_POLICY }),
    sub(interLimited, { constraints: { max_path_length: 0 } }),
    sub(interConflict, { metadataPolicy: MESH_POLICY }),
    sub(multiHomed, { metadataPolicy: MESH_POLICY }),
  ],
});
// The partner org's anchor knows its own leaf only.
federate(partner, { subordinates: [sub(partnerLeaf, { metadataPolicy: { toolmesh_node: { namespace: { value: 'partner' } } } })] });
federate(partnerLeaf, { metadata: nodeMetadata(partnerLeaf), hints: [partner] });
// Names both anchors; only the mesh anchor registered it.
federate(multiHomed, { metadata: nodeMetadata(multiHomed), hints: [partner, anchor] });
for (const leaf of [leaf1, leaf2, wrongKeyLeaf, orphan, excludedLeaf]) federate(leaf, { metadata: nodeMetadata(leaf), hints: [anchor] });
federate(badProtocolLeaf, { metadata: nodeMetadata(badProtocolLeaf, { manifest_protocol: '/toolmesh/manifest/0' }), hints: [anchor] });

federate(inter, { hints: [anchor], subordinates: [sub(deepLeaf, { metadataPolicy: { toolmesh_node: { scopes_supported: { subset_of: ['tools:read'] } } } })] });
federate(interLimited, { hints: [anchor], subordinates: [sub(limitedLeaf)] });
federate(interConflict, { hints: [anchor], subordinates: [sub(conflictLeaf, { metadataPolicy: { toolmesh_node: { namespace: { value: 'rogue' } } } })] });
federate(deepLeaf, { metadata: nodeMetadata(deepLeaf), hints: [inter] });
federate(limitedLeaf, { metadata: nodeMetadata(limitedLeaf), hints: [interLimited] });
federate(conflictLeaf, { metadata: nodeMetadata(conflictLeaf), hints: [interConflict] });

// An anchor issuing subordinate statements valid for one minute only.
federate(shortAnchor, { subordinates: [sub(expiringLeaf)], subordinateTtlSeconds: 60 });
federate(expiringLeaf, { metadata: nodeMetadata(expiringLeaf), hints: [shortAnchor] });

const big = 'x'.repeat(1024 * 1024);
hugeDeclared.serve((_req, res) => {
  res.writeHead(200, { 'content-type': ENTITY_STATEMENT_MEDIA_TYPE, 'content-length': Buffer.byteLength(big) });
  res.end(big);
});
hugeChunked.serve((_req, res) => {
  res.writeHead(200, { 'content-type': ENTITY_STATEMENT_MEDIA_TYPE });
  for (let i = 0; i < 32; i++) res.write('y'.repeat(8192));
  res.end();
});
slow.serve(() => {
  // Never answers.
});
wrongType.serve((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<html></html>');
});

const trustMesh = { entityId: anchor.entityId, jwks: jwksOf(anchor.identity) };
const trustPartner = { entityId: partner.entityId, jwks: jwksOf(partner.identity) };
const base: ResolveTrustChainOptions = { trustAnchors: [trustMesh], allowInsecure: true, now: NOW, timeoutMs: 2_000 };

async function refuses(
  t: Test,
  entityId: string,
  code: FederationTrustErrorCode,
  options: Partial<ResolveTrustChainOptions> = {},
  details: Record<string, unknown> = {},
): Promise<void> {
  const p = resolveTrustChain(entityId, { ...base, ...options });
  await t.rejects(p, { name: 'FederationTrustError', code, details });
  await p.catch((err: Error) => t.comment(`${code}: ${err.message}`));
}

// --- Valid chains ---------------------------------------------------------
t.test('a leaf vouched for by the mesh anchor resolves, with the anchor policy applied', async (t) => {
  const chain = await resolveTrustChain(leaf1.entityId, base);
  t.equal(chain.entityId, leaf1.entityId);
  t.equal(chain.anchor, anchor.entityId);
  t.equal(chain.chain.length, 3, 'leaf configuration, anchor statement, anchor configuration');
  t.same(chain.chain.map((s) => [s.claims.iss, s.claims.sub]), [
    [leaf1.entityId, leaf1.entityId],
    [anchor.entityId, leaf1.entityId],
    [anchor.entityId, anchor.entityId],
  ]);
  t.ok(chain.chain.every((s) => s.header.typ === 'entity-statement+jwt' && s.header.alg === 'EdDSA'));
  t.same(chain.leafJwks, jwksOf(leaf1.identity), 'leaf keys as the anchor registered them');
  t.equal(chain.metadata.toolmesh_node?.namespace, 'mesh', 'value forces the namespace');
  t.same(chain.metadata.toolmesh_node?.scopes_supported, ['tools:read', 'tools:call'], 'subset_of drops admin');
  t.equal(chain.metadata.toolmesh_node?.manifest_protocol, '/toolmesh/manifest/1', 'other parameters untouched');
  t.equal(chain.expiresAt, NOW / 1000 + 86_400, 'the earliest exp in the chain');
});

t.test('the second leaf resolves too', async (t) => {
  const chain = await resolveTrustChain(leaf2.entityId, base);
  t.same(chain.leafJwks, jwksOf(leaf2.identity));
  t.equal(chain.metadata.toolmesh_node?.namespace, 'mesh');
});

t.test('a leaf below an intermediate: four statements, policies merged from the anchor down', async (t) => {
  const chain = await resolveTrustChain(deepLeaf.entityId, base);
  t.same(chain.chain.map((s) => s.claims.iss), [deepLeaf.entityId, inter.entityId, anchor.entityId, anchor.entityId]);
  t.equal(chain.metadata.toolmesh_node?.namespace, 'mesh');
  t.same(chain.metadata.toolmesh_node?.scopes_supported, ['tools:read'], 'subset_of of anchor ∩ intermediate');
});

t.test('the resolver caches until expiresAt, and invalidate() forgets', async (t) => {
  const urls: string[] = [];
  const counting: FetchLike = (url, init) => {
    urls.push(url);
    return fetch(url, init);
  };
  let now = NOW;
  const resolver = new TrustChainResolver({ ...base, now: () => now, fetch: counting });
  const [a, b] = await Promise.all([resolver.resolve(leaf1.entityId), resolver.resolve(leaf1.entityId)]);
  t.equal(a, b, 'concurrent resolutions share one walk');
  t.equal(urls.length, 3, 'leaf configuration, anchor configuration, fetch endpoint');
  t.equal(await resolver.resolve(leaf1.entityId), a, 'cache hit');
  t.equal(urls.length, 3);
  resolver.invalidate(leaf1.entityId);
  const c = await resolver.resolve(leaf1.entityId);
  t.not(c, a, 'resolved again after invalidate');
  t.equal(urls.length, 6);
  now = a.expiresAt * 1000;
  t.equal(resolver.cached(leaf1.entityId), undefined, 'an expired chain is not served from cache');
  now = NOW;

  const during = resolver.resolve(leaf2.entityId);
  resolver.invalidate(leaf2.entityId);
  await during;
  t.equal(resolver.cached(leaf2.entityId), undefined, 'a walk under way at invalidate() is not cached');

  const aborted = new AbortController();
  aborted.abort();
  const own = resolver.resolve(leaf2.entityId, { signal: aborted.signal });
  const sharedWalk = resolver.resolve(leaf2.entityId);
  await t.rejects(own, { name: 'FederationTrustError' }, 'a caller aborts its own walk');
  t.equal((await sharedWalk).entityId, leaf2.entityId, '… and no one else’s');
});

// --- Refusals -------------------------------------------------------------
t.test('a leaf signing with a key other than the one its anchor registered', (t) =>
  refuses(t, wrongKeyLeaf.entityId, 'bad_signature', {}, { entityId: wrongKeyLeaf.entityId }));

t.test('an anchor we do not trust', (t) =>
  refuses(t, leaf1.entityId, 'unknown_anchor', { trustAnchors: [{ entityId: partner.entityId, jwks: jwksOf(partner.identity) }] }));

t.test('the anchor configuration signed with a key other than the pinned one', (t) =>
  refuses(t, leaf1.entityId, 'bad_signature', { trustAnchors: [{ entityId: anchor.entityId, jwks: jwksOf(stranger) }] }, { entityId: anchor.entityId }));

t.test("a partner's anchor, when trusted too, vouches for the partner's leaf only", async (t) => {
  const both = { ...base, trustAnchors: [trustMesh, trustPartner] };
  const chain = await resolveTrustChain(partnerLeaf.entityId, both);
  t.equal(chain.anchor, partner.entityId);
  t.equal(chain.metadata.toolmesh_node?.namespace, 'partner', "the partner anchor's policy, not ours");
  t.equal((await resolveTrustChain(leaf1.entityId, both)).anchor, anchor.entityId);
  await refuses(t, partnerLeaf.entityId, 'unknown_anchor', {}, { entityId: partner.entityId });
});

t.test('an entity with two authority hints: the first fails, the second holds', async (t) => {
  const chain = await resolveTrustChain(multiHomed.entityId, { ...base, trustAnchors: [trustMesh, trustPartner] });
  t.equal(chain.anchor, anchor.entityId);
  const p = resolveTrustChain(multiHomed.entityId, { ...base, trustAnchors: [trustPartner] });
  await t.rejects(p, {
    code: 'fetch_failed',
    details: {
      status: 404,
      attempts: [
        { authority: partner.entityId, code: 'fetch_failed' },
        { authority: anchor.entityId, code: 'unknown_anchor' },
      ],
    },
  }, 'the most telling failure, every attempt listed');
});

t.test('an anchor pinned by key thumbprint', async (t) => {
  const pinned = { entityId: anchor.entityId, pinnedKeyThumbprints: [anchor.identity.kid] };
  t.equal((await resolveTrustChain(leaf1.entityId, { ...base, trustAnchors: [pinned] })).anchor, anchor.entityId);
  await refuses(t, leaf1.entityId, 'bad_signature', { trustAnchors: [{ entityId: anchor.entityId, pinnedKeyThumbprints: [stranger.kid] }] }, {
    entityId: anchor.entityId,
  });
});

t.test('an expired subordinate statement', (t) =>
  refuses(t, expiringLeaf.entityId, 'expired', {
    trustAnchors: [{ entityId: shortAnchor.entityId, jwks: jwksOf(shortAnchor.identity) }],
    now: NOW + 10 * 60_000,
  }));

t.test('max_path_length 0 set by the anchor, with an intermediate below it', (t) =>
  refuses(t, limitedLeaf.entityId, 'constraint_violation', {}, { constraint: 'max_path_length' }));

t.test('more intermediates than the resolver allows', (t) => refuses(t, deepLeaf.entityId, 'chain_too_long', { maxPathLength: 0 }));

t.test('naming_constraints exclude the leaf host', (t) =>
  refuses(t, excludedLeaf.entityId, 'constraint_violation', {}, { constraint: 'naming_constraints', entityId: excludedLeaf.entityId }));

t.test('conflicting policies (anchor value mesh, intermediate value rogue)', (t) =>
  refuses(t, conflictLeaf.entityId, 'metadata_policy_error', {}, { parameter: 'toolmesh_node.namespace' }));

t.test('leaf metadata violating the policy (one_of)', (t) =>
  refuses(t, badProtocolLeaf.entityId, 'metadata_policy_error', {}, { parameter: 'toolmesh_node.manifest_protocol' }));

t.test('the fetch endpoint answers 404 for a leaf the anchor does not know', (t) =>
  refuses(t, orphan.entityId, 'fetch_failed', {}, { status: 404 }));

t.test('an oversize response, declared or streamed', async (t) => {
  await refuses(t, hugeDeclared.entityId, 'response_too_large');
  await refuses(t, hugeChunked.entityId, 'response_too_large', { maxResponseBytes: 100_000 });
});

t.test('a server that never answers', async (t) => {
  const started = Date.now();
  await refuses(t, slow.entityId, 'fetch_timeout', { timeoutMs: 300 });
  t.ok(Date.now() - started < 2_000, 'gave up at the deadline');
});

t.test('a wrong content type', (t) => refuses(t, wrongType.entityId, 'fetch_failed', {}, { status: 200 }));

t.test('an http entity id without allowInsecure', (t) =>
  t.rejects(resolveTrustChain(leaf1.entityId, { trustAnchors: [] }), { code: 'invalid_configuration' }));

t.test('the fetch budget bounds a resolution', (t) => refuses(t, deepLeaf.entityId, 'fetch_failed', { maxFetches: 3 }));

// --- Endpoint answers -----------------------------------------------------
t.test('endpoints: well-known and fetch answers', async (t) => {
  const wk = await fetch(`${anchor.entityId}/.well-known/openid-federation`);
  t.equal(wk.status, 200);
  t.equal(wk.headers.get('content-type'), ENTITY_STATEMENT_MEDIA_TYPE);
  t.match(await wk.text(), /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const ok = await fetch(`${anchor.entityId}/federation/fetch?sub=${encodeURIComponent(leaf1.entityId)}`);
  t.equal(ok.status, 200);
  t.equal(ok.headers.get('content-type'), ENTITY_STATEMENT_MEDIA_TYPE);

  const cases: [string, number, string][] = [
    ['', 400, 'invalid_request'],
    ['?sub=', 400, 'invalid_request'],
    ['?sub=not-a-url', 400, 'invalid_request'],
    [`?sub=${encodeURIComponent(`${leaf1.entityId}/?x=1`)}`, 400, 'invalid_request'],
    [`?sub=${encodeURIComponent(leaf1.entityId)}&sub=${encodeURIComponent(leaf2.entityId)}`, 400, 'invalid_request'],
    [`?sub=${encodeURIComponent(anchor.entityId)}`, 400, 'invalid_request'],
    [`?sub=${encodeURIComponent(orphan.entityId)}`, 404, 'not_found'],
  ];
  for (const [query, status, error] of cases) {
    const res = await fetch(`${anchor.entityId}/federation/fetch${query}`);
    t.equal(res.status, status, `fetch${query}`);
    t.match(res.headers.get('content-type'), /^application\/json/);
    const body = (await res.json()) as { error: string; error_description: string };
    t.equal(body.error, error);
    t.type(body.error_description, 'string');
  }

  const leafFetch = await fetch(`${leaf1.entityId}/federation/fetch?sub=${encodeURIComponent(leaf2.entityId)}`);
  t.equal(leafFetch.status, 404, 'a leaf has no subordinates');
  t.equal(((await leafFetch.json()) as { error: string }).error, 'not_found');
});

t.test('endpoints: a bad configuration fails at construction', async (t) => {
  const id = await identity();
  t.throws(() => federationRouter({ identity: id, entityId: 'http://127.0.0.1:1', metadata: {} }), { code: 'invalid_configuration' });
  t.throws(
    () =>
      federationRouter({
        identity: id,
        entityId: 'http://127.0.0.1:1',
        metadata: {},
        allowInsecure: true,
        registry: new AnchorRegistry({ issuer: 'http://127.0.0.1:2', allowInsecure: true }),
      }),
    { code: 'invalid_configuration' },
  );
  const registry = new AnchorRegistry({ issuer: 'http://127.0.0.1:1', allowInsecure: true });
  t.throws(() => registry.add({ entityId: 'http://127.0.0.1:1', jwks: jwksOf(id) }), { code: 'invalid_configuration' }, 'not itself');
  t.throws(() => registry.add({ entityId: 'http://127.0.0.1:3', jwks: { keys: [id.privateJwk] } }), { code: 'invalid_configuration' }, 'no private keys');
  t.throws(
    () => registry.add({ entityId: 'http://127.0.0.1:3', jwks: jwksOf(id), metadataPolicy: { toolmesh_node: { namespace: { value: 'a', one_of: ['b'] } } } }),
    { code: 'invalid_configuration' },
    'no illegal policy',
  );
  registry.add({ entityId: 'http://127.0.0.1:3', jwks: jwksOf(id) });
  t.same(registry.list().map((r) => r.entityId), ['http://127.0.0.1:3']);
  t.equal(registry.remove('http://127.0.0.1:3'), true);
  t.same(registry.list(), []);
});
