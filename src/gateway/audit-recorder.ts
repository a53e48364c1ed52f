/**
 * What the gateway writes to the audit log (PRODUCT.md §8):
 *
 * - intent: before a call is forwarded, durable (group commit) — if it cannot
 *   be written the call fails closed with 503 `audit_unavailable` and is not
 *   forwarded;
 * - outcome: when the call ends, written before the answer is sent (it
 *   survives a killed process; fsynced with the next intent or within the
 *   log's sync interval — it records what already happened, so it does not
 *   hold the caller for a second fsync);
 * - rejection: every refusal, with its reason, one entry each, written the
 *   same way (nothing was forwarded).
 *
 * Entries carry the identity (never credentials), server, version, tool, a
 * keyed hash of the canonical arguments (never the arguments) and the
 * correlation id the caller also receives.
 */
import type { AuditLog, AuditEntryInput } from '../audit/index.js';
import { argsHash, auditIdentity, isAuditUnavailable } from '../audit/index.js';
import { GatewayError } from './errors.js';
import type { CallContext, Endpoint } from './call.js';
import type { Identity } from '../auth/identity.js';

const UNSYNCED = { sync: false } as const;

export interface CallRecord {
  correlationId: string;
  /** Absent for a path under `/mcp/` that names no endpoint. */
  endpoint?: Endpoint;
  identity: Identity | undefined;
  method: string;
  call?: CallContext;
}

export class AuditRecorder {
  readonly #log: AuditLog;
  readonly #key: Buffer;

  constructor(log: AuditLog, argsKey: Buffer) {
    this.#log = log;
    this.#key = argsKey;
  }

  #base(call: CallContext): AuditEntryInput {
    const target = call.target;
    const input: AuditEntryInput = {
      kind: 'call',
      correlationId: call.correlationId,
      method: call.method,
      ...(call.identity ? { identity: auditIdentity(call.identity) } : {}),
      ...(target ? { server: target.record.slug, version: target.record.version } : {}),
      ...(target?.tool ? { tool: target.tool.name } : {}),
    };
    return input;
  }

  /** Durable before forwarding, or the call is refused (fail closed). */
  async intent(call: CallContext): Promise<void> {
    if (!this.#log.available) throw unavailable();
    const input = this.#base(call);
    if (call.method === 'tools/call') {
      try {
        input.argsHash = argsHash(this.#key, call.params.arguments ?? {});
      } catch (err) {
        // Arguments with no canonical JSON form cannot be recorded, so they are not forwarded.
        throw new GatewayError('invalid_params', 'arguments have no canonical JSON form', { cause: err });
      }
    }
    try {
      await this.#log.append(input);
    } catch (err) {
      if (isAuditUnavailable(err)) throw unavailable(err);
      throw err;
    }
  }

  /** The end of a forwarded call; written before the caller is answered. */
  async outcome(call: CallContext, outcome: string, status: number, startedAt: number): Promise<void> {
    const entry: AuditEntryInput = { ...this.#base(call), kind: 'outcome', outcome, status, latencyMs: Math.round(performance.now() - startedAt) };
    await this.#log.append(entry, UNSYNCED).catch(() => {
      // The call already happened and its intent is durable; an outcome that cannot be
      // written leaves the log unavailable, so the next call fails closed.
    });
  }

  /** One entry per refusal (authentication, scope, rate limit, schema, sunset, upstream, malformed input…). */
  async rejection(record: CallRecord, reason: string, status: number, detail?: Record<string, unknown>): Promise<void> {
    const call = record.call;
    const input: AuditEntryInput = {
      ...(call ? this.#base(call) : { kind: 'rejection', correlationId: record.correlationId, method: record.method }),
      kind: 'rejection',
      ...(record.identity && !call?.identity ? { identity: auditIdentity(record.identity) } : {}),
      outcome: reason,
      reason,
      status,
      detail: { ...(record.endpoint ? { endpoint: endpointName(record.endpoint) } : {}), ...detail },
    };
    if (call?.method === 'tools/call' && call.params.arguments !== undefined) {
      try {
        input.argsHash = argsHash(this.#key, call.params.arguments);
      } catch {
        /* arguments that cannot be canonicalised are recorded without a hash */
      }
    }
    await this.#log.append(input, UNSYNCED).catch(() => {
      // A refusal is answered whether or not it could be recorded; the log's own
      // availability makes the next forwarded call fail closed.
    });
  }
}

function endpointName(endpoint: Endpoint): string {
  return endpoint.kind === 'server' ? `${endpoint.slug}@${endpoint.major}` : 'aggregate';
}

function unavailable(cause?: unknown): GatewayError {
  return new GatewayError('audit_unavailable', 'the audit log cannot be written; calls are refused until it can', cause === undefined ? {} : { cause });
}
