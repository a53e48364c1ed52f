/**
 * `toolmesh audit …`: read and check a running node's audit log through its
 * admin API (`/admin/v1/audit…`).
 *
 *   verify                        check the chain and the checkpoints; exit 1 unless ok
 *   query [--since T] [--until T] [--identity S] [--tenant T] [--server S] [--tool T]
 *         [--outcome O] [--kind K] [--correlation-id C] [--from-seq N] [--limit N]
 *   export [--from-seq N] [--to-seq N]   JSON lines to stdout, streamed; only whole lines are
 *                                 written, so an interrupted export resumes with --from-seq
 *   tail [--from-seq N]           follow: prints new entries every 500 ms until Ctrl-C
 *                                 (default: the last 10 entries, then new ones)
 *   checkpoints                   the signed checkpoints as JSON lines (keep them elsewhere)
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS, defaultDataDir, type ConnectionFlags } from '../admin-client.js';
import { printJson, table } from '../format.js';
import type { AuditEntry, VerifyReport } from '../../audit/index.js';

const USAGE = 'usage: toolmesh audit verify | query [filters] | export [--from-seq N] [--to-seq N] | tail [--from-seq N] | checkpoints | prune';

/** How often `audit tail` asks for new entries. */
export const TAIL_POLL_MS = 500;

const HEADERS = ['SEQ', 'TIME', 'KIND', 'IDENTITY', 'SERVER', 'TOOL', 'OUTCOME', 'CORRELATION'];
/** Column widths of `audit tail` (all but the last column). */
const TAIL_WIDTHS = [6, 24, 9, 16, 16, 16, 20];

function row(e: AuditEntry): string[] {
  return [
    String(e.seq),
    e.time,
    e.kind,
    e.identity ? `${e.identity.subject}${e.identity.tenant !== undefined && e.identity.tenant !== e.identity.subject ? ` (${e.identity.tenant})` : ''}` : '-',
    e.server ? `${e.server}${e.version ? `@${e.version}` : ''}` : '-',
    e.tool ?? '-',
    e.outcome ?? '-',
    e.correlationId,
  ];
}

export function describeReport(report: VerifyReport): string {
  const range = report.firstSeq !== undefined ? ` (seq ${report.firstSeq}..${report.lastSeq})` : '';
  if (report.ok) return `ok: ${report.entries} entries${range} and ${report.checkpoints} checkpoint(s) verified`;
  const p = report.firstProblem!;
  return `NOT OK: first problem at seq ${p.seq}: ${p.kind}: ${p.detail}\n(${report.entries} entries${range} verified before it, ${report.checkpoints} checkpoint(s) checked)`;
}

function seqFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) throw new CliError(`${flag}: expected a sequence number (an integer ≥ 1), got ${value}`, 2);
  return Number(value);
}

/** The admin token, resolved as AdminClient does (for the streamed requests it does not make). */
function adminToken(flags: ConnectionFlags): string {
  let token = flags.token ?? process.env.TOOLMESH_TOKEN;
  if (token === undefined) {
    try {
      token = readFileSync(join(defaultDataDir(flags.data), 'admin.token'), 'utf8').trim();
    } catch {
      /* reported below */
    }
  }
  if (!token) throw new CliError(`no admin token: pass --token, set TOOLMESH_TOKEN, or run where ${join(defaultDataDir(flags.data), 'admin.token')} exists`);
  return token;
}

async function write(text: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/**
 * Streams a JSON-lines response to stdout, whole lines only. Returns the last
 * line written (to name where to resume when the stream breaks).
 */
async function streamLines(client: AdminClient, flags: ConnectionFlags, path: string): Promise<{ lines: number; last: string | undefined }> {
  let res: Response;
  try {
    res = await fetch(client.baseUrl + path, { headers: { authorization: `Bearer ${adminToken(flags)}`, accept: 'application/x-ndjson' } });
  } catch (err) {
    throw new CliError(`cannot reach the node at ${client.baseUrl} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}); is it running? (toolmesh start)`);
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      /* not JSON */
    }
    throw new CliError(`${res.status} ${error?.code ?? res.statusText}: ${error?.message ?? text}`);
  }
  const decoder = new TextDecoder();
  let partial = '';
  let lines = 0;
  let last: string | undefined;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      partial += decoder.decode(chunk, { stream: true });
      const end = partial.lastIndexOf('\n');
      if (end < 0) continue;
      const complete = partial.slice(0, end + 1);
      partial = partial.slice(end + 1);
      await write(complete);
      const parts = complete.split('\n');
      lines += parts.length - 1;
      last = parts[parts.length - 2];
    }
  } catch (err) {
    throw new StreamBroken(`the stream broke after ${lines} line(s) (${(err as Error).message})`, last);
  }
  if (partial.trim() !== '') throw new CliError(`the stream ended inside a line after ${lines} line(s)`);
  return { lines, last };
}

/** A JSON-lines stream that ended early; `last` is the last whole line written. */
class StreamBroken extends CliError {
  constructor(
    message: string,
    readonly last: string | undefined,
  ) {
    super(message);
  }
}

function seqOf(line: string | undefined): number | undefined {
  if (line === undefined) return undefined;
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  }
}

function exitQuietlyOnClosedStdout(): void {
  // `toolmesh audit export | head`: a closed pipe ends the command, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export async function auditCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'help' || sub === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (sub === undefined || sub.startsWith('-')) throw new CliError(USAGE, 2);
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: {
      ...CONNECTION_OPTIONS,
      since: { type: 'string' },
      until: { type: 'string' },
      identity: { type: 'string' },
      tenant: { type: 'string' },
      server: { type: 'string' },
      tool: { type: 'string' },
      outcome: { type: 'string' },
      kind: { type: 'string' },
      'correlation-id': { type: 'string' },
      'from-seq': { type: 'string' },
      'to-seq': { type: 'string' },
      limit: { type: 'string' },
    },
  });
  const client = new AdminClient(values);
  const fromSeq = seqFlag(values['from-seq'], '--from-seq');

  switch (sub) {
    case 'verify': {
      const report = await client.request<VerifyReport>('GET', '/admin/v1/audit/verify');
      if (values.json) printJson(report);
      else process.stdout.write(describeReport(report) + '\n');
      if (!report.ok) process.exitCode = 1;
      return;
    }
    case 'query': {
      const q = new URLSearchParams();
      const filters: Array<[string, string | undefined]> = [
        ['since', values.since],
        ['until', values.until],
        ['identity', values.identity],
        ['tenant', values.tenant],
        ['server', values.server],
        ['tool', values.tool],
        ['outcome', values.outcome],
        ['kind', values.kind],
        ['correlationId', values['correlation-id']],
        ['fromSeq', fromSeq === undefined ? undefined : String(fromSeq)],
        ['limit', values.limit],
      ];
      for (const [name, value] of filters) if (value !== undefined) q.set(name, value);
      const result = await client.request<{ entries: AuditEntry[] }>('GET', `/admin/v1/audit/entries${q.toString() ? `?${q}` : ''}`);
      if (values.json) printJson(result);
      else process.stdout.write((result.entries.length ? table(HEADERS, result.entries.map(row)) : 'no matching entries') + '\n');
      return;
    }
    case 'export': {
      exitQuietlyOnClosedStdout();
      const toSeq = seqFlag(values['to-seq'], '--to-seq');
      const q = new URLSearchParams();
      if (fromSeq !== undefined) q.set('fromSeq', String(fromSeq));
      if (toSeq !== undefined) q.set('toSeq', String(toSeq));
      try {
        await streamLines(client, values, `/admin/v1/audit/export${q.toString() ? `?${q}` : ''}`);
      } catch (err) {
        const last = err instanceof StreamBroken ? seqOf(err.last) : undefined;
        if (last !== undefined) throw new CliError(`${(err as Error).message}; resume with --from-seq ${last + 1}`);
        throw err;
      }
      return;
    }
    case 'checkpoints': {
      exitQuietlyOnClosedStdout();
      await streamLines(client, values, '/admin/v1/audit/checkpoints');
      return;
    }
    case 'prune': {
      const result = await client.request<{ pruned: number; fromSeq?: number; toSeq?: number; file?: string; checkpointSeq?: number }>('POST', '/admin/v1/audit/prune');
      if (values.json) printJson(result);
      else process.stdout.write(result.pruned === 0 ? 'nothing older than the hot period\n' : `archived and pruned entries ${result.fromSeq}–${result.toSeq} (${result.pruned}) to ${result.file}; retention checkpoint at ${result.checkpointSeq}\n`);
      return;
    }
    case 'tail': {
      exitQuietlyOnClosedStdout();
      await tail(client, fromSeq, Boolean(values.json));
      return;
    }
    default:
      throw new CliError(USAGE, 2);
  }
}

/** Polls `/entries?fromSeq=` until SIGINT/SIGTERM; a node that goes away is waited for. */
async function tail(client: AdminClient, fromSeq: number | undefined, json: boolean): Promise<void> {
  let next = fromSeq;
  if (next === undefined) {
    const head = await client.request<{ seq: number }>('GET', '/admin/v1/audit/head');
    next = Math.max(1, head.seq - 9);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Rows come one at a time, so columns get fixed widths (a longer value just pushes the rest along).
  const line = (cells: string[]) => cells.map((c, i) => (i < TAIL_WIDTHS.length ? c.padEnd(TAIL_WIDTHS[i]!) : c)).join('  ').trimEnd() + '\n';
  const print = (e: AuditEntry) => write(json ? JSON.stringify(e) + '\n' : line(row(e)));
  if (!json) await write(line(HEADERS));
  let unreachable = false;
  try {
    while (!stop.signal.aborted) {
      let page: AuditEntry[];
      try {
        page = (await client.request<{ entries: AuditEntry[] }>('GET', `/admin/v1/audit/entries?fromSeq=${next}&limit=1000`)).entries;
        if (unreachable) process.stderr.write('toolmesh: the node answers again\n');
        unreachable = false;
      } catch (err) {
        // A node that is down or restarting is waited for; a refusal (bad token, bad input) ends the tail.
        if (!(err instanceof CliError) || !/^(cannot reach|5\d\d )/.test(err.message)) throw err;
        if (!unreachable) process.stderr.write(`toolmesh: ${err.message}; still trying\n`);
        unreachable = true;
        page = [];
      }
      for (const e of page) {
        await print(e);
        next = e.seq + 1;
      }
      if (page.length < 1000) await sleep(TAIL_POLL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
