/**
 * Builds and signs the manifest this node sends each peer (audience).
 * - A new manifest (next seq) is built when the exported tools change, and
 *   again at `refreshRatio` of the TTL so the peer never sees it expire while
 *   this node is alive; unchanged tools before that return the same bytes.
 * - The seq is taken from the `SeqStore` and written back before the manifest
 *   exists, so no seq is ever used twice, across restarts included.
 * - Builds for one audience are serialised: concurrent calls never race for a seq.
 * Every new manifest is announced with a `published` event (the exchange
 * pushes it to the peer).
 */
import { EventEmitter } from 'node:events';
import type { NodeIdentity } from '../../src/node/identity.js';
import { peerIdFromNodeIdentity } from '../peer/identity.js';
import { encodeCanonical, signManifest } from './codec.js';
import type { SeqStore } from './seq-store.js';
import type { Manifest, ManifestTool, SignedManifest } from './types.js';
import { validateManifest } from './validate.js';

/** Settings of a publisher; every default is listed. */
export interface ManifestPublisherInit {
  identity: Pick<NodeIdentity, 'privateJwk'>;
  /** This node's namespace, as the issuer. */
  namespace: string;
  store: SeqStore;
  /** Lifetime of each manifest (ms). Default 1 h; at most ~24.8 days. */
  ttlMs?: number;
  /** Fraction of the TTL after which a fresh manifest is issued. Default 2/3. */
  refreshRatio?: number;
  /** Delay before retrying a failed refresh (ms). Default 1,000. */
  retryMs?: number;
  /** Clock (ms since epoch). Default `Date.now`. */
  now?: () => number;
}

/** Events of a publisher and their payloads. */
export interface ManifestPublisherEvents {
  published: { audience: string; signed: SignedManifest };
  /** A scheduled refresh failed (e.g. the seq store); it is retried after `retryMs`. */
  failed: { audience: string; error: unknown };
}

interface Audience {
  tools: ManifestTool[];
  toolsKey: Buffer;
  signed?: SignedManifest;
  timer?: NodeJS.Timeout;
  queue: Promise<unknown>;
  removed: boolean;
}

/**
 * Issues this node's manifests, one stream of seqs per audience peer.
 *
 * @example
 * ```ts
 * import { ManifestPublisher } from './publisher.js';
 * import { MemorySeqStore } from './seq-store.js';
 * import { loadOrCreateIdentity } from '../../src/node/identity.js';
 * const { identity } = await loadOrCreateIdentity('/tmp/toolmesh-a');
 * const publisher = new ManifestPublisher({ identity, namespace: 'acme', store: new MemorySeqStore() });
 * publisher.on('published', ({ audience, signed }) => console.log(audience, signed.manifest.seq));
 * await publisher.setTools('12D3KooWpeer…', []);
 * publisher.stop();
 * ```
 */
export class ManifestPublisher {
  /** This node's peer id (the issuer). */
  readonly peerId: string;
  private readonly init: ManifestPublisherInit;
  private readonly ttlMs: number;
  private readonly refreshRatio: number;
  private readonly now: () => number;
  private readonly audiences = new Map<string, Audience>();
  private readonly lastSeq = new Map<string, number>();
  private readonly events = new EventEmitter();
  private stopped = false;

  constructor(init: ManifestPublisherInit) {
    this.init = init;
    this.peerId = peerIdFromNodeIdentity(init.identity).toString();
    this.ttlMs = init.ttlMs ?? 60 * 60 * 1000;
    this.refreshRatio = init.refreshRatio ?? 2 / 3;
    this.now = init.now ?? Date.now;
    if (!(this.ttlMs > 0 && this.ttlMs <= 2 ** 31 - 1)) throw new RangeError('ttlMs: expected 1 ms to ~24.8 days');
    if (!(this.refreshRatio > 0 && this.refreshRatio < 1)) throw new RangeError('refreshRatio: expected a fraction between 0 and 1');
  }

  /**
   * Sets the tools exported to `audience` and returns the manifest to send:
   * the current one when the tools are unchanged and it is not due for
   * refresh, else a new one (next seq). Throws `manifest_malformed` for tools
   * that would not pass a receiver's checks.
   */
  setTools(audience: string, tools: readonly ManifestTool[]): Promise<SignedManifest> {
    const toolsKey = Buffer.from(encodeCanonical([...tools].sort(byId)));
    let entry = this.audiences.get(audience);
    if (entry === undefined) {
      entry = { tools: [...tools], toolsKey, queue: Promise.resolve(), removed: false };
      this.audiences.set(audience, entry);
    }
    const target = entry;
    return this.serialise(target, async () => {
      const changed = !target.toolsKey.equals(toolsKey);
      target.tools = [...tools];
      target.toolsKey = toolsKey;
      if (!changed && target.signed !== undefined && !this.due(target.signed)) return target.signed;
      return this.build(audience, target);
    });
  }

  /** The manifest to send `audience` now (rebuilt first if due), or undefined if no tools were set. */
  current(audience: string): Promise<SignedManifest | undefined> {
    const entry = this.audiences.get(audience);
    if (entry === undefined) return Promise.resolve(undefined);
    return this.serialise(entry, async () => {
      if (entry.signed !== undefined && !this.due(entry.signed)) return entry.signed;
      return this.build(audience, entry);
    });
  }

  /** Stops publishing to `audience` (peer removed); its seq stays in the store. */
  remove(audience: string): void {
    const entry = this.audiences.get(audience);
    if (entry === undefined) return;
    entry.removed = true;
    clearTimeout(entry.timer);
    this.audiences.delete(audience);
  }

  on<K extends keyof ManifestPublisherEvents>(event: K, listener: (detail: ManifestPublisherEvents[K]) => void): () => void {
    this.events.on(event, listener);
    return () => void this.events.off(event, listener);
  }

  /** Cancels every scheduled refresh. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.audiences.values()) clearTimeout(entry.timer);
  }

  private due(signed: SignedManifest): boolean {
    const { issuedAt, expiresAt } = signed.manifest;
    return this.now() >= issuedAt + (expiresAt - issuedAt) * this.refreshRatio;
  }

  private serialise<T>(entry: Audience, task: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(task, task);
    entry.queue = run.catch(() => undefined);
    return run;
  }

  private async build(audience: string, entry: Audience): Promise<SignedManifest> {
    const last = this.lastSeq.get(audience) ?? (await this.init.store.get(audience)) ?? 0;
    const issuedAt = this.now();
    const manifest: Manifest = {
      v: 1,
      issuer: { namespace: this.init.namespace, peerId: this.peerId },
      audience,
      seq: last + 1,
      issuedAt,
      expiresAt: issuedAt + this.ttlMs,
      tools: entry.tools,
    };
    validateManifest(manifest); // never send what a receiver must refuse
    await this.init.store.put(audience, manifest.seq); // durable before the manifest exists
    this.lastSeq.set(audience, manifest.seq);
    const signed = signManifest(manifest, this.init.identity);
    entry.signed = signed;
    this.schedule(audience, entry, Math.ceil(this.ttlMs * this.refreshRatio));
    this.emit('published', { audience, signed });
    return signed;
  }

  private schedule(audience: string, entry: Audience, delayMs: number): void {
    clearTimeout(entry.timer);
    if (this.stopped || entry.removed) return;
    entry.timer = setTimeout(() => {
      if (this.stopped || entry.removed) return;
      this.serialise(entry, () => this.build(audience, entry)).catch((error: unknown) => {
        this.emit('failed', { audience, error });
        this.schedule(audience, entry, this.init.retryMs ?? 1_000);
      });
    }, delayMs);
  }

  private emit<K extends keyof ManifestPublisherEvents>(event: K, detail: ManifestPublisherEvents[K]): void {
    try {
      this.events.emit(event, detail);
    } catch (err) {
      process.emitWarning(`manifest publisher ${event} listener failed: ${(err as Error).message}`);
    }
  }
}

function byId(a: ManifestTool, b: ManifestTool): number {
  const x = `${a.slug}\0${a.version}\0${a.name}`;
  const y = `${b.slug}\0${b.version}\0${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
