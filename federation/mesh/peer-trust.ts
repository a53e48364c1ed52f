/**
 * Which peers we currently trust: a peer is used (its manifest's tools
 * offered, its token endpoint asked) only after its trust chain verified.
 * Verification runs when a peer connects or sends a manifest and when the
 * policy changes; a failure is audited and retried with backoff (up to 30 s
 * apart) while the peer stays in the policy.
 */
import type { PeerEventRecorder } from './peer-audit.js';
import type { PeerVerifier } from './peer-verifier.js';

export interface PeerTrustDeps {
  verifier: PeerVerifier;
  /** Whether the alias is still in the running policy. */
  inPolicy: (alias: string) => boolean;
  record: PeerEventRecorder;
  log: (level: 'warn', message: string, fields: Record<string, unknown>) => void;
  /** Called after every verification, whatever its result. */
  onChange: (alias: string) => void;
}

export class PeerTrust {
  readonly #deps: PeerTrustDeps;
  readonly #trusted = new Map<string, boolean>();
  readonly #retries = new Map<string, { timer: NodeJS.Timeout; delayMs: number }>();
  #stopped = false;

  constructor(deps: PeerTrustDeps) {
    this.#deps = deps;
  }

  /** True once verified, false after a failed verification, undefined before any. */
  trusted(alias: string): boolean | undefined {
    return this.#trusted.get(alias);
  }

  async verify(alias: string): Promise<void> {
    try {
      const verified = await this.#deps.verifier.verify(alias);
      clearTimeout(this.#retries.get(alias)?.timer);
      this.#retries.delete(alias);
      this.#trusted.set(alias, true);
      void this.#deps.record({ kind: 'peer', method: 'peer_verified', outcome: 'ok', detail: { peer: alias, ...(verified.anchor ? { anchor: verified.anchor } : {}) } });
    } catch (err) {
      this.#trusted.set(alias, false);
      const error = (err as Error).message;
      void this.#deps.record({ kind: 'peer', method: 'peer_verified', outcome: 'trust_denied', reason: 'trust_denied', detail: { peer: alias, error } });
      this.#deps.log('warn', 'peer failed trust verification; its tools are not used', { peer: alias, error });
      this.#retryLater(alias);
    }
    this.#deps.onChange(alias);
  }

  /** The peer left the policy (or the allow-list). */
  forget(alias: string): void {
    clearTimeout(this.#retries.get(alias)?.timer);
    this.#retries.delete(alias);
    this.#trusted.delete(alias);
  }

  stop(): void {
    this.#stopped = true;
    for (const r of this.#retries.values()) clearTimeout(r.timer);
  }

  #retryLater(alias: string): void {
    const previous = this.#retries.get(alias);
    clearTimeout(previous?.timer);
    const delayMs = Math.min((previous?.delayMs ?? 500) * 2, 30_000);
    const timer = setTimeout(() => {
      if (!this.#stopped && this.#deps.inPolicy(alias)) void this.verify(alias);
    }, delayMs);
    timer.unref();
    this.#retries.set(alias, { timer, delayMs });
  }
}
