/**
 * The Markdown section `bench-federation` prints: the rows side by side, the
 * comparison against the issue's target, where the added latency goes, and
 * manifest propagation.
 */
import type { LoadResult } from './load.js';
import type { LatencySummary } from './fed-probes.js';
import type { PropagationResult } from './propagation.js';
import type { ProfileSummary } from './profile-summary.js';
import { round } from './processes.js';

export type RowId = 'd' | 'l' | 'al' | 'r';

export const ROW_LABELS: Record<RowId, string> = {
  d: '(D) direct → raw backend (reference)',
  l: '(L) local call on B → raw backend',
  al: '(AL) local call on A → raw backend (reference: A’s gateway alone)',
  r: '(R) remote call: A → libp2p → B → raw backend',
};

export interface Row extends LoadResult {
  row: RowId;
  label: string;
}

export interface Comparison {
  concurrency: number;
  addedP50Ms: number | null;
  addedP99Ms: number | null;
  throughputRvsL: number | null;
  /** CPU per call of both nodes for R, of B alone for L. */
  cpuR: number | null;
  cpuL: number | null;
  /** L − D: B's gateway chain (with its audit fsync) and one loopback HTTP hop. */
  bGatewayMs: number | null;
  /** AL − D: the same at A. */
  aGatewayMs: number | null;
  /** R − L − (AL − D): what federation itself adds (remote backend, libp2p exchange, B's call handler, B's loopback dispatch). */
  federationMs: number | null;
}

export interface ColdCalls {
  /** The first remote call ever: token exchange, first stream, first dispatch at B. */
  firstCallMs: number;
  /** First call of each of several new callers: a token exchange each (trust chain cached). */
  newCallerMs: number[];
  /** The same callers' second call (cached translated token). */
  cachedMs: number[];
}

export const TARGET_ADDED_P50_MS = 1.5;

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function signed(n: number | null, digits = 2, unit = ' ms'): string {
  if (n === null) return '—';
  return `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), digits)}${unit}`;
}

export function compare(rows: Row[], concurrencies: number[]): Comparison[] {
  const get = (r: RowId, c: number) => rows.find((x) => x.row === r && x.concurrency === c);
  const cpu = (x: Row | undefined, labels: string[]) =>
    x && labels.every((l) => x.cpuUsPerCall[l] != null) ? round(labels.reduce((s, l) => s + x.cpuUsPerCall[l]!, 0), 0) : null;
  return concurrencies.map((c) => {
    const [d, l, al, r] = (['d', 'l', 'al', 'r'] as const).map((id) => get(id, c));
    const diff = (x: Row | undefined, y: Row | undefined) => (x && y ? round(x.p50Ms - y.p50Ms, 3) : null);
    const added = diff(r, l);
    const aGw = diff(al, d);
    return {
      concurrency: c,
      addedP50Ms: added,
      addedP99Ms: r && l ? round(r.p99Ms - l.p99Ms, 3) : null,
      throughputRvsL: r && l && l.rps > 0 ? round(r.rps / l.rps, 2) : null,
      cpuR: cpu(r, ['A', 'B']),
      cpuL: cpu(l, ['B']),
      bGatewayMs: diff(l, d),
      aGatewayMs: aGw,
      federationMs: added !== null && aGw !== null ? round(added - aGw, 3) : null,
    };
  });
}

export function markdown(opts: {
  meta: Record<string, unknown>;
  rows: Row[];
  comparisons: Comparison[];
  cold: ColdCalls | undefined;
  probes: { libp2p?: LatencySummary; fsync?: LatencySummary };
  propagation: PropagationResult | undefined;
}): string {
  const { meta, rows, comparisons, cold, probes, propagation } = opts;
  const lines: string[] = [];
  lines.push(
    `### Federation`,
    '',
    `Measured with \`node dist/scripts/bench-federation.js\` on ${String(meta.cpu)} (${String(meta.cores)} cores), Node ${String(meta.node)}: ` +
      `\`tools/call\` of \`echo {text}\` (modern era, per-server endpoint, OAuth client-credentials JWT caller), ` +
      `${String(meta.warmupSeconds)} s warm-up then ${String(meta.seconds)} s per row, measured in ${String(meta.rounds ?? 1)} alternating slices (the rows take turns), keep-alive HTTP over loopback. ` +
      `Two nodes as child processes (\`toolmesh start --trust DIR\`) under an OpenID Federation trust anchor: B hosts the raw backend \`raw\` and exports it to A; ` +
      `A calls it as \`b.raw\` with a translated token (RFC 8693 exchange once, then cached); the call travels over libp2p and meets B's full chain. ` +
      `Each node fsyncs the call's audit intent before forwarding it. CPU is utime+stime of each node process, per call; load generator, nodes and backend share the machine.`,
    '',
    '| Row | c | req/s | p50 ms | p99 ms | A CPU µs/call | B CPU µs/call | backend CPU µs/call | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.concurrency} | ${fmt(r.rps)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.cpuUsPerCall.A)} | ${fmt(r.cpuUsPerCall.B)} | ${fmt(r.cpuUsPerCall.raw)} | ${r.errors + r.warmupErrors} |`,
    );
  }
  const cs = comparisons.map((c) => c.concurrency);
  const cell = (f: (c: Comparison) => string) => comparisons.map(f).join(' | ');
  const mark = (ok: boolean | null) => (ok === null ? '' : ok ? ' ✅' : ' ❌');
  lines.push(
    '',
    `| Comparison | ${cs.map((c) => `c=${c}`).join(' | ')} | target |`,
    `|---|${cs.map(() => '---:').join('|')}|---|`,
    `| Added latency of a cross-node call, p50 (R − L) | ${cell((c) => `${signed(c.addedP50Ms)}${mark(c.concurrency === 1 && c.addedP50Ms !== null ? c.addedP50Ms <= TARGET_ADDED_P50_MS : null)}`)} | ≤ ${TARGET_ADDED_P50_MS} ms at c=1 |`,
    `| Added latency, p99 (R − L) | ${cell((c) => signed(c.addedP99Ms))} | |`,
    `| Throughput, remote vs local (R ÷ L) | ${cell((c) => (c.throughputRvsL === null ? '—' : `${fmt(c.throughputRvsL, 2)}×`))} | |`,
    `| CPU per call, both nodes for R vs B alone for L | ${cell((c) => `${fmt(c.cpuR)} vs ${fmt(c.cpuL)} µs`)} | |`,
    `| … p50 of B’s gateway + a loopback hop (L − D) | ${cell((c) => signed(c.bGatewayMs))} | |`,
    `| … p50 of A’s gateway + a loopback hop (AL − D) | ${cell((c) => signed(c.aGatewayMs))} | |`,
    `| … p50 of federation itself (R − L − (AL − D)) | ${cell((c) => signed(c.federationMs))} | |`,
  );
  const extras: string[] = [];
  if (probes.libp2p) {
    extras.push(`| libp2p request/response, streams pooled per peer (two hosts in one process), p50 / p99 | ${fmt(probes.libp2p.p50Ms, 2)} / ${fmt(probes.libp2p.p99Ms, 2)} ms |`);
  }
  if (probes.fsync) extras.push(`| append + fdatasync on the temp disk (one audit intent), p50 / p99 | ${fmt(probes.fsync.p50Ms, 2)} / ${fmt(probes.fsync.p99Ms, 2)} ms |`);
  if (cold) {
    const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)];
    extras.push(`| First cross-node call after start (token exchange, first stream, first dispatch) | ${fmt(cold.firstCallMs, 2)} ms |`);
    extras.push(`| A new caller’s first call (token exchange), median of ${cold.newCallerMs.length} | ${fmt(med(cold.newCallerMs), 2)} ms (cached after: ${fmt(med(cold.cachedMs), 2)} ms) |`);
  }
  if (extras.length) lines.push('', '| Where the time goes (single calls, c=1) | |', '|---|---:|', ...extras);
  if (propagation) {
    const p = propagation;
    lines.push(
      '',
      `| Manifest propagation, E → ${p.peers} peers (${p.repetitions} new server versions registered on E; peers polled every ${p.pollMs} ms) | min | p50 | max |`,
      '|---|---:|---:|---:|',
      `| admin response → a peer’s /admin/v1/peers shows E’s new manifest seq (per peer) | ${fmt(p.perPeer.minMs, 1)} ms | ${fmt(p.perPeer.p50Ms, 1)} ms | ${fmt(p.perPeer.maxMs, 1)} ms |`,
      `| admin response → all ${p.peers} peers have it | ${fmt(p.allPeers.minMs, 1)} ms | ${fmt(p.allPeers.p50Ms, 1)} ms | ${fmt(p.allPeers.maxMs, 1)} ms |`,
      `| the admin call itself (registration pins the backend’s tools) | ${fmt(Math.min(...p.registerMs), 1)} ms | ${fmt([...p.registerMs].sort((x, y) => x - y)[Math.floor((p.registerMs.length - 1) / 2)], 1)} ms | ${fmt(Math.max(...p.registerMs), 1)} ms |`,
    );
  }
  const noisiest = rows.reduce((m, r) => Math.max(m, r.coresBusy.other ?? 0), 0);
  if (noisiest > 0.25) {
    lines.push('', `> ⚠ Other processes on the machine used up to ${fmt(noisiest, 2)} cores during a measured window; expect noise (coresBusy in dist/bench-federation-results.json).`);
  }
  const errors = rows.reduce((n, r) => n + r.errors + r.warmupErrors, 0);
  if (errors > 0) {
    lines.push('', `> **⚠ ${errors} request(s) failed — these numbers are not valid.**`);
    for (const r of rows) for (const [kind, n] of Object.entries(r.errorKinds)) lines.push(`> - ${r.row} c=${r.concurrency}: ${n} × ${kind}`);
  }
  return lines.join('\n');
}

/** Where A's and B's CPU went during the rows (self time by area, top functions). */
export function profileMarkdown(profiles: Record<string, ProfileSummary | undefined>): string {
  const lines: string[] = ['> A and B ran under `--cpu-prof` for this run: their CPU and latency numbers include profiler overhead.'];
  for (const [node, p] of Object.entries(profiles)) {
    if (!p) {
      lines.push('', `No CPU profile was written by ${node}.`);
      continue;
    }
    lines.push('', `Node ${node}: ${fmt(p.totalMs)} ms on-CPU during the rows (idle excluded)`, '', '| self time by area | ms | % | | charged to the nearest caller of ours or of a package | ms | % |', '|---|---:|---:|---|---|---:|---:|');
    for (let i = 0; i < Math.max(p.byArea.length, p.byCaller.length); i++) {
      const a = p.byArea[i];
      const c = p.byCaller[i];
      lines.push(`| ${a ? `${a.area} | ${fmt(a.ms, 1)} | ${fmt(a.pct, 1)}` : ' | | '} | | ${c ? `${c.area} | ${fmt(c.ms, 1)} | ${fmt(c.pct, 1)}` : ' | | '} |`);
    }
    lines.push('', '| top self-time function | where | ms | % |', '|---|---|---:|---:|');
    for (const f of p.topFunctions) lines.push(`| ${f.fn} | ${f.where} | ${fmt(f.ms, 1)} | ${fmt(f.pct, 1)} |`);
  }
  return lines.join('\n');
}
