/**
 * What the HTML report's script draws, computed from the report ahead of time: stage calls as
 * columns (one array per field, so 40,000 calls stay a ~2 MB JSON), placed on Gantt rows by the
 * shared track layout; sample series with the post-GC heap floor and the fitted trend line; and
 * the moments worth marking (spikes, findings, quality flags). Pure.
 */
import type { PerformanceReport } from '../types';
import { findingTimeMs, layoutCalls } from './layout';

/** More Gantt rows than this would be unreadable: the lanes past it share the last row. */
export const MAX_GANTT_ROWS = 160;

/** A moment marked on the timeline. */
export interface PageMark {
  /** ms since the run started. */
  t: number;
  kind: 'spike' | 'finding' | 'flag';
  severity: 'info' | 'warning' | 'error';
  text: string;
}

/** The data embedded in the page (arrays are columns: index i of each is call or sample i). */
export interface PageModel {
  /** End of the time axis, ms: the run's duration, or the last call or sample when later. */
  durationMs: number;
  /** Stage names; `calls.name` indexes into it. Ordered by total time, largest first. */
  names: string[];
  calls: {
    /** Start, ms. */
    t: number[];
    /** Duration, ms. */
    d: number[];
    name: number[];
    /** Gantt row. */
    row: number[];
    rows: number[];
    /** CPU percent of one core, or null when unknown. */
    cpu: Array<number | null>;
    /** Heap-used delta, MiB, or null when unknown. */
    heap: Array<number | null>;
    /** Indices of failed calls and their errors. */
    failed: Array<[index: number, error: string]>;
  };
  /** Number of Gantt rows, and the label of the first row of each track. */
  gantt: { rows: number; labels: Array<[row: number, label: string]>; foldedLanes: number };
  /** Sampler series, ms and MiB / percent / ms; null where a sample lacks the figure. */
  samples: {
    t: number[];
    rss: Array<number | null>;
    heap: Array<number | null>;
    floor: Array<number | null>;
    trend: Array<number | null>;
    cpu: Array<number | null>;
    loop: Array<number | null>;
    gc: Array<number | null>;
  };
  marks: PageMark[];
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function orNull(v: unknown, digits: number): number | null {
  return finite(v) ? round(v, digits) : null;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function severityOf(v: unknown): PageMark['severity'] {
  return v === 'error' || v === 'warning' ? v : 'info';
}

/**
 * The post-GC heap floor (minimum heap of each time window, held over the window) and the trend
 * line of the report's slope through it. Windows are the trend fit's (`details.windowMs`) when
 * the report gives them, else about 40 over the run, never under 3 sampler periods.
 */
function floorAndTrend(report: PerformanceReport, t: number[], heap: Array<number | null>): { floor: Array<number | null>; trend: Array<number | null> } {
  const n = t.length;
  const floor: Array<number | null> = new Array<number | null>(n).fill(null);
  const trend: Array<number | null> = new Array<number | null>(n).fill(null);
  if (n === 0) return { floor, trend };
  const t0 = t[0]!;
  const span = t[n - 1]! - t0;
  const details = report.memory?.trend?.details ?? {};
  const periodMs = n > 1 ? span / (n - 1) : 1;
  const windowMs = finite(details.windowMs) && details.windowMs > 0 ? details.windowMs : Math.max(span / 40, 3 * periodMs, 1e-9);
  const minOf = new Map<number, number>();
  const window = (x: number): number => Math.floor((x - t0) / windowMs);
  for (let i = 0; i < n; i++) {
    const h = heap[i];
    if (h === null || h === undefined) continue;
    const w = window(t[i]!);
    const m = minOf.get(w);
    if (m === undefined || h < m) minOf.set(w, h);
  }
  for (let i = 0; i < n; i++) floor[i] = minOf.get(window(t[i]!)) ?? null;

  const tr = report.memory?.trend;
  if (tr === undefined || tr.confidence === 'none' || !finite(tr.slopeMbPerMin)) return { floor, trend };
  const from = finite(details.warmupEndMs) ? details.warmupEndMs : t0;
  // The report gives the slope; the line goes through the floor points after the warm-up at
  // their median offset (the Theil-Sen intercept for that slope).
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) if (t[i]! >= from && floor[i] !== null) offsets.push(floor[i]! - (tr.slopeMbPerMin * t[i]!) / 60_000);
  if (offsets.length === 0) return { floor, trend };
  const intercept = median(offsets);
  for (let i = 0; i < n; i++) if (t[i]! >= from) trend[i] = round(intercept + (tr.slopeMbPerMin * t[i]!) / 60_000, 3);
  return { floor, trend };
}

/**
 * Builds the page's data from a report. Calls without a finite start, and samples without a
 * finite time, are left out; any other missing figure becomes null.
 *
 * @example
 * const model = buildPageModel(report);
 * model.calls.t.length; // calls drawn on the Gantt
 */
export function buildPageModel(report: PerformanceReport): PageModel {
  const allCalls = Array.isArray(report.stages) ? report.stages : [];
  const layout = layoutCalls(allCalls);

  // Gantt rows: each track takes maxDepth + 1 rows, in track order.
  const rowOfTrack: number[] = [];
  const labels: Array<[number, string]> = [];
  let rowCount = 0;
  for (const tr of layout.tracks) {
    rowOfTrack.push(rowCount);
    const thread = tr.threadId === 0 ? '' : `thread ${tr.threadId} `;
    if (rowCount < MAX_GANTT_ROWS) labels.push([rowCount, tr.lane === 0 ? (thread === '' ? 'main' : thread.trim()) : `${thread}lane ${tr.lane + 1}`]);
    rowCount += tr.maxDepth + 1;
  }
  const foldedLanes = rowCount > MAX_GANTT_ROWS ? rowCount - (MAX_GANTT_ROWS - 1) : 0;
  if (foldedLanes > 0) labels.push([MAX_GANTT_ROWS - 1, `+${foldedLanes} rows`]);

  const summaries = Array.isArray(report.stageSummaries) ? report.stageSummaries : [];
  const names: string[] = [...summaries].sort((a, b) => (b.totalMs ?? 0) - (a.totalMs ?? 0)).map((s) => String(s.name));
  const nameIndex = new Map<string, number>();
  names.forEach((n, i) => nameIndex.set(n, i));

  const calls: PageModel['calls'] = { t: [], d: [], name: [], row: [], rows: [], cpu: [], heap: [], failed: [] };
  let lastMs = 0;
  for (let i = 0; i < allCalls.length; i++) {
    const k = layout.track[i]!;
    if (k < 0) continue;
    const c = allCalls[i]!;
    const name = String(c.name);
    let idx = nameIndex.get(name);
    if (idx === undefined) {
      idx = names.push(name) - 1;
      nameIndex.set(name, idx);
    }
    const t = layout.startNs[i]! / 1e6;
    const d = (layout.endNs[i]! - layout.startNs[i]!) / 1e6;
    lastMs = Math.max(lastMs, t + d);
    const index = calls.t.push(round(t, 6)) - 1;
    calls.d.push(round(d, 6));
    calls.name.push(idx);
    calls.row.push(Math.min(rowOfTrack[k]! + layout.depth[i]!, MAX_GANTT_ROWS - 1));
    calls.rows.push(finite(c.rowsProcessed) ? c.rowsProcessed : 0);
    calls.cpu.push(orNull(c.cpu?.percent, 1));
    calls.heap.push(orNull(c.memory?.heapUsedDeltaMb, 3));
    if (c.success === false) calls.failed.push([index, c.error ? `${String(c.error.name)}: ${String(c.error.message)}` : 'failed']);
  }

  const raw = (Array.isArray(report.memory?.samples) ? report.memory.samples : []).filter((s) => s !== null && typeof s === 'object' && finite(s.t));
  const t = raw.map((s) => round(s.t, 3));
  const heap = raw.map((s) => orNull(s.heapUsedMb, 3));
  const { floor, trend } = floorAndTrend(report, t, heap);
  if (t.length > 0) lastMs = Math.max(lastMs, t[t.length - 1]!);
  const samples: PageModel['samples'] = {
    t,
    rss: raw.map((s) => orNull(s.rssMb, 3)),
    heap,
    floor,
    trend,
    cpu: raw.map((s) => orNull(s.cpuPercent, 1)),
    loop: raw.map((s) => orNull(s.loopDelayMs, 3)),
    gc: raw.map((s) => orNull(s.gcPauseMs, 3)),
  };

  const marks: PageMark[] = [];
  for (const s of Array.isArray(report.memory?.spikes) ? report.memory.spikes : []) {
    if (finite(s.t)) marks.push({ t: s.t, kind: 'spike', severity: 'warning', text: `memory spike: rss ${finite(s.rssMb) ? s.rssMb.toFixed(1) : '?'} MB, heap ${finite(s.heapUsedMb) ? s.heapUsedMb.toFixed(1) : '?'} MB${s.stage !== undefined ? ` (${String(s.stage)})` : ''}` });
  }
  for (const f of Array.isArray(report.bottlenecks?.findings) ? report.bottlenecks.findings : []) {
    const at = findingTimeMs(f);
    if (at !== undefined) marks.push({ t: at, kind: 'finding', severity: severityOf(f.severity), text: `${String(f.kind)}: ${String(f.message)}` });
  }
  for (const q of Array.isArray(report.qualityFlags) ? report.qualityFlags : []) {
    if (finite(q.t) && q.severity !== 'info') marks.push({ t: q.t, kind: 'flag', severity: severityOf(q.severity), text: String(q.message) });
  }
  marks.sort((a, b) => a.t - b.t);

  const runMs = finite(report.run?.durationMs) && report.run.durationMs > 0 ? report.run.durationMs : 0;
  return {
    durationMs: round(Math.max(runMs, lastMs, 1), 3),
    names,
    calls,
    gantt: { rows: Math.min(rowCount, MAX_GANTT_ROWS), labels, foldedLanes },
    samples,
    marks,
  };
}
