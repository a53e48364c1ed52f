/**
 * Who approved a server version and its tools, and when (PRODUCT.md §7): the
 * record's current approval, each pinned tool's approval, and the version's
 * change history — registration, re-approvals (after drift, or to admit new
 * tools), lifecycle changes and detected drift — each with actor and time.
 */
import type { HistoryEntry, ServerRecord } from '../registry/types.js';

/** One change of the version, oldest first. */
export interface ApprovalEvent {
  at: string;
  actor: string;
  action: HistoryEntry['action'];
  /** One line: `alpha → beta`, `re-pinned echo`, `drifted: echo`, … */
  summary: string;
  detail?: Record<string, unknown>;
}

export interface ApprovalTrail {
  /** The latest approval of the version (registration or the last re-approval). */
  approvedBy: string;
  approvedAt: string;
  /** Who registered the version, when the history has it. */
  registeredBy?: string;
  registeredAt?: string;
  events: ApprovalEvent[];
}

function list(value: unknown): string {
  return Array.isArray(value) ? value.map((v) => (typeof v === 'object' && v !== null && 'name' in v ? String((v as { name: unknown }).name) : String(v))).join(', ') : '';
}

function summarise(entry: HistoryEntry): string {
  const d = entry.detail ?? {};
  switch (entry.action) {
    case 'register':
      return `registered as ${String(d.lifecycle ?? '?')} with tools ${list(d.tools) || '(none)'}`;
    case 'promote':
      return `${String(d.from ?? '?')} → ${String(d.to ?? '?')}`;
    case 'approve':
      return list(d.changed) ? `re-approved; re-pinned ${list(d.changed)}` : 're-approved; no tool changed';
    case 'deprecate':
      return `deprecated${d.sunsetAt ? `; sunset at ${String(d.sunsetAt)}` : ''}`;
    case 'sunset':
      return `sunset${d.sunsetAt ? ` at ${String(d.sunsetAt)}` : ''}`;
    case 'drift_detected':
      return `drift: ${list(d.drifted) || '-'}${list(d.unapproved) ? `; unapproved ${list(d.unapproved)}` : ''}`;
  }
}

/**
 * @example
 * ```ts
 * import { approvalTrail } from './approvals.js';
 * declare const record: import('../registry/types.js').ServerRecord;
 * declare const history: import('../registry/types.js').HistoryEntry[]; // registry.history(slug)
 * approvalTrail(record, history).events.map((e) => `${e.at} ${e.actor} ${e.summary}`);
 * ```
 */
export function approvalTrail(record: ServerRecord, history: readonly HistoryEntry[]): ApprovalTrail {
  const events = history
    .filter((h) => h.slug === record.slug && h.version === record.version)
    .map((h) => ({ at: h.at, actor: h.actor, action: h.action, summary: summarise(h), ...(h.detail ? { detail: h.detail } : {}) }));
  const registered = events.find((e) => e.action === 'register');
  return {
    approvedBy: record.approvedBy,
    approvedAt: record.approvedAt,
    ...(registered ? { registeredBy: registered.actor, registeredAt: registered.at } : {}),
    events,
  };
}
