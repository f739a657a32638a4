/**
 * One stage's summary from the inputs' summaries of it: sums, extremes, the mean from the sums,
 * the spread pooled, and quantiles from the merged sketches.
 */
import { QuantileSketch } from '../../stores/sketch';
import type {
  QualityFlag,
  StageSummary,
} from '../../types';
import { errorText, type Input, type SummaryIn } from './inputs';

export function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const roundMs = (x: number): number => round(x, 6);
export const round3 = (x: number): number => round(x, 3);

/** The q-quantile of sorted values, interpolated between ranks (as the collector computes exact quantiles). */
export function exactQuantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function sumOf<T>(items: readonly T[], value: (item: T) => number | undefined): number {
  let s = 0;
  for (const item of items) s += value(item) ?? 0;
  return s;
}

/** The sum of a field when every item has it, else undefined. */
export function sumIfAll<T>(items: readonly T[], value: (item: T) => number | undefined): number | undefined {
  let s = 0;
  for (const item of items) {
    const v = value(item);
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    s += v;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Stage summaries
// ---------------------------------------------------------------------------------------------

/** One input's summary of a stage, with that input's records of it. */
export interface Part {
  input: Input;
  summary: SummaryIn;
  /** Durations of its kept records of this stage, ms. */
  durations: number[];
}

export function timedCallsOf(s: StageSummary): number {
  const timed = s.fidelity.timedCalls;
  return typeof timed === 'number' ? timed : s.calls;
}

/**
 * Merges one stage name's summaries. Quantiles, by preference:
 *  1. every input kept a record of every timed call: exact, from all the records (`exact`);
 *  2. every input has either a valid sketch of its timed calls or all their records: from the
 *     merged sketches, within 1 % (`sketch`);
 *  3. otherwise from the records that were kept, a sample of the calls (`records`), with a flag.
 * The merged summary carries the merged sketch in cases 1 and 2, so any other quantile of all the
 * calls can be read from it.
 */
export function mergeSummary(name: string, parts: readonly Part[], flags: QualityFlag[], endMs: number): StageSummary {
  const summaries = parts.map((p) => p.summary);
  const calls = sumOf(summaries, (s) => s.calls);
  const timedCalls = sumOf(summaries, timedCallsOf);
  const totalMs = sumOf(summaries, (s) => s.totalMs);
  const rows = sumOf(summaries, (s) => s.rowsProcessed);
  // the mean of the timed calls: each input's mean weighs by its timed calls
  const timedTotalMs = sumOf(summaries, (s) => s.meanMs * timedCallsOf(s));
  const timed = summaries.filter((s) => timedCallsOf(s) > 0);
  const minMs = timed.length > 0 ? Math.min(...timed.map((s) => s.minMs)) : 0;
  const maxMs = timed.length > 0 ? Math.max(...timed.map((s) => s.maxMs)) : 0;

  // quantiles
  let sketch: QuantileSketch | undefined = new QuantileSketch();
  let allRecords = true;
  /** Processes with neither a usable sketch nor every record of the stage. */
  const uncovered: string[] = [];
  for (const p of parts) {
    const expected = timedCallsOf(p.summary);
    const complete = p.durations.length === expected;
    if (!complete) allRecords = false;
    let own: QuantileSketch | undefined;
    const raw = p.summary.sketch;
    if (raw !== undefined) {
      try {
        own = QuantileSketch.decode(raw);
        if (own.count !== expected) {
          flags.push({ severity: 'warning', code: 'merge_sketch_invalid', stage: name, t: endMs, message: `the sketch of ${name} in process ${p.input.label} holds ${own.count} calls where its summary counts ${expected} timed calls: left out` });
          own = undefined;
        }
      } catch (err) {
        flags.push({ severity: 'warning', code: 'merge_sketch_invalid', stage: name, t: endMs, message: `the sketch of ${name} in process ${p.input.label} was left out: ${errorText(err)}` });
        own = undefined;
      }
    }
    if (own === undefined && complete) {
      own = new QuantileSketch();
      for (const d of p.durations) own.add(d);
    }
    if (own === undefined) {
      sketch = undefined;
      uncovered.push(p.input.label);
    } else {
      sketch?.merge(own);
    }
  }
  let quantiles: StageSummary['quantiles'];
  let q: (p: number) => number;
  if (allRecords) {
    const sorted = parts.flatMap((p) => p.durations).sort((a, b) => a - b);
    q = (p) => exactQuantile(sorted, p);
    quantiles = 'exact';
  } else if (sketch !== undefined) {
    const s = sketch;
    q = (p) => s.quantile(p);
    quantiles = 'sketch';
  } else {
    const sorted = parts.flatMap((p) => p.durations).sort((a, b) => a - b);
    q = (p) => exactQuantile(sorted, p);
    quantiles = 'records';
    flags.push({
      severity: 'warning',
      code: 'merge_quantiles_from_records',
      stage: name,
      t: endMs,
      message:
        sorted.length > 0
          ? `the quantiles of ${name} come from its ${sorted.length} kept records of ${timedCalls} timed calls, a sample: process(es) ${uncovered.join(', ')} have neither a usable sketch nor every record of it`
          : `the quantiles of ${name} are unknown (0): process(es) ${uncovered.join(', ')} have neither a usable sketch nor any record of it`,
    });
  }

  const cpuUserMs = sumOf(summaries, (s) => s.cpu.userMs);
  const cpuSystemMs = sumOf(summaries, (s) => s.cpu.systemMs);
  const probedCalls = sumOf(summaries, (s) => s.fidelity.probedCalls);
  const probed = summaries.filter((s) => s.fidelity.probedCalls > 0);
  const sampled = summaries.some((s) => s.fidelity.mode === 'sampled');
  // Busy time adds up across processes: rows per second of busy time is per process-second.
  const busyMs = sumOf(summaries, (s) => s.busyMs);
  let longestSync: SummaryIn | undefined;
  for (const s of summaries) if (longestSync === undefined || s.maxSyncMs > longestSync.maxSyncMs) longestSync = s;
  const longestSyncAt = longestSync === undefined ? 0 : longestSync.maxSyncAtMs + (parts.find((p) => p.summary === longestSync)?.input.offsetMs ?? 0);
  const out: StageSummary = {
    name,
    calls,
    failures: sumOf(summaries, (s) => s.failures),
    totalMs: roundMs(totalMs),
    busyMs: roundMs(busyMs),
    selfMs: roundMs(sumOf(summaries, (s) => s.selfMs)),
    meanMs: timedCalls > 0 ? roundMs(timedTotalMs / timedCalls) : 0,
    stdDevMs: roundMs(pooledStdDev(summaries) ?? 0),
    p50Ms: roundMs(q(0.5)),
    p95Ms: roundMs(q(0.95)),
    p99Ms: roundMs(q(0.99)),
    maxMs: roundMs(maxMs),
    minMs: roundMs(minMs),
    quantiles,
    rowsProcessed: rows,
    rowsPerSecond: busyMs > 0 ? round3((rows / busyMs) * 1000) : 0,
    rowsPerCallSecond: totalMs > 0 ? round3((rows / totalMs) * 1000) : 0,
    cpu: {
      userMs: round3(cpuUserMs),
      systemMs: round3(cpuSystemMs),
      percent: totalMs > 0 ? round3(Math.min(100, ((cpuUserMs + cpuSystemMs) / totalMs) * 100)) : 0,
      estimated: summaries.some((s) => s.cpu.estimated),
      probedWallMs: roundMs(sumOf(summaries, (s) => s.cpu.probedWallMs)),
      voluntarySwitches: sumOf(summaries, (s) => s.cpu.voluntarySwitches),
      involuntarySwitches: sumOf(summaries, (s) => s.cpu.involuntarySwitches),
    },
    meanHeapUsedDeltaMb: probedCalls > 0 ? round3(sumOf(summaries, (s) => s.meanHeapUsedDeltaMb * s.fidelity.probedCalls) / probedCalls) : 0,
    maxHeapUsedDeltaMb: probed.length > 0 ? Math.max(...probed.map((s) => s.maxHeapUsedDeltaMb)) : 0,
    syncCalls: sumOf(summaries, (s) => s.syncCalls),
    maxSyncMs: roundMs(longestSync?.maxSyncMs ?? 0),
    maxSyncAtMs: round3(longestSyncAt),
    rootCalls: sumOf(summaries, (s) => s.rootCalls),
    fidelity: {
      mode: sampled ? 'sampled' : 'full',
      probedCalls,
      recordEvery: Math.max(...summaries.map((s) => s.fidelity.recordEvery)),
      timedCalls,
    },
    recordsKept: sumOf(parts, (p) => p.durations.length),
    recordsOmitted: sumOf(summaries, (s) => s.recordsOmitted),
  };
  let firstError: StageSummary['firstError'];
  for (const p of parts) {
    const e = p.summary.firstError;
    if (e === undefined) continue;
    const t = roundMs(e.t + p.input.offsetMs);
    if (firstError === undefined || t < firstError.t) firstError = { name: e.name, message: e.message, t };
  }
  if (firstError !== undefined) out.firstError = firstError;
  if (sketch !== undefined && (sketch.count > 0 || timedCalls === 0)) out.sketch = sketch.encode();
  return out;
}

/**
 * The standard deviation of all timed calls from each input's count, mean and standard deviation:
 * the within-input variances plus the spread of the inputs' means, in the population form
 * (σ² = Σ(x − μ)² / n; over the thousands of calls of a stage the sample form differs by
 * well under 0.1 %). Undefined unless every input has one.
 */
export function pooledStdDev(summaries: readonly SummaryIn[]): number | undefined {
  let n = 0;
  let sum = 0;
  for (const s of summaries) {
    if (typeof s.stdDevMs !== 'number') return undefined;
    const k = timedCallsOf(s);
    n += k;
    sum += s.meanMs * k;
  }
  if (n === 0) return 0;
  const mean = sum / n;
  let squares = 0;
  for (const s of summaries) {
    const k = timedCallsOf(s);
    squares += k * (s.stdDevMs! ** 2 + (s.meanMs - mean) ** 2);
  }
  return Math.sqrt(squares / n);
}

// ---------------------------------------------------------------------------------------------
// Processes, memory
// ---------------------------------------------------------------------------------------------

