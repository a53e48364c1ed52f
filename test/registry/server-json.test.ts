import { readFileSync } from 'node:fs';
import t from 'tap';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;
import {
  LIFECYCLE_META_KEY,
  OFFICIAL_META_KEY,
  SERVER_JSON_SCHEMA_URL,
  latestVersions,
  registrationsFromServerJson,
  registryApiEntry,
  registryApiList,
  registryApiVersion,
  registryApiVersions,
  slugFromName,
  toServerJson,
} from '../../src/registry/server-json.js';
import type { ServerRecord } from '../../src/registry/types.js';

// ── the official schema (trimmed copy of 2025-12-11, draft-07) ──
const serverSchema = JSON.parse(
  readFileSync(new URL('../fixtures/server.schema.2025-12-11.json', import.meta.url), 'utf8'),
) as { $id: string };
// strict:false — the official schema is not written for Ajv's strict mode (untyped anyOf branches).
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addSchema(serverSchema);
const validateServerJson = ajv.getSchema(serverSchema.$id)!;

/** Registry API v0.1 `ServerList`/`ServerResponse` as openapi.yaml defines them, as data. */
const serverResponseSchema = {
  $id: 'test:ServerResponse',
  type: 'object',
  required: ['server'],
  properties: {
    server: { $ref: serverSchema.$id },
    _meta: {
      type: 'object',
      additionalProperties: true,
      properties: {
        [OFFICIAL_META_KEY]: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['active', 'deprecated', 'deleted'] },
            statusMessage: { type: 'string', maxLength: 500 },
            statusChangedAt: { type: 'string', format: 'date-time' },
            publishedAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            isLatest: { type: 'boolean' },
          },
        },
      },
    },
  },
};
const serverListSchema = {
  $id: 'test:ServerList',
  type: 'object',
  required: ['servers'],
  properties: {
    servers: { type: 'array', items: { $ref: 'test:ServerResponse' } },
    metadata: {
      type: 'object',
      properties: { nextCursor: { type: 'string' }, count: { type: 'integer' } },
    },
  },
};
ajv.addSchema(serverResponseSchema);
ajv.addSchema(serverListSchema);
const validateResponse = ajv.getSchema('test:ServerResponse')!;
const validateList = ajv.getSchema('test:ServerList')!;

function schemaErrors(validate: typeof validateServerJson, doc: unknown): unknown {
  return validate(doc) ? [] : validate.errors;
}

// ── realistic official documents ──
const REMOTE_DOC = {
  $schema: SERVER_JSON_SCHEMA_URL,
  name: 'io.github.acme/Weather_API',
  title: 'Acme Weather',
  description: 'Forecasts and current conditions from the Acme weather service',
  version: '1.4.2',
  repository: { url: 'https://github.com/acme/weather-mcp', source: 'github', id: '123456789' },
  websiteUrl: 'https://acme.dev/weather',
  remotes: [
    { type: 'sse', url: 'https://mcp.acme.dev/sse' },
    {
      type: 'streamable-http',
      url: 'https://{region}.mcp.acme.dev/mcp',
      variables: { region: { description: 'Data region', default: 'eu', choices: ['eu', 'us'] } },
      headers: [
        { name: 'X-Client', value: 'toolmesh' },
        {
          name: 'Authorization',
          value: 'Bearer {api_key}',
          isRequired: true,
          isSecret: true,
          variables: { api_key: { description: 'Acme API key', isRequired: true, isSecret: true } },
        },
      ],
    },
  ],
  packages: [
    {
      registryType: 'npm',
      identifier: '@acme/weather-mcp',
      version: '1.4.2',
      transport: { type: 'stdio' },
    },
  ],
  _meta: { 'io.modelcontextprotocol.registry/publisher-provided': { tool: 'mcp-publisher', version: '1.3.0' } },
};

const NPM_DOC = {
  $schema: SERVER_JSON_SCHEMA_URL,
  name: 'io.github.acme/filesystem',
  description: 'Read and write files under allowed directories',
  version: '2.0.1',
  packages: [
    { registryType: 'pypi', identifier: 'acme-fs', version: '2.0.1', transport: { type: 'stdio' } },
    {
      registryType: 'npm',
      registryBaseUrl: 'https://registry.npmjs.org',
      identifier: '@acme/mcp-filesystem',
      version: '2.0.1',
      runtimeHint: 'npx',
      transport: { type: 'stdio' },
      packageArguments: [
        { type: 'named', name: '--mode', value: 'readonly' },
        { type: 'positional', valueHint: 'root_dir', default: '/srv/data' },
        { type: 'positional', valueHint: 'extra_dir', isRequired: false },
        { type: 'named', name: '--log-level', default: 'info' },
      ],
      environmentVariables: [
        { name: 'FS_API_KEY', description: 'API key', isRequired: true, isSecret: true },
        { name: 'FS_CACHE', default: 'on' },
        { name: 'NODE_ENV', value: 'production' },
      ],
    },
  ],
};

t.test('the test documents are themselves valid server.json', async (t) => {
  t.same(schemaErrors(validateServerJson, REMOTE_DOC), []);
  t.same(schemaErrors(validateServerJson, NPM_DOC), []);
});

t.test('remote server.json → one http registration, remotes preferred', async (t) => {
  const notes: string[] = [];
  const inputs = registrationsFromServerJson(REMOTE_DOC, { onNote: (n) => notes.push(n) });
  t.same(inputs, [
    {
      slug: 'weather-api',
      version: '1.4.2',
      title: 'Acme Weather',
      description: 'Forecasts and current conditions from the Acme weather service',
      backend: { http: 'https://eu.mcp.acme.dev/mcp', headers: { 'X-Client': 'toolmesh' } },
      source: { registryName: 'io.github.acme/Weather_API' },
    },
  ]);
  t.match(notes, [/remotes\[0\].*sse/, /headers\[1\] \(Authorization\).*\(secret\)/, /packages: ignored/]);
  t.notMatch(notes.join('\n'), /api_key.*Bearer/, 'no guessed credential');
});

t.test('npm server.json → npx stdio registration with fixed args and env', async (t) => {
  const notes: string[] = [];
  const [input] = registrationsFromServerJson(NPM_DOC, { slug: 'files', onNote: (n) => notes.push(n) });
  t.same(input, {
    slug: 'files',
    version: '2.0.1',
    description: 'Read and write files under allowed directories',
    backend: {
      stdio: 'npx',
      args: ['-y', '--', '@acme/mcp-filesystem@2.0.1', '--mode', 'readonly', '/srv/data', '--log-level', 'info'],
      env: { FS_CACHE: 'on', NODE_ENV: 'production' },
    },
    source: { registryName: 'io.github.acme/filesystem' },
  });
  t.match(notes, [/packages\[0\]: pypi/, /packageArguments\[2\]/, /FS_API_KEY.*\(secret\)/]);
});

t.test('slugFromName', async (t) => {
  const vectors: [string, string][] = [
    ['io.github.acme/weather', 'weather'],
    ['io.github.acme/Weather_API', 'weather-api'],
    ['com.example/my.server--v2', 'my-server-v2'],
    ['com.example/-x-', 'x'],
    [`com.example/${'a'.repeat(62)}_b`, `${'a'.repeat(62)}`],
  ];
  for (const [name, slug] of vectors) t.equal(slugFromName(name), slug, name);
});

/** Invalid documents → the error code and the field named. */
const INVALID: { name: string; doc: unknown; opts?: { slug?: string }; field: string }[] = [
  { name: 'not an object', doc: 'server.json', field: '(document)' },
  { name: 'null', doc: null, field: '(document)' },
  { name: 'missing name', doc: { version: '1.0.0', remotes: REMOTE_DOC.remotes }, field: 'name' },
  { name: 'name without namespace', doc: { name: 'weather', version: '1.0.0' }, field: 'name' },
  { name: 'missing version', doc: { name: 'io.github.acme/weather' }, field: 'version' },
  { name: 'version not a string', doc: { name: 'io.github.acme/weather', version: 1 }, field: 'version' },
  { name: 'version 1.2', doc: { name: 'io.github.acme/weather', version: '1.2' }, field: 'version' },
  { name: 'version range', doc: { name: 'io.github.acme/weather', version: '^1.2.3' }, field: 'version' },
  { name: 'version v-prefixed', doc: { name: 'io.github.acme/weather', version: 'v1.2.3' }, field: 'version' },
  { name: 'version latest', doc: { name: 'io.github.acme/weather', version: 'latest' }, field: 'version' },
  { name: 'title not a string', doc: { name: 'io.github.acme/weather', version: '1.0.0', title: 42 }, field: 'title' },
  { name: 'remotes not an array', doc: { name: 'io.github.acme/w', version: '1.0.0', remotes: {} }, field: 'remotes' },
  {
    name: 'remote without url',
    doc: { name: 'io.github.acme/w', version: '1.0.0', remotes: [{ type: 'streamable-http' }] },
    field: 'remotes[0].url',
  },
  {
    name: 'remote url not http',
    doc: { name: 'io.github.acme/w', version: '1.0.0', remotes: [{ type: 'streamable-http', url: 'ftp://acme.dev/' }] },
    field: 'remotes[0].url',
  },
  {
    name: 'npm package with a range version',
    doc: {
      name: 'io.github.acme/w',
      version: '1.0.0',
      packages: [{ registryType: 'npm', identifier: 'w', version: '^2.0.0', transport: { type: 'stdio' } }],
    },
    field: 'packages[0].version',
  },
  {
    name: 'npm identifier that npx would read as its own option (runs a shell command)',
    doc: {
      name: 'io.github.acme/w',
      version: '1.0.0',
      packages: [{ registryType: 'npm', identifier: '--call=touch /tmp/pwned', version: '1.0.0', transport: { type: 'stdio' } }],
    },
    field: 'packages[0].identifier',
  },
  {
    name: 'npm identifier that is a URL',
    doc: {
      name: 'io.github.acme/w',
      version: '1.0.0',
      packages: [{ registryType: 'npm', identifier: 'https://evil.example/pkg.tgz', version: '1.0.0', transport: { type: 'stdio' } }],
    },
    field: 'packages[0].identifier',
  },
  {
    name: 'only an sse remote',
    doc: { name: 'io.github.acme/w', version: '1.0.0', remotes: [{ type: 'sse', url: 'https://acme.dev/sse' }] },
    field: 'remotes',
  },
  {
    name: 'only a pypi package',
    doc: { name: 'io.github.acme/w', version: '1.0.0', packages: [NPM_DOC.packages[0]] },
    field: 'remotes',
  },
  { name: 'bad explicit slug', doc: REMOTE_DOC, opts: { slug: 'Bad Slug' }, field: 'slug' },
  { name: 'name yields no slug', doc: { ...REMOTE_DOC, name: 'io.github.acme/___' }, field: 'name' },
];

for (const v of INVALID) {
  t.test(`invalid: ${v.name} → invalid_input (${v.field})`, async (t) => {
    t.throws(() => registrationsFromServerJson(v.doc, v.opts ?? {}), {
      name: 'RegistryError',
      code: 'invalid_input',
      status: 400,
      details: { field: v.field },
    });
  });
}

// ── export ──
const T0 = '2026-01-10T09:00:00.000Z';
function record(over: Partial<ServerRecord> & Pick<ServerRecord, 'slug' | 'version'>): ServerRecord {
  return {
    backend: { http: 'https://backend.internal.example/mcp' },
    tools: [
      { name: 'forecast', inputSchema: { type: 'object' }, access: 'read', approvedBy: 'alice', approvedAt: T0 },
      { name: 'subscribe', inputSchema: { type: 'object' }, access: 'write', approvedBy: 'alice', approvedAt: T0 },
    ],
    lifecycle: 'stable',
    allowedGroups: ['weather-users'],
    approvedBy: 'alice',
    approvedAt: T0,
    createdAt: T0,
    ...over,
  };
}

const WEATHER = record({
  slug: 'weather',
  version: '1.2.0',
  title: 'Weather',
  description: 'Forecasts. '.repeat(20), // 220 characters: longer than server.json allows
  owner: 'team-weather',
  lifecycle: 'deprecated',
  deprecatedAt: '2026-02-01T00:00:00.000Z',
  sunsetAt: '2026-06-01T00:00:00.000Z',
  migrationUrl: 'https://docs.example.com/weather-v2',
});

t.test('toServerJson: a catalog entry pointing at the gateway, valid against the official schema', async (t) => {
  const doc = toServerJson(WEATHER, 'https://mesh.example.com/');
  t.same(schemaErrors(validateServerJson, doc), []);
  t.equal(doc.$schema, SERVER_JSON_SCHEMA_URL);
  t.equal(doc.name, 'io.toolmesh/weather');
  t.equal([...doc.description].length, 100);
  t.same(doc.remotes, [{ type: 'streamable-http', url: 'https://mesh.example.com/mcp/v1/tools/weather/rpc' }]);
  t.same(doc._meta, {
    [LIFECYCLE_META_KEY]: {
      lifecycle: 'deprecated',
      deprecatedAt: '2026-02-01T00:00:00.000Z',
      sunsetAt: '2026-06-01T00:00:00.000Z',
      migrationUrl: 'https://docs.example.com/weather-v2',
      owner: 'team-weather',
      approvedBy: 'alice',
      approvedAt: T0,
      slug: 'weather',
      tools: [
        { name: 'forecast', access: 'read' },
        { name: 'subscribe', access: 'write' },
      ],
    },
  });
  t.notMatch(JSON.stringify(doc), 'backend.internal.example', 'the real backend is never published');
});

t.test('toServerJson: imported name kept, description falls back, major 0', async (t) => {
  const doc = toServerJson(
    record({ slug: 'files', version: '0.3.0', source: { registryName: 'io.github.acme/filesystem' } }),
    'http://127.0.0.1:8080',
  );
  t.same(schemaErrors(validateServerJson, doc), []);
  t.equal(doc.name, 'io.github.acme/filesystem');
  t.equal(doc.description, 'io.github.acme/filesystem');
  t.notOk('title' in doc);
  t.equal(doc.remotes[0]?.url, 'http://127.0.0.1:8080/mcp/v0/tools/files/rpc');
});

t.test('toServerJson output imports back to the same slug and version', async (t) => {
  const [input] = registrationsFromServerJson(toServerJson(WEATHER, 'https://mesh.example.com'), { slug: 'weather' });
  t.match(input, { slug: 'weather', version: '1.2.0', backend: { http: 'https://mesh.example.com/mcp/v1/tools/weather/rpc' } });
});

// ── Registry API v0.1 ──
const CATALOG: ServerRecord[] = [
  record({ slug: 'weather', version: '2.1.0', lifecycle: 'sunset', deprecatedAt: '2026-03-01T00:00:00.000Z', sunsetAt: '2026-03-15T00:00:00.000Z', createdAt: '2026-02-20T00:00:00.000Z' }),
  record({ slug: 'weather', version: '1.10.0', createdAt: '2026-01-20T00:00:00.000Z' }),
  WEATHER,
  record({ slug: 'weather', version: '2.0.0', lifecycle: 'beta', createdAt: '2026-02-10T00:00:00.000Z' }),
  record({ slug: 'weather', version: '1.0.0' }),
  record({ slug: 'files', version: '0.3.0', lifecycle: 'alpha', source: { registryName: 'io.github.acme/filesystem' } }),
];
const BASE = 'https://mesh.example.com';
const keys = (list: { servers: { server: { name: string; version: string } }[] }) =>
  list.servers.map((s) => `${s.server.name}@${s.server.version}`);

t.test('registryApiList: ServerList shape, sorted by name then semver, sunset hidden', async (t) => {
  const list = registryApiList(CATALOG, BASE);
  t.same(schemaErrors(validateList, list), []);
  t.same(keys(list), [
    'io.github.acme/filesystem@0.3.0',
    'io.toolmesh/weather@1.0.0',
    'io.toolmesh/weather@1.2.0',
    'io.toolmesh/weather@1.10.0',
    'io.toolmesh/weather@2.0.0',
  ]);
  t.same(list.metadata, { count: 5 });
  t.same(
    list.servers.map((s) => s._meta[OFFICIAL_META_KEY].isLatest),
    [true, false, false, false, true],
    'latest is the highest version that is not sunset',
  );
});

t.test('registryApiEntry: lifecycle → official status and timestamps', async (t) => {
  const deprecated = registryApiEntry(WEATHER, BASE, false);
  t.same(schemaErrors(validateResponse, deprecated), []);
  t.same(deprecated._meta[OFFICIAL_META_KEY], {
    status: 'deprecated',
    statusChangedAt: '2026-02-01T00:00:00.000Z',
    statusMessage: 'Deprecated; sunset scheduled for 2026-06-01T00:00:00.000Z; migrate: https://docs.example.com/weather-v2',
    publishedAt: T0,
    updatedAt: '2026-02-01T00:00:00.000Z', // the scheduled sunset has not happened yet
    isLatest: false,
  });

  const sunset = registryApiEntry(CATALOG[0]!, BASE, false);
  t.match(sunset._meta[OFFICIAL_META_KEY], { status: 'deleted', statusChangedAt: '2026-03-15T00:00:00.000Z', updatedAt: '2026-03-15T00:00:00.000Z' });

  for (const lifecycle of ['alpha', 'beta', 'stable'] as const) {
    const entry = registryApiEntry(record({ slug: 'x', version: '1.0.0', lifecycle }), BASE, true);
    t.same(entry._meta[OFFICIAL_META_KEY], { status: 'active', publishedAt: T0, updatedAt: T0, isLatest: true }, lifecycle);
  }
});

t.test('registryApiList: includeDeleted shows sunset versions as deleted', async (t) => {
  const list = registryApiList(CATALOG, BASE, { includeDeleted: true });
  t.same(schemaErrors(validateList, list), []);
  const last = list.servers.at(-1)!;
  t.equal(last.server.version, '2.1.0');
  t.match(last._meta[OFFICIAL_META_KEY], { status: 'deleted', isLatest: false });
});

t.test('registryApiList: cursor pagination walks every entry once, in order', async (t) => {
  const page1 = registryApiList(CATALOG, BASE, { limit: 2 });
  t.equal(page1.metadata.count, 2);
  t.type(page1.metadata.nextCursor, 'string');
  const page2 = registryApiList(CATALOG, BASE, { limit: 2, cursor: page1.metadata.nextCursor });
  const page3 = registryApiList(CATALOG, BASE, { limit: 2, cursor: page2.metadata.nextCursor });
  t.same([...keys(page1), ...keys(page2), ...keys(page3)], keys(registryApiList(CATALOG, BASE)));
  t.same(page3.metadata, { count: 1 }, 'no nextCursor on the last page');

  const exact = registryApiList(CATALOG, BASE, { limit: 5 });
  t.notOk('nextCursor' in exact.metadata, 'a page that ends exactly at the end has no cursor');

  const walked: string[] = [];
  let cursor: string | undefined;
  do {
    const page = registryApiList(CATALOG, BASE, { limit: 1, includeDeleted: true, cursor });
    walked.push(...keys(page));
    cursor = page.metadata.nextCursor;
  } while (cursor);
  t.equal(walked.length, CATALOG.length);
  t.equal(new Set(walked).size, CATALOG.length);
});

t.test('registryApiList: bad cursor and limit', async (t) => {
  t.throws(() => registryApiList(CATALOG, BASE, { cursor: 'not-a-cursor' }), { code: 'invalid_input', details: { field: 'cursor' } });
  t.throws(() => registryApiList(CATALOG, BASE, { cursor: Buffer.from('{"a":1}').toString('base64url') }), { code: 'invalid_input' });
  for (const limit of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => registryApiList(CATALOG, BASE, { limit }), { code: 'invalid_input', details: { field: 'limit' } }, String(limit));
  }
  t.equal(registryApiList(CATALOG, BASE, { limit: 10_000 }).metadata.count, 5, 'large limits are clamped, not refused');
});

t.test('registryApiVersions / registryApiVersion (incl. latest)', async (t) => {
  const versions = registryApiVersions(CATALOG, 'io.toolmesh/weather', BASE);
  t.same(schemaErrors(validateList, versions), []);
  t.same(keys(versions).map((k) => k.split('@')[1]), ['2.0.0', '1.10.0', '1.2.0', '1.0.0'], 'newest publication first');

  const latest = registryApiVersion(CATALOG, 'io.toolmesh/weather', 'latest', BASE);
  t.same(schemaErrors(validateResponse, latest), []);
  t.equal(latest.server.version, '2.0.0');
  t.equal(latest._meta[OFFICIAL_META_KEY].isLatest, true);
  t.equal(registryApiVersion(CATALOG, 'io.toolmesh/weather', '1.2.0', BASE)._meta[OFFICIAL_META_KEY].status, 'deprecated');

  t.throws(() => registryApiVersion(CATALOG, 'io.toolmesh/weather', '2.1.0', BASE), { code: 'not_found', status: 404 });
  t.equal(registryApiVersion(CATALOG, 'io.toolmesh/weather', '2.1.0', BASE, { includeDeleted: true })._meta[OFFICIAL_META_KEY].status, 'deleted');
  t.throws(() => registryApiVersions(CATALOG, 'io.toolmesh/nope', BASE), { code: 'not_found' });
  t.throws(() => registryApiVersion(CATALOG, 'io.toolmesh/nope', 'latest', BASE), { code: 'not_found' });
});

t.test('latestVersions: all-sunset server still has a latest', async (t) => {
  const gone = [record({ slug: 'old', version: '1.0.0', lifecycle: 'sunset' }), record({ slug: 'old', version: '1.1.0', lifecycle: 'sunset' })];
  t.same([...latestVersions(gone)], [['io.toolmesh/old', '1.1.0']]);
});
