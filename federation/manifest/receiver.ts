/**
 * Accepts manifests from one pinned peer. Checks, in order (cheapest and
 * least trusting first):
 * 1. size, before any decoding                          → manifest_too_large
 * 2. envelope shape                                     → manifest_malformed
 * 3. signature against the PINNED peer id's key         → manifest_bad_signature
 * 4. payload structure, and canonical encoding          → manifest_malformed
 * 5. issuer = the pinned peer (and namespace if pinned) → manifest_issuer_mismatch
 * 6. audience = this node                               → manifest_wrong_audience
 * 7. seq: lower, or equal with other bytes              → manifest_rollback
 * 8. validity window, with clock-skew allowance         → manifest_expired / manifest_not_yet_valid
 * An equal seq with equal bytes is an idempotent no-op. The highest seq seen
 * is kept after expiry, so an old manifest cannot be replayed: the same
 * manifest comes back only before the deadline it had here (a peer removed
 * and re-added re-sends its current manifest and is served again at once).
 * When the current manifest expires, an `expired` event fires and `current()`
 * is empty: a silent peer's tools disappear.
 */
import { EventEmitter } from 'node:events';
import { decodeMsgpack, encodeManifest, openEnvelope } from './codec.js';
import { ManifestError } from './errors.js';
import type { Manifest } from './types.js';
import { validateManifest } from './validate.js';

/** Settings of a receiver; every default is listed. */
export interface ManifestReceiverInit {
  /** The pinned peer id of the issuer (its key verifies the signature). */
  peerId: string;
  /** This node's peer id: the required audience. */
  self: string;
  /** The issuer namespace pinned for this peer, when trust-config names one. */
  namespace?: string;
  /** Largest envelope accepted (bytes). Default 256 KiB. */
  maxBytes?: number;
  /** Allowed clock difference with the issuer (ms). Default 30,000. */
  clockSkewMs?: number;
  /** Longest a manifest is honoured after acceptance, whatever its `expiresAt` (ms). Default 24 h, at most ~24.8 days. */
  maxTtlMs?: number;
  /** Clock (ms since epoch). Default `Date.now`. */
  now?: () => number;
}

/** Result of a push that did not throw. */
export interface AcceptResult {
  status: 'accepted' | 'unchanged';
  manifest: Manifest;
}

/** Events of a receiver and their payloads. */
export interface ManifestReceiverEvents {
  accepted: Manifest;
  expired: Manifest;
}

/**
 * Verifies and keeps the current manifest of one peer.
 *
 * @example
 * ```ts
 * import { ManifestReceiver } from './receiver.js';
 * declare const envelope: Uint8Array;
 * const receiver = new ManifestReceiver({ peerId: '12D3KooWpeer…', self: '12D3KooWself…' });
 * receiver.on('expired', (m) => console.log(`tools of ${m.issuer.namespace} gone`));
 * try { receiver.accept(envelope); } catch (err) { console.log((err as { code: string }).code); }
 * ```
 */
export class ManifestReceiver {
  readonly peerId: string;
  private readonly init: ManifestReceiverInit;
  private readonly maxBytes: number;
  private readonly skewMs: number;
  private readonly maxTtlMs: number;
  private readonly now: () => number;
  private readonly events = new EventEmitter();
  private accepted?: { manifest: Manifest; payload: Buffer };
  /** The highest seq accepted, its bytes, and until when it may be current here (its expiry, capped at acceptance). */
  private highWater?: { seq: number; payload: Buffer; until: number };
  private timer?: NodeJS.Timeout;

  constructor(init: ManifestReceiverInit) {
    this.init = init;
    this.peerId = init.peerId;
    this.maxBytes = init.maxBytes ?? 256 * 1024;
    this.skewMs = init.clockSkewMs ?? 30_000;
    // setTimeout cannot wait longer than 2^31-1 ms (~24.8 days).
    this.maxTtlMs = Math.min(init.maxTtlMs ?? 24 * 60 * 60 * 1000, 2 ** 31 - 1);
    this.now = init.now ?? Date.now;
  }

  /** Verifies an envelope; throws a `ManifestError` (with a wire-stable code) on rejection. */
  accept(envelope: Uint8Array): AcceptResult {
    if (envelope.byteLength > this.maxBytes) {
      throw new ManifestError('manifest_too_large', `manifest of ${envelope.byteLength} bytes exceeds ${this.maxBytes}`);
    }
    const payload = Buffer.from(openEnvelope(envelope, this.init.peerId));
    const manifest = validateManifest(decodeMsgpack(payload, 'payload'));
    if (!payload.equals(encodeManifest(manifest))) {
      throw new ManifestError('manifest_malformed', 'payload: not in canonical encoding');
    }
    if (manifest.issuer.peerId !== this.init.peerId) {
      throw new ManifestError('manifest_issuer_mismatch', `issuer ${manifest.issuer.peerId} is not the pinned peer ${this.init.peerId}`);
    }
    if (this.init.namespace !== undefined && manifest.issuer.namespace !== this.init.namespace) {
      throw new ManifestError('manifest_issuer_mismatch', `issuer namespace ${manifest.issuer.namespace} is not the pinned ${this.init.namespace}`);
    }
    if (manifest.audience !== this.init.self) {
      throw new ManifestError('manifest_wrong_audience', `manifest is for ${manifest.audience}, not this node`);
    }
    const high = this.highWater;
    if (high !== undefined && (manifest.seq < high.seq || (manifest.seq === high.seq && !payload.equals(high.payload)))) {
      throw new ManifestError('manifest_rollback', `seq ${manifest.seq} does not advance past ${high.seq}${manifest.seq === high.seq ? ' (same seq, other content)' : ''}`);
    }
    const now = this.now();
    if (now > manifest.expiresAt + this.skewMs) {
      throw new ManifestError('manifest_expired', `manifest seq ${manifest.seq} expired at ${new Date(manifest.expiresAt).toISOString()}`);
    }
    if (manifest.issuedAt > now + this.skewMs) {
      throw new ManifestError('manifest_not_yet_valid', `manifest seq ${manifest.seq} is issued in the future (${new Date(manifest.issuedAt).toISOString()})`);
    }
    if (high !== undefined && manifest.seq === high.seq) {
      if (this.accepted !== undefined) return { status: 'unchanged', manifest: this.accepted.manifest };
      // Replaying a manifest past the deadline it had here (its own expiry, or our cap) must not revive it.
      if (now >= high.until) throw new ManifestError('manifest_expired', `manifest seq ${manifest.seq} already expired`);
      // Dropped while still valid (the peer was removed, then re-added): current again until that same deadline.
      return this.makeCurrent(manifest, payload, high.until, now);
    }
    this.highWater = { seq: manifest.seq, payload, until: Math.min(manifest.expiresAt + this.skewMs, now + this.maxTtlMs) };
    return this.makeCurrent(manifest, payload, this.highWater.until, now);
  }

  /** The accepted, unexpired manifest, if any. */
  current(): Manifest | undefined {
    return this.accepted?.manifest;
  }

  /** Highest seq ever accepted (kept after expiry). */
  highestSeq(): number | undefined {
    return this.highWater?.seq;
  }

  on<K extends keyof ManifestReceiverEvents>(event: K, listener: (detail: ManifestReceiverEvents[K]) => void): () => void {
    this.events.on(event, listener);
    return () => void this.events.off(event, listener);
  }

  /** Drops the current manifest (peer removed) and its timer; the high-water mark stays. */
  close(): void {
    clearTimeout(this.timer);
    this.accepted = undefined;
  }

  private makeCurrent(manifest: Manifest, payload: Buffer, until: number, now: number): AcceptResult {
    this.accepted = { manifest, payload };
    this.armExpiry(manifest, until, now);
    this.emit('accepted', manifest);
    return { status: 'accepted', manifest };
  }

  private armExpiry(manifest: Manifest, until: number, now: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.accepted?.manifest !== manifest) return;
      this.accepted = undefined;
      this.emit('expired', manifest);
    }, Math.max(0, until - now));
  }

  private emit<K extends keyof ManifestReceiverEvents>(event: K, detail: ManifestReceiverEvents[K]): void {
    try {
      this.events.emit(event, detail);
    } catch (err) {
      process.emitWarning(`manifest receiver ${event} listener failed: ${(err as Error).message}`);
    }
  }
}
