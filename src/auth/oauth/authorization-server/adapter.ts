/**
 * oidc-provider's storage: short-lived artifacts (sessions, interactions,
 * codes, grants, refresh tokens) in memory with expiry and a size bound;
 * dynamically registered clients also in `oauth-clients.json` (mode 0600),
 * so an MCP client that registered once keeps working across node restarts.
 *
 * Access tokens are JWTs and are never stored. A restart forgets sessions and
 * refresh tokens: people log in again, which is the safe failure.
 *
 * Single-process by design (one node, one store); replicas would need a
 * shared adapter.
 */
import { rename, readFile, writeFile } from 'node:fs/promises';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/** Models whose entries belong to a grant and go when it is revoked. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

interface Entry {
  payload: AdapterPayload;
  /** Milliseconds since the epoch; undefined = no expiry. */
  expiresAt: number | undefined;
}

export interface StateStoreOptions {
  /** Where registered clients persist; undefined = memory only. */
  clientsFile?: string;
  /** Bound on in-memory artifacts (oldest evicted first). */
  maxEntries?: number;
  /** Bound on registered clients (oldest evicted first): open registration must not fill the disk. */
  maxClients?: number;
}

export class StateStore {
  readonly #entries = new Map<string, Entry>();
  readonly #sessionsByUid = new Map<string, string>();
  readonly #grants = new Map<string, Set<string>>();
  readonly #clients = new Map<string, AdapterPayload>();
  readonly #options: Required<Omit<StateStoreOptions, 'clientsFile'>> & { clientsFile: string | undefined };
  #writing: Promise<void> = Promise.resolve();

  constructor(options: StateStoreOptions = {}) {
    this.#options = { clientsFile: options.clientsFile, maxEntries: options.maxEntries ?? 50_000, maxClients: options.maxClients ?? 5_000 };
  }

  /** Reads the registered clients back; a missing file is an empty store. */
  async load(): Promise<void> {
    if (!this.#options.clientsFile) return;
    let text: string;
    try {
      text = await readFile(this.#options.clientsFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const doc = JSON.parse(text) as { clients?: AdapterPayload[] };
    for (const c of doc.clients ?? []) if (typeof c.client_id === 'string') this.#clients.set(c.client_id, c);
  }

  /** The adapter oidc-provider instantiates per model name. */
  readonly adapterFor = (model: string): Adapter => (model === 'Client' ? this.#clientAdapter() : this.#memoryAdapter(model));

  /** Resolves when every client change so far is on disk. */
  flush(): Promise<void> {
    return this.#writing;
  }

  #clientAdapter(): Adapter {
    const clients = this.#clients;
    const persist = () => this.#persistClients();
    return {
      async upsert(id, payload) {
        clients.delete(id);
        clients.set(id, payload);
        await persist();
      },
      async find(id) {
        return clients.get(id);
      },
      async findByUid() {
        return undefined;
      },
      async findByUserCode() {
        return undefined;
      },
      async consume() {},
      async destroy(id) {
        if (clients.delete(id)) await persist();
      },
      async revokeByGrantId() {},
    };
  }

  #persistClients(): Promise<void> {
    while (this.#clients.size > this.#options.maxClients) this.#clients.delete(this.#clients.keys().next().value as string);
    const file = this.#options.clientsFile;
    if (!file) return Promise.resolve();
    const body = JSON.stringify({ clients: [...this.#clients.values()] }) + '\n';
    // Serialised so writes land in order; temp + rename so a crash never leaves half a file.
    this.#writing = this.#writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, file);
    });
    return this.#writing;
  }

  #memoryAdapter(model: string): Adapter {
    const key = (id: string) => `${model}:${id}`;
    const store = this;
    return {
      async upsert(id, payload, expiresIn) {
        const k = key(id);
        store.#delete(k);
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
        store.#entries.set(k, { payload, expiresAt });
        if (model === 'Session' && payload.uid) store.#sessionsByUid.set(payload.uid, id);
        if (GRANTABLE.has(model) && payload.grantId) {
          const members = store.#grants.get(payload.grantId) ?? new Set<string>();
          members.add(k);
          store.#grants.set(payload.grantId, members);
        }
        store.#bound();
      },
      async find(id) {
        return store.#get(key(id));
      },
      async findByUid(uid) {
        const id = store.#sessionsByUid.get(uid);
        return id === undefined ? undefined : store.#get(key(id));
      },
      async findByUserCode() {
        return undefined;
      },
      async consume(id) {
        const entry = store.#entries.get(key(id));
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.#delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const k of store.#grants.get(grantId) ?? []) store.#delete(k);
        store.#grants.delete(grantId);
      },
    };
  }

  #get(k: string): AdapterPayload | undefined {
    const entry = this.#entries.get(k);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#delete(k);
      return undefined;
    }
    return entry.payload;
  }

  #delete(k: string): void {
    const entry = this.#entries.get(k);
    if (!entry) return;
    this.#entries.delete(k);
    const { uid, grantId } = entry.payload;
    if (uid && k.startsWith('Session:') && this.#sessionsByUid.get(uid) === k.slice('Session:'.length)) this.#sessionsByUid.delete(uid);
    if (grantId) {
      const members = this.#grants.get(grantId);
      members?.delete(k);
      if (members?.size === 0) this.#grants.delete(grantId);
    }
  }

  /** Expired entries first, then the oldest, down to 90% of the bound (so the sweep is amortised). */
  #bound(): void {
    if (this.#entries.size <= this.#options.maxEntries) return;
    const now = Date.now();
    for (const [k, e] of this.#entries) if (e.expiresAt !== undefined && e.expiresAt <= now) this.#delete(k);
    const target = Math.floor(this.#options.maxEntries * 0.9);
    while (this.#entries.size > target) this.#delete(this.#entries.keys().next().value as string);
  }
}
