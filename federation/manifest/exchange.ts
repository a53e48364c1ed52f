/**
 * The manifest protocol (`/toolmesh/manifest/1.0.0`) over the peer host.
 * - Push: on connect, and whenever the publisher issues a new manifest for a
 *   connected peer; pushes to one peer are serialised and always carry the
 *   latest manifest, so they never arrive out of order.
 * - Receive: one `ManifestReceiver` per pinned peer; the answer is an ack
 *   `{ ok: true, seq }` or a nack `{ ok: false, code }` with the rejection code.
 * - A peer removed from the allow-list loses its accepted manifest at once.
 * Transport failures of a push are not retried here: the next connect pushes again.
 */
import { EventEmitter } from 'node:events';
import { Packr, Unpackr } from 'msgpackr';
import { PeerError } from '../peer/errors.js';
import type { PeerHost } from '../peer/host.js';
import { ManifestError, MANIFEST_ERROR_CODES, type ManifestErrorCode } from './errors.js';
import type { ManifestPublisher } from './publisher.js';
import { ManifestReceiver, type ManifestReceiverInit } from './receiver.js';
import type { Manifest, ManifestTool } from './types.js';

/** The libp2p protocol id of manifest pushes. */
export const MANIFEST_PROTOCOL = '/toolmesh/manifest/1.0.0';

/** A receiver's answer to a push. */
export type ManifestAck = { ok: true; seq: number; status: 'accepted' | 'unchanged' } | { ok: false; code: ManifestErrorCode };

/** What the exchange runs on; every default is listed. */
export interface ManifestExchangeInit {
  host: PeerHost;
  publisher: ManifestPublisher;
  /** Receiver limits (size, skew, max TTL, clock). */
  receiver?: Omit<ManifestReceiverInit, 'peerId' | 'self' | 'namespace'>;
  /** The namespace pinned for a peer (trust-config), when one is. */
  namespaceOf?: (peerId: string) => string | undefined;
  /** Deadline of one push (ms). Default 5,000. */
  pushTimeoutMs?: number;
}

/** Events of the exchange and their payloads. */
export interface ManifestExchangeEvents {
  /** A peer's manifest was accepted: its tools are (re)defined by `manifest.tools`. */
  accepted: { alias: string; peerId: string; manifest: Manifest };
  /** A peer's manifest expired: its tools are gone. */
  expired: { alias: string; peerId: string; manifest: Manifest };
  /** A peer left the allow-list: its tools are gone. */
  removed: { alias: string; peerId: string };
  /** We refused a peer's push. */
  rejected: { alias: string; peerId: string; code: ManifestErrorCode; message: string };
  /** A peer answered our push. */
  answered: { alias: string; peerId: string; seq: number; ack: ManifestAck };
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Pushes this node's manifests to its peers and keeps theirs: the one place
 * where the rest of the node learns which remote tools exist right now.
 *
 * @example
 * ```ts
 * import { ManifestExchange } from './exchange.js';
 * import type { ManifestPublisher } from './publisher.js';
 * import { PeerError } from '../peer/errors.js';
import type { PeerHost } from '../peer/host.js';
 * declare const host: PeerHost, publisher: ManifestPublisher;
 * const exchange = new ManifestExchange({ host, publisher });
 * exchange.on('accepted', ({ alias, manifest }) => console.log(alias, manifest.tools.length));
 * await exchange.start();
 * await exchange.exportTo('b', []);
 * ```
 */
export class ManifestExchange {
  private readonly init: ManifestExchangeInit;
  private readonly receivers = new Map<string, ManifestReceiver>();
  private readonly pushes = new Map<string, Promise<unknown>>();
  private readonly events = new EventEmitter();
  private readonly offs: Array<() => void> = [];

  constructor(init: ManifestExchangeInit) {
    this.init = init;
  }

  async start(): Promise<void> {
    const { host, publisher } = this.init;
    await host.handle(MANIFEST_PROTOCOL, (bytes, ctx) => packr.pack(this.receive(bytes, ctx.alias, ctx.peerId)));
    this.offs.push(
      host.on('peer:connected', (state) => void this.push(state.alias).catch(() => undefined)),
      host.on('peer:removed', (state) => this.forget(state.alias, state.peerId)),
      publisher.on('published', ({ audience }) => {
        const peer = host.peers().find((p) => p.peerId === audience);
        if (peer?.status === 'connected') void this.push(peer.alias).catch(() => undefined);
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    for (const receiver of this.receivers.values()) receiver.close();
    await this.init.host.unhandle(MANIFEST_PROTOCOL).catch(() => undefined);
  }

  /** Sets the tools exported to a pinned peer; a change is pushed if it is connected. Unknown alias: `PeerError('unknown_peer')`. */
  async exportTo(alias: string, tools: readonly ManifestTool[]): Promise<void> {
    await this.init.publisher.setTools(this.peerIdOf(alias), tools);
  }

  /** The peer's accepted, unexpired manifest. */
  manifest(alias: string): Manifest | undefined {
    const peer = this.init.host.peer(alias);
    return peer === undefined ? undefined : this.receivers.get(peer.peerId)?.current();
  }

  /**
   * Sends the peer our latest manifest now and returns its answer (undefined
   * when nothing is exported to it). Transport failures reject with `PeerError`.
   */
  push(alias: string): Promise<ManifestAck | undefined> {
    const peerId = this.peerIdOf(alias);
    const previous = this.pushes.get(peerId) ?? Promise.resolve();
    const run = previous.then(
      () => this.send(alias, peerId),
      () => this.send(alias, peerId),
    );
    this.pushes.set(peerId, run.catch(() => undefined));
    return run;
  }

  on<K extends keyof ManifestExchangeEvents>(event: K, listener: (detail: ManifestExchangeEvents[K]) => void): () => void {
    this.events.on(event, listener);
    return () => void this.events.off(event, listener);
  }

  private async send(alias: string, peerId: string): Promise<ManifestAck | undefined> {
    const signed = await this.init.publisher.current(peerId);
    if (signed === undefined) return undefined;
    const reply = await this.init.host.request(alias, MANIFEST_PROTOCOL, signed.envelope, { timeoutMs: this.init.pushTimeoutMs ?? 5_000 });
    const ack = parseAck(reply);
    this.emit('answered', { alias, peerId, seq: signed.manifest.seq, ack });
    return ack;
  }

  private receive(bytes: Uint8Array, alias: string, peerId: string): ManifestAck {
    try {
      const { status, manifest } = this.receiverFor(peerId).accept(bytes);
      return { ok: true, seq: manifest.seq, status };
    } catch (err) {
      const code: ManifestErrorCode = err instanceof ManifestError ? err.code : 'manifest_malformed';
      this.emit('rejected', { alias, peerId, code, message: (err as Error).message });
      return { ok: false, code };
    }
  }

  private receiverFor(peerId: string): ManifestReceiver {
    let receiver = this.receivers.get(peerId);
    if (receiver === undefined) {
      receiver = new ManifestReceiver({
        ...this.init.receiver,
        peerId,
        self: this.init.host.peerId,
        namespace: this.init.namespaceOf?.(peerId),
      });
      receiver.on('accepted', (manifest) => this.emit('accepted', { alias: this.aliasOf(peerId), peerId, manifest }));
      receiver.on('expired', (manifest) => this.emit('expired', { alias: this.aliasOf(peerId), peerId, manifest }));
      this.receivers.set(peerId, receiver);
    }
    return receiver;
  }

  /** Drops the peer's manifest; the receiver (and its highest seq) is kept in case the peer returns. */
  private forget(alias: string, peerId: string): void {
    this.init.publisher.remove(peerId);
    const receiver = this.receivers.get(peerId);
    const had = receiver?.current() !== undefined;
    receiver?.close();
    if (had) this.emit('removed', { alias, peerId });
  }

  private peerIdOf(alias: string): string {
    const peer = this.init.host.peer(alias);
    if (peer === undefined) throw new PeerError('unknown_peer', `no pinned peer has alias ${alias}`);
    return peer.peerId;
  }

  private aliasOf(peerId: string): string {
    return this.init.host.peers().find((p) => p.peerId === peerId)?.alias ?? peerId;
  }

  private emit<K extends keyof ManifestExchangeEvents>(event: K, detail: ManifestExchangeEvents[K]): void {
    try {
      this.events.emit(event, detail);
    } catch (err) {
      process.emitWarning(`manifest exchange ${event} listener failed: ${(err as Error).message}`);
    }
  }
}

function parseAck(bytes: Uint8Array): ManifestAck {
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch {
    return { ok: false, code: 'manifest_malformed' };
  }
  const ack = value as { ok?: unknown; seq?: unknown; status?: unknown; code?: unknown } | null;
  if (ack?.ok === true && typeof ack.seq === 'number' && (ack.status === 'accepted' || ack.status === 'unchanged')) {
    return { ok: true, seq: ack.seq, status: ack.status };
  }
  if (ack?.ok === false && (MANIFEST_ERROR_CODES as readonly unknown[]).includes(ack.code)) return { ok: false, code: ack.code as ManifestErrorCode };
  return { ok: false, code: 'manifest_malformed' };
}
