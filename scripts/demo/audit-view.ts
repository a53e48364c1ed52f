/**
 * Both sides of one federated call in the audit log: each node's entries for
 * a correlation id (admin API `/admin/v1/audit/entries?correlationId=…`),
 * printed as one table so the calling node's and the serving node's records
 * read side by side — kinds, identities and the actor chain of the
 * translated token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry } from '../../src/audit/index.js';
import type { NodeProcess } from './node-process.js';

export async function auditEntries(node: NodeProcess, correlationId: string): Promise<AuditEntry[]> {
  const res = await node.admin<{ entries: AuditEntry[] }>('GET', `/admin/v1/audit/entries?correlationId=${encodeURIComponent(correlationId)}&limit=100`);
  if (res.status !== 200) throw new Error(`audit query at ${node.plan.alias} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.entries;
}

/** Entries at `node` once `done` holds for them (the serving node writes its outcome asynchronously). */
export async function awaitEntries(node: NodeProcess, correlationId: string, done: (e: AuditEntry[]) => boolean, timeoutMs = 5_000): Promise<AuditEntry[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const entries = await auditEntries(node, correlationId);
    if (done(entries) || Date.now() > until) return entries;
    await sleep(100);
  }
}

function who(e: AuditEntry): string {
  if (!e.identity) return '-';
  const groups = e.identity.groups.length ? ` [${e.identity.groups.join(',')}]` : '';
  return `${e.identity.kind}:${e.identity.subject}${groups}`;
}

function actors(e: AuditEntry, label: (subject: string) => string): string {
  const chain = e.identity?.actor ?? [];
  return chain.length ? chain.map((a) => label(a.subject)).join(' → ') : '-';
}

function what(e: AuditEntry): string {
  const target = e.server ? `${e.server}${e.version ? '@' + e.version : ''}${e.tool ? ' ' + e.tool : ''}` : '';
  return [e.method ?? '', target].filter(Boolean).join(' ');
}

/** The rows of both nodes as an aligned table; `label` names an actor (a node's entity id). */
export function renderAudit(sides: Array<{ node: string; entries: AuditEntry[] }>, label: (subject: string) => string = (s) => s): string[] {
  const header = ['node', 'seq', 'kind', 'what', 'outcome', 'identity', 'actor chain'];
  const rows = sides.flatMap(({ node, entries }) =>
    entries.map((e) => [node, String(e.seq), e.kind, what(e), e.outcome ?? '', who(e), actors(e, label)]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)];
}
