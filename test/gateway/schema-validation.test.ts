/**
 * Argument validation against the pinned inputSchema (PRODUCT.md §5.5), with
 * raw JSON Schemas served by a backend built here (no zod in between):
 * draft-07 (tuple `items`, `dependencies`, `definitions`), 2020-12
 * (`prefixItems`, `unevaluatedProperties`, `$defs`), `format: email`, and a
 * catastrophic regex that must not stall the gateway.
 *
 * Through both official SDK clients, arguments that fail the schema come back
 * as a tool result with `isError: true` naming every violation, and the
 * backend's counter proves they never reached it; valid arguments do. A
 * backend offering a schema with a remote `$ref` or a regex RE2 cannot run
 * (look-around, back-references) is refused at registration (400
 * `invalid_schema`), and nothing is ever fetched.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestNode, removeDir } from '../helpers/node.js';
import { connect, modern, rawPost, type AnyClient, type Era } from '../helpers/clients.js';
import { startJsonSchemaBackend, type RawTool } from '../helpers/json-schema-backend.js';


const DRAFT07 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 2 },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
    pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }], additionalItems: false },
    card: { type: 'string' },
    billing: { $ref: '#/definitions/address' },
  },
  required: ['name', 'age'],
  additionalProperties: false,
  dependencies: { card: ['billing'] },
  definitions: {
    address: { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' } }, required: ['zip'] },
  },
};

const DRAFT2020 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { coord: { type: 'number', minimum: -180, maximum: 180 } },
  properties: {
    point: { type: 'array', prefixItems: [{ $ref: '#/$defs/coord' }, { $ref: '#/$defs/coord' }], items: false, minItems: 2 },
  },
  // `label` is declared only inside allOf: unevaluatedProperties must see through it.
  allOf: [{ properties: { label: { type: 'string' } } }],
  required: ['point'],
  unevaluatedProperties: false,
};

const EMAIL = {
  type: 'object',
  properties: { to: { type: 'string', format: 'email' }, cc: { type: 'array', items: { type: 'string', format: 'email' } } },
  required: ['to'],
  additionalProperties: false,
};

const CATASTROPHIC = {
  type: 'object',
  properties: { s: { type: 'string', pattern: '^(a|a)*$' } },
  patternProperties: { '^x(y|y)*$': { type: 'number' } },
  required: ['s'],
};

// Two patterns in one schema: each property must be checked against its own.
const PATTERNS = {
  type: 'object',
  properties: { upper: { type: 'string', pattern: '^[A-Z]+$' }, lower: { type: 'string', pattern: '^[a-z]+$' } },
  required: ['upper', 'lower'],
};

const tools: RawTool[] = [
  { name: 'signup', description: 'draft-07 schema', inputSchema: DRAFT07 },
  { name: 'plot', description: '2020-12 schema', inputSchema: DRAFT2020 },
  { name: 'notify', description: 'format: email', inputSchema: EMAIL },
  { name: 'match', description: 'catastrophic pattern', inputSchema: CATASTROPHIC },
  { name: 'codes', description: 'two patterns', inputSchema: PATTERNS },
  { name: 'anything', description: 'any object', inputSchema: { type: 'object' } },
  {
    name: 'tree',
    description: 'a recursive schema',
    inputSchema: { type: 'object', $defs: { node: { type: 'array', items: { $ref: '#/$defs/node' } } }, properties: { n: { $ref: '#/$defs/node' } } },
  },
];

const backend = await startJsonSchemaBackend(tools);
const tn = await startTestNode();
t.teardown(async () => {
  await tn.stop();
  await backend.close();
  await removeDir(tn.dataDir);
});
const registered = await tn.register({ slug: 'schemas', version: '1.0.0', backend: { http: backend.url } });

const PER_SERVER = `${tn.url}/mcp/v1/tools/schemas/rpc`;
const AGGREGATE = `${tn.url}/mcp`;

interface Case {
  tool: string;
  what: string;
  args: Record<string, unknown>;
  /** Every violation, as `path keyword`. */
  violations: string[];
}

const invalid: Case[] = [
  {
    tool: 'signup',
    what: 'draft-07: every kind of violation at once',
    args: { name: 'x', age: -1.5, tags: ['a', 2, 'c', 'd'], pair: ['a', 'b', 'c'], card: '4111', extra: true },
    violations: [
      '/name minLength',
      '/age type',
      '/age minimum',
      '/tags maxItems',
      '/tags/1 type',
      '/pair/1 type',
      '/pair additionalItems',
      '/extra additionalProperties',
      '/ dependencies',
    ],
  },
  { tool: 'signup', what: 'draft-07: missing required', args: {}, violations: ['/name required', '/age required'] },
  {
    tool: 'signup',
    what: 'draft-07: local $ref to definitions',
    args: { name: 'Ada', age: 36, card: '4111', billing: { zip: 'abc' } },
    violations: ['/billing/zip pattern'],
  },
  {
    tool: 'plot',
    what: '2020-12: prefixItems, items: false, unevaluatedProperties',
    args: { point: [200, 'y', 3], label: 5, color: 'red' },
    violations: ['/point/0 maximum', '/point/1 type', '/point items', '/label type', '/color unevaluatedProperties'],
  },
  { tool: 'plot', what: '2020-12: minItems and required', args: { point: [1] }, violations: ['/point minItems'] },
  { tool: 'plot', what: '2020-12: missing required', args: { label: 'x' }, violations: ['/point required'] },
  {
    tool: 'notify',
    what: 'format: email',
    args: { to: 'not-an-email', cc: ['ok@example.com', 'nope@'] },
    violations: ['/to format', '/cc/1 format'],
  },
  { tool: 'codes', what: 'each pattern applies to its own property', args: { upper: 'abc', lower: 'ABC' }, violations: ['/upper pattern', '/lower pattern'] },
  { tool: 'codes', what: 'one pattern of two violated', args: { upper: 'ABC', lower: 'abc1' }, violations: ['/lower pattern'] },
];

const valid: { tool: string; what: string; args: Record<string, unknown> }[] = [
  { tool: 'signup', what: 'draft-07', args: { name: 'Ada', age: 36, tags: ['x'], pair: ['a', 1], card: '4111', billing: { zip: '12345' } } },
  { tool: 'plot', what: '2020-12, label evaluated through allOf', args: { point: [1.5, -2], label: 'home' } },
  { tool: 'notify', what: 'email', args: { to: 'ada@example.com', cc: ['b@example.org'] } },
  { tool: 'match', what: 'pattern', args: { s: 'aaaa', xyy: 3 } },
  { tool: 'codes', what: 'two patterns', args: { upper: 'ABC', lower: 'abc' } },
];

function calls(tool: string): number {
  return backend.calls.get(tool) ?? 0;
}

/** Checks an isError schema rejection and that it lists exactly `expected`. */
function expectRejection(t: Test, result: any, tool: string, expected: string[], what: string) {
  t.equal(result.isError, true, `${what}: isError`);
  const text: string = result.content?.[0]?.text ?? '';
  t.match(text, new RegExp(`^Invalid arguments for tool ${tool}:`), `${what}: the text names the tool`);
  const listed = (result._meta?.['io.toolmesh/violations'] ?? []) as { path: string; keyword: string; message: string }[];
  t.same(listed.map((v) => `${v.path} ${v.keyword}`).sort(), [...expected].sort(), `${what}: every violation, and only those`);
  const lines = text.split('\n').slice(1);
  t.equal(lines.length, expected.length, `${what}: one line per violation`);
  for (const v of listed) t.ok(lines.includes(`- ${v.path}: ${v.message}`), `${what}: the text lists ${v.path} (${v.keyword})`);
}

t.test('pinned schemas are the backend’s own, unchanged', async (t) => {
  const byName = new Map(registered.tools.map((x: any) => [x.name, x.inputSchema]));
  for (const tool of tools) t.same(byName.get(tool.name), tool.inputSchema, `${tool.name} pinned as served`);
});

for (const era of ['legacy', 'modern'] as Era[]) {
  t.test(`${era} SDK client, per-server endpoint`, async (t) => {
    const client = await connect(era, PER_SERVER);
    t.teardown(() => client.close());
    const { tools: listed } = await client.listTools();
    t.same(
      listed.map((x) => x.name).sort(),
      tools.map((x) => x.name).sort(),
      'tools/list shows every tool',
    );
    for (const c of invalid) {
      const before = calls(c.tool);
      const result = await client.callTool(c.tool, c.args);
      expectRejection(t, result, c.tool, c.violations, c.what);
      t.equal(calls(c.tool), before, `${c.what}: the backend never saw the call`);
    }
    for (const c of valid) {
      const before = calls(c.tool);
      const result = await client.callTool(c.tool, c.args);
      t.notOk(result.isError, `valid ${c.what}: not an error`);
      t.same(JSON.parse(result.content[0].text), c.args, `valid ${c.what}: the backend got the arguments unchanged`);
      t.equal(calls(c.tool), before + 1, `valid ${c.what}: reached the backend once`);
    }
  });

  t.test(`${era} SDK client, catastrophic pattern is answered fast`, async (t) => {
    const client = await connect(era, PER_SERVER);
    t.teardown(() => client.close());
    const before = calls('match');
    const hostile: [string, Record<string, unknown>, string[]][] = [
      ["'a'×30 + 'b'", { s: `${'a'.repeat(30)}b` }, ['/s pattern']],
      ["'a'×5000 + 'b'", { s: `${'a'.repeat(5000)}b` }, ['/s pattern']],
      ['patternProperties key x + y×30', { s: 'a', [`x${'y'.repeat(30)}`]: 'not a number' }, [`/x${'y'.repeat(30)} type`]],
    ];
    for (const [what, args, expected] of hostile) {
      const started = performance.now();
      const result = await client.callTool('match', args);
      const elapsed = performance.now() - started;
      expectRejection(t, result, 'match', expected, what);
      t.ok(elapsed < 1000, `${what}: answered in ${Math.round(elapsed)} ms (< 1 s)`);
    }
    t.equal(calls('match'), before, 'none of them reached the backend');
  });

  t.test(`${era} SDK client, aggregate endpoint`, async (t) => {
    const client: AnyClient = await connect(era, AGGREGATE);
    t.teardown(() => client.close());
    const before = calls('signup');
    const bad = await client.callTool('schemas__signup', { name: 'x', age: 'old' });
    expectRejection(t, bad, 'signup', ['/name minLength', '/age type'], 'aggregate signup');
    t.equal(calls('signup'), before, 'the rejected call never reached the backend');
    const good = await client.callTool('schemas__plot', { point: [0, 0] });
    t.notOk(good.isError);
    t.same(JSON.parse(good.content[0].text), { point: [0, 0] });
  });
}

t.test('registration refuses schemas that need the network or unbounded regex', async (t) => {
  // A schema host on loopback: a gateway that fetched remote $refs would ask it.
  let schemaFetches = 0;
  const schemaHost = createServer((_req, res) => {
    schemaFetches++;
    res.writeHead(200, { 'content-type': 'application/schema+json' }).end('{"type":"string"}');
  });
  await new Promise<void>((resolve) => schemaHost.listen(0, '127.0.0.1', resolve));
  const hostUrl = `http://127.0.0.1:${(schemaHost.address() as AddressInfo).port}`;
  t.teardown(() => new Promise<void>((resolve) => schemaHost.close(() => resolve())));

  const offered: RawTool[] = [];
  const bad = await startJsonSchemaBackend(offered);
  t.teardown(() => bad.close());

  const refused: [string, Record<string, unknown>][] = [
    ['remote $ref (https)', { type: 'object', properties: { a: { $ref: 'https://example.com/x.json' } } }],
    ['remote $ref (loopback schema host)', { type: 'object', properties: { a: { $ref: `${hostUrl}/x.json` } } }],
    ['remote $ref at the root', { $ref: `${hostUrl}/root.json` }],
    ['remote $ref, draft-07', { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { $ref: `${hostUrl}/d7.json` } } }],
    ['relative $ref against a remote $id', { $id: `${hostUrl}/base.json`, type: 'object', properties: { a: { $ref: 'defs.json#/a' } } }],
    ['unresolvable local $ref', { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }],
    ['lookahead pattern', { type: 'object', properties: { a: { type: 'string', pattern: '(?=a)' } } }],
    ['negative lookbehind pattern', { type: 'object', properties: { a: { type: 'string', pattern: '(?<!a)b' } } }],
    ['back-reference pattern', { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)\\1$' } } }],
    ['lookahead in patternProperties', { type: 'object', patternProperties: { '^(?!x)': { type: 'string' } } }],
    ['lookahead, draft-07', { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'string', pattern: 'a(?=b)' } } }],
  ];
  let n = 0;
  for (const [what, schema] of refused) {
    n++;
    offered.splice(0, offered.length, { name: 'fine', inputSchema: { type: 'object' } }, { name: 'bad_tool', inputSchema: schema });
    const slug = `refused-${n}`;
    const res = await tn.admin('POST', '/admin/v1/servers', { slug, version: '1.0.0', backend: { http: bad.url } });
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body?.error?.code, 'invalid_schema', `${what}: invalid_schema`);
    t.match(res.body?.error?.message, /bad_tool/, `${what}: the message names the tool`);
    const lookup = await tn.admin('GET', `/admin/v1/servers/${slug}`);
    t.equal(lookup.status, 404, `${what}: nothing was registered`);
  }
  t.equal(schemaFetches, 0, 'no schema was ever fetched');
  t.equal(bad.calls.size, 0, 'no tool of the refused backend was called');

  // The same backend with only usable schemas registers fine (the refusals were about the schemas).
  offered.splice(0, offered.length, { name: 'fine', inputSchema: { type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]+$' } } } });
  const ok = await tn.admin('POST', '/admin/v1/servers', { slug: 'accepted', version: '1.0.0', backend: { http: bad.url } });
  t.equal(ok.status, 201, 'a usable schema registers');
});

t.test('arguments no schema can describe are invalid_params before any validator or backend sees them', async (t) => {
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const cases: Array<[string, string, string]> = [
    ['20,000 nested arrays', 'anything', `{"a":${nested(20_000)}}`],
    ['65 levels', 'anything', `{"a":${nested(64)}}`],
    ['a number JSON cannot carry', 'anything', '{"a":1e400}'],
    ['deep data against a recursive schema', 'tree', `{"n":${nested(20_000)}}`],
  ];
  for (const [what, tool, args] of cases) {
    const before = calls(tool);
    const { headers } = modern('tools/call', { name: tool });
    const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"${tool}","arguments":${args},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`;
    const res = await rawPost(PER_SERVER, body, headers);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body?.error?.data?.reason, 'invalid_params', `${what}: invalid_params`);
    t.equal(calls(tool), before, `${what}: the backend never saw it`);
  }
  const { body, headers } = modern('tools/call', { name: 'anything', arguments: { a: JSON.parse(nested(62)) } });
  const fine = await rawPost(PER_SERVER, body, headers);
  t.equal(fine.status, 200, '63 levels are fine');
});
