/**
 * Authorization decisions as data: identity × server × tool → allowed, or the
 * reason (and the scope to step up to).
 */
import t from 'tap';
import { decideTool } from '../../src/auth/authorization.js';
import type { Identity } from '../../src/auth/identity.js';
import type { PinnedTool, ServerRecord } from '../../src/registry/types.js';

const tool = (name: string, access: 'read' | 'write'): PinnedTool => ({ name, access, inputSchema: { type: 'object' }, approvedBy: 'a', approvedAt: 'now' });
const read = tool('lookup', 'read');
const write = tool('update', 'write');
const server = (over: Partial<ServerRecord> = {}): ServerRecord => ({
  slug: 'crm',
  version: '1.0.0',
  backend: { http: 'http://127.0.0.1/mcp' },
  tools: [read, write],
  lifecycle: 'stable',
  allowedGroups: [],
  approvedBy: 'a',
  approvedAt: 'now',
  createdAt: 'now',
  ...over,
});
const oauth = (scopes: string[], groups: string[] = []): Identity => ({ kind: 'oauth', subject: 'u', groups, scopes, principal: 'p', class: 'person' });
const agent = (groups: string[], scopes: string[] = []): Identity => ({ kind: 'mtls', subject: 'spiffe://x/a', groups, scopes, principal: 'agent:a', class: 'agent' });
const tenant = (id: string, scopes: string[]): Identity => ({ kind: 'apikey', subject: id, tenant: id, groups: [], scopes, principal: `tenant:${id}`, class: 'tenant' });
const noLifecycleTeams = { alpha: [], beta: [] };

const cases: [string, Identity, ServerRecord, PinnedTool, 'allowed' | 'insufficient_scope' | 'forbidden'][] = [
  ['read scope calls a read tool', oauth(['mcp:tool:crm:read']), server(), read, 'allowed'],
  ['read scope cannot call a write tool', oauth(['mcp:tool:crm:read']), server(), write, 'insufficient_scope'],
  ['write scope calls every tool', oauth(['mcp:tool:crm:write']), server(), read, 'allowed'],
  ['write scope calls write tools', oauth(['mcp:tool:crm:write']), server(), write, 'allowed'],
  ['scope of another server does not count', oauth(['mcp:tool:billing:write']), server(), read, 'insufficient_scope'],
  ['exact match only: prefix', oauth(['mcp:tool:crm']), server(), read, 'insufficient_scope'],
  ['exact match only: wildcard', oauth(['mcp:tool:*:write']), server(), read, 'insufficient_scope'],
  ['exact match only: case', oauth(['MCP:TOOL:CRM:WRITE']), server(), read, 'insufficient_scope'],
  ['no scopes on a token', oauth([]), server(), read, 'insufficient_scope'],
  ['allowed groups: member', oauth(['mcp:tool:crm:read'], ['sales']), server({ allowedGroups: ['sales'] }), read, 'allowed'],
  ['allowed groups: not a member', oauth(['mcp:tool:crm:read'], ['eng']), server({ allowedGroups: ['sales'] }), read, 'forbidden'],
  ['agent with a listed group, no scopes', agent(['sales']), server({ allowedGroups: ['sales'] }), write, 'allowed'],
  ['agent without a listed group', agent(['eng']), server({ allowedGroups: ['sales'] }), read, 'forbidden'],
  ['scope-less agent and a server without groups', agent(['sales']), server(), read, 'forbidden'],
  ['agent with scopes is held to them', agent(['sales'], ['mcp:tool:crm:read']), server({ allowedGroups: ['sales'] }), write, 'insufficient_scope'],
  ['anonymous grant without scopes: an open server', { kind: 'anonymous', subject: 'anonymous', groups: [], scopes: [], principal: 'anonymous', class: 'person' }, server(), write, 'allowed'],
  ['anonymous grant without scopes: a grouped server it is not in', { kind: 'anonymous', subject: 'anonymous', groups: ['dev'], scopes: [], principal: 'anonymous', class: 'person' }, server({ allowedGroups: ['sales'] }), read, 'forbidden'],
  ['anonymous grant with scopes is held to them', { kind: 'anonymous', subject: 'anonymous', groups: [], scopes: ['mcp:tool:crm:read'], principal: 'anonymous', class: 'person' }, server(), write, 'insufficient_scope'],
  ['alpha: not a named team', oauth(['mcp:tool:crm:write'], ['sales']), server({ lifecycle: 'alpha' }), read, 'forbidden'],
  ['beta: not approved', oauth(['mcp:tool:crm:write'], ['sales']), server({ lifecycle: 'beta' }), read, 'forbidden'],
  ['deprecated: still callable', oauth(['mcp:tool:crm:write']), server({ lifecycle: 'deprecated' }), read, 'allowed'],
  ['tenant in its namespace', tenant('acme', ['mcp:tool:crm:read']), server({ namespace: 'acme' }), read, 'allowed'],
  ['tenant outside its namespace', tenant('acme', ['mcp:tool:crm:read']), server({ namespace: 'globex' }), read, 'forbidden'],
  ['tenant and a server of no namespace', tenant('acme', ['mcp:tool:crm:read']), server(), read, 'forbidden'],
  ['employee and a tenant server', oauth(['mcp:tool:crm:read']), server({ namespace: 'acme' }), read, 'forbidden'],
];

for (const [what, identity, record, t0, expected] of cases) {
  t.test(what, async (t) => {
    const d = decideTool(identity, record, t0, noLifecycleTeams);
    t.equal(d.allowed ? 'allowed' : d.reason, expected);
    if (!d.allowed && d.reason === 'insufficient_scope') t.same(d.scopes, [`mcp:tool:crm:${t0.access}`], 'names the least scope that would do');
  });
}

t.test('lifecycle teams', async (t) => {
  const teams = { alpha: ['platform'], beta: ['early'] };
  const s = oauth(['mcp:tool:crm:write'], ['platform']);
  const e = oauth(['mcp:tool:crm:write'], ['early']);
  t.ok(decideTool(s, server({ lifecycle: 'alpha' }), read, teams).allowed, 'alpha team in alpha');
  t.notOk(decideTool(e, server({ lifecycle: 'alpha' }), read, teams).allowed, 'beta team not in alpha');
  t.ok(decideTool(e, server({ lifecycle: 'beta' }), read, teams).allowed, 'beta team in beta');
  t.ok(decideTool(s, server({ lifecycle: 'beta' }), read, teams).allowed, 'alpha team in beta too');
});
