/**
 * `diffTrustPolicies`: each kind of change, order-insensitive rule comparison,
 * and the text a reviewer reads.
 */
import t from 'tap';
import { join } from 'node:path';
import { diffTrustPolicies, loadTrustPolicy, renderTrustDiff, type TrustPolicy } from '../../federation/trust/index.js';

type Writable<T> = T extends readonly (infer U)[] ? Writable<U>[] : T extends object ? { -readonly [K in keyof T]: Writable<T[K]> } : T;

const EXAMPLES = join(import.meta.dirname, '../../trust-config/examples');
const sales = await loadTrustPolicy(join(EXAMPLES, 'sales'));

function variant(change: (p: Writable<TrustPolicy>) => void): TrustPolicy {
  const p = structuredClone(sales) as Writable<TrustPolicy>;
  change(p);
  return p as TrustPolicy;
}
const peer = (p: Writable<TrustPolicy>, alias: string) => p.peers.find((x) => x.alias === alias)!;

t.test('no change', async (t) => {
  t.same(diffTrustPolicies(sales, structuredClone(sales)), []);
  t.equal(renderTrustDiff([]), 'no changes');
  const reordered = variant((p) => {
    const support = peer(p, 'support');
    support.imports.reverse();
    support.inbound.scopeCeiling.reverse();
  });
  t.same(diffTrustPolicies(sales, reordered), [], 'rule order is not a change');
});

t.test('from nothing: everything is added', async (t) => {
  const kinds = diffTrustPolicies(undefined, sales).map((c) => c.kind);
  t.same([...new Set(kinds)], ['node_changed', 'anchor_added', 'peer_added', 'export_added', 'import_added']);
  t.match(renderTrustDiff(diffTrustPolicies(undefined, sales)), /^\+ node namespace: example-corp$/m);
});

t.test('peer added and removed, with what it gets', async (t) => {
  const without = variant((p) => void (p.peers = p.peers.filter((x) => x.alias !== 'acme')));
  const added = diffTrustPolicies(without, sales);
  t.same(
    added.map((c) => [c.kind, 'server' in c ? c.server : '']),
    [
      ['peer_added', ''],
      ['export_added', 'crm'],
      ['export_added', 'quotes'],
      ['import_added', 'inventory'],
    ],
  );
  t.same(added[0], { kind: 'peer_added', peer: 'acme', entityId: 'https://mesh.acme.test', peerId: '12D3KooWGfA46b8RMxqJ6ggZW23HTYeiqs13cc2cJJXHXupViw8o' });
  const removed = diffTrustPolicies(sales, without);
  t.same(removed.map((c) => c.kind), ['peer_removed', 'export_removed', 'export_removed', 'import_removed']);
  t.equal(
    renderTrustDiff(added),
    [
      '+ peer acme (https://mesh.acme.test, 12D3KooWGfA46b8RMxqJ6ggZW23HTYeiqs13cc2cJJXHXupViw8o)',
      '+ export to acme: crm >=2.4.0 <3.0.0 tools lookup_customer (read) for peer groups acme-account-managers',
      '+ export to acme: quotes ~3.1.0 tools get_quote, list_products (read) for peer groups acme-account-managers, acme-resellers',
      '+ import from acme: inventory tools check_stock, get_lead_time for local groups sales-reps',
    ].join('\n'),
  );
});

t.test('export, import and translation changes', async (t) => {
  const after = variant((p) => {
    const acme = peer(p, 'acme');
    acme.exports[1]!.versions = '^3.1.0';
    acme.imports.push({ server: 'shipping', tools: '*', groups: ['sales-ops'] });
    acme.inbound.maxTokenTtlSeconds = 60;
    acme.inbound.groupMapping['acme-resellers'] = ['partner-quotes-readers', 'partner-crm-readers'];
    acme.addresses = ['/dns4/mesh2.acme.test/tcp/7400'];
    acme.rateLimit = { perMinute: 30, burst: 5 };
  });
  const changes = diffTrustPolicies(sales, after);
  t.same(
    changes.map((c) => [c.kind, 'field' in c ? c.field : 'server' in c ? c.server : '']),
    [
      ['peer_changed', 'addresses'],
      ['peer_changed', 'rateLimit'],
      ['export_changed', 'quotes'],
      ['import_added', 'shipping'],
      ['translation_changed', 'groupMapping'],
      ['translation_changed', 'maxTokenTtlSeconds'],
    ],
  );
  const exportChange = changes.find((c) => c.kind === 'export_changed');
  t.same(exportChange && 'before' in exportChange && [exportChange.before, exportChange.after].map((r) => (r as { versions: string }[])[0]!.versions), ['~3.1.0', '^3.1.0']);
  t.equal(
    renderTrustDiff(changes),
    [
      '~ peer acme addresses: [/dns4/mesh.acme.test/tcp/7400] → [/dns4/mesh2.acme.test/tcp/7400]',
      '~ peer acme rateLimit: 60/min burst 10 → 30/min burst 5',
      '~ export to acme: quotes',
      '    - quotes ~3.1.0 tools get_quote, list_products (read) for peer groups acme-account-managers, acme-resellers',
      '    + quotes ^3.1.0 tools get_quote, list_products (read) for peer groups acme-account-managers, acme-resellers',
      '+ import from acme: shipping tools * for local groups sales-ops',
      '~ inbound groupMapping for acme: {acme-account-managers: partner-crm-readers, partner-quotes-readers; acme-resellers: partner-quotes-readers}' +
        ' → {acme-account-managers: partner-crm-readers, partner-quotes-readers; acme-resellers: partner-quotes-readers, partner-crm-readers}',
      '~ inbound maxTokenTtlSeconds for acme: 120 → 60',
    ].join('\n'),
  );
});

t.test('node and trust anchor changes', async (t) => {
  const after = variant((p) => {
    p.node.alias = 'sales-eu';
    p.trustAnchors = p.trustAnchors.filter((a) => a.entityId !== 'https://trust.acme.test');
    p.trustAnchors[0]!.jwks!.keys[0]!.x = 'AAAA';
    p.trustAnchors.push({ entityId: 'https://trust.partner.test', pinnedKeys: ['x'.repeat(43)] });
  });
  t.same(
    diffTrustPolicies(sales, after).map((c) => [c.kind, 'entityId' in c ? c.entityId : 'field' in c ? c.field : '']),
    [
      ['node_changed', 'alias'],
      ['anchor_removed', 'https://trust.acme.test'],
      ['anchor_changed', 'https://trust.example-corp.test'],
      ['anchor_added', 'https://trust.partner.test'],
    ],
  );
});
