/**
 * The registry of tool servers (PRODUCT.md §7), kept in LevelDB with an
 * in-memory index for the gateway's hot path.
 *
 * Sublevels: `servers` (slug@version → ServerRecord), `history` (append-only
 * change log), `drift` (tools whose live definition no longer matches the pin).
 * Writes that belong together (a record change and its history entry) go in
 * one batch, so the history never disagrees with the record.
 */
import semver from 'semver';
import canonicalize from 'canonicalize';
import type { JsonSublevel, Store } from '../store/db.js';
import { RegistryError } from './errors.js';
import { compileArgumentSchema, SchemaCompileError } from '../gateway/policy/schema-compiler.js';
import {
  LIFECYCLES,
  SLUG_PATTERN,
  type BackendSpec,
  type HistoryEntry,
  type Lifecycle,
  type ObservedTool,
  type PinnedTool,
  type RegistrationInput,
  type ServerRecord,
} from './types.js';

export type { ObservedTool };

export interface RegistryDeps {
  /** Asks a backend for its tools (spawning or connecting as needed). */
  probe: (key: string, backend: BackendSpec) => Promise<ObservedTool[]>;
  /** SSRF policy for HTTP backend URLs; throws RegistryError('ssrf_blocked'). */
  checkUrl: (url: string) => Promise<void>;
  now?: () => Date;
}

/** One operation of a cross-sublevel atomic batch. */
type BatchOp = { type: 'put'; sublevel: JsonSublevel; key: string; value: unknown } | { type: 'del'; sublevel: JsonSublevel; key: string };

interface DriftRecord {
  detectedAt: string;
  /** Pinned tools whose live schema/description differ, or that vanished. */
  drifted: string[];
  /** Live tools that were never approved. */
  unapproved: string[];
}

export function serverKey(slug: string, version: string): string {
  return `${slug}@${version}`;
}

/** The fields whose change makes a pinned tool untrusted. */
function fingerprint(tool: ObservedTool | PinnedTool): string {
  return canonicalize({
    title: tool.title ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema ?? null,
  }) as string;
}

export function isSunset(record: ServerRecord, now: Date): boolean {
  return record.lifecycle === 'sunset' || (record.sunsetAt !== undefined && Date.parse(record.sunsetAt) <= now.getTime());
}

export class Registry {
  readonly #servers: JsonSublevel;
  readonly #history: JsonSublevel;
  readonly #drift: JsonSublevel;
  readonly #deps: RegistryDeps;
  readonly #now: () => Date;
  /** slug → versions, newest first. */
  readonly #bySlug = new Map<string, ServerRecord[]>();
  readonly #drifts = new Map<string, DriftRecord>();
  #historySeq = 0;
  readonly #listeners = new Set<(slug: string, version: string) => void>();

  constructor(store: Store, deps: RegistryDeps) {
    this.#servers = store.sublevel('servers');
    this.#history = store.sublevel('history');
    this.#drift = store.sublevel('drift');
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
  }

  async load(): Promise<void> {
    this.#bySlug.clear();
    for await (const value of this.#servers.values()) this.#index(value as ServerRecord);
    for await (const [key, value] of this.#drift.iterator()) this.#drifts.set(key, value as DriftRecord);
    for await (const key of this.#history.keys({ reverse: true, limit: 1 })) this.#historySeq = Number(key.split('!')[0]) || 0;
  }

  /** Called after any change to a server version (catalog, federation manifests…). */
  onChange(listener: (slug: string, version: string) => void): void {
    this.#listeners.add(listener);
  }

  #index(record: ServerRecord): void {
    const list = (this.#bySlug.get(record.slug) ?? []).filter((r) => r.version !== record.version);
    list.push(record);
    list.sort((a, b) => semver.rcompare(a.version, b.version));
    this.#bySlug.set(record.slug, list);
  }

  list(): ServerRecord[] {
    return [...this.#bySlug.keys()].sort().flatMap((slug) => this.#bySlug.get(slug)!);
  }

  slugs(): string[] {
    return [...this.#bySlug.keys()].sort();
  }

  /** Every version of `slug`, newest first. */
  versions(slug: string): readonly ServerRecord[] {
    return this.#bySlug.get(slug) ?? [];
  }

  get(slug: string, version: string): ServerRecord | undefined {
    return this.versions(slug).find((r) => r.version === version);
  }

  require(slug: string, version: string): ServerRecord {
    const record = this.get(slug, version);
    if (!record) throw new RegistryError('not_found', `no server ${slug}@${version}`);
    return record;
  }

  /** Tools of a version that are pinned and not withheld for drift. */
  servableTools(record: ServerRecord): PinnedTool[] {
    const drift = this.#drifts.get(serverKey(record.slug, record.version));
    if (!drift || drift.drifted.length === 0) return record.tools;
    return record.tools.filter((t) => !drift.drifted.includes(t.name));
  }

  isWithheld(record: ServerRecord, tool: string): boolean {
    return this.#drifts.get(serverKey(record.slug, record.version))?.drifted.includes(tool) ?? false;
  }

  drift(slug: string, version: string): DriftRecord | undefined {
    return this.#drifts.get(serverKey(slug, version));
  }

  async history(slug: string): Promise<HistoryEntry[]> {
    const entries: HistoryEntry[] = [];
    for await (const value of this.#history.values()) {
      const entry = value as HistoryEntry;
      if (entry.slug === slug) entries.push(entry);
    }
    return entries;
  }

  #historyOp(entry: HistoryEntry) {
    this.#historySeq += 1;
    return { type: 'put' as const, sublevel: this.#history, key: `${String(this.#historySeq).padStart(12, '0')}!${entry.slug}`, value: entry };
  }

  async #commit(record: ServerRecord, entry: HistoryEntry, extra: BatchOp[] = []): Promise<void> {
    await this.#servers.db.batch([
      { type: 'put', sublevel: this.#servers, key: serverKey(record.slug, record.version), value: record },
      this.#historyOp(entry),
      ...extra,
    ] as never);
    this.#index(record);
    for (const listener of this.#listeners) listener(record.slug, record.version);
  }

  async register(input: RegistrationInput, actor: string): Promise<ServerRecord> {
    validateInput(input);
    if (this.get(input.slug, input.version)) {
      throw new RegistryError('conflict', `${input.slug}@${input.version} already exists; versions are immutable`);
    }
    if ('http' in input.backend) await this.#deps.checkUrl(input.backend.http);
    const observed = await this.#probe(input.slug, input.version, input.backend);
    const now = this.#now().toISOString();
    const readTools = new Set(input.readTools ?? []);
    for (const name of readTools) {
      if (!observed.some((t) => t.name === name)) {
        throw new RegistryError('invalid_input', `readTools names ${name}, which the server does not offer`);
      }
    }
    const record: ServerRecord = {
      slug: input.slug,
      version: input.version,
      ...(input.title !== undefined ? { title: input.title } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.owner !== undefined ? { owner: input.owner } : {}),
      backend: input.backend,
      tools: observed.map((t) => pinTool(t, readTools.has(t.name) ? 'read' : 'write', actor, now)),
      lifecycle: input.lifecycle ?? 'stable',
      allowedGroups: input.allowedGroups ?? [],
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
      approvedBy: actor,
      approvedAt: now,
      createdAt: now,
      ...(input.source ? { source: input.source } : {}),
    };
    await this.#commit(record, {
      at: now,
      actor,
      action: 'register',
      slug: record.slug,
      version: record.version,
      detail: { lifecycle: record.lifecycle, tools: record.tools.map((t) => ({ name: t.name, access: t.access })) },
    });
    return record;
  }

  async #probe(slug: string, version: string, backend: BackendSpec): Promise<ObservedTool[]> {
    let observed: ObservedTool[];
    try {
      observed = await this.#deps.probe(serverKey(slug, version), backend);
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError('backend_unreachable', `could not list the tools of ${slug}@${version}: ${(err as Error).message}`);
    }
    for (const tool of observed) {
      try {
        compileArgumentSchema(tool.inputSchema);
      } catch (err) {
        if (err instanceof SchemaCompileError) {
          throw new RegistryError('invalid_schema', `tool ${tool.name}: inputSchema is not usable: ${err.message}`);
        }
        throw err;
      }
    }
    return observed;
  }

  async promote(slug: string, version: string, to: Lifecycle | undefined, actor: string): Promise<ServerRecord> {
    const record = this.require(slug, version);
    const order: Lifecycle[] = ['alpha', 'beta', 'stable'];
    const from = order.indexOf(record.lifecycle);
    if (from < 0) throw new RegistryError('conflict', `${slug}@${version} is ${record.lifecycle} and cannot be promoted`);
    const target = to ?? order[Math.min(from + 1, order.length - 1)]!;
    const targetIndex = order.indexOf(target);
    if (targetIndex <= from) throw new RegistryError('conflict', `${slug}@${version} is already ${record.lifecycle}; promote moves forward (alpha → beta → stable)`);
    return this.#update(record, { lifecycle: target }, actor, 'promote', { from: record.lifecycle, to: target });
  }

  async deprecate(slug: string, version: string, opts: { sunsetAt?: string; migrationUrl?: string }, actor: string): Promise<ServerRecord> {
    const record = this.require(slug, version);
    if (record.lifecycle === 'sunset') throw new RegistryError('conflict', `${slug}@${version} is already sunset`);
    const now = this.#now().toISOString();
    const changes: Partial<ServerRecord> = { lifecycle: 'deprecated', deprecatedAt: record.deprecatedAt ?? now };
    if (opts.sunsetAt !== undefined) changes.sunsetAt = normaliseDate(opts.sunsetAt, 'sunsetAt');
    if (opts.migrationUrl !== undefined) changes.migrationUrl = normaliseUrl(opts.migrationUrl);
    return this.#update(record, changes, actor, 'deprecate', { ...opts });
  }

  async sunset(slug: string, version: string, opts: { sunsetAt?: string; migrationUrl?: string }, actor: string): Promise<ServerRecord> {
    const record = this.require(slug, version);
    const now = this.#now();
    const at = opts.sunsetAt !== undefined ? normaliseDate(opts.sunsetAt, 'sunsetAt') : now.toISOString();
    const changes: Partial<ServerRecord> = {
      // A future date schedules the sunset: deprecated until then, 410 after.
      lifecycle: Date.parse(at) <= now.getTime() ? 'sunset' : 'deprecated',
      deprecatedAt: record.deprecatedAt ?? now.toISOString(),
      sunsetAt: at,
    };
    if (opts.migrationUrl !== undefined) changes.migrationUrl = normaliseUrl(opts.migrationUrl);
    return this.#update(record, changes, actor, 'sunset', { ...opts, sunsetAt: at });
  }

  /** Re-pins the backend's current tools (after drift, or to admit new tools). */
  async approve(slug: string, version: string, opts: { readTools?: string[] }, actor: string): Promise<ServerRecord> {
    const record = this.require(slug, version);
    const observed = await this.#probe(slug, version, record.backend);
    const now = this.#now().toISOString();
    const previous = new Map(record.tools.map((t) => [t.name, t]));
    const readTools = opts.readTools ? new Set(opts.readTools) : undefined;
    const changed: string[] = [];
    const tools = observed.map((t) => {
      const old = previous.get(t.name);
      const access = readTools ? (readTools.has(t.name) ? 'read' : 'write') : (old?.access ?? 'write');
      if (old && fingerprint(old) === fingerprint(t) && old.access === access) return old;
      changed.push(t.name);
      return pinTool(t, access, actor, now);
    });
    const key = serverKey(slug, version);
    this.#drifts.delete(key);
    return this.#update(record, { tools, approvedBy: actor, approvedAt: now }, actor, 'approve', { changed }, [
      { type: 'del' as const, sublevel: this.#drift, key },
    ]);
  }

  /**
   * Compares what a backend offers now with the pins. Returns the drift (or
   * undefined when everything matches); a new drift is persisted and logged.
   */
  async reportObservedTools(slug: string, version: string, observed: ObservedTool[]): Promise<DriftRecord | undefined> {
    const record = this.get(slug, version);
    if (!record) return undefined;
    const live = new Map(observed.map((t) => [t.name, t]));
    const drifted = record.tools.filter((p) => !live.has(p.name) || fingerprint(live.get(p.name)!) !== fingerprint(p)).map((p) => p.name);
    const pinned = new Set(record.tools.map((t) => t.name));
    const unapproved = observed.filter((t) => !pinned.has(t.name)).map((t) => t.name);
    const key = serverKey(slug, version);
    const before = this.#drifts.get(key);
    if (drifted.length === 0 && unapproved.length === 0) {
      if (before) {
        await this.#drift.del(key);
        this.#drifts.delete(key);
      }
      return undefined;
    }
    const same = before && before.drifted.join() === drifted.join() && before.unapproved.join() === unapproved.join();
    if (same) return before;
    const now = this.#now().toISOString();
    const drift: DriftRecord = { detectedAt: now, drifted, unapproved };
    await this.#servers.db.batch([
      { type: 'put', sublevel: this.#drift, key, value: drift },
      this.#historyOp({ at: now, actor: 'toolmesh', action: 'drift_detected', slug, version, detail: { drifted, unapproved } }),
    ] as never);
    this.#drifts.set(key, drift);
    for (const listener of this.#listeners) listener(slug, version);
    return drift;
  }

  async #update(
    record: ServerRecord,
    changes: Partial<ServerRecord>,
    actor: string,
    action: HistoryEntry['action'],
    detail: Record<string, unknown>,
    extra: BatchOp[] = [],
  ): Promise<ServerRecord> {
    const next: ServerRecord = { ...record, ...changes };
    await this.#commit(next, { at: this.#now().toISOString(), actor, action, slug: record.slug, version: record.version, detail }, extra);
    return next;
  }
}

/** A tool as the approver pinned it: what clients are shown and what arguments are validated against. */
export function pinTool(tool: ObservedTool, access: 'read' | 'write', approvedBy: string, approvedAt: string): PinnedTool {
  return {
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema !== undefined ? { outputSchema: tool.outputSchema } : {}),
    ...(tool.annotations !== undefined ? { annotations: tool.annotations } : {}),
    access,
    approvedBy,
    approvedAt,
  };
}

function normaliseDate(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RegistryError('invalid_input', `${field}: not a date: ${value}`);
  return new Date(ms).toISOString();
}

function normaliseUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    return url.toString();
  } catch {
    throw new RegistryError('invalid_input', `migrationUrl: not an http(s) URL: ${value}`);
  }
}

function validateInput(input: RegistrationInput): void {
  const fail = (msg: string) => {
    throw new RegistryError('invalid_input', msg);
  };
  if (typeof input.slug !== 'string' || !SLUG_PATTERN.test(input.slug)) fail('slug: must match [a-z0-9-]{1,63}');
  if (typeof input.version !== 'string' || semver.valid(input.version) !== input.version) fail('version: must be a semantic version such as 1.2.0');
  if (input.lifecycle !== undefined && !['alpha', 'beta', 'stable'].includes(input.lifecycle)) {
    fail(`lifecycle: must be alpha, beta or stable at registration (one of ${LIFECYCLES.join(', ')} later)`);
  }
  const backend = input.backend as unknown;
  if (typeof backend !== 'object' || backend === null) fail('backend: required ({http: url} or {stdio: command, args})');
  const b = backend as Record<string, unknown>;
  if ('http' in b) {
    if (typeof b.http !== 'string') fail('backend.http: must be a URL string');
  } else if ('stdio' in b) {
    if (typeof b.stdio !== 'string' || b.stdio.length === 0) fail('backend.stdio: must be a command');
    if (!Array.isArray(b.args) || !b.args.every((a) => typeof a === 'string')) fail('backend.args: must be an array of strings');
    if (b.env !== undefined && (typeof b.env !== 'object' || b.env === null || !Object.values(b.env).every((v) => typeof v === 'string'))) {
      fail('backend.env: must map names to strings');
    }
  } else fail('backend: must have http or stdio');
  for (const field of ['allowedGroups', 'readTools'] as const) {
    const v = input[field];
    if (v !== undefined && (!Array.isArray(v) || !v.every((g) => typeof g === 'string' && g.length > 0))) fail(`${field}: must be an array of names`);
  }
  for (const field of ['title', 'description', 'owner'] as const) {
    const v = input[field];
    if (v !== undefined && (typeof v !== 'string' || v.length > 4096)) fail(`${field}: must be a string`);
  }
}
