/**
 * What a diff reads of each stage of one report: its own time (calls less nested stages) as a
 * total with the spread of one call, on wall time and, where it was measured well enough, on CPU;
 * and the constants of the model.
 */
import type { PerformanceReport, StageMetrics, StageSummary } from '../../types';

/** Fields the coming report versions add to a stage summary; read when present. */
type SummaryIn = StageSummary & { stdDevMs?: number; selfMs?: number; busyMs?: number };

/** A stage's own time in one run: its total and what its per-call spread says of the total's precision. */
export interface Measure {
  /** Own time summed over all calls, ms. */
  totalMs: number;
  /** Calls the total is over. */
  calls: number;
  /** Standard deviation of one call's own time, ms; undefined when it could not be measured (a single call). */
  sd: number | undefined;
  /** Calls whose mean the total reflects (the standard error of the mean is sd / √n). */
  n: number;
  /** Degrees of freedom of `sd`. */
  df: number;
}

export interface StageData {
  summary: SummaryIn;
  selfMs: number;
  wall: Measure;
  cpu: Measure | undefined;
}

/**
 * The floor of run-to-run noise for wall time, as a multiple of `noiseFloorPercent` (which is CPU
 * time's). Wall time also holds the waits for a CPU: an async stage's own time is mostly the
 * latency of its continuations, which a busy neighbour stretched 2x between two identical runs.
 */
export const WALL_FLOOR_FACTOR = 2;
/** A stage whose CPU time is at least this share of its wall time (in the quieter run) is compared on CPU time. */
const CPU_BOUND_SHARE = 0.75;
/**
 * A synchronous call that gave up the CPU more often than this was waiting on something (a sync
 * read, a child process); the process's helper threads (GC, libuv) add one or two per call.
 */
const MAX_VOLUNTARY_SWITCHES = 3;
/**
 * A stage is compared on CPU time only where at least this share of its calls was probed. A short
 * stage probed on one call in 256 has a CPU total extrapolated from its first, still cold calls:
 * it tripled between two identical runs while the stage's wall time fell.
 */
const MIN_PROBED_SHARE = 0.5;
/** CPU time needs this many probed calls in each run to give a spread. */
const MIN_CPU_CALLS = 3;
/** Median of χ²(1): scales the median squared residual to a variance. */
export const CHI2_1_MEDIAN = 0.4549364231195724;

export const DEFAULTS = { failOnPercent: 10, confidence: 0.99, noiseFloorPercent: 14, minImpactPercent: 0.5 } as const;

// ---------------------------------------------------------------------------------------------
// What a report says about each stage's own time
// ---------------------------------------------------------------------------------------------

/** Per stage name: its summary and its own time in wall and (where measured) CPU terms. */
export function stageData(report: PerformanceReport): Map<string, StageData> {
  const summaries = new Map<string, SummaryIn>();
  for (const s of report.stageSummaries) summaries.set(s.name, s);
  const records = Array.isArray(report.stages) ? report.stages : [];
  const byName = new Map<string, StageMetrics[]>();
  const children = new Map<string, StageMetrics[]>();
  const nameOfId = new Map<string, string>();
  for (const r of records) {
    nameOfId.set(r.id, r.name);
    const list = byName.get(r.name);
    if (list === undefined) byName.set(r.name, [r]);
    else list.push(r);
    if (r.parentId !== undefined) {
      const kids = children.get(r.parentId);
      if (kids === undefined) children.set(r.parentId, [r]);
      else kids.push(r);
    }
  }
  // stages whose calls were nested in calls of each stage, and whether every one of them has all its records
  const childStages = new Map<string, Set<string>>();
  for (const r of records) {
    const parentName = r.parentId !== undefined ? nameOfId.get(r.parentId) : undefined;
    if (parentName === undefined) continue;
    let set = childStages.get(parentName);
    if (set === undefined) childStages.set(parentName, (set = new Set()));
    set.add(r.name);
  }
  const complete = (name: string): boolean => {
    const s = summaries.get(name);
    return s !== undefined && s.recordsKept >= s.calls;
  };
  const timeShare = new Map<string, number>();
  // one entry per stage, or per stage and thread in reports that split by thread
  for (const t of report.timeShare ?? []) timeShare.set(t.stage, (timeShare.get(t.stage) ?? 0) + t.selfMs);

  const out = new Map<string, StageData>();
  for (const [name, s] of summaries) {
    const own = byName.get(name) ?? [];
    const kids = childStages.get(name);
    const hasChildren = kids !== undefined && kids.size > 0;
    const childrenComplete = !hasChildren || [...kids].every(complete);
    // own time of each kept call, when every nested call is on record
    const selfValues = childrenComplete ? own.map((r) => selfWall(r, children.get(r.id))) : undefined;
    const selfMs = finiteOr(s.selfMs, timeShare.get(name), hasChildren ? (selfValues !== undefined && complete(name) ? sum(selfValues) : undefined) : s.totalMs, s.totalMs);
    const selfShare = s.totalMs > 0 ? Math.min(1, selfMs / s.totalMs) : 1;
    const timed = positiveInt(s.fidelity?.timedCalls, s.calls);

    // spread of one call's own time: from the records where they give own time itself (a stage with
    // nested stages) or cover every call; else stdDevMs, which covers every call; else a sample
    // of records; else the quantiles
    const hasStdDev = isFiniteNonNegative(s.stdDevMs) && timed >= 2;
    let sd: number | undefined;
    let df = 0;
    if (selfValues !== undefined && selfValues.length >= 2 && (hasChildren || own.length >= timed || !hasStdDev)) {
      sd = stdDev(selfValues);
      df = selfValues.length - 1;
    } else if (hasStdDev) {
      sd = (s.stdDevMs ?? 0) * selfShare;
      df = timed - 1;
    } else if (own.length >= 2) {
      sd = stdDev(own.map((r) => r.durationMs)) * selfShare;
      df = own.length - 1;
    } else if (timed >= 2) {
      sd = spreadFromQuantiles(s) * selfShare;
      df = timed - 1;
    }
    const wall: Measure = { totalMs: selfMs, calls: s.calls, sd, n: timed, df };

    let cpu: Measure | undefined;
    if (s.cpu !== undefined && childrenComplete) {
      // own CPU of a call is its CPU less its children's: only where every one of those was measured, not estimated
      const measured = (r: StageMetrics): boolean => r.fidelity === 'full' && r.cpu.estimated !== true;
      const cpuSelf = (r: StageMetrics): number => Math.max(0, cpuOf(r) - sum((children.get(r.id) ?? []).map(cpuOf)));
      const probed = own.filter((r) => measured(r) && (children.get(r.id) ?? []).every(measured));
      let total: number | undefined;
      if (!hasChildren) total = s.cpu.userMs + s.cpu.systemMs;
      else if (complete(name) && probed.length === own.length) total = sum(own.map(cpuSelf));
      if (total !== undefined && Number.isFinite(total) && probed.length >= MIN_CPU_CALLS) {
        const values = probed.map(cpuSelf);
        cpu = { totalMs: total, calls: s.calls, sd: stdDev(values), n: Math.max(probed.length, positiveInt(s.fidelity?.probedCalls, probed.length)), df: values.length - 1 };
      }
    }
    out.set(name, { summary: s, selfMs, wall, cpu });
  }
  return out;
}

/** A call's duration less the union of its children's intervals (clipped to the call), ms. */
function selfWall(r: StageMetrics, kids: readonly StageMetrics[] | undefined): number {
  if (kids === undefined || kids.length === 0) return r.durationMs;
  const start = r.t;
  const end = r.t + r.durationMs;
  const spans = kids.map((k) => [Math.max(start, k.t), Math.min(end, k.t + k.durationMs)] as const).filter(([a, b]) => b > a);
  spans.sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const [a, b] of spans) {
    if (a > to) {
      if (to > from) covered += to - from;
      from = a;
      to = b;
    } else if (b > to) to = b;
  }
  if (to > from) covered += to - from;
  return Math.max(0, r.durationMs - covered);
}

function cpuOf(r: StageMetrics): number {
  const v = r.cpu.userMs + r.cpu.systemMs;
  return Number.isFinite(v) && v > 0 ? v : 0;
}

/** Standard deviation of call durations guessed from the quantiles: (p95 − p50) / 1.645 for a normal distribution. */
function spreadFromQuantiles(s: StageSummary): number {
  const fromP95 = (s.p95Ms - s.p50Ms) / 1.645;
  if (Number.isFinite(fromP95) && fromP95 > 0) return fromP95;
  const fromRange = (s.maxMs - (s.minMs ?? s.p50Ms)) / 4;
  return Number.isFinite(fromRange) && fromRange > 0 ? fromRange : 0;
}

/**
 * Whether a stage's calls hold the thread from start to end without waiting: all synchronous, and
 * giving up the CPU of their own accord (blocking I/O, sleeps) less than {@link MAX_VOLUNTARY_SWITCHES}
 * times per measured call. Such a stage's wall time beyond its CPU time is the OS running something
 * else, which is why its CPU time is compared, whatever its CPU share in a busy run.
 */
function runsOnCpu(s: SummaryIn): boolean {
  if (s.calls === 0 || s.syncCalls < s.calls) return false;
  const probed = s.fidelity?.probedCalls ?? 0;
  const voluntary = s.cpu?.voluntarySwitches;
  return probed > 0 && isFiniteNonNegative(voluntary) && voluntary / probed <= MAX_VOLUNTARY_SWITCHES;
}

/** Share of a stage's calls whose CPU was measured (not estimated). */
function probedShare(d: StageData): number {
  const probed = d.summary.fidelity?.probedCalls;
  return isFiniteNumber(probed) && d.summary.calls > 0 ? probed / d.summary.calls : 0;
}

/** CPU time over wall time of a stage's own time (0 when no wall time). */
function share(cpu: Measure, wall: Measure): number {
  return wall.totalMs > 0 ? cpu.totalMs / wall.totalMs : 0;
}

/**
 * Whether a stage is compared on CPU time: its CPU was measured on at least half its calls in both
 * runs, and it ran on the CPU for most of its own time in one of the runs (the quieter one; a busy
 * machine lowers the share in the other) or holds the CPU by construction in both
 * ({@link runsOnCpu}).
 */
export function holdsCpu(b: StageData, h: StageData): boolean {
  if (b.cpu === undefined || h.cpu === undefined) return false;
  if (probedShare(b) < MIN_PROBED_SHARE || probedShare(h) < MIN_PROBED_SHARE) return false;
  return Math.max(share(b.cpu, b.wall), share(h.cpu, h.wall)) >= CPU_BOUND_SHARE || (runsOnCpu(b.summary) && runsOnCpu(h.summary));
}

// ---------------------------------------------------------------------------------------------
// Small numeric helpers
// ---------------------------------------------------------------------------------------------

export function pct(logRatio: number): number {
  return round(Math.expm1(logRatio) * 100, 2);
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Number.isFinite(x) ? Math.round(x * f) / f : x;
}

function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function stdDev(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const mean = sum(values) / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

export function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function isFiniteNonNegative(x: unknown): x is number {
  return isFiniteNumber(x) && x >= 0;
}

function positiveInt(x: unknown, fallback: number): number {
  return isFiniteNumber(x) && x >= 1 ? Math.floor(x) : Math.max(1, fallback);
}

export function finiteOr(...values: Array<number | undefined>): number {
  for (const v of values) if (isFiniteNonNegative(v)) return v;
  return 0;
}

