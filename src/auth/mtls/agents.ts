/**
 * Agents: callers that prove who they are with a client certificate on the
 * mTLS listener (PRODUCT.md §4), and the admin-managed mapping from their
 * SAN to the groups and scopes they carry.
 *
 * Rules of `authenticate`:
 * - Only the TLS socket speaks for the caller. Identity headers a client
 *   sends (`x-forwarded-client-cert`, `x-client-cert`, `x-ssl-client-*`,
 *   `x-agent-id`, …) are never read: no proxy in front of this listener is
 *   trusted to assert a certificate.
 * - A request not on a TLS socket, or on one without a client certificate,
 *   carries no credential of this kind: `undefined`.
 * - A client certificate the TLS layer did not verify (`authorized !== true`:
 *   untrusted issuer, expired, revoked by the CRL, …) is a bad credential:
 *   `invalid_token`. The listener accepts such handshakes on purpose so the
 *   caller gets this JSON-RPC error instead of a bare TLS alert.
 * - A verified certificate without a readable URI or DNS SAN, or one that
 *   expired while its connection was kept alive: `invalid_token`.
 * - A verified certificate whose preferred SAN is not mapped is still an
 *   agent, with no groups and no scopes: authorization then refuses it with a
 *   403 naming the missing grant, and the audit log and rate limiter see who
 *   it was (a 401 would tell the operator only "bad certificate").
 *
 * Storage: sublevel `agents`, canonical SAN → AgentRecord, mirrored in memory
 * for the request path.
 */
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Authenticator, PresentedCredential } from '../authenticator.js';
import type { Identity } from '../identity.js';
import { GatewayError } from '../../gateway/errors.js';
import type { JsonSublevel, Store } from '../../store/db.js';
import { MtlsError, isMtlsError } from './errors.js';
import { parseAgentName, preferredAgentName, readAgentCertificate, type AgentName } from './san.js';

/** What a mapping grants. */
export interface AgentGrant {
  groups: string[];
  scopes: string[];
}

/** One stored mapping (value of the `agents` sublevel, keyed by canonical SAN). */
export interface AgentRecord extends AgentGrant {
  /** The SAN as the admin wrote it. */
  san: string;
  createdAt: string;
  createdBy: string;
}

/** A mapping as listed: the record and the key it is found under. */
export interface AgentEntry extends AgentRecord {
  canonical: string;
}

/** A change to the mappings, for the audit log. */
export interface AgentChange {
  action: 'add' | 'remove';
  entry: AgentEntry;
  actor: string;
  at: string;
}

export interface AgentsOptions {
  now?: () => Date;
}

/** What a client certificate says, parsed once (parsing costs ~0.5 ms; a request must not pay it). */
interface PeerNames {
  name: AgentName | undefined;
  expiresAt: number;
  error: MtlsError | undefined;
}

/** A socket's client certificate: `fingerprint` is absent when the client sent none. */
interface Peer {
  fingerprint: string | undefined;
  der: Buffer | undefined;
  names?: PeerNames;
}

/** Parsed certificates kept across connections (agents reconnect with the same certificate). */
const PARSED_CACHE_SIZE = 4096;

/** Plain names: printable, no whitespace, bounded (they appear in logs, headers and audit entries). */
const GRANT_ITEM = /^[\x21-\x7e]{1,200}$/;

function grantList(value: unknown, field: string, required: boolean): string[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && GRANT_ITEM.test(v))) {
    throw new MtlsError('invalid_grant', `${field}: must be a list of names (printable ASCII, no spaces)`);
  }
  if (required && value.length === 0) throw new MtlsError('invalid_grant', `${field}: at least one is required`);
  return [...new Set(value as string[])];
}

/**
 * The socket of `req` when it is a TLS socket whose client certificate the
 * TLS layer verified (chain to a configured CA, validity, CRL). The
 * transport can use it to fill `PresentedCredential.tlsPeer`.
 */
export function verifiedTlsSocket(req: IncomingMessage): TLSSocket | undefined {
  const socket = req.socket;
  return socket instanceof TLSSocket && socket.authorized === true ? socket : undefined;
}

/**
 * @example
 * ```ts
 * import { Store } from '../../store/db.js';
 * const store = new Store('/var/lib/toolmesh/db');
 * await store.open();
 * const agents = new Agents(store);
 * await agents.load();
 * await agents.add('spiffe://example.org/ns/prod/sa/billing', { groups: ['billing'], scopes: [] }, 'admin:bootstrap');
 * // in the authenticate step: agents.authenticate(req, credential) → Identity | undefined
 * ```
 */
export class Agents implements Authenticator {
  readonly #db: JsonSublevel;
  readonly #now: () => Date;
  readonly #byCanonical = new Map<string, AgentRecord>();
  readonly #listeners = new Set<(change: AgentChange) => void>();
  /**
   * One entry per connection: the client certificate cannot change on one
   * (TLS 1.3 has no renegotiation; the mTLS listener refuses TLS 1.2's).
   */
  readonly #peers = new WeakMap<TLSSocket, Peer>();
  /** SHA-256 fingerprint → parsed names, least recently used first. */
  readonly #parsed = new Map<string, PeerNames>();
  /** Writes are serialised so that "already mapped" is checked against settled state. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(store: Store, options: AgentsOptions = {}) {
    this.#db = store.sublevel('agents');
    this.#now = options.now ?? (() => new Date());
  }

  async load(): Promise<void> {
    this.#byCanonical.clear();
    for await (const [key, value] of this.#db.iterator()) this.#byCanonical.set(key, value as AgentRecord);
  }

  /** Called after each add or remove has been stored (audit log, logs). Listeners must not throw. */
  onChange(listener: (change: AgentChange) => void): void {
    this.#listeners.add(listener);
  }

  list(): AgentEntry[] {
    return [...this.#byCanonical.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([canonical, record]) => ({ canonical, ...record }));
  }

  /** The mapping of `san` in any of its encodings, if there is one. */
  get(san: string): AgentEntry | undefined {
    const { canonical } = parseAgentName(san);
    const record = this.#byCanonical.get(canonical);
    return record && { canonical, ...record };
  }

  /** Maps a SAN to groups and scopes. Throws `MtlsError` (`invalid_name`, `invalid_grant`, `conflict`). */
  add(san: string, grant: { groups: string[]; scopes?: string[] }, actor: string): Promise<AgentEntry> {
    return this.#serialised(async () => {
      if (typeof san !== 'string') throw new MtlsError('invalid_name', 'san: must be a string');
      const { canonical } = parseAgentName(san);
      const record: AgentRecord = {
        san,
        groups: grantList(grant.groups, 'groups', true),
        scopes: grantList(grant.scopes, 'scopes', false),
        createdAt: this.#now().toISOString(),
        createdBy: actor,
      };
      const existing = this.#byCanonical.get(canonical);
      if (existing) {
        throw new MtlsError('conflict', `${san} is already mapped (as ${existing.san}); remove it first to change its groups or scopes`);
      }
      await this.#db.put(canonical, record);
      this.#byCanonical.set(canonical, record);
      const entry = { canonical, ...record };
      this.#emit({ action: 'add', entry, actor, at: record.createdAt });
      return entry;
    });
  }

  /** Removes the mapping of `san` (in any of its encodings). Throws `MtlsError` (`not_found`). */
  remove(san: string, actor: string): Promise<AgentEntry> {
    return this.#serialised(async () => {
      const { canonical } = parseAgentName(san);
      const record = this.#byCanonical.get(canonical);
      if (!record) throw new MtlsError('not_found', `${san} is not mapped`);
      await this.#db.del(canonical);
      this.#byCanonical.delete(canonical);
      const entry = { canonical, ...record };
      this.#emit({ action: 'remove', entry, actor, at: this.#now().toISOString() });
      return entry;
    });
  }

  authenticate(req: IncomingMessage, _credential: PresentedCredential): Identity | undefined {
    // The socket, not `credential.tlsPeer` nor any header, is the evidence.
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) return undefined;
    const peer = this.#peerOf(socket);
    if (peer.der === undefined) return undefined;
    if (socket.authorized !== true) {
      throw new GatewayError('invalid_token', `client certificate not accepted: ${describeTlsError(socket.authorizationError)}`, {
        data: { credential: 'mtls' },
      });
    }
    const names = (peer.names ??= this.#namesOf(peer.fingerprint!, peer.der));
    if (names.error) throw new GatewayError('invalid_token', `client certificate not accepted: ${names.error.message}`, { data: { credential: 'mtls' } });
    if (!names.name) {
      throw new GatewayError('invalid_token', 'client certificate not accepted: it has no URI or DNS subjectAltName', { data: { credential: 'mtls' } });
    }
    // The handshake checked validity once; a kept-alive connection can outlive the certificate.
    if (names.expiresAt * 1000 <= this.#now().getTime()) {
      throw new GatewayError('invalid_token', 'client certificate not accepted: certificate has expired', { data: { credential: 'mtls' } });
    }
    const record = this.#byCanonical.get(names.name.canonical);
    return {
      kind: 'mtls',
      class: 'agent',
      subject: names.name.value,
      issuer: names.name.type,
      principal: `agent:${names.name.canonical}`,
      groups: record ? [...record.groups] : [],
      scopes: record ? [...record.scopes] : [],
      expiresAt: names.expiresAt,
    };
  }

  #peerOf(socket: TLSSocket): Peer {
    let peer = this.#peers.get(socket);
    if (!peer) {
      const cert = socket.getPeerX509Certificate();
      peer = cert ? { fingerprint: cert.fingerprint256, der: cert.raw } : { fingerprint: undefined, der: undefined };
      this.#peers.set(socket, peer);
    }
    return peer;
  }

  #namesOf(fingerprint: string, der: Buffer): PeerNames {
    let names = this.#parsed.get(fingerprint);
    if (names) {
      this.#parsed.delete(fingerprint);
    } else {
      try {
        const cert = readAgentCertificate(der);
        names = { name: preferredAgentName(cert.names), expiresAt: Math.floor(cert.notAfter.getTime() / 1000), error: undefined };
      } catch (err) {
        if (!isMtlsError(err)) throw err;
        names = { name: undefined, expiresAt: 0, error: err };
      }
      if (this.#parsed.size >= PARSED_CACHE_SIZE) this.#parsed.delete(this.#parsed.keys().next().value!);
    }
    this.#parsed.set(fingerprint, names);
    return names;
  }

  #serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(work, work);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  #emit(change: AgentChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** OpenSSL's verify codes, worded for the agent's operator (the certificate is theirs: nothing here is secret). */
function describeTlsError(code: string | Error | null | undefined): string {
  const reason = typeof code === 'string' ? code : code?.message;
  switch (reason) {
    case 'CERT_HAS_EXPIRED':
      return 'certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'certificate is not yet valid';
    case 'CERT_REVOKED':
      return 'certificate has been revoked';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'certificate is not issued by a trusted CA';
    case 'UNABLE_TO_GET_CRL':
    case 'CRL_HAS_EXPIRED':
    case 'CRL_NOT_YET_VALID':
      return 'revocation status cannot be checked';
    default:
      return 'certificate verification failed';
  }
}
