/**
 * The node's LevelDB database. Each concern gets its own sublevel so that
 * keys never collide and a concern can be scanned on its own.
 * LevelDB is single-process: a second opener fails with LEVEL_LOCKED, which we
 * surface as a clear message (the CLI talks to a running node over HTTP instead).
 */
import { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';

export type JsonSublevel = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, unknown>;

export class StoreLockedError extends Error {
  readonly code = 'store_locked';
  constructor(location: string) {
    super(`database ${location} is in use by another process (is a node already running on this data directory?)`);
    this.name = 'StoreLockedError';
  }
}

export class Store {
  readonly db: Level<string, unknown>;

  constructor(readonly location: string) {
    this.db = new Level<string, unknown>(location, { valueEncoding: 'json' });
  }

  async open(): Promise<void> {
    try {
      await this.db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(this.location);
      throw err;
    }
  }

  /** A JSON-valued sublevel for one concern (`registry`, `history`, …). */
  sublevel(name: string): JsonSublevel {
    return this.db.sublevel<string, unknown>(name, { valueEncoding: 'json' }) as JsonSublevel;
  }

  async close(): Promise<void> {
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }
}
