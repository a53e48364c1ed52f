/**
 * The pure parts of token translation as tables of vectors: scope ceilings,
 * `act` chains, the replay cache, the client's token cache (single flight,
 * refresh margin) and the adapters from a loaded trust policy.
 */
import t from 'tap';
import { loadTrustPolicy } from '../../federation/trust/index.js';
import {
  actClaim,
  actorChain,
  entryAdmits,
  inboundPolicyFromTrust,
  MemoryReplayCache,
  outsideCeiling,
  parseScope,
  peerKeysFromTrust,
} from '../../federation/token-exchange/index.js';
import { refreshMargin, TokenCache } from '../../federation/token-exchange/token-cache.js';
import { publicKeyFromPeerId } from '../../federation/peer/identity.js';

t.test('scope ceiling entries', async (t) => {
  const vectors: Array<[entry: string, scope: string, admits: boolean]> = [
    ['mcp:tool:crm:read', 'mcp:tool:crm:read', true],
    ['mcp:tool:crm:read', 'mcp:tool:crm:write', false],
    ['mcp:tool:crm:write', 'mcp:tool:crm:read', true],
    ['mcp:tool:crm:write', 'mcp:tool:crmx:read', false],
    ['mcp:tool:*:read', 'mcp:tool:quotes:read', true],
    ['mcp:tool:*:read', 'mcp:tool:quotes:write', false],
    ['mcp:tool:*:write', 'mcp:tool:quotes:read', true],
    ['mcp:tool:*:read', 'mcp:tool:a:b:read', false],
    ['mcp:tool:crm', 'mcp:tool:crm:read', false],
    ['other:x:write', 'other:x:read', false],
  ];
  for (const [entry, scope, admits] of vectors) t.equal(entryAdmits(entry, scope), admits, `${entry} ${admits ? 'admits' : 'refuses'} ${scope}`);
  t.same(outsideCeiling(['mcp:tool:crm:read', 'mcp:tool:hr:read'], ['mcp:tool:crm:write']), ['mcp:tool:hr:read']);
  t.same(parseScope('  a b  a '), ['a', 'b']);
  t.equal(parseScope('a "b'), undefined);
  t.equal(parseScope(Array.from({ length: 65 }, (_, i) => `s${i}`).join(' ')), undefined);
});

t.test('act claims and chains', async (t) => {
  const chain = [
    { subject: 'https://b.test', node: 'b' },
    { subject: 'https://a.test', node: 'a' },
  ];
  const claim = actClaim(chain);
  t.same(claim, { sub: 'https://b.test', ns: 'b', act: { sub: 'https://a.test', ns: 'a' } });
  t.same(actorChain(claim), chain, 'round trip');
  t.same(actorChain(undefined), []);
  t.equal(actClaim([]), undefined);
  const hostile: unknown[] = [
    'x',
    [],
    null,
    { sub: 'a' },
    { sub: '', ns: 'a' },
    { sub: 'a', ns: 'a', extra: 1 },
    { sub: 'a', ns: 'a', act: 'b' },
    actClaim(Array.from({ length: 9 }, (_, i) => ({ subject: `https://n${i}.test`, node: `n${i}` }))),
  ];
  for (const h of hostile) t.equal(actorChain(h), undefined, `refused: ${JSON.stringify(h)?.slice(0, 60)}`);
  t.ok(actorChain(actClaim(Array.from({ length: 8 }, (_, i) => ({ subject: `https://n${i}.test`, node: `n${i}` })))), '8 hops accepted');
});

t.test('replay cache: once per jti, bounded, fails closed when full', async (t) => {
  const cache = new MemoryReplayCache(2);
  t.equal(cache.remember('a', 100, 50), 'fresh');
  t.equal(cache.remember('a', 100, 60), 'replayed');
  t.equal(cache.remember('b', 200, 60), 'fresh');
  t.equal(cache.remember('c', 200, 60), 'full', 'full of unexpired entries: refuse, do not forget');
  t.equal(cache.remember('c', 200, 101), 'fresh', "after a's expiry its slot is reused");
  t.equal(cache.size, 2);
  t.equal(cache.remember('b', 200, 150), 'replayed');
  t.throws(() => new MemoryReplayCache(0), RangeError);
});

t.test('token cache: refresh margin and single flight', async (t) => {
  t.equal(refreshMargin(30), 3);
  t.equal(refreshMargin(60), 6);
  t.equal(refreshMargin(3600), 30);
  t.equal(refreshMargin(5), 1);

  let now = 1000;
  const cache = new TokenCache(2);
  let loads = 0;
  const load = (ttl = 30) => async () => {
    loads++;
    await new Promise((r) => setTimeout(r, 5));
    return { accessToken: `tok${loads}`, expiresAt: now + ttl, refreshAt: now + ttl - refreshMargin(ttl), scopes: [] };
  };
  const results = await Promise.all([cache.getOrLoad('k', () => now, load()), cache.getOrLoad('k', () => now, load()), cache.getOrLoad('k', () => now, load())]);
  t.equal(loads, 1);
  t.same(results.map((r) => r.fresh), [true, false, false]);
  now += 26;
  t.equal((await cache.getOrLoad('k', () => now, load())).entry.accessToken, 'tok1');
  now += 1;
  t.equal((await cache.getOrLoad('k', () => now, load())).entry.accessToken, 'tok2', 'refreshed at 27 s of 30');

  // Bounded: a third key evicts the oldest.
  await cache.getOrLoad('k2', () => now, load());
  await cache.getOrLoad('k3', () => now, load());
  t.equal(cache.size, 2);

  // A failed load is shared by its waiters and not cached.
  const failing = async () => {
    loads++;
    throw new Error('boom');
  };
  const before = loads;
  const settled = await Promise.allSettled([cache.getOrLoad('f', () => now, failing), cache.getOrLoad('f', () => now, failing)]);
  t.same(settled.map((s) => s.status), ['rejected', 'rejected']);
  t.equal(loads - before, 1);
  t.equal(cache.get('f', now), undefined);
});

t.test('adapters from a loaded trust policy (trust-config/examples/sales)', async (t) => {
  const policy = await loadTrustPolicy(new URL('../../trust-config/examples/sales', import.meta.url).pathname);
  const acme = policy.peers.find((p) => p.alias === 'acme')!;
  const keys = peerKeysFromTrust(() => policy);
  const byEntity = await keys(acme.entityId);
  t.equal(byEntity?.alias, 'acme');
  t.equal(byEntity?.namespace, 'acme', 'default namespace: the alias');
  t.same(byEntity?.publicJwk, publicKeyFromPeerId(acme.peerId).export({ format: 'jwk' }), 'the key inlined in the pinned peer id');
  t.equal(await keys('acme'), undefined, 'not by alias: a peer’s assertions name it by entity id');
  t.equal(await keys('https://nobody.test'), undefined);
  t.equal((await peerKeysFromTrust(() => policy, { namespaceOf: () => 'acme-corp' })(acme.entityId))?.namespace, 'acme-corp');

  const inbound = inboundPolicyFromTrust(() => policy);
  t.same(await inbound('acme'), {
    groupMapping: acme.inbound.groupMapping,
    scopeCeiling: acme.inbound.scopeCeiling,
    maxTtlSeconds: acme.inbound.maxTokenTtlSeconds,
  });
  t.equal(await inbound('nobody'), undefined);
});
