/**
 * A V8 `.cpuprofile` (node --cpu-prof) summarised: self time per area (a
 * package under node_modules, a folder of src/ or federation/, node
 * internals, GC), the same time attributed to the nearest caller that is
 * code of ours or of a package (so a socket write counts for the library
 * that wrote it), and the top functions. Idle time is left out; with
 * `lastMs`, only the profile's last `lastMs` milliseconds count (the
 * measured window, without start-up).
 */
import { readFileSync } from 'node:fs';
import { round } from './processes.js';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  byArea: Array<{ area: string; ms: number; pct: number }>;
  /** Self time charged to the nearest caller under node_modules/, src/ or federation/. */
  byCaller: Array<{ area: string; ms: number; pct: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; pct: number }>;
  /** Only with the `srcFunctions` option: the top functions of src/. */
  topSrcFunctions?: Array<{ fn: string; where: string; ms: number; pct: number }>;
}

export interface SummaryOptions {
  /** Rows per list (default 15). */
  top?: number;
  /** Rows of `topFunctions` (default `top`). */
  topFunctions?: number;
  /** Rows of `topSrcFunctions` (none by default). */
  srcFunctions?: number;
  /** Only the profile's last `lastMs` milliseconds count. */
  lastMs?: number;
}

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  for (const tree of ['src', 'federation']) {
    const at = url.indexOf(`/dist/${tree}/`);
    if (at >= 0) return `${tree}/${url.slice(at + tree.length + 7).split('/')[0]}`;
  }
  return 'other';
}

function where(url: string, line: number): string {
  const dist = url.indexOf('/dist/');
  if (dist >= 0 && !url.includes('/node_modules/')) return `${url.slice(dist + 6).replace(/\.js$/, '.ts')} (js:${line + 1})`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return `${url.slice(nm + 14)}:${line + 1}`;
  return url ? `${url}:${line + 1}` : '';
}

const isCode = (a: string) => !a.startsWith('(') && a !== 'node: internals' && a !== 'other';

export function summarizeProfile(file: string, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 15;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totalSpan = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const from = options.lastMs === undefined ? -Infinity : totalSpan - options.lastMs * 1000;
  const self = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= from) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const callerArea = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { url, functionName } = byId.get(cur)!.callFrame;
      const a = area(url, functionName);
      if (isCode(a)) return a;
    }
    const { url, functionName } = byId.get(id)!.callFrame;
    return area(url, functionName);
  };
  const fns = new Map<string, { fn: string; where: string; us: number; src: boolean }>();
  const areas = new Map<string, number>();
  const callers = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const c = callerArea(id);
    callers.set(c, (callers.get(c) ?? 0) + us);
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? { fn: functionName || '(anonymous)', where: where(url, lineNumber), us: 0, src: url.includes('/dist/src/') };
    entry.us += us;
    fns.set(key, entry);
  }
  const pct = (us: number) => round((100 * us) / Math.max(1, total), 1);
  const fnRow = (e: { fn: string; where: string; us: number }) => ({ fn: e.fn, where: e.where, ms: round(e.us / 1000, 1), pct: pct(e.us) });
  const sortedFns = [...fns.values()].sort((x, y) => y.us - x.us);
  return {
    totalMs: round(total / 1000, 1),
    byArea: [...areas].sort((x, y) => y[1] - x[1]).slice(0, top).map(([a, us]) => ({ area: a, ms: round(us / 1000, 1), pct: pct(us) })),
    byCaller: [...callers].sort((x, y) => y[1] - x[1]).slice(0, top).map(([a, us]) => ({ area: a, ms: round(us / 1000, 1), pct: pct(us) })),
    topFunctions: sortedFns.slice(0, options.topFunctions ?? top).map(fnRow),
    ...(options.srcFunctions === undefined ? {} : { topSrcFunctions: sortedFns.filter((e) => e.src).slice(0, options.srcFunctions).map(fnRow) }),
  };
}
