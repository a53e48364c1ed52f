/**
 * Trust policy as files (issue "Federation", point 2): the shipped examples
 * load, lint clean and agree with each other; every class of bad input is
 * refused with a stable code naming the file, the field's JSON pointer and,
 * for YAML, the line.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  decidePeerCall,
  findPeerById,
  lintTrustPolicy,
  loadTrustPolicy,
  TRUST_POLICY_SCHEMA,
  TrustPolicyError,
  type TrustPolicy,
  type TrustPolicyErrorCode,
} from '../../federation/trust/index.js';

const EXAMPLES = join(import.meta.dirname, '../../trust-config/examples');
const NODES = ['sales', 'support', 'acme'] as const;

const scratch = await mkdtemp(join(tmpdir(), 'toolmesh-trust-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
let copies = 0;

/** A fresh copy of an example directory to break. */
async function copyOf(node: (typeof NODES)[number]): Promise<string> {
  const dir = join(scratch, `${node}-${++copies}`);
  await cp(join(EXAMPLES, node), dir, { recursive: true });
  return dir;
}

/** Replaces `from` with `to` in one file of `dir` (the text must be there). */
async function edit(dir: string, file: string, from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(join(dir, file), 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${file}: ${String(from)} not found`);
  await writeFile(join(dir, file), next);
}

async function refusal(dir: string): Promise<TrustPolicyError> {
  try {
    await loadTrustPolicy(dir);
  } catch (err) {
    if (err instanceof TrustPolicyError) return err;
    throw err;
  }
  throw new Error(`${dir} was accepted`);
}

const policies = new Map<string, TrustPolicy>();

t.test('the examples load and lint clean', async (t) => {
  for (const node of NODES) {
    const policy = await loadTrustPolicy(join(EXAMPLES, node));
    policies.set(node, policy);
    t.equal(policy.node.alias, node);
    t.same(lintTrustPolicy(policy), [], `${node}: no findings`);
    t.match(policy.source.hash, /^[0-9a-f]{64}$/);
  }
  const sales = policies.get('sales')!;
  t.same(sales.peers.map((p) => p.alias), ['acme', 'support'], 'peers sorted by alias');
  t.same(sales.source.files.map((f) => f.path), ['node.yaml', 'peers/acme.yaml', 'peers/support.yaml']);
});

t.test('normalisation fills defaults in', async (t) => {
  const acme = policies.get('acme')!;
  const sales = acme.peers[0]!;
  t.equal(sales.alias, 'excorp-sales', 'aliases are local names');
  t.same(sales.rateLimit, { perMinute: 120, burst: 20 }, 'node.yaml defaults.peerRateLimit');
  t.equal(sales.inbound.maxTokenTtlSeconds, 120, 'node.yaml defaults.maxTokenTtlSeconds');
  t.same(sales.inbound.scopeCeiling, ['mcp:tool:inventory:read'], 'scope ceiling derived from the exports');
  t.equal(sales.inbound.scopeCeilingDerived, true);
  const support = policies.get('support')!.peers[0]!;
  t.same(support.rateLimit, { perMinute: 600, burst: 100 }, 'the peer file wins');
  t.equal(support.inbound.scopeCeilingDerived, false);
  t.equal(policies.get('sales')!.peers[0]!.inbound.maxTokenTtlSeconds, 120, 'partner: stricter TTL than the node default');
});

t.test('the examples agree with each other', async (t) => {
  for (const node of NODES) {
    const a = policies.get(node)!;
    for (const peer of a.peers) {
      const b = [...policies.values()].find((p) => p.node.peerId === peer.peerId);
      if (!b) {
        t.fail(`${node}: peer ${peer.alias} is none of the example nodes`);
        continue;
      }
      t.equal(peer.entityId, b.node.entityId, `${node}/${peer.alias}: entity id is ${b.node.alias}'s`);
      const back = findPeerById(b, a.node.peerId!);
      t.ok(back, `${b.node.alias} knows ${node} back`);
      if (!back) continue;
      t.ok(b.trustAnchors.some((x) => x.entityId === back.trustAnchor) || back.trustAnchor === undefined, 'the anchor named is trusted there');
      t.ok(a.trustAnchors.some((x) => x.entityId === peer.trustAnchor), `${node} trusts the anchor it names for ${peer.alias}`);
      // Everything A imports from B, B exports to A for the same groups.
      for (const rule of peer.imports) {
        const tools = rule.tools === '*' ? ['*'] : rule.tools;
        for (const group of rule.groups) {
          for (const tool of tools) {
            const exported = back.exports.find((e) => e.server === rule.server && e.groups.includes(group) && (e.tools === '*' || e.tools.includes(tool)));
            t.ok(exported, `${node} imports ${rule.server}/${tool} for ${group}: ${b.node.alias} exports it`);
            if (!exported) continue;
            const version = exported.versions.replace(/^[^\d]*/, '').split(/\s/)[0]!;
            t.ok(decidePeerCall(b, back.alias, [group], rule.server, version, tool, exported.access).allowed, `${b.node.alias} lets ${node}'s ${group} call ${rule.server}/${tool}@${version}`);
          }
        }
      }
    }
  }
});

t.test('the schema: 2020-12, a description on every field', async (t) => {
  t.equal(TRUST_POLICY_SCHEMA.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const missing: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') {
      for (const [k, v] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) if (typeof v.description !== 'string') missing.push(`${path}/properties/${k}`);
    }
    for (const [k, v] of Object.entries(o)) walk(v, `${path}/${k}`);
  };
  walk(TRUST_POLICY_SCHEMA, '#');
  for (const [name, def] of Object.entries(TRUST_POLICY_SCHEMA.$defs as Record<string, { description?: string }>)) if (typeof def.description !== 'string') missing.push(`#/$defs/${name}`);
  t.same(missing, [], 'every property and definition is described');
});

t.test('JSON files mean the same as YAML ones', async (t) => {
  const dir = await copyOf('sales');
  for (const file of ['node', 'peers/acme', 'peers/support']) {
    const value: unknown = parseYaml(await readFile(join(dir, `${file}.yaml`), 'utf8'));
    await unlink(join(dir, `${file}.yaml`));
    await writeFile(join(dir, `${file}.json`), JSON.stringify(value, null, 2));
  }
  const json = await loadTrustPolicy(dir);
  const yaml = policies.get('sales')!;
  t.same({ ...json, source: undefined, peers: json.peers.map((p) => ({ ...p, file: undefined })) }, { ...yaml, source: undefined, peers: yaml.peers.map((p) => ({ ...p, file: undefined })) });
  t.equal(json.source.nodeFile, 'node.json');
});

t.test('files that are not policy are ignored', async (t) => {
  const dir = await copyOf('support');
  await writeFile(join(dir, 'README.md'), '# notes');
  await writeFile(join(dir, 'peers/.sales.yaml.swp'), '\0\0garbage');
  await writeFile(join(dir, 'peers/sales.yaml~'), 'garbage: [');
  t.same((await loadTrustPolicy(dir)).peers.map((p) => p.alias), ['sales']);
});

interface BadCase {
  name: string;
  node?: (typeof NODES)[number];
  /** Breaks a fresh copy. */
  apply(dir: string): Promise<void>;
  code: TrustPolicyErrorCode;
  file: string;
  pointer: string;
  message: RegExp;
  /** Expected line (YAML), when the case pins it. */
  line?: number;
}

const SUPPORT = 'peers/support.yaml';
const bad: BadCase[] = [
  {
    name: 'alias not lower case',
    apply: (d) => edit(d, SUPPORT, 'alias: support', 'alias: Support'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/alias',
    message: /node alias.*\^\[a-z\]/,
    line: 3,
  },
  {
    name: 'alias with a dot (and file named after it)',
    apply: async (d) => {
      await edit(d, SUPPORT, 'alias: support', 'alias: sup.port');
      await cp(join(d, SUPPORT), join(d, 'peers/sup.port.yaml'));
      await unlink(join(d, SUPPORT));
    },
    code: 'trust_policy_schema',
    file: 'peers/sup.port.yaml',
    pointer: '/alias',
    message: /no dots/,
  },
  {
    name: 'alias does not match the file name',
    apply: (d) => edit(d, SUPPORT, 'alias: support', 'alias: helpdesk'),
    code: 'trust_policy_inconsistent',
    file: SUPPORT,
    pointer: '/alias',
    message: /does not match the file name \(expected "support"\)/,
    line: 3,
  },
  {
    name: 'peer id too short',
    apply: (d) => edit(d, SUPPORT, /peerId: 12D3KooW\w+/, 'peerId: 12D3KooWabc'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/peerId',
    message: /Ed25519/,
    line: 9,
  },
  {
    name: 'peer id of an RSA key',
    apply: (d) => edit(d, SUPPORT, /peerId: 12D3KooW\w+/, 'peerId: QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/peerId',
    message: /not a libp2p peer id of an Ed25519 key/,
  },
  {
    name: 'unknown key in a rule',
    apply: (d) => edit(d, SUPPORT, '    access: read', '    access: read\n    toolz: "*"'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/exports/0/toolz',
    message: /unknown field "toolz"/,
    line: 23,
  },
  {
    name: 'unknown top-level key',
    apply: (d) => edit(d, 'node.yaml', 'namespace: example-corp', 'namespace: example-corp\nnamspace: typo'),
    code: 'trust_policy_schema',
    file: 'node.yaml',
    pointer: '/namspace',
    message: /unknown field "namspace"/,
  },
  {
    name: 'bad semver range',
    apply: (d) => edit(d, SUPPORT, 'versions: ">=2.0.0 <3.0.0"', 'versions: "two or later"'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/exports/0/versions',
    message: /not a valid semver range/,
    line: 20,
  },
  {
    name: 'wrong type: burst as text',
    apply: (d) => edit(d, SUPPORT, 'burst: 100', 'burst: lots'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/rateLimit/burst',
    message: /must be integer/,
  },
  {
    name: 'wrong type: tools as a number',
    apply: (d) => edit(d, SUPPORT, 'tools: [lookup_customer, search_accounts, get_account_history]', 'tools: 5'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/exports/0/tools',
    message: /`\*` \(all tools\) or a non-empty list of tool names/,
  },
  {
    name: 'access neither read nor write',
    apply: (d) => edit(d, SUPPORT, 'access: read', 'access: admin'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/exports/0/access',
    message: /allowed values/,
  },
  {
    name: 'a wildcard group',
    apply: (d) => edit(d, SUPPORT, 'groups: [support-agents, support-leads]', 'groups: ["*"]'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/exports/0/groups/0',
    message: /must NOT be valid/,
  },
  {
    name: 'mcp:admin in a scope ceiling',
    apply: (d) => edit(d, SUPPORT, 'scopeCeiling: ["mcp:tool:crm:read"]', 'scopeCeiling: ["mcp:admin"]'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/inbound/scopeCeiling/0',
    message: /never `mcp:admin`/,
  },
  {
    name: 'a TTL ceiling above an hour',
    apply: (d) => edit(d, SUPPORT, 'maxTokenTtlSeconds: 300', 'maxTokenTtlSeconds: 86400'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/inbound/maxTokenTtlSeconds',
    message: /<= 3600/,
  },
  {
    name: 'not a multiaddr',
    apply: (d) => edit(d, SUPPORT, '/dns4/support.example-corp.test/tcp/7400', '/ip4/999.0.0.1/tcp/7400'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/addresses/0',
    message: /not a valid multiaddr/,
  },
  {
    name: 'a private key in a trust anchor',
    apply: (d) => edit(d, 'node.yaml', '          use: sig', '          use: sig\n          d: c2VjcmV0'),
    code: 'trust_policy_schema',
    file: 'node.yaml',
    pointer: '/trustAnchors/0/jwks/keys/0/d',
    message: /private key material/,
  },
  {
    name: 'a trust anchor with both jwks and pinnedKeys',
    apply: (d) => edit(d, 'node.yaml', '    description: Example Corp mesh trust anchor (platform team)', '    description: x\n    pinnedKeys: [7jck3_ZXA0hxz1NG3mxRbJgCLwDbkWBja8llVgitQQw]'),
    code: 'trust_policy_schema',
    file: 'node.yaml',
    pointer: '/trustAnchors/0',
    message: /needs exactly one of `jwks`, `pinnedKeys`/,
  },
  {
    name: 'a required field missing',
    apply: (d) => edit(d, SUPPORT, /entityId: .*\n/, ''),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '/entityId',
    message: /is required/,
  },
  {
    name: 'an empty file',
    apply: (d) => writeFile(join(d, SUPPORT), '# nothing yet\n'),
    code: 'trust_policy_schema',
    file: SUPPORT,
    pointer: '',
    message: /must be object/,
  },
  {
    name: 'a peer naming an anchor this node does not trust',
    apply: (d) => edit(d, SUPPORT, 'trustAnchor: https://trust.example-corp.test', 'trustAnchor: https://trust.elsewhere.test'),
    code: 'trust_policy_inconsistent',
    file: SUPPORT,
    pointer: '/trustAnchor',
    message: /not one of the trust anchors in node\.yaml/,
  },
  {
    name: 'YAML syntax error',
    apply: (d) => edit(d, SUPPORT, 'tools: [lookup_customer, search_accounts, get_account_history]', 'tools: [lookup_customer, search_accounts'),
    code: 'trust_policy_syntax',
    file: SUPPORT,
    pointer: '',
    message: /not valid YAML/,
  },
  {
    name: 'a duplicate YAML key',
    apply: (d) => edit(d, SUPPORT, 'alias: support', 'alias: support\nalias: support'),
    code: 'trust_policy_syntax',
    file: SUPPORT,
    pointer: '',
    message: /unique/i,
    line: 4,
  },
  {
    name: 'a peer file that is a symlink to a FIFO (a read would block forever)',
    apply: async (d) => {
      execFileSync('mkfifo', [join(d, 'pipe')]);
      await symlink(join(d, 'pipe'), join(d, 'peers/pipe.yaml'));
    },
    code: 'trust_policy_unreadable',
    file: 'peers/pipe.yaml',
    pointer: '',
    message: /not a regular file/,
  },
  {
    name: 'a peer file that is a symlink to /dev/zero (a read would never end)',
    apply: (d) => symlink('/dev/zero', join(d, 'peers/zero.yaml')),
    code: 'trust_policy_unreadable',
    file: 'peers/zero.yaml',
    pointer: '',
    message: /not a regular file/,
  },
  {
    name: 'a peer file over the size limit (refused before it is read or parsed)',
    apply: (d) => writeFile(join(d, 'peers/huge.yaml'), `alias: huge\n# ${'x'.repeat(1024 * 1024)}\n`),
    code: 'trust_policy_syntax',
    file: 'peers/huge.yaml',
    pointer: '',
    message: /bytes: a policy file may have at most 1048576/,
  },
  {
    name: 'JSON syntax error',
    apply: (d) => writeFile(join(d, 'peers/extra.json'), '{ "alias": "extra",\n  "peerId": 1, }'),
    code: 'trust_policy_syntax',
    file: 'peers/extra.json',
    pointer: '',
    message: /not valid JSON/,
  },
  {
    name: 'no node file',
    apply: (d) => unlink(join(d, 'node.yaml')),
    code: 'trust_policy_not_found',
    file: 'node.yaml',
    pointer: '',
    message: /no node file/,
  },
  {
    name: 'two node files',
    apply: (d) => writeFile(join(d, 'node.json'), '{}'),
    code: 'trust_policy_inconsistent',
    file: 'node.json',
    pointer: '',
    message: /more than one node file/,
  },
  {
    name: 'two files for one peer',
    apply: (d) => writeFile(join(d, 'peers/support.json'), '{}'),
    code: 'trust_policy_inconsistent',
    file: 'peers/support.yaml',
    pointer: '',
    message: /two files for peer "support"/,
  },
];

for (const c of bad) {
  t.test(`refused: ${c.name}`, async (t) => {
    const dir = await copyOf(c.node ?? 'sales');
    await c.apply(dir);
    const err = await refusal(dir);
    t.equal(err.code, c.code, err.message);
    t.equal(err.status, c.code === 'trust_policy_not_found' ? 404 : c.code === 'trust_policy_unreadable' ? 500 : 400);
    const issue = err.issues.find((i) => i.file === c.file && i.pointer === c.pointer);
    t.ok(issue, `an issue names ${c.file} ${c.pointer || '/'}: ${JSON.stringify(err.issues)}`);
    if (!issue) return;
    t.match(issue.message, c.message);
    if (c.line !== undefined) t.equal(issue.line, c.line, 'the line of the field');
    t.match(err.message, c.file, 'the message names the file');
  });
}

t.test('every file is checked before refusing: all problems at once', async (t) => {
  const dir = await copyOf('sales');
  await edit(dir, 'node.yaml', 'alias: sales', 'alias: Sales');
  await edit(dir, 'peers/acme.yaml', 'access: read', 'access: rw');
  await edit(dir, SUPPORT, 'burst: 100', 'burst: 0');
  const err = await refusal(dir);
  t.equal(err.code, 'trust_policy_schema');
  t.same(err.issues.map((i) => `${i.file}#${i.pointer}`).sort(), ['node.yaml#/alias', 'peers/acme.yaml#/exports/0/access', 'peers/support.yaml#/rateLimit/burst']);
});

t.test('a missing directory', async (t) => {
  await t.rejects(loadTrustPolicy(join(scratch, 'absent')), { code: 'trust_policy_not_found' });
});
