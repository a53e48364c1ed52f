/**
 * Per-tenant API keys (PRODUCT.md §4): issued once, stored only as an HMAC
 * digest under the node's pepper, verified in constant time from an
 * in-memory index, rotatable with an overlap, revocable at once.
 *
 * Sublevels: `apikeys` (keyId → record + digest) and `apikey-history`
 * (append-only: who issued, rotated or revoked which key, when). A change and
 * its history entry are written in one batch.
 *
 * Every key of a tenant authenticates as the tenant (`principal`
 * `tenant:{id}`, class `tenant`), so rate limits apply per tenant, not per key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JsonSublevel, Store } from '../../store/db.js';
import { GatewayError } from '../../gateway/errors.js';
import { API_KEY_PREFIX, type Authenticator, type PresentedCredential } from '../authenticator.js';
import type { Identity } from '../identity.js';
import { ApiKeyError } from './errors.js';
import { formatApiKey, newKeyId, parseApiKey } from './key-format.js';
import {
  effectiveEnd,
  keyStatus,
  validateGrant,
  validateTenant,
  type ApiKeyGrant,
  type ApiKeyRecord,
  type ApiKeyStatus,
} from './grant.js';

export type { ApiKeyGrant, ApiKeyRecord, ApiKeyStatus };

/** Longest overlap a rotation may grant: long enough for any deploy, short enough to bound a leak. */
export const MAX_OVERLAP_SECONDS = 30 * 24 * 3600;

/**
 * The stable `error.data.detail` of a refused key. `malformed` and
 * `unknown_key` say nothing about which keys exist; the others are only
 * reported to a caller who presented the right secret.
 */
export type ApiKeyRejection = 'malformed' | 'unknown_key' | 'revoked' | 'expired' | 'superseded';

export interface ApiKeyHistoryEntry {
  at: string;
  actor: string;
  action: 'issue' | 'rotate' | 'revoke';
  tenant: string;
  keyId: string;
  detail?: Record<string, unknown>;
}

interface StoredKey extends ApiKeyRecord {
  /** base64url HMAC-SHA256(pepper, key). */
  digest: string;
}

interface IndexEntry {
  stored: Readonly<StoredKey>;
  digest: Buffer;
  /** Epoch ms from which the key is refused, if any. */
  end: number | undefined;
}

const MESSAGES: Record<ApiKeyRejection, string> = {
  malformed: 'API key not recognised',
  unknown_key: 'API key not recognised',
  revoked: 'API key has been revoked',
  expired: 'API key has expired',
  superseded: 'API key was rotated and its overlap has ended',
};

function reject(detail: ApiKeyRejection): GatewayError {
  return new GatewayError('invalid_token', MESSAGES[detail], { data: { detail } });
}

function publicView(stored: ApiKeyRecord & { digest?: unknown }): ApiKeyRecord {
  const { digest: _digest, ...record } = stored;
  return { ...record, scopes: [...record.scopes], groups: [...record.groups] };
}

/**
 * @example
 * ```ts
 * import { randomBytes } from 'node:crypto';
 * import { Store } from '../../store/db.js';
 * import { ApiKeys } from './api-keys.js';
 *
 * const store = new Store('/tmp/toolmesh-example-db');
 * await store.open();
 * const keys = new ApiKeys(store, randomBytes(32));
 * await keys.load();
 * const { key } = await keys.issue('acme', { scopes: ['mcp:tool:weather:read'] }, 'admin:bootstrap');
 * keys.verify(key).principal; // 'tenant:acme'
 * ```
 */
export class ApiKeys implements Authenticator {
  readonly #keys: JsonSublevel;
  readonly #history: JsonSublevel;
  readonly #pepper: Buffer;
  readonly #now: () => Date;
  readonly #byKeyId = new Map<string, IndexEntry>();
  /** Compared against when the key id is unknown, so both paths do the same work. */
  readonly #dummyDigest: Buffer;
  #historySeq = 0;
  /** Admin changes run one at a time (two rotations of one key must not both succeed). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(store: Store, pepper: Buffer, options: { now?: () => Date } = {}) {
    if (!Buffer.isBuffer(pepper) || pepper.length < 32) throw new TypeError('ApiKeys: the pepper must be a secret of at least 32 bytes');
    this.#keys = store.sublevel('apikeys');
    this.#history = store.sublevel('apikey-history');
    this.#pepper = Buffer.from(pepper);
    this.#now = options.now ?? (() => new Date());
    this.#dummyDigest = this.#digest(`${API_KEY_PREFIX}-.-.-`);
  }

  /** Reads every key into memory; call once after the store opens. */
  async load(): Promise<void> {
    this.#byKeyId.clear();
    for await (const value of this.#keys.values()) this.#index(value as StoredKey);
    this.#historySeq = 0;
    for await (const key of this.#history.keys({ reverse: true, limit: 1 })) this.#historySeq = Number(key.split('!')[0]) || 0;
  }

  // ── hot path ────────────────────────────────────────────────────────────

  /**
   * The identity of a presented key; throws `GatewayError('invalid_token')`
   * with `data.detail` an {@link ApiKeyRejection}. Synchronous: memory only.
   */
  verify(presented: string): Identity {
    const parsed = parseApiKey(presented);
    if (!parsed) throw reject('malformed');
    const entry = this.#byKeyId.get(parsed.keyId);
    const digest = this.#digest(parsed.canonical);
    const matches = timingSafeEqual(digest, entry?.digest ?? this.#dummyDigest);
    if (!entry || !matches || entry.stored.tenant !== parsed.tenant) throw reject('unknown_key');
    const record = entry.stored;
    if (record.revokedAt !== undefined) throw reject('revoked');
    const now = this.#now().getTime();
    if (entry.end !== undefined && entry.end <= now) {
      const overlapOver = record.notAfter !== undefined && Date.parse(record.notAfter) <= now;
      throw reject(overlapOver ? 'superseded' : 'expired');
    }
    return {
      kind: 'apikey',
      subject: record.tenant,
      tenant: record.tenant,
      groups: [...record.groups],
      scopes: [...record.scopes],
      // The key that was used, for audit; authorization never reads it.
      clientId: record.keyId,
      ...(entry.end !== undefined ? { expiresAt: Math.floor(entry.end / 1000) } : {}),
      principal: `tenant:${record.tenant}`,
      class: 'tenant',
    };
  }

  /** Applies to bearer tokens with the `tm_` prefix only; never to anything else. */
  authenticate(_req: IncomingMessage, credential: PresentedCredential): Identity | undefined {
    if (typeof credential.bearer !== 'string' || !credential.bearer.startsWith(API_KEY_PREFIX)) return undefined;
    return this.verify(credential.bearer);
  }

  // ── administration ──────────────────────────────────────────────────────

  /** Every key (of one tenant, if given), without digests; tenant, then creation order. */
  list(tenant?: string): ApiKeyRecord[] {
    const records = [...this.#byKeyId.values()].map((e) => e.stored).filter((r) => tenant === undefined || r.tenant === tenant);
    records.sort((a, b) => (a.tenant === b.tenant ? a.createdAt.localeCompare(b.createdAt) || a.keyId.localeCompare(b.keyId) : a.tenant.localeCompare(b.tenant)));
    return records.map(publicView);
  }

  get(tenant: string, keyId: string): ApiKeyRecord | undefined {
    const entry = this.#byKeyId.get(keyId);
    return entry && entry.stored.tenant === tenant ? publicView(entry.stored) : undefined;
  }

  /** The status of a record on this node's clock. */
  status(record: ApiKeyRecord): ApiKeyStatus {
    return keyStatus(record, this.#now());
  }

  /** The change log, oldest first, optionally for one tenant or one key. */
  async history(filter: { tenant?: string; keyId?: string } = {}): Promise<ApiKeyHistoryEntry[]> {
    const entries: ApiKeyHistoryEntry[] = [];
    for await (const value of this.#history.values()) {
      const entry = value as ApiKeyHistoryEntry;
      if (filter.tenant !== undefined && entry.tenant !== filter.tenant) continue;
      if (filter.keyId !== undefined && entry.keyId !== filter.keyId) continue;
      entries.push(entry);
    }
    return entries;
  }

  /** Issues a key. The returned `key` is the only time the secret exists outside the caller. */
  issue(tenant: string, grant: ApiKeyGrant, actor: string): Promise<{ key: string; record: ApiKeyRecord }> {
    return this.#exclusive(async () => {
      const now = this.#now();
      validateTenant(tenant);
      const valid = validateGrant(grant, now);
      const { key, stored } = this.#mint(tenant, { ...valid, createdAt: now.toISOString(), createdBy: actor });
      await this.#write([stored], [{ at: stored.createdAt, actor, action: 'issue', tenant, keyId: stored.keyId }]);
      this.#index(stored);
      return { key, record: publicView(stored) };
    });
  }

  /**
   * Replaces a key with a new one of the same grant. The old key stays valid
   * until now + `overlapSeconds` (or its own expiry, if sooner), then is refused.
   */
  rotate(tenant: string, keyId: string, opts: { overlapSeconds: number }, actor: string): Promise<{ key: string; record: ApiKeyRecord }> {
    return this.#exclusive(async () => {
      const overlap = opts?.overlapSeconds;
      if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_OVERLAP_SECONDS) {
        throw new ApiKeyError('invalid_input', `overlapSeconds: must be an integer from 0 to ${MAX_OVERLAP_SECONDS}`, { field: 'overlapSeconds' });
      }
      const old = this.#require(tenant, keyId);
      const now = this.#now();
      const status = keyStatus(old, now);
      if (status !== 'active') {
        const why = old.rotatedTo && status === 'rotating' ? `already rotated to ${old.rotatedTo}; rotate that key instead` : `it is ${status}`;
        throw new ApiKeyError('conflict', `key ${tenant}/${keyId} cannot be rotated: ${why}`, { status });
      }
      const at = now.toISOString();
      const { key, stored } = this.#mint(tenant, {
        scopes: old.scopes,
        groups: old.groups,
        ...(old.expiresAt !== undefined ? { expiresAt: old.expiresAt } : {}),
        createdAt: at,
        createdBy: actor,
        rotatedFrom: keyId,
      });
      const notAfter = new Date(now.getTime() + overlap * 1000).toISOString();
      const retired: StoredKey = { ...old, rotatedTo: stored.keyId, notAfter };
      await this.#write(
        [retired, stored],
        [
          { at, actor, action: 'rotate', tenant, keyId, detail: { rotatedTo: stored.keyId, notAfter, overlapSeconds: overlap } },
          { at, actor, action: 'issue', tenant, keyId: stored.keyId, detail: { rotatedFrom: keyId } },
        ],
      );
      this.#index(retired);
      this.#index(stored);
      return { key, record: publicView(stored) };
    });
  }

  /**
   * Revokes a key. Refused by `verify` from the moment this is called (the
   * memory index changes before the write; a failed write restores it and
   * throws). Revoking a revoked key returns it unchanged.
   */
  revoke(tenant: string, keyId: string, actor: string): Promise<ApiKeyRecord> {
    return this.#exclusive(async () => {
      const current = this.#require(tenant, keyId);
      if (current.revokedAt !== undefined) return publicView(current);
      const at = this.#now().toISOString();
      const revoked: StoredKey = { ...current, revokedAt: at, revokedBy: actor };
      this.#index(revoked);
      try {
        await this.#write([revoked], [{ at, actor, action: 'revoke', tenant, keyId }]);
      } catch (err) {
        this.#index(current);
        throw err;
      }
      return publicView(revoked);
    });
  }

  // ── internals ───────────────────────────────────────────────────────────

  #digest(canonicalKey: string): Buffer {
    return createHmac('sha256', this.#pepper).update(canonicalKey, 'utf8').digest();
  }

  #mint(tenant: string, fields: Omit<ApiKeyRecord, 'tenant' | 'keyId'>): { key: string; stored: StoredKey } {
    let keyId = newKeyId();
    // 96 random bits: a collision is practically impossible, but a silent overwrite would be a takeover.
    while (this.#byKeyId.has(keyId)) keyId = newKeyId();
    const key = formatApiKey(tenant, keyId);
    return { key, stored: { tenant, keyId, ...fields, digest: this.#digest(key).toString('base64url') } };
  }

  #require(tenant: string, keyId: string): Readonly<StoredKey> {
    const entry = this.#byKeyId.get(keyId);
    // Another tenant's key is reported exactly like a missing one.
    if (!entry || entry.stored.tenant !== tenant) throw new ApiKeyError('not_found', `no key ${tenant}/${keyId}`);
    return entry.stored;
  }

  #index(stored: StoredKey): void {
    this.#byKeyId.set(stored.keyId, {
      stored: Object.freeze({ ...stored, scopes: [...stored.scopes], groups: [...stored.groups] }),
      digest: Buffer.from(stored.digest, 'base64url'),
      end: effectiveEnd(stored),
    });
  }

  async #write(records: StoredKey[], entries: ApiKeyHistoryEntry[]): Promise<void> {
    await this.#keys.db.batch([
      ...records.map((r) => ({ type: 'put' as const, sublevel: this.#keys, key: r.keyId, value: r })),
      ...entries.map((e) => {
        this.#historySeq += 1;
        return { type: 'put' as const, sublevel: this.#history, key: `${String(this.#historySeq).padStart(12, '0')}!${e.tenant}!${e.keyId}`, value: e };
      }),
    ] as never);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
