/**
 * The audit log in the call path, against real nodes (issue 4, PRODUCT.md §8):
 *
 * - a forwarded tools/call is one `call` (intent) and one `outcome` entry,
 *   sharing the correlation id the caller receives in `X-Correlation-Id`,
 *   with the identity (never a credential), server, version, tool and a
 *   keyed hash of the arguments (never the arguments);
 * - every rejection class is exactly one `rejection` entry naming its reason.
 *   A backend that is down is the exception by design: the call was already
 *   forwarded (its intent is durable), so it is one `call` plus one `outcome`
 *   whose outcome is `upstream_unavailable` (status 502), and no `rejection`;
 * - fail closed: with the audit disk failing, tools/call is 503
 *   `audit_unavailable` (-32012) and the backend sees nothing; when the disk
 *   recovers the node does too, by itself, and the chain still verifies with
 *   contiguous seqs;
 * - admin changes are `admin` entries naming the actor;
 * - `/admin/v1/audit…` and `toolmesh audit verify|query|export|tail|checkpoints`
 *   work end to end, and after the raw LevelDB of a stopped node is edited,
 *   `toolmesh audit verify` names the edited seq and exits 1.
 *
 * The CLI runs from dist/ (`npx tsc -p .` or `npm run build` first).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Level } from 'level';
import { startTestNode, removeDir, type TestNode } from '../helpers/node.js';
import { MAIN, ROOT, cliEnv, runCli, type Run } from '../helpers/cli.js';
import { startLegacyHttpBackend, type TestBackend } from '../helpers/backends.js';
import { modern, rawPost } from '../helpers/clients.js';
import { argsHash, loadOrCreateAuditKey, type AuditEntry, type AuditLog, type Checkpoint } from '../../src/audit/index.js';



type Res = Awaited<ReturnType<typeof rawPost>>;

const cleanups: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

function executed(b: TestBackend): number {
  return b.calls.get('echo') ?? 0;
}

function callTool(url: string, name: string, args: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const m = modern('tools/call', { name, arguments: args });
  return rawPost(url, m.body, { ...m.headers, ...headers });
}

/** Runs `send` and returns its response with the entries it added to `log`. */
async function observe(log: AuditLog, send: () => Promise<Res>): Promise<{ res: Res; entries: AuditEntry[]; correlationId: string | null }> {
  const before = log.head.seq;
  const res = await send();
  const entries = await log.query({ fromSeq: before + 1 });
  return { res, entries, correlationId: res.headers.get('x-correlation-id') };
}

/** The stored entry as JSON (what an auditor or an attacker with the disk sees). */
function stored(e: AuditEntry): string {
  return JSON.stringify(e);
}

async function allEntries(log: AuditLog): Promise<AuditEntry[]> {
  return log.query({ limit: 1_000_000 });
}

function contiguous(entries: AuditEntry[]): boolean {
  return entries.every((e, i) => e.seq === i + 1);
}

// ── node A: anonymous callers, a small body limit ──────────────────────────────
const CONFIG_A = { gateway: { maxBodyBytes: 4096 } };
const backend = await startLegacyHttpBackend();
cleanups.push(() => backend.close());
const downBackend = await startLegacyHttpBackend();
let A: TestNode = await startTestNode(CONFIG_A);
const dirA = A.dataDir;
cleanups.push(() => removeDir(dirA));
cleanups.push(() => A.stop());
const adminStart = A.node.audit.head.seq;
await A.register({ slug: 'crm', version: '1.0.0', backend: { http: backend.url } });
await A.register({ slug: 'old', version: '1.0.0', backend: { http: backend.url } });
const deprecated = await A.admin('POST', '/admin/v1/servers/old/versions/1.0.0/deprecate', { migrationUrl: 'https://docs.example.com/crm' });
const sunsetRes = await A.admin('POST', '/admin/v1/servers/old/versions/1.0.0/sunset');
await A.register({ slug: 'down', version: '1.0.0', backend: { http: downBackend.url } });
await downBackend.close();
const CRM = `${A.url}/mcp/v1/tools/crm/rpc`;
const auditKey = await loadOrCreateAuditKey(dirA);
/** Set by the rejection test: the seq of the schema_reject entry (server crm, tool echo) the tamper test edits. */
let tamperSeq = 0;

t.test('a forwarded tools/call: one call and one outcome entry, no raw arguments', async (t) => {
  const SECRET = 'customer 4711 owes 1,234.56 EUR';
  const before = executed(backend);
  const { res, entries, correlationId } = await observe(A.node.audit, () => callTool(CRM, 'echo', { text: SECRET }));
  t.equal(res.status, 200);
  t.equal(res.body?.result?.content?.[0]?.text, SECRET, 'the call went through');
  t.equal(executed(backend), before + 1);
  t.match(correlationId, /^[0-9a-f-]{36}$/, 'the caller gets X-Correlation-Id');
  t.same(entries.map((e) => e.kind), ['call', 'outcome'], 'exactly one call and one outcome entry, in that order');
  const [call, outcome] = entries;
  if (!call || !outcome) return;
  for (const e of entries) {
    t.equal(e.correlationId, correlationId, `${e.kind}: the correlation id the caller received`);
    t.match(e, { method: 'tools/call', server: 'crm', version: '1.0.0', tool: 'echo', identity: { kind: 'anonymous' } }, `${e.kind}: identity, server, version, tool`);
    t.type(e.identity?.subject, 'string', `${e.kind}: the subject is recorded`);
    t.notOk(stored(e).includes(SECRET), `${e.kind}: the argument text appears nowhere in the stored entry`);
    t.notOk(stored(e).includes('4711'), `${e.kind}: not even a fragment of it`);
  }
  t.equal(call.argsHash, argsHash(auditKey, { text: SECRET }), 'the intent carries the keyed hash of the canonical arguments');
  t.equal(outcome.outcome, 'ok');
  t.equal(outcome.status, 200);
  t.type(outcome.latencyMs, 'number', 'the outcome has the latency');
  t.equal(outcome.prev, call.hash, 'chained');
});

t.test('an aggregate list fans out to backends behind one call and one outcome entry', async (t) => {
  for (const method of ['resources/list', 'prompts/list']) {
    const m = modern(method);
    const { res, entries } = await observe(A.node.audit, () => rawPost(`${A.url}/mcp`, m.body, m.headers));
    t.equal(res.status, 200, method);
    t.same(entries.map((e) => e.kind), ['call', 'outcome'], `${method}: an intent before the fan-out, then the outcome`);
    t.match(entries[0], { method, identity: { kind: 'anonymous' } });
  }
});

t.test('each rejection class on node A is exactly one rejection entry with its reason', async (t) => {
  const SCHEMA_SECRET = 'schema-secret-0815';
  const parseHeaders = modern('tools/call', { name: 'echo' }).headers;
  const batch = modern('tools/call', { name: 'echo', arguments: { text: 'x' } });
  const cases: Array<{ reason: string; status: number; send: () => Promise<Res>; target?: boolean; secret?: string }> = [
    { reason: 'schema_reject', status: 200, send: () => callTool(CRM, 'echo', { text: [SCHEMA_SECRET] }), target: true, secret: SCHEMA_SECRET },
    { reason: 'unknown_tool', status: 200, send: () => callTool(CRM, 'drop_tables', { really: 'yes' }) },
    { reason: 'sunset', status: 410, send: () => callTool(`${A.url}/mcp/v1/tools/old/rpc`, 'echo', { text: 'x' }) },
    { reason: 'not_found', status: 404, send: () => callTool(`${A.url}/mcp/v1/tools/ghost/rpc`, 'echo', { text: 'x' }) },
    { reason: 'not_found', status: 404, send: () => callTool(`${A.url}/mcp/v1/tools/crm/rpc/extra`, 'echo', { text: 'x' }) },
    { reason: 'payload_too_large', status: 413, send: () => callTool(CRM, 'echo', { text: 'big-secret-'.repeat(500) }), secret: 'big-secret-' },
    { reason: 'parse_error', status: 400, send: () => rawPost(CRM, '{"jsonrpc":"2.0",', parseHeaders) },
    { reason: 'batch_rejected', status: 400, send: () => rawPost(CRM, [batch.body, { ...batch.body, id: 2 }], batch.headers) },
  ];
  const before = executed(backend);
  for (const c of cases) {
    const { res, entries, correlationId } = await observe(A.node.audit, c.send);
    t.equal(res.status, c.status, `${c.reason}: HTTP ${c.status}`);
    const answered = res.body?.error?.data?.reason ?? res.body?.result?._meta?.['io.toolmesh/reason'];
    t.equal(answered, c.reason, `${c.reason}: the caller is told ${c.reason}`);
    t.equal(entries.length, 1, `${c.reason}: exactly one entry`);
    t.match(entries[0], { kind: 'rejection', reason: c.reason, outcome: c.reason, correlationId }, `${c.reason}: a rejection naming the reason and the caller's correlation id`);
    if (c.status !== 200) t.equal(entries[0]?.status, c.status, `${c.reason}: the status is recorded`);
    if (c.target) t.match(entries[0], { server: 'crm', version: '1.0.0', tool: 'echo' }, `${c.reason}: the target is recorded`);
    if (c.secret) t.notOk(stored(entries[0]!).includes(c.secret), `${c.reason}: no raw arguments`);
    if (c.reason === 'schema_reject') {
      tamperSeq = entries[0]!.seq;
      t.equal(entries[0]!.argsHash, argsHash(auditKey, { text: [SCHEMA_SECRET] }), 'schema_reject: the keyed hash of the canonical arguments');
    }
  }
  t.equal(executed(backend), before, 'no refused call reached the backend');
});

// With calls audited, a down backend is one `call` + one `outcome` (upstream_unavailable, 502): the
// intent was durable before forwarding. Without, it is one `rejection` like every other refusal.
t.test('a backend that is down: one call and one outcome entry (upstream_unavailable)', async (t) => {
  const { res, entries, correlationId } = await observe(A.node.audit, () => callTool(`${A.url}/mcp/v1/tools/down/rpc`, 'echo', { text: 'x' }));
  t.equal(res.status, 502);
  t.equal(res.body?.error?.data?.reason, 'upstream_unavailable');
  t.same(entries.map((e) => e.kind), ['call', 'outcome'], 'the entries of a failed forward');
  t.ok(entries.length > 0 && entries.every((e) => e.correlationId === correlationId && e.server === 'down' && e.version === '1.0.0' && e.tool === 'echo'), 'with the correlation id and target');
  t.match(entries[entries.length - 1], { outcome: 'upstream_unavailable', status: 502 }, 'naming the reason and status');
});

t.test('admin changes are admin entries with the actor; refusals are rejections', async (t) => {
  t.equal(deprecated.status, 200, 'deprecated');
  t.equal(sunsetRes.status, 200, 'sunset');
  const admin = (await A.node.audit.query({ fromSeq: adminStart + 1, kind: 'admin' })).slice(0, 5);
  t.same(
    admin.map((e) => [e.method, e.status]),
    [
      ['POST /admin/v1/servers', 201],
      ['POST /admin/v1/servers', 201],
      ['POST /admin/v1/servers/old/versions/1.0.0/deprecate', 200],
      ['POST /admin/v1/servers/old/versions/1.0.0/sunset', 200],
      ['POST /admin/v1/servers', 201],
    ],
    'register, register, deprecate, sunset, register',
  );
  for (const e of admin) t.match(e.identity, { kind: 'admin-token', subject: 'admin:bootstrap' }, `${e.method}: the actor`);
  t.ok(admin.every((e) => e.outcome === 'ok'));

  const { res, entries } = await observe(A.node.audit, () =>
    rawPost(`${A.url}/admin/v1/servers`, { slug: 'x', version: '1.0.0', backend: { http: backend.url } }, { authorization: 'Bearer tmadm_wrong' }),
  );
  t.equal(res.status, 401);
  t.equal(entries.length, 1, 'a refused admin change: one entry');
  t.match(entries[0], { kind: 'rejection', method: 'POST /admin/v1/servers', status: 401 });
  const reads = await observe(A.node.audit, () => fetch(`${A.url}/admin/v1/servers`, { headers: { authorization: `Bearer ${A.token}` } }) as unknown as Promise<Res>);
  t.equal(reads.entries.length, 0, 'reads are not changes');
});

// ── node B: credentials required (API keys), a tight tenant rate limit ─────────
t.test('authentication, scope and rate-limit refusals are one rejection entry each', async (t) => {
  const B = await startTestNode({ auth: {}, rateLimits: { tenants: { limited: { perMinute: 1, burst: 1 } } } });
  t.teardown(async () => {
    await B.stop();
    await removeDir(B.dataDir);
  });
  await B.register({ slug: 'crm', version: '1.0.0', backend: { http: backend.url }, namespace: 'acme' });
  await B.register({ slug: 'lim', version: '1.0.0', backend: { http: backend.url }, namespace: 'limited' });
  const issue = async (tenant: string, scopes: string[]) => {
    const res = await B.admin('POST', '/admin/v1/credentials/keys', { tenant, scopes });
    if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.key as string;
  };
  const full = await issue('acme', ['mcp:tool:crm:write']);
  const wrong = await issue('acme', ['mcp:tool:other:read']);
  const limited = await issue('limited', ['mcp:tool:lim:write']);
  const crmB = `${B.url}/mcp/v1/tools/crm/rpc`;
  const limB = `${B.url}/mcp/v1/tools/lim/rpc`;
  const log = B.node.audit;
  const before = executed(backend);

  const ok = await observe(log, () => callTool(crmB, 'echo', { text: 'tenant call' }, { authorization: `Bearer ${full}` }));
  t.equal(ok.res.status, 200, 'an API key call');
  await t.test('the API key call is recorded with the tenant identity, never the key', async (t) => {
    t.same(ok.entries.map((e) => e.kind), ['call', 'outcome']);
    t.match(ok.entries[0]?.identity, { kind: 'apikey', tenant: 'acme' }, 'the tenant identity is recorded');
    t.ok(ok.entries.every((e) => !stored(e).includes(full) && !stored(e).includes(full.slice(0, 12))), 'the key itself is not');
  });

  const cases: Array<{ reason: string; status: number; send: () => Promise<Res>; identity?: Record<string, unknown> }> = [
    { reason: 'missing_credentials', status: 401, send: () => callTool(crmB, 'echo', { text: 'x' }) },
    { reason: 'invalid_token', status: 401, send: () => callTool(crmB, 'echo', { text: 'x' }, { authorization: 'Bearer tm_notakey_0000000000000000000000' }) },
    { reason: 'invalid_token', status: 401, send: () => callTool(crmB, 'echo', { text: 'x' }, { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad' }) },
    { reason: 'insufficient_scope', status: 403, send: () => callTool(crmB, 'echo', { text: 'x' }, { authorization: `Bearer ${wrong}` }), identity: { kind: 'apikey', tenant: 'acme' } },
  ];
  for (const c of cases) {
    const { res, entries, correlationId } = await observe(log, c.send);
    t.equal(res.status, c.status, `${c.reason}: HTTP ${c.status}`);
    t.equal(res.body?.error?.data?.reason, c.reason, `${c.reason}: the caller is told`);
    t.equal(entries.length, 1, `${c.reason}: exactly one entry`);
    t.match(entries[0], { kind: 'rejection', reason: c.reason, status: c.status, correlationId }, `${c.reason}: the rejection entry`);
    if (c.identity) t.match(entries[0]?.identity, c.identity, `${c.reason}: who was refused`);
    else t.notOk(entries[0]?.identity, `${c.reason}: no identity was established`);
    t.notOk(stored(entries[0]!).includes('notakey') || stored(entries[0]!).includes('eyJhbGci') || stored(entries[0]!).includes(wrong), `${c.reason}: no credential in the entry`);
  }

  const first = await observe(log, () => callTool(limB, 'echo', { text: 'x' }, { authorization: `Bearer ${limited}` }));
  t.equal(first.res.status, 200, 'the burst of one passes');
  const second = await observe(log, () => callTool(limB, 'echo', { text: 'x' }, { authorization: `Bearer ${limited}` }));
  t.equal(second.res.status, 429);
  t.equal(second.entries.length, 1, 'rate_limited: exactly one entry');
  t.match(second.entries[0], { kind: 'rejection', reason: 'rate_limited', status: 429, correlationId: second.correlationId, identity: { kind: 'apikey', tenant: 'limited' } });
  t.equal(executed(backend), before + 2, 'only the two allowed calls reached the backend');

  const all = await allEntries(log);
  t.ok(contiguous(all), 'seqs contiguous');
  t.ok(all.every((e) => ![full, wrong, limited, B.token].some((secret) => stored(e).includes(secret))), 'no API key or admin token anywhere in the log');
  t.equal((await log.verify()).ok, true);
});

// ── node C: a failing audit disk ───────────────────────────────────────────────
t.test('fail closed: 503 audit_unavailable, nothing forwarded, then recovery by itself', async (t) => {
  let failing = false;
  const C = await startTestNode({}, undefined, {
    auditWriteHook: () => {
      if (failing) throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
    },
  });
  t.teardown(async () => {
    await C.stop();
    await removeDir(C.dataDir);
  });
  const reg = await C.admin('POST', '/admin/v1/servers', { slug: 'crm', version: '1.0.0', backend: { http: backend.url } });
  t.equal(reg.status, 201);
  const url = `${C.url}/mcp/v1/tools/crm/rpc`;
  t.equal((await callTool(url, 'echo', { text: 'before' })).status, 200, 'a call before the failure');

  failing = true;
  const before = executed(backend);
  const headBefore = C.node.audit.head.seq;
  for (const attempt of ['first', 'second']) {
    const res = await callTool(url, 'echo', { text: 'must not pass' });
    t.equal(res.status, 503, `${attempt} call while failing: 503`);
    t.equal(res.body?.error?.code, -32012, `${attempt}: code -32012`);
    t.equal(res.body?.error?.data?.reason, 'audit_unavailable', `${attempt}: reason audit_unavailable`);
  }
  t.equal(executed(backend), before, 'nothing reached the backend unaudited');
  t.equal(C.node.audit.available, false);
  t.equal(C.node.audit.head.seq, headBefore, 'nothing was recorded while failing');
  const head = await C.admin('GET', '/admin/v1/audit/head');
  t.match(head, { status: 200, body: { available: false, seq: headBefore } }, 'the admin API reports the log unavailable');

  failing = false;
  const started = Date.now();
  while (!C.node.audit.available && Date.now() - started < 3000) await sleep(25);
  t.equal(C.node.audit.available, true, `recovered by itself, without traffic (${Date.now() - started} ms)`);
  const after = await callTool(url, 'echo', { text: 'after' });
  t.equal(after.status, 200, 'calls succeed again');
  t.equal(executed(backend), before + 1);

  const all = await allEntries(C.node.audit);
  t.ok(contiguous(all), `seqs 1..${all.length} contiguous`);
  t.same(all.filter((e) => e.kind === 'call').length, 2, 'the two answered calls have their intents; the refused ones none');
  t.equal((await C.node.audit.verify()).ok, true, 'the chain verifies');
});

// ── the admin API ──────────────────────────────────────────────────────────────
async function get(path: string, token = A.token): Promise<Response> {
  return fetch(A.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

async function getJson(path: string): Promise<any> {
  return (await get(path)).json();
}

t.test('/admin/v1/audit: verify, entries, export, checkpoints, head', async (t) => {
  const log = A.node.audit;
  t.equal((await get('/admin/v1/audit/verify', '')).status, 401, 'behind admin authentication');

  const verify = await getJson('/admin/v1/audit/verify');
  t.match(verify, { ok: true, entries: log.head.seq, firstSeq: 1, lastSeq: log.head.seq });
  const head = await getJson('/admin/v1/audit/head');
  t.same(head, { seq: log.head.seq, hash: log.head.hash, available: true });

  const calls = (await getJson('/admin/v1/audit/entries?server=crm&kind=rejection')).entries as AuditEntry[];
  t.ok(calls.length >= 2 && calls.every((e) => e.server === 'crm' && e.kind === 'rejection'), 'filtered by server and kind');
  t.same(calls, await log.query({ server: 'crm', kind: 'rejection' }), 'as the log answers');
  const byId = (await getJson(`/admin/v1/audit/entries?correlationId=${calls[0]!.correlationId}`)).entries as AuditEntry[];
  t.same(byId.map((e) => e.seq), [calls[0]!.seq], 'by correlation id');
  const page = (await getJson('/admin/v1/audit/entries?fromSeq=3&limit=2')).entries as AuditEntry[];
  t.same(page.map((e) => e.seq), [3, 4], 'paged by fromSeq and limit');
  const rejected = (await getJson('/admin/v1/audit/entries?kind=rejection&outcome=sunset')).entries as AuditEntry[];
  t.same(rejected.map((e) => e.reason), ['sunset'], 'by kind and outcome');
  const anon = calls[0]!.identity!.subject;
  t.ok(((await getJson(`/admin/v1/audit/entries?identity=${encodeURIComponent(anon)}&tool=echo`)).entries as AuditEntry[]).length >= 2, 'by identity and tool');
  t.same((await getJson('/admin/v1/audit/entries?since=2999-01-01T00:00:00Z')).entries, [], 'since: nothing in the future');
  t.same((await getJson('/admin/v1/audit/entries?until=2000-01-01')).entries, [], 'until: nothing before 2000');
  const window = (await getJson(`/admin/v1/audit/entries?since=${encodeURIComponent(calls[0]!.time)}&until=2999-01-01T00:00:00Z&limit=1`)).entries as AuditEntry[];
  t.ok(window.length === 1 && Date.parse(window[0]!.time) >= Date.parse(calls[0]!.time), 'a time window');

  for (const bad of ['fromSeq=0', 'fromSeq=abc', 'limit=0', 'limit=100001', 'kind=bogus', 'since=yesterday', 'since=2026-02-01&until=2026-01-01', 'server=a&server=b', 'fromseq=3', 'server=']) {
    const res = await get(`/admin/v1/audit/entries?${bad}`);
    const body = (await res.json()) as any;
    t.equal(res.status, 400, `entries?${bad}: 400`);
    t.equal(body?.error?.code, 'invalid_input', `entries?${bad}: invalid_input`);
  }
  for (const bad of ['fromSeq=0', 'toSeq=-1', 'fromSeq=5&toSeq=4', 'from=1']) {
    const res = await get(`/admin/v1/audit/export?${bad}`);
    t.equal(res.status, 400, `export?${bad}: 400`);
    t.equal(((await res.json()) as any)?.error?.code, 'invalid_input');
  }

  const exported = await get('/admin/v1/audit/export');
  t.match(exported.headers.get('content-type'), /^application\/x-ndjson/);
  const text = await exported.text();
  const lines = text.split('\n');
  t.equal(lines.pop(), '', 'every line ends in a newline');
  const parsed = lines.map((l) => JSON.parse(l) as AuditEntry);
  t.ok(parsed.length === log.head.seq && contiguous(parsed), `all ${parsed.length} entries, in seq order`);
  t.same(parsed, await allEntries(log), 'the same entries the log holds');
  const k = Math.floor(parsed.length / 2);
  const firstHalf = await (await get(`/admin/v1/audit/export?toSeq=${k}`)).text();
  const resumed = await (await get(`/admin/v1/audit/export?fromSeq=${k + 1}`)).text();
  t.equal(firstHalf + resumed, text, 'resumable by seq: toSeq=k plus fromSeq=k+1 is the whole export');
  t.notOk(text.includes(A.token), 'the admin token is nowhere in the log');

  const cps = await get('/admin/v1/audit/checkpoints');
  t.equal(cps.status, 200);
  t.match(cps.headers.get('content-type'), /^application\/x-ndjson/);
  const cpLines = (await cps.text()).split('\n').filter(Boolean);
  t.same(cpLines.map((l) => JSON.parse(l)), await log.checkpoints(), 'the stored checkpoints, one per line');
});

// ── the CLI, end to end; then tampering with a stopped node ───────────────────
/** One CLI command against node A. */
const cli = (args: string[], timeoutMs = 15_000): Promise<Run> => runCli([...args, '--node', A.url, '--token', A.token], { timeoutMs });

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

t.test('toolmesh audit verify|query|export|checkpoints|tail', { skip: existsSync(MAIN) ? false : `${MAIN} is missing: run npx tsc -p . first` }, async (t) => {
  const log = A.node.audit;
  const verify = await cli(['audit', 'verify']);
  t.equal(verify.code, 0, 'verify exits 0');
  t.match(verify.stdout, new RegExp(`^ok: ${log.head.seq} entries \\(seq 1\\.\\.${log.head.seq}\\)`), 'and says ok');

  const table = await cli(['audit', 'query', '--server', 'crm', '--kind', 'rejection', '--limit', '5']);
  t.equal(table.code, 0);
  const [header, rule, ...rows] = table.stdout.trimEnd().split('\n');
  t.match(header, /^SEQ\s+TIME\s+KIND\s+IDENTITY\s+SERVER\s+TOOL\s+OUTCOME\s+CORRELATION$/, 'a table with the documented columns');
  t.match(rule, /^-+/);
  const calls = await log.query({ server: 'crm', kind: 'rejection', limit: 5 });
  t.ok(calls.length >= 2);
  t.equal(rows.length, calls.length, 'one row per matching entry');
  t.same(
    rows.map((r) => r.split(/\s+/)),
    calls.map((e) => [String(e.seq), e.time, 'rejection', e.identity?.subject ?? '-', 'crm@1.0.0', e.tool ?? '-', e.outcome, e.correlationId]),
    'seq, time, kind, identity, server@version, tool, outcome and correlation id',
  );

  const json = await cli(['audit', 'query', '--outcome', 'upstream_unavailable', '--json']);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), { entries: await log.query({ outcome: 'upstream_unavailable' }) }, '--json prints the API answer');
  const badQuery = await cli(['audit', 'query', '--kind', 'bogus']);
  t.equal(badQuery.code, 1, 'a bad filter exits 1');
  t.match(badQuery.stderr, /400 invalid_input: kind/);

  const exported = await cli(['audit', 'export']);
  t.equal(exported.code, 0);
  const api = await (await get('/admin/v1/audit/export')).text();
  t.equal(exported.stdout, api, 'export prints the JSON lines');
  const resumed = await cli(['audit', 'export', '--from-seq', '10']);
  t.same(resumed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).seq)[0], 10, '--from-seq resumes at that seq');
  t.equal(resumed.stdout, api.split('\n').slice(9).join('\n'));
  const badSeq = await cli(['audit', 'export', '--from-seq', 'x']);
  t.equal(badSeq.code, 2, 'a malformed --from-seq is a usage error');

  const checkpoints = await cli(['audit', 'checkpoints']);
  t.equal(checkpoints.code, 0);
  t.equal(checkpoints.stdout, await (await get('/admin/v1/audit/checkpoints')).text());

  // tail: prints what is there from --from-seq, then follows new entries until SIGINT.
  const fromSeq = log.head.seq;
  const child = spawn(process.execPath, [MAIN, 'audit', 'tail', '--from-seq', String(fromSeq), '--node', A.url, '--token', A.token], { cwd: ROOT, env: cliEnv() });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor('the tail to print the current head', () => out.includes(`\n${fromSeq}  `));
  const res = await callTool(CRM, 'no_such_tool', { text: 'tailed' });
  const corr = res.headers.get('x-correlation-id')!;
  await waitFor('the new entry to appear in the tail', () => out.includes(corr));
  t.match(out.split('\n').find((l) => l.includes(corr)), /\srejection\s.*crm@1\.0\.0\s.*unknown_tool\s/, 'the tail printed the new entry within the poll interval');
  t.match(out, /^SEQ\s+TIME\s+KIND/, 'with a header');
  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends the tail cleanly');
});

t.test('tampering with a stopped node: audit verify names the edited seq and exits 1', async (t) => {
  t.ok(tamperSeq > 0, `tampering with entry ${tamperSeq}`);
  await A.stop();
  const db = new Level<string, unknown>(join(dirA, 'audit'), { valueEncoding: 'json' });
  await db.open();
  const entries = db.sublevel<string, unknown>('entries', { valueEncoding: 'json' });
  const key = String(tamperSeq).padStart(16, '0');
  const original = (await entries.get(key)) as AuditEntry;
  t.equal(original.tool, 'echo');
  await entries.put(key, { ...original, tool: 'refund_all' });
  await db.close();

  A = await startTestNode(CONFIG_A, dirA);
  const report = await getJson('/admin/v1/audit/verify');
  t.equal((await get('/admin/v1/audit/verify')).status, 200, 'the report is 200 even when not ok');
  t.match(report, { ok: false, firstProblem: { seq: tamperSeq, kind: 'altered' } }, 'the API names the seq');

  if (!existsSync(MAIN)) {
    t.fail(`${MAIN} is missing: run npx tsc -p . first`);
    return;
  }
  const verify = await cli(['audit', 'verify']);
  t.equal(verify.code, 1, 'verify exits 1');
  t.match(verify.stdout, new RegExp(`^NOT OK: first problem at seq ${tamperSeq}: altered: entry ${tamperSeq} `), 'and names the altered seq');
  const json = await cli(['audit', 'verify', '--json']);
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), { ok: false, entries: tamperSeq - 1, firstProblem: { seq: tamperSeq, kind: 'altered' } });

  const exportedCps = (await (await get('/admin/v1/audit/checkpoints')).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Checkpoint);
  t.ok(exportedCps.length >= 1 && exportedCps.every((c) => typeof c.jws === 'string'), 'the stop signed a checkpoint of the head');
});
