/**
 * The running trust policy of a node, kept in step with its policy directory
 * without a restart (PRODUCT.md §10).
 *
 * - Detection: content hashing is the source of truth (every file read and
 *   hashed on each poll, default every second), so symlink swaps (Kubernetes
 *   ConfigMaps), editors' rename-over writes and coarse mtimes are all seen;
 *   `fs.watch` on the directory and `peers/` only makes a check happen sooner.
 * - Settling: a changed directory is read again after `debounceMs` and used
 *   only once two reads agree, so a half-saved file is not reported.
 * - Applying: load → validate → lint (errors refuse) → diff → append to
 *   history (awaited: if history cannot be written the change is refused, as
 *   the audit fails closed; it is retried on the next check) → switch →
 *   `applied(changes, policy, version)`.
 * - Refusing: the running policy stays; `refused(error)` once per distinct
 *   directory content.
 *
 * Checks run one at a time. Listeners must not throw.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { diffTrustPolicies, type TrustChange } from './diff.js';
import { TrustPolicyError } from './errors.js';
import { PEERS_DIR, readPolicyDirectory, type RawPolicyDirectory } from './files.js';
import { lintError, lintTrustPolicy, type LintOptions } from './lint.js';
import { parseTrustPolicy } from './load.js';
import type { PolicyFile, TrustPolicy } from './types.js';

/** One applied version of the policy, as kept in history. */
export interface TrustPolicyVersion {
  /** 1, 2, 3, … across restarts when the history sink remembers the latest. */
  seq: number;
  /** The directory's content hash (TrustPolicy.source.hash). */
  hash: string;
  appliedAt: string;
  /** `start`: loaded at start; `change`: seen by the watcher; `reload`: asked for (`reload()`). */
  trigger: 'start' | 'change' | 'reload';
  files: readonly PolicyFile[];
  /** Changes from the previous version (from nothing, for the first). */
  changes: TrustChange[];
  policy: TrustPolicy;
}

/**
 * Where versions are persisted (the node implements it on a LevelDB sublevel
 * and writes the audit entry there).
 *
 * @example
 * ```ts
 * import type { TrustHistorySink, TrustPolicyVersion } from './store.js';
 * const kept: TrustPolicyVersion[] = [];
 * const sink: TrustHistorySink = { latest: async () => kept.at(-1), append: async (v) => void kept.push(v) };
 * ```
 */
export interface TrustHistorySink {
  /** The last persisted version: continues its sequence and is the baseline of the first diff after a restart. */
  latest?(): Promise<TrustPolicyVersion | undefined>;
  /** Awaited before the version takes effect; a rejection refuses it (`trust_policy_history_failed`). */
  append(version: TrustPolicyVersion): Promise<void>;
}

export interface TrustPolicyStoreOptions {
  /** How often the directory is read and hashed (default 1000 ms; 0 = only fs.watch and reload()). */
  pollIntervalMs?: number;
  /** Wait after a detected change before re-reading to confirm it (default 200 ms). */
  debounceMs?: number;
  /** Lint options, or a function giving them per check (the registered servers change). */
  lint?: LintOptions | (() => LintOptions | Promise<LintOptions>);
  /** This node's own peer id: a policy whose node.peerId differs is refused. */
  peerId?: string;
  history?: TrustHistorySink;
  /** Versions kept in memory (default 100). */
  maxVersions?: number;
  now?: () => Date;
}

export type TrustCheckResult =
  | { status: 'unchanged' }
  | { status: 'applied'; version: TrustPolicyVersion }
  | { status: 'refused'; error: TrustPolicyError };

export interface TrustPolicyStoreEvents {
  applied: [changes: TrustChange[], policy: TrustPolicy, version: TrustPolicyVersion];
  refused: [error: TrustPolicyError];
}

/** The last refused directory content, as `/admin/v1/trust` reports it. */
export interface TrustPolicyRefusal {
  code: string;
  message: string;
  /** When it was refused (ISO 8601). */
  at: string;
  /** The refused directory content's hash, when it could be read. */
  hash?: string;
}

/**
 * @example
 * ```ts
 * import { TrustPolicyStore } from './store.js';
 * const store = new TrustPolicyStore('/etc/toolmesh/trust');
 * await store.start(); // throws TrustPolicyError if the directory is invalid
 * store.on('applied', (changes, policy) => console.log(`policy ${policy.source.hash}: ${changes.length} change(s)`));
 * store.on('refused', (err) => console.error(`trust policy refused (${err.code}):\n${err.message}`));
 * // … later
 * await store.stop();
 * ```
 */
export class TrustPolicyStore extends EventEmitter<TrustPolicyStoreEvents> {
  readonly dir: string;
  readonly #options: Required<Pick<TrustPolicyStoreOptions, 'pollIntervalMs' | 'debounceMs' | 'maxVersions' | 'now'>> & TrustPolicyStoreOptions;
  #current: TrustPolicy | undefined;
  #versions: TrustPolicyVersion[] = [];
  #lastSeq = 0;
  /** Content hash of the last refused directory: refused once, not on every poll. */
  #refusedHash: string | undefined;
  #refusal: TrustPolicyRefusal | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #watchers = new Map<string, FSWatcher>();
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(dir: string, options: TrustPolicyStoreOptions = {}) {
    super();
    this.dir = dir;
    this.#options = { pollIntervalMs: 1000, debounceMs: 200, maxVersions: 100, now: () => new Date(), ...options };
  }

  /** The running policy. */
  get current(): TrustPolicy {
    if (!this.#current) throw new Error('TrustPolicyStore: start() first');
    return this.#current;
  }

  /** Why the directory on disk is not what runs, while that holds (cleared once it applies or matches again). */
  get refusal(): TrustPolicyRefusal | undefined {
    return this.#refusal;
  }

  /** Applied versions held in memory, oldest first (at most `maxVersions`). */
  versions(): readonly TrustPolicyVersion[] {
    return this.#versions;
  }

  /**
   * Loads the directory (refusing to start on an invalid one) and begins watching it.
   * @throws TrustPolicyError
   */
  async start(): Promise<TrustPolicy> {
    const latest = await this.#options.history?.latest?.();
    this.#lastSeq = latest?.seq ?? 0;
    const raw = await readPolicyDirectory(this.dir);
    if (latest && latest.hash === raw.hash) {
      // Unchanged since the last run: continue from the persisted version.
      this.#current = latest.policy;
      this.#versions.push(latest);
    } else {
      const policy = await this.#validate(raw);
      await this.#apply(policy, 'start', latest?.policy);
    }
    this.#watch();
    return this.#current!;
  }

  /** Reads the directory now and applies it if it changed (as `trust apply` would). */
  reload(): Promise<TrustCheckResult> {
    return this.#enqueue(() => this.#check('reload', false));
  }

  /** Stops watching; a check in progress finishes first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#queue.catch(() => undefined);
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #background(): void {
    if (this.#stopped) return;
    // check() only rejects on a bug or a throwing listener; neither may stop the watcher.
    void this.#enqueue(() => this.#check('change', true)).catch(() => undefined);
  }

  #watch(): void {
    if (this.#options.pollIntervalMs > 0) {
      this.#poll = setInterval(() => this.#background(), this.#options.pollIntervalMs);
      this.#poll.unref();
    }
    this.#arm(this.dir);
    this.#arm(join(this.dir, PEERS_DIR));
  }

  /** fs.watch as a hint; a directory that does not exist yet is picked up by polling. */
  #arm(path: string): void {
    if (this.#stopped || this.#watchers.has(path)) return;
    try {
      const w = watch(path, { persistent: false }, () => {
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => this.#background(), this.#options.debounceMs);
        this.#debounce.unref();
      });
      w.on('error', () => {
        w.close();
        this.#watchers.delete(path);
      });
      this.#watchers.set(path, w);
    } catch {
      /* polling covers it */
    }
  }

  async #check(trigger: 'change' | 'reload', settle: boolean): Promise<TrustCheckResult> {
    if (!this.#current) throw new Error('TrustPolicyStore: start() first');
    this.#arm(join(this.dir, PEERS_DIR));
    let raw: RawPolicyDirectory | undefined;
    try {
      raw = await readPolicyDirectory(this.dir);
      if (raw.hash === this.#current.source.hash) {
        this.#refusedHash = undefined;
        this.#refusal = undefined;
        return { status: 'unchanged' };
      }
      if (settle) raw = await this.#settled(raw);
      if (raw.hash === this.#current.source.hash) return { status: 'unchanged' };
      if (trigger === 'change' && raw.hash === this.#refusedHash) return { status: 'unchanged' };
      const policy = await this.#validate(raw);
      return { status: 'applied', version: await this.#apply(policy, trigger, this.#current) };
    } catch (err) {
      if (!(err instanceof TrustPolicyError)) throw err;
      // The content that failed; a read error has no hash, so the same error is reported until it changes.
      const failed = err.code === 'trust_policy_history_failed' ? undefined : (raw?.hash ?? `error:${err.message}`);
      const repeat = trigger === 'change' && failed !== undefined && failed === this.#refusedHash;
      this.#refusedHash = failed;
      if (!repeat) this.#refusal = { code: err.code, message: err.message, at: this.#options.now().toISOString(), ...(raw ? { hash: raw.hash } : {}) };
      if (!repeat) this.emit('refused', err);
      return { status: 'refused', error: err };
    }
  }

  /** Re-reads until two reads `debounceMs` apart agree (at most 10 times). */
  async #settled(first: RawPolicyDirectory): Promise<RawPolicyDirectory> {
    let prev = first;
    for (let i = 0; i < 10; i++) {
      await sleep(this.#options.debounceMs);
      const next = await readPolicyDirectory(this.dir);
      if (next.hash === prev.hash) return next;
      prev = next;
    }
    return prev;
  }

  async #validate(raw: RawPolicyDirectory): Promise<TrustPolicy> {
    const policy = parseTrustPolicy(raw);
    const { peerId } = this.#options;
    if (peerId !== undefined && policy.node.peerId !== undefined && policy.node.peerId !== peerId) {
      throw new TrustPolicyError('trust_policy_inconsistent', [{ file: policy.source.nodeFile, pointer: '/peerId', message: `this policy is for node ${policy.node.peerId}, not this node (${peerId})` }]);
    }
    // Who this node is (its namespace, alias, entity id) is fixed while it runs: its entity
    // configuration, manifests and token exchanges were built with it. A change needs a restart.
    const running = this.#current?.node;
    if (running) {
      for (const field of ['namespace', 'alias', 'entityId'] as const) {
        if (policy.node[field] !== running[field]) {
          throw new TrustPolicyError('trust_policy_inconsistent', [
            { file: policy.source.nodeFile, pointer: `/${field}`, message: `the node's ${field} cannot change while it runs (${running[field]} → ${policy.node[field]}): restart the node to apply it` },
          ]);
        }
      }
    }
    const lint = typeof this.#options.lint === 'function' ? await this.#options.lint() : this.#options.lint;
    const err = lintError(lintTrustPolicy(policy, lint));
    if (err) throw err;
    return policy;
  }

  async #apply(policy: TrustPolicy, trigger: TrustPolicyVersion['trigger'], previous: TrustPolicy | undefined): Promise<TrustPolicyVersion> {
    const changes = diffTrustPolicies(previous, policy);
    const version: TrustPolicyVersion = {
      seq: this.#lastSeq + 1,
      hash: policy.source.hash,
      appliedAt: this.#options.now().toISOString(),
      trigger,
      files: policy.source.files,
      changes,
      policy,
    };
    try {
      await this.#options.history?.append(version);
    } catch (err) {
      throw new TrustPolicyError('trust_policy_history_failed', [{ file: '.', pointer: '', message: `policy not applied: recording it in history failed: ${(err as Error).message}` }], { cause: err });
    }
    this.#lastSeq = version.seq;
    this.#current = policy;
    this.#refusedHash = undefined;
    this.#refusal = undefined;
    this.#versions.push(version);
    if (this.#versions.length > this.#options.maxVersions) this.#versions.splice(0, this.#versions.length - this.#options.maxVersions);
    if (trigger !== 'start') this.emit('applied', changes, policy, version);
    return version;
  }
}
