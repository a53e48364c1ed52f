/**
 * Admin API for the audit log (PRODUCT.md §8): `/admin/v1/audit…`, mounted
 * under `/admin` behind admin authentication. Read-only: these are GETs, so
 * reading the log is not itself an audit entry (admin-audit.ts records changes).
 *
 *   GET /admin/v1/audit/verify        the VerifyReport (200 whether or not `ok`: the report says so)
 *   GET /admin/v1/audit/entries       {entries}: filters since, until, identity, tenant, server, tool,
 *                                     outcome, kind, correlationId; paging fromSeq, limit (≤ 10000)
 *   GET /admin/v1/audit/export        the entries as JSON lines, streamed, from fromSeq (default 1)
 *                                     to toSeq; resume after a broken stream with the last seq + 1
 *   GET /admin/v1/audit/checkpoints   the signed checkpoints as JSON lines, to keep elsewhere
 *   GET /admin/v1/audit/head          {seq, hash, available}
 *   POST /admin/v1/audit/prune        one retention pass now (archive, then prune behind a signed
 *                                     checkpoint): {pruned, fromSeq, toSeq, file}; 409 when no
 *                                     retention is configured
 *
 * Query parameters are checked strictly: an unknown, repeated or malformed
 * parameter is 400 `invalid_input` (a typo must not silently widen a query).
 */
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.js';
import { AUDIT_KINDS, type AuditKind, type AuditLog, type AuditQuery } from '../audit/index.js';
import type { RetentionSchedule } from '../audit/retention-schedule.js';

/** The most entries one `/entries` page returns. */
export const MAX_ENTRIES_LIMIT = 10_000;

const NDJSON = 'application/x-ndjson; charset=utf-8';

type Params = Record<string, string>;

/** The query string as single strings; refuses unknown and repeated parameters. */
function params(ctx: Context, allowed: readonly string[]): Params {
  const out: Params = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (!allowed.includes(name)) {
      throw new HttpError(400, 'invalid_input', `unknown query parameter ${name}; allowed: ${allowed.join(', ') || '(none)'}`);
    }
    if (Array.isArray(value)) throw new HttpError(400, 'invalid_input', `${name}: give it once`);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function seqParam(p: Params, name: string): number | undefined {
  const raw = p[name];
  if (raw === undefined) return undefined;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new HttpError(400, 'invalid_input', `${name}: must be a sequence number (an integer ≥ 1)`);
  return n;
}

function timeParam(p: Params, name: string): string | undefined {
  const raw = p[name];
  if (raw === undefined) return undefined;
  // An ISO 8601 date or date-time; other Date.parse inputs ("tomorrow"-like strings) are refused.
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw) || Number.isNaN(Date.parse(raw))) {
    throw new HttpError(400, 'invalid_input', `${name}: must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z`);
  }
  return raw;
}

function textParam(p: Params, name: string): string | undefined {
  const raw = p[name];
  if (raw === undefined) return undefined;
  if (raw.length === 0 || raw.length > 1024) throw new HttpError(400, 'invalid_input', `${name}: must be 1 to 1024 characters`);
  return raw;
}

const ENTRY_PARAMS = ['since', 'until', 'identity', 'tenant', 'server', 'tool', 'outcome', 'kind', 'correlationId', 'fromSeq', 'limit'] as const;

/** Parses and checks the `/entries` query. */
export function parseEntriesQuery(ctx: Context): AuditQuery {
  const p = params(ctx, ENTRY_PARAMS);
  const q: AuditQuery = {};
  const since = timeParam(p, 'since');
  const until = timeParam(p, 'until');
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  if (since !== undefined && until !== undefined && Date.parse(until) < Date.parse(since)) {
    throw new HttpError(400, 'invalid_input', 'until: must not be before since');
  }
  for (const name of ['identity', 'tenant', 'server', 'tool', 'outcome', 'correlationId'] as const) {
    const value = textParam(p, name);
    if (value !== undefined) q[name] = value;
  }
  if (p.kind !== undefined) {
    if (!AUDIT_KINDS.includes(p.kind as AuditKind)) throw new HttpError(400, 'invalid_input', `kind: one of ${AUDIT_KINDS.join(', ')}`);
    q.kind = p.kind as AuditKind;
  }
  const fromSeq = seqParam(p, 'fromSeq');
  if (fromSeq !== undefined) q.fromSeq = fromSeq;
  if (p.limit !== undefined) {
    const limit = /^\d{1,6}$/.test(p.limit) ? Number(p.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_ENTRIES_LIMIT)) throw new HttpError(400, 'invalid_input', `limit: an integer from 1 to ${MAX_ENTRIES_LIMIT}`);
    q.limit = limit;
  }
  return q;
}

/**
 * @example
 * ```ts
 * import type { AuditLog } from '../audit/index.js';
 * declare const log: AuditLog;
 * const adminRouters = [auditRoutes(log)]; // served at /admin/v1/audit/…
 * ```
 */
export function auditRoutes(log: AuditLog, retention?: RetentionSchedule): Router {
  const router = new Router({ prefix: '/v1/audit' }); // mounted under /admin

  router.get('/verify', async (ctx) => {
    params(ctx, []);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await log.verify();
  });

  router.get('/entries', async (ctx) => {
    const query = parseEntriesQuery(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { entries: await log.query(query) };
  });

  router.get('/export', (ctx) => {
    const p = params(ctx, ['fromSeq', 'toSeq']);
    const fromSeq = seqParam(p, 'fromSeq') ?? 1;
    const toSeq = seqParam(p, 'toSeq');
    if (toSeq !== undefined && toSeq < fromSeq) throw new HttpError(400, 'invalid_input', 'toSeq: must not be below fromSeq');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = NDJSON;
    // Paged reads (no LevelDB iterator held open): a slow or vanished client costs nothing.
    ctx.body = Readable.from(log.export({ fromSeq, ...(toSeq !== undefined ? { toSeq } : {}) }), { objectMode: false });
  });

  router.get('/checkpoints', (ctx) => {
    params(ctx, []);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = NDJSON;
    ctx.body = Readable.from(log.exportCheckpoints(), { objectMode: false });
  });

  router.post('/prune', async (ctx) => {
    params(ctx, []);
    if (retention === undefined) throw new HttpError(409, 'retention_not_configured', 'no audit retention is configured (config.json: audit.retention.hotDays)');
    const { checkpoint, ...result } = await retention.runNow();
    ctx.body = { ...result, ...(checkpoint ? { checkpointSeq: checkpoint.seq } : {}) };
  });

  router.get('/head', (ctx) => {
    params(ctx, []);
    ctx.set('Cache-Control', 'no-store');
    const head = log.head;
    ctx.body = { seq: head.seq, hash: head.hash, available: log.available };
  });

  return router;
}
