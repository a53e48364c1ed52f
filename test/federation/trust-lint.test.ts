/**
 * `lintTrustPolicy`: each rule as one case — a clean example policy changed in
 * one place, and the finding (level, code, path) that change must produce.
 */
import t from 'tap';
import { join } from 'node:path';
import { lintError, lintTrustPolicy, loadTrustPolicy, type LintCode, type LintFinding, type TrustPolicy } from '../../federation/trust/index.js';

/** TrustPolicy with its readonly arrays writable, for building cases. */
type Writable<T> = T extends readonly (infer U)[] ? Writable<U>[] : T extends object ? { -readonly [K in keyof T]: Writable<T[K]> } : T;

const EXAMPLES = join(import.meta.dirname, '../../trust-config/examples');
const sales = await loadTrustPolicy(join(EXAMPLES, 'sales'));
const ACME_ID = '12D3KooWGfA46b8RMxqJ6ggZW23HTYeiqs13cc2cJJXHXupViw8o';

function variant(change: (p: Writable<TrustPolicy>) => void): TrustPolicy {
  const p = structuredClone(sales) as Writable<TrustPolicy>;
  change(p);
  return p as TrustPolicy;
}
const peer = (p: Writable<TrustPolicy>, alias: string) => p.peers.find((x) => x.alias === alias)!;

t.same(lintTrustPolicy(sales), [], 'the example is clean');

interface Case {
  name: string;
  change: (p: Writable<TrustPolicy>) => void;
  knownServers?: string[];
  expect: { level: LintFinding['level']; code: LintCode; path: string; message?: RegExp }[];
}

const cases: Case[] = [
  {
    name: 'exported server not registered',
    change: () => undefined,
    knownServers: ['crm'],
    expect: [{ level: 'warning', code: 'unknown_server', path: 'peers/acme.yaml#/exports/1/server', message: /"quotes" is not registered/ }],
  },
  {
    name: 'overlapping export rules for one server',
    change: (p) => void peer(p, 'support').exports.push({ server: 'crm', versions: '^2.5.0', tools: ['lookup_customer'], access: 'write', groups: ['support-leads'] }),
    expect: [{ level: 'warning', code: 'overlapping_export', path: 'peers/support.yaml#/exports/1', message: /overlaps \/exports\/0/ }],
  },
  {
    name: 'disjoint versions do not overlap',
    change: (p) => void peer(p, 'support').exports.push({ server: 'crm', versions: '^3.0.0', tools: '*', access: 'read', groups: ['support-leads'] }),
    expect: [],
  },
  {
    name: 'overlapping import rules',
    change: (p) => void peer(p, 'support').imports.push({ server: 'tickets', tools: '*', groups: ['sales-reps'] }),
    expect: [{ level: 'warning', code: 'overlapping_import', path: 'peers/support.yaml#/imports/2' }],
  },
  {
    name: 'two peers with one peer id',
    change: (p) => void (peer(p, 'support').peerId = ACME_ID),
    expect: [{ level: 'error', code: 'duplicate_peer_id', path: 'peers/support.yaml#/peerId', message: /also peer "acme"/ }],
  },
  {
    name: 'two peers with one entity id',
    change: (p) => void (peer(p, 'support').entityId = 'https://mesh.acme.test'),
    expect: [{ level: 'error', code: 'duplicate_entity_id', path: 'peers/support.yaml#/entityId' }],
  },
  {
    name: 'a peer that is this node',
    change: (p) => void (peer(p, 'support').peerId = p.node.peerId!),
    expect: [{ level: 'error', code: 'peer_is_self', path: 'peers/support.yaml#/peerId' }],
  },
  {
    name: 'a peer without addresses',
    change: (p) => void (peer(p, 'acme').addresses = []),
    expect: [{ level: 'warning', code: 'peer_without_addresses', path: 'peers/acme.yaml#/addresses', message: /never dials it/ }],
  },
  {
    name: 'an address naming another peer id',
    change: (p) => void (peer(p, 'support').addresses = ['/dns4/support.example-corp.test/tcp/7400/p2p/' + ACME_ID]),
    expect: [{ level: 'error', code: 'address_peer_id_mismatch', path: 'peers/support.yaml#/addresses/0' }],
  },
  {
    name: 'an address naming its own peer id is fine',
    change: (p) => void (peer(p, 'acme').addresses = ['/ip4/10.0.0.9/tcp/7400/p2p/' + ACME_ID]),
    expect: [],
  },
  {
    name: 'an address without tcp',
    change: (p) => void (peer(p, 'acme').addresses = ['/ip4/10.0.0.9/udp/7400/quic-v1']),
    expect: [{ level: 'warning', code: 'address_not_tcp', path: 'peers/acme.yaml#/addresses/0' }],
  },
  {
    name: 'import rules naming aggregate tool names',
    change: (p) => void (peer(p, 'support').imports[0]!.tools = ['tickets__get_ticket', 'support.create_ticket', 'get.ticket']),
    expect: [
      { level: 'warning', code: 'implausible_tool_name', path: 'peers/support.yaml#/imports/0/tools/0', message: /aggregate name/ },
      { level: 'warning', code: 'implausible_tool_name', path: 'peers/support.yaml#/imports/0/tools/1', message: /peer's alias/ },
    ],
  },
  {
    name: 'a scope ceiling wider than the exports',
    change: (p) => void (peer(p, 'support').inbound.scopeCeiling = ['mcp:tool:crm:write', 'mcp:tool:billing:read']),
    expect: [
      { level: 'warning', code: 'scope_wider_than_export', path: 'peers/support.yaml#/inbound/scopeCeiling/0', message: /only read access/ },
      { level: 'warning', code: 'scope_wider_than_export', path: 'peers/support.yaml#/inbound/scopeCeiling/1', message: /"billing" is not exported/ },
    ],
  },
  {
    name: 'an exported peer group without a mapping, and a mapping nobody uses',
    change: (p) => {
      const { groupMapping } = peer(p, 'support').inbound;
      delete groupMapping['support-leads'];
      groupMapping['support-interns'] = ['crm-readers'];
    },
    expect: [
      { level: 'warning', code: 'unmapped_export_group', path: 'peers/support.yaml#/exports/0/groups/1' },
      { level: 'warning', code: 'unused_group_mapping', path: 'peers/support.yaml#/inbound/groupMapping/support-interns' },
    ],
  },
  {
    name: 'every tool with write access',
    change: (p) => {
      const rule = peer(p, 'support').exports[0]!;
      rule.tools = '*';
      rule.access = 'write';
      peer(p, 'support').inbound.scopeCeiling = ['mcp:tool:crm:write'];
    },
    expect: [{ level: 'warning', code: 'wildcard_write_export', path: 'peers/support.yaml#/exports/0' }],
  },
  {
    name: 'plain http entity ids outside loopback',
    change: (p) => {
      peer(p, 'support').entityId = 'http://support.example-corp.test';
      p.node.entityId = 'http://127.0.0.1:7300';
    },
    expect: [{ level: 'warning', code: 'insecure_entity_id', path: 'peers/support.yaml#/entityId' }],
  },
  {
    name: 'a peer sharing nothing',
    change: (p) => {
      const acme = peer(p, 'acme');
      acme.exports = [];
      acme.imports = [];
      acme.inbound.groupMapping = {};
      acme.inbound.scopeCeiling = [];
    },
    expect: [{ level: 'warning', code: 'nothing_shared', path: 'peers/acme.yaml' }],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const findings = lintTrustPolicy(variant(c.change), c.knownServers ? { knownServers: c.knownServers } : {});
    t.same(
      findings.map((f) => ({ level: f.level, code: f.code, path: f.path })),
      c.expect.map((e) => ({ level: e.level, code: e.code, path: e.path })),
    );
    c.expect.forEach((e, i) => e.message && t.match(findings[i]?.message, e.message));
  });
}

t.test('errors come first; lintError turns them into a trust_policy_lint refusal', async (t) => {
  const p = variant((p) => {
    peer(p, 'acme').addresses = [];
    peer(p, 'support').peerId = ACME_ID;
  });
  const findings = lintTrustPolicy(p);
  t.same(findings.map((f) => f.level), ['error', 'warning']);
  const err = lintError(findings)!;
  t.equal(err.code, 'trust_policy_lint');
  t.same(err.issues.map((i) => [i.file, i.pointer]), [['peers/support.yaml', '/peerId']], 'only the errors, by file and pointer');
  t.equal(lintError(lintTrustPolicy(sales)), undefined);
});
