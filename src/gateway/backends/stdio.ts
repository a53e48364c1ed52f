/**
 * A supervised stdio MCP backend: one child process per backend, speaking
 * newline-delimited JSON-RPC (the MCP stdio transport) in the legacy era.
 *
 * Rules this module keeps:
 * - never a shell: `spawn(command, args, { shell: false })`, with a minimal env;
 * - many calls multiplex over one child; the backend owns the JSON-RPC ids and
 *   the progress tokens, and maps both back to the caller;
 * - a child that exits, crashes or breaks the framing fails every in-flight call
 *   at once (`upstream_unavailable`) and is restarted with exponential backoff;
 * - stderr is always drained (a full pipe would block the child), keeping a tail;
 * - `close()` resolves only once every child it started has exited (no zombies).
 *
 * Limitation: the gateway offers no client features to stdio servers. Server →
 * client `ping` is answered; sampling, elicitation, roots/list and anything else
 * get JSON-RPC -32601 (we also declare empty client capabilities, so well-behaved
 * servers never ask).
 *
 * The process plumbing behind these rules (spawn, stdout framing, stderr ring,
 * corked writes, termination) is in `stdio-process.ts`; the in-flight call
 * record is in `stdio-call.ts`. This module keeps supervision, the handshake
 * and the multiplexing of calls over one child.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Backend, BackendCall, BackendState, BackendStatus } from './backend.js';
import { PendingCall, abortError, deliver, onCallTimeout, type CallOwner } from './stdio-call.js';
import { StderrRing, flushStderr, startChild, terminate, writeLine } from './stdio-process.js';
import type { Child, ChildEvents, StdioBackendSpec } from './stdio-process.js';
import { GatewayError } from '../errors.js';
import { isObject, isValidId, type JsonRpcNotification, type RpcOutcome } from '../../mcp/jsonrpc.js';
import { GATEWAY_INFO, LATEST_LEGACY_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS } from '../../mcp/protocol.js';

export type { StdioBackendSpec } from './stdio-process.js';

/** Supervision and transport knobs. Only `callTimeoutMs` is required. */
export interface StdioBackendOptions {
  /** Default per-call timeout (also bounds the handshake and waits for readiness). */
  callTimeoutMs: number;
  /** Restart backoff: doubles from `initialDelayMs` (100) up to `maxDelayMs` (10 000). */
  restart?: { initialDelayMs?: number; maxDelayMs?: number };
  /** How many stderr lines to keep for diagnostics (default 50). */
  stderrLines?: number;
  /** Receives every stderr line of the child, and stdout lines that are not JSON-RPC. */
  onLog?: (line: string) => void;
  /** Sent in `initialize` (default: the gateway's own info). */
  clientInfo?: { name: string; version: string };
  /** Longest stdout line accepted, in bytes (default 32 MiB); longer is a protocol fault. */
  maxLineBytes?: number;
}

const DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024;
/** A child that stayed up this long has earned a fresh backoff. */
const BACKOFF_RESET_MS = 30_000;

function noop(): void {}

/**
 * A {@link Backend} that runs an MCP server as a supervised child process.
 *
 * @example
 * ```ts
 * const backend = new StdioBackend(
 *   { command: '/usr/bin/node', args: ['server.js'] },
 *   { callTimeoutMs: 30_000 },
 * );
 * const outcome = await backend.request({ method: 'tools/list' });
 * await backend.close();
 * ```
 */
export class StdioBackend implements Backend, CallOwner, ChildEvents {
  readonly kind = 'stdio' as const;

  private readonly spec: StdioBackendSpec;
  private readonly callTimeoutMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxLineBytes: number;
  private readonly onLog: ((line: string) => void) | undefined;
  private readonly clientInfo: { name: string; version: string };

  private status: BackendStatus = 'idle';
  private child: Child | undefined;
  /** Every process not yet reaped, including faulted ones still dying. */
  private readonly procs = new Set<ChildProcessWithoutNullStreams>();
  private readonly pending = new Map<number, PendingCall>();
  private readonly listChanged: Array<(method: string) => void> = [];
  private nextId = 1;
  private spawned = false;
  private restarts = 0;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private protocolVersion: string | undefined;
  private serverInfo: Record<string, unknown> | undefined;
  private capabilities: Record<string, unknown> | undefined;
  private lastError: string | undefined;
  /** Settled by the next attempt that becomes ready or fails; created only when someone awaits. */
  private readiness: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private closing: Promise<void> | undefined;
  private readonly stderr: StderrRing;

  constructor(spec: StdioBackendSpec, options: StdioBackendOptions) {
    this.spec = spec;
    this.callTimeoutMs = options.callTimeoutMs;
    this.initialDelayMs = options.restart?.initialDelayMs ?? 100;
    this.maxDelayMs = options.restart?.maxDelayMs ?? 10_000;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.onLog = options.onLog;
    this.clientInfo = options.clientInfo ?? { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version };
    this.stderr = new StderrRing(Math.max(0, options.stderrLines ?? 50));
  }

  /**
   * Spawns the child and completes the handshake. Resolves once ready; rejects
   * with `upstream_unavailable` if this attempt fails (supervision keeps retrying).
   */
  start(): Promise<void> {
    switch (this.status) {
      case 'ready':
        return Promise.resolve();
      case 'stopped':
        return Promise.reject(new GatewayError('upstream_unavailable', 'stdio backend is closed'));
      case 'down':
        return Promise.reject(this.unavailable());
      case 'idle':
        this.spawnChild();
        // A synchronous spawn failure has already left us 'down'.
        return (this.status as BackendStatus) === 'down' ? Promise.reject(this.unavailable()) : this.awaitReady();
      default:
        return this.awaitReady();
    }
  }

  /**
   * Sends one request, starting the child lazily. While the child is starting or
   * restarting the call is queued, bounded by its own timeout; while the backend
   * is `down` (the last start attempt failed) it fails fast.
   */
  request(call: BackendCall): Promise<RpcOutcome> {
    if (this.status === 'idle') this.spawnChild();
    const status = this.status;
    if (status === 'down' || status === 'stopped') return Promise.reject(this.unavailable());
    const signal = call.signal;
    if (signal?.aborted) return Promise.reject(signal.reason ?? abortError());

    const id = this.nextId++;
    let params = call.params;
    let callerToken: unknown;
    const meta = params?._meta;
    if (isObject(meta) && meta.progressToken !== undefined) {
      // Our own id doubles as the backend-unique token: no second map to maintain.
      callerToken = meta.progressToken;
      params = { ...params, _meta: { ...meta, progressToken: id } };
    }
    return new Promise<RpcOutcome>((resolve, reject) => {
      const timeoutMs = call.timeoutMs ?? this.callTimeoutMs;
      const p = new PendingCall(this, id, call.method, params, timeoutMs, call.onNotification, signal, resolve, reject);
      p.callerToken = callerToken;
      p.timer = setTimeout(onCallTimeout, timeoutMs, p);
      signal?.addEventListener('abort', p, { once: true });
      this.pending.set(id, p);
      const child = this.child;
      // Not ready yet: the call stays queued; the handshake flushes it.
      if (child !== undefined && child.ready) this.send(child, p);
    });
  }

  /** Waits for readiness (starting lazily), then resolves once the line is written. */
  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    if (this.status !== 'ready') await this.start();
    const child = this.child;
    if (child === undefined || !child.ready) throw this.unavailable();
    await new Promise<void>((resolve, reject) => {
      writeLine(child, JSON.stringify({ jsonrpc: '2.0', method, params }) + '\n', (err) => {
        if (err) reject(new GatewayError('upstream_unavailable', `stdio write failed: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  onListChanged(listener: (method: string) => void): void {
    this.listChanged.push(listener);
  }

  state(): BackendState {
    const s: BackendState = { status: this.status, restarts: this.restarts };
    if (this.protocolVersion !== undefined) {
      s.era = 'legacy';
      s.protocolVersion = this.protocolVersion;
    }
    if (this.serverInfo !== undefined) s.serverInfo = this.serverInfo;
    if (this.capabilities !== undefined) s.capabilities = this.capabilities;
    const pid = this.child?.proc.pid;
    if (pid !== undefined) s.pid = pid;
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /** The last stderr lines of the child(ren), oldest first. */
  stderrTail(): string[] {
    return this.stderr.tail();
  }

  /**
   * Stops supervision, fails pending calls, ends stdin, SIGTERMs the child and
   * SIGKILLs it after 2 s; resolves once every child has exited. Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  // ── supervision ────────────────────────────────────────────────────────────

  private spawnChild(): void {
    this.restartTimer = undefined;
    if (this.status === 'stopped') return;
    this.status = this.spawned ? 'restarting' : 'starting';
    if (this.spawned) this.restarts++;
    this.spawned = true;

    let child: Child;
    try {
      child = startChild(this.spec, this.maxLineBytes, this.procs, this.stderr, this);
    } catch (err) {
      // Synchronous failures (bad arguments) behave like an asynchronous ENOENT.
      this.attemptFailed(`could not start "${this.spec.command}": ${(err as Error).message}`);
      return;
    }
    this.child = child;

    this.handshake(child).catch((err: unknown) => {
      this.fault(child, `handshake failed: ${(err as Error).message}`);
    });
  }

  private async handshake(child: Child): Promise<void> {
    const id = this.nextId++;
    const outcome = await new Promise<RpcOutcome>((resolve, reject) => {
      const params = { protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION, capabilities: {}, clientInfo: this.clientInfo };
      const p = new PendingCall(this, id, 'initialize', params, this.callTimeoutMs, undefined, undefined, resolve, reject);
      p.timer = setTimeout(onCallTimeout, this.callTimeoutMs, p);
      this.pending.set(id, p);
      this.send(child, p);
    });
    if ('error' in outcome) throw new Error(`initialize returned ${outcome.error.code} ${outcome.error.message}`);
    const version = outcome.result.protocolVersion;
    if (typeof version !== 'string' || !LEGACY_PROTOCOL_VERSIONS.includes(version)) {
      throw new Error(`unsupported protocol version ${JSON.stringify(version)}`);
    }
    if (child.gone) return;
    this.protocolVersion = version;
    this.serverInfo = isObject(outcome.result.serverInfo) ? outcome.result.serverInfo : undefined;
    this.capabilities = isObject(outcome.result.capabilities) ? outcome.result.capabilities : undefined;
    writeLine(child, '{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    child.ready = true;
    this.status = 'ready';
    for (const p of this.pending.values()) if (!p.sent) this.send(child, p);
    const r = this.readiness;
    this.readiness = undefined;
    r?.resolve();
  }

  /** @internal The child broke the protocol: fail its calls now and kill it; 'exit' reaps it. */
  fault(child: Child, reason: string): void {
    if (child.gone) return;
    this.childGone(child, reason);
    child.proc.kill('SIGKILL');
  }

  /** @internal Runs once per child: fail everything in flight and schedule the restart. */
  childGone(child: Child, reason: string): void {
    if (child.gone) return;
    child.gone = true;
    child.parts.length = 0;
    if (this.child === child) this.child = undefined;
    flushStderr(child, this.stderr, this);
    if (this.status === 'stopped') return;
    const tail = child.exitInfo !== undefined ? child.lastStderr : undefined;
    const message = `stdio server ${reason}` + (tail !== undefined ? `; stderr: ${tail}` : '');
    if (Date.now() - child.spawnedAt >= BACKOFF_RESET_MS) this.failures = 0;
    if (child.ready) {
      this.lastError = message;
      this.failAll(new GatewayError('upstream_unavailable', message));
      this.status = 'restarting';
      this.scheduleRestart();
    } else {
      this.attemptFailed(message);
    }
  }

  /** A start attempt failed before readiness: fail fast until the next attempt. */
  private attemptFailed(message: string): void {
    this.lastError = message;
    const err = new GatewayError('upstream_unavailable', message);
    this.failAll(err);
    const r = this.readiness;
    this.readiness = undefined;
    r?.reject(err);
    this.status = 'down';
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = Math.min(this.initialDelayMs * 2 ** this.failures, this.maxDelayMs);
    this.failures++;
    // Unref'd: a backend alone should never keep the process alive.
    this.restartTimer = setTimeout(() => this.spawnChild(), delay).unref();
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) this.settle(p)?.reject(err);
  }

  private awaitReady(): Promise<void> {
    if (this.readiness === undefined) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Marked handled: an attempt may fail with nobody left waiting.
      promise.catch(noop);
      this.readiness = { promise, resolve, reject };
    }
    return this.readiness.promise;
  }

  private unavailable(): GatewayError {
    if (this.status === 'stopped') return new GatewayError('upstream_unavailable', 'stdio backend is closed');
    return new GatewayError('upstream_unavailable', this.lastError ?? 'stdio server is not running');
  }

  private async shutdown(): Promise<void> {
    this.status = 'stopped';
    clearTimeout(this.restartTimer);
    const err = new GatewayError('upstream_unavailable', 'stdio backend is closed');
    this.failAll(err);
    const r = this.readiness;
    this.readiness = undefined;
    r?.reject(err);
    const child = this.child;
    this.child = undefined;
    if (child !== undefined) child.gone = true;
    await Promise.all(Array.from(this.procs, terminate));
  }

  // ── calls ──────────────────────────────────────────────────────────────────

  /** Removes a call from the table and its timer/listener; undefined if already settled. */
  private settle(p: PendingCall): PendingCall | undefined {
    if (!this.pending.delete(p.id)) return undefined;
    clearTimeout(p.timer);
    p.signal?.removeEventListener('abort', p);
    return p;
  }

  /** @internal Called by a call's timer. */
  timeoutCall(p: PendingCall): void {
    if (this.settle(p) === undefined) return;
    // `initialize` must not be cancelled (MCP spec); the child is killed instead.
    if (p.sent && p.method !== 'initialize') this.cancelUpstream(p.id, 'timeout');
    const what = p.sent ? `did not answer ${p.method}` : 'did not become ready';
    p.reject(new GatewayError('upstream_timeout', `stdio server ${what} within ${p.timeoutMs} ms`));
  }

  /** @internal Called when a call's signal aborts. */
  abortCall(p: PendingCall): void {
    if (this.settle(p) === undefined) return;
    if (p.sent) this.cancelUpstream(p.id, 'aborted by client');
    p.reject(p.signal?.reason ?? abortError());
  }

  private cancelUpstream(requestId: number, reason: string): void {
    const child = this.child;
    if (child === undefined || child.gone) return;
    writeLine(child, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } }) + '\n');
  }

  private send(child: Child, p: PendingCall): void {
    p.sent = true;
    writeLine(child, JSON.stringify({ jsonrpc: '2.0', id: p.id, method: p.method, params: p.params }) + '\n');
  }

  // ── inbound ────────────────────────────────────────────────────────────────

  /** @internal One stdout line of `child`: a response, a server request or a notification. */
  onLine(child: Child, line: Buffer): void {
    let msg: unknown;
    const text = line.toString('utf8');
    try {
      msg = JSON.parse(text);
    } catch {
      // Servers that console.log to stdout are common; drop the line, don't kill them.
      this.log(`stdout (not JSON-RPC, dropped): ${text.slice(0, 200)}`);
      return;
    }
    if (!isObject(msg)) return;
    const method = msg.method;
    if (typeof method === 'string') {
      if (msg.id !== undefined) this.onServerRequest(child, msg.id, method);
      else this.onServerNotification(msg as unknown as JsonRpcNotification);
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') {
      if (id === null && isObject(msg.error)) this.log(`stdio server reported: ${String(msg.error.message)}`);
      return;
    }
    const p = this.pending.get(id);
    // Unknown ids are late answers to calls that timed out or were aborted.
    if (p === undefined || this.settle(p) === undefined) return;
    const result = msg.result;
    if (isObject(result)) return p.resolve({ result });
    const error = msg.error;
    if (isObject(error) && typeof error.code === 'number' && typeof error.message === 'string') {
      return p.resolve({ error: error as { code: number; message: string; data?: unknown } });
    }
    p.reject(new GatewayError('upstream_unavailable', `stdio server sent a malformed response to ${p.method}`));
  }

  private onServerRequest(child: Child, id: unknown, method: string): void {
    if (!isValidId(id)) return;
    // Only ping is served; see the module comment for why the rest is refused.
    const reply =
      method === 'ping'
        ? { jsonrpc: '2.0', id, result: {} }
        : { jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: the gateway does not serve ${method} to stdio servers` } };
    writeLine(child, JSON.stringify(reply) + '\n');
  }

  private onServerNotification(msg: JsonRpcNotification): void {
    const params = msg.params;
    if (msg.method === 'notifications/progress') {
      const token = params?.progressToken;
      if (typeof token !== 'number') return;
      const p = this.pending.get(token);
      if (p === undefined || p.callerToken === undefined || p.onNotification === undefined) return;
      params!.progressToken = p.callerToken;
      return deliver(p, msg);
    }
    if (msg.method.endsWith('/list_changed')) {
      for (const listener of this.listChanged) {
        try {
          listener(msg.method);
        } catch {
          // A listener's fault is not the child's.
        }
      }
    }
    // Others (notifications/message, resources/updated, cancelled of the server's own
    // requests) carry no request id on stdio, so cannot be attributed: dropped.
  }

  /** @internal Passes a line to `onLog`; a failing logger is ignored. */
  log(line: string): void {
    if (this.onLog === undefined) return;
    try {
      this.onLog(line);
    } catch {
      // Logging must never break the transport.
    }
  }
}
