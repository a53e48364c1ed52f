/**
 * Watches live backends for tool drift: periodically, when a backend says its
 * tool list changed, and once shortly after start. A drifted tool is withheld
 * by the registry until an admin re-approves it.
 */
import semver from 'semver';
import type { BackendManager } from '../gateway/backends/manager.js';
import { isSunset, serverKey, type Registry } from './registry.js';

export interface DriftMonitorOptions {
  intervalMs: number;
  onError?: (key: string, err: unknown) => void;
  onDrift?: (key: string, drifted: string[]) => void;
}

export class DriftMonitor {
  readonly #registry: Registry;
  readonly #backends: BackendManager;
  readonly #options: DriftMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(registry: Registry, backends: BackendManager, options: DriftMonitorOptions) {
    this.#registry = registry;
    this.#backends = backends;
    this.#options = options;
    backends.onListChanged((key, method) => {
      if (method !== 'notifications/tools/list_changed') return;
      const at = key.lastIndexOf('@');
      void this.checkOne(key.slice(0, at), key.slice(at + 1));
    });
  }

  start(initialDelayMs = 1_000): void {
    if (this.#options.intervalMs <= 0) return;
    const tick = () => {
      this.#running = this.checkAll().finally(() => {
        this.#running = undefined;
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#options.intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, initialDelayMs).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async checkAll(): Promise<void> {
    const now = new Date();
    for (const record of this.#registry.list()) {
      if (this.#stopped) return;
      if (isSunset(record, now) || semver.valid(record.version) === null) continue;
      await this.checkOne(record.slug, record.version);
    }
  }

  async checkOne(slug: string, version: string): Promise<void> {
    const record = this.#registry.get(slug, version);
    if (!record || this.#stopped) return;
    const key = serverKey(slug, version);
    try {
      const observed = await this.#backends.listTools(key, record.backend);
      const drift = await this.#registry.reportObservedTools(slug, version, observed);
      if (drift && drift.drifted.length > 0) this.#options.onDrift?.(key, drift.drifted);
    } catch (err) {
      this.#options.onError?.(key, err);
    }
  }
}
