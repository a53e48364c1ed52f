/**
 * The decisions federation asks of a trust policy: default deny, and each
 * denial says which part of the call no rule matched. Against the Sales
 * example (support: crm read tools; acme: one crm tool and two quotes tools).
 */
import t from 'tap';
import { join } from 'node:path';
import {
  decideImport,
  decidePeerCall,
  exportedSubset,
  exportFor,
  findPeerById,
  inboundGrant,
  loadTrustPolicy,
  mayImport,
  mayPeerCall,
  type TrustPolicy,
} from '../../federation/trust/index.js';

const EXAMPLES = join(import.meta.dirname, '../../trust-config/examples');
const sales = await loadTrustPolicy(join(EXAMPLES, 'sales'));
const empty: TrustPolicy = { ...sales, peers: [] };

t.test('mayPeerCall: allowed only when one rule matches everything', async (t) => {
  t.equal(mayPeerCall(sales, 'support', ['support-agents'], 'crm', '2.3.1', 'lookup_customer', 'read'), true);
  t.same(decidePeerCall(sales, 'support', ['other', 'support-leads'], 'crm', '2.0.0', 'search_accounts', 'read'), { allowed: true, peer: 'support', rule: 0 });
  t.equal(mayPeerCall(sales, 'acme', ['acme-resellers'], 'quotes', '3.1.7', 'list_products', 'read'), true);
});

const denials: [string, Parameters<typeof decidePeerCall>, string][] = [
  ['unknown peer', [sales, 'nobody', ['support-agents'], 'crm', '2.3.1', 'lookup_customer', 'read'], 'unknown_peer'],
  ['no peers at all', [empty, 'support', ['support-agents'], 'crm', '2.3.1', 'lookup_customer', 'read'], 'unknown_peer'],
  ['server not exported to this peer', [sales, 'support', ['support-agents'], 'quotes', '3.1.0', 'get_quote', 'read'], 'server_not_exported'],
  ['version outside the range', [sales, 'support', ['support-agents'], 'crm', '3.0.0', 'lookup_customer', 'read'], 'version_not_exported'],
  ['partner: older crm than exported', [sales, 'acme', ['acme-account-managers'], 'crm', '2.3.9', 'lookup_customer', 'read'], 'version_not_exported'],
  ['a pre-release is not in a plain range', [sales, 'support', ['support-agents'], 'crm', '2.4.0-beta.1', 'lookup_customer', 'read'], 'version_not_exported'],
  ['not a version', [sales, 'support', ['support-agents'], 'crm', 'latest', 'lookup_customer', 'read'], 'version_not_exported'],
  ['tool not in the subset', [sales, 'acme', ['acme-account-managers'], 'crm', '2.5.0', 'search_accounts', 'read'], 'tool_not_exported'],
  ['write tool under a read rule', [sales, 'support', ['support-agents'], 'crm', '2.3.1', 'lookup_customer', 'write'], 'access_not_exported'],
  ['no allowed group', [sales, 'support', ['sales-reps'], 'crm', '2.3.1', 'lookup_customer', 'read'], 'group_not_allowed'],
  ['no groups', [sales, 'acme', [], 'quotes', '3.1.0', 'get_quote', 'read'], 'group_not_allowed'],
  ["another peer's group", [sales, 'acme', ['support-agents'], 'quotes', '3.1.0', 'get_quote', 'read'], 'group_not_allowed'],
];
for (const [name, args, reason] of denials) {
  t.test(`denied: ${name}`, async (t) => {
    t.same(decidePeerCall(...args), { allowed: false, peer: args[1], reason });
    t.equal(mayPeerCall(...args), false);
  });
}

t.test('a write rule covers read tools too', async (t) => {
  const support = await loadTrustPolicy(join(EXAMPLES, 'support'));
  t.equal(mayPeerCall(support, 'sales', ['sales-reps'], 'tickets', '1.4.0', 'create_ticket', 'write'), true);
  t.equal(mayPeerCall(support, 'sales', ['sales-managers'], 'tickets', '1.4.0', 'create_ticket', 'write'), false, 'managers only read');
  t.equal(mayPeerCall(support, 'sales', ['sales-managers'], 'tickets', '1.4.0', 'get_ticket', 'read'), true);
});

t.test('mayImport: which local groups may call which remote tools', async (t) => {
  t.same(decideImport(sales, 'support', ['sales-reps'], 'tickets', 'create_ticket'), { allowed: true, peer: 'support', rule: 0 });
  t.same(decideImport(sales, 'support', ['sales-managers'], 'tickets', 'get_ticket'), { allowed: true, peer: 'support', rule: 1 });
  t.same(decideImport(sales, 'support', ['sales-managers'], 'tickets', 'create_ticket'), { allowed: false, peer: 'support', reason: 'group_not_allowed' });
  t.same(decideImport(sales, 'support', ['sales-reps'], 'tickets', 'delete_ticket'), { allowed: false, peer: 'support', reason: 'tool_not_imported' });
  t.same(decideImport(sales, 'support', ['sales-reps'], 'crm', 'lookup_customer'), { allowed: false, peer: 'support', reason: 'server_not_imported' });
  t.same(decideImport(sales, 'nobody', ['sales-reps'], 'tickets', 'get_ticket'), { allowed: false, peer: 'nobody', reason: 'unknown_peer' });
  t.equal(mayImport(sales, 'acme', ['sales-reps'], 'inventory', 'check_stock'), true);
  t.equal(mayImport(sales, 'acme', [], 'inventory', 'check_stock'), false, 'no groups, no import');
  t.equal(mayImport(empty, 'acme', ['sales-reps'], 'inventory', 'check_stock'), false);
});

t.test('exportFor: what a peer is offered', async (t) => {
  const acme = exportFor(sales, 'acme')!;
  t.same(acme.rateLimit, { perMinute: 60, burst: 10 });
  t.same(acme.rules.map((r) => [r.server, r.versions, r.tools, r.access]), [
    ['crm', '>=2.4.0 <3.0.0', ['lookup_customer'], 'read'],
    ['quotes', '~3.1.0', ['get_quote', 'list_products'], 'read'],
  ]);
  t.equal(exportFor(sales, 'nobody'), undefined);
});

t.test('exportedSubset: the exact tools a manifest lists', async (t) => {
  const servers = [
    { slug: 'crm', version: '2.5.0', tools: [{ name: 'lookup_customer', access: 'read' as const }, { name: 'search_accounts', access: 'read' as const }, { name: 'delete_customer', access: 'write' as const }] },
    { slug: 'crm', version: '2.3.0', tools: [{ name: 'lookup_customer', access: 'read' as const }] },
    { slug: 'quotes', version: '3.1.2', tools: [{ name: 'get_quote', access: 'read' as const }, { name: 'list_products', access: 'write' as const }] },
    { slug: 'billing', version: '1.0.0', tools: [{ name: 'charge', access: 'write' as const }] },
  ];
  t.same(
    exportedSubset(sales, 'acme', servers).map((e) => [`${e.server.slug}@${e.server.version}`, e.tools.map((x) => x.name)]),
    [
      ['crm@2.5.0', ['lookup_customer']],
      ['quotes@3.1.2', ['get_quote']],
    ],
    'version ranges, tool subsets and access all narrow; the registry classifies access',
  );
  t.same(exportedSubset(sales, 'nobody', servers), []);
});

t.test('inboundGrant: group mapping, scope and lifetime ceilings', async (t) => {
  t.same(inboundGrant(sales, 'acme', ['acme-account-managers', 'unmapped']), {
    groups: ['partner-crm-readers', 'partner-quotes-readers'],
    scopes: ['mcp:tool:crm:read', 'mcp:tool:quotes:read'],
    ttlSeconds: 120,
  });
  t.same(inboundGrant(sales, 'acme', ['acme-resellers'], { scopes: ['mcp:tool:quotes:read', 'mcp:tool:quotes:write', 'mcp:admin'], ttlSeconds: 3600 }), {
    groups: ['partner-quotes-readers'],
    scopes: ['mcp:tool:quotes:read'],
    ttlSeconds: 120,
  });
  t.same(inboundGrant(sales, 'acme', ['acme-resellers'], { ttlSeconds: 30 })?.ttlSeconds, 30, 'a shorter request is honoured');
  t.same(inboundGrant(sales, 'acme', ['toString', '__proto__'])?.groups, [], 'only own mapping entries');
  t.equal(inboundGrant(sales, 'nobody', ['acme-resellers']), undefined);
});

t.test('findPeerById: the connection gater question', async (t) => {
  t.equal(findPeerById(sales, '12D3KooW9ztgCJZfhnYbedsju7BthY2x1TrRdUesVGqeyDbM2ufe')?.alias, 'support');
  t.equal(findPeerById(sales, '12D3KooWHv8ezPsP7PwWPgaUTdRrTdLXjecXLJ2CZhXvpwx4VXDW'), undefined, 'not itself');
});
