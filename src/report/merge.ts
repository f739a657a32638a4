/**
 * One report from the reports of one sharded or multi-process run (`stagemeter merge`). Pure: the
 * reports and options in, the merged report out; no I/O, no clock.
 *
 * What the merged report holds (docs/report-format.md, "Merged reports"):
 *  - `processes[]`: one entry per input report (`p1`, `p2`... in input order), with its run id,
 *    pid, host, times, peak memory, CPU and the memory trend re-fitted on its own samples.
 *  - `stages[]`: the records of every input, ids prefixed with the process id (`p2:17`), `t`
 *    rebased onto the merged run's start (the earliest `startedAt`), `source` naming the process.
 *  - `stageSummaries[]`: per stage name, sums over the inputs (calls, failures, rows, times, CPU),
 *    min and max, the mean from the sums, and quantiles from the merged sketches (see
 *    {@link mergeSummary} for the fallbacks).
 *  - `memory.samples`: every process's samples on the merged time axis, each with its `source`;
 *    `summary.peakMemoryMb` the largest process peak, `memory.concurrentPeak` the largest sum of
 *    the processes' rss seen at one moment.
 *  - Findings re-analysed: the stage analyzers run on the merged records and summaries, the memory
 *    analyzers (leak, spikes, GC, event-loop ticks) on each process's own samples, since the
 *    samples of two processes on one axis are not one heap.
 */
import { createHash } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import { runAnalysis } from '../../analyzers';
import { resolveThresholds } from '../../analyzers/builtin';
import { ConfigError, describeValue, type ConfigIssue } from '../errors';
import { buildReport, reportSchema } from './build';
import { QuantileSketch } from '../stores/sketch';
import type {
  AnalysisResult,
  Analyzer,
  EventLoopStats,
  Finding,
  GcStats,
  MemorySample,
  MemorySpike,
  MemoryTrend,
  MergedProcess,
  PerformanceReport,
  QualityFlag,
  Recommendation,
  RunData,
  RunInfo,
  StageMetrics,
  StageSummary,
  Thresholds,
  TrackedProcess,
} from '../types';

/** Why a merge was refused. */
export type MergeErrorCode = 'empty' | 'invalid_json' | 'not_a_report' | 'schema_version' | 'invalid_report' | 'duplicate_run' | 'merged_input';

/**
 * Thrown by {@link mergeReports} (and {@link parseReportText}) when the inputs cannot be merged.
 * The message is meant for the user as is; `code`, `input` (0-based index) and `source` are there
 * for programs.
 *
 * @example
 * try { mergeReports([a, a]); }
 * catch (e) { if (e instanceof MergeError) console.error(e.message); } // "... the same run ..."
 */
export class MergeError extends Error {
  readonly code: MergeErrorCode;
  /** Index of the input at fault, when one is. */
  readonly input: number | undefined;
  /** Its source (file path), when known. */
  readonly source: string | undefined;

  constructor(code: MergeErrorCode, message: string, input?: number, source?: string) {
    super(message);
    this.name = 'MergeError';
    this.code = code;
    this.input = input;
    this.source = source;
  }
}

/** Options of {@link mergeReports}. */
export interface MergeOptions {
  /** Where each report came from (file paths, in input order): in error messages and `processes[].reportPath`. */
  sources?: readonly string[];
  /** Thresholds of the re-analysis (the reports do not record their runs' thresholds; default: the defaults). */
  thresholds?: Partial<Thresholds>;
  /** Extra analyzers, run after the built-in ones on the merged run. */
  analyzers?: readonly Analyzer[];
  /** Name of the merged run (default: the inputs' run name when they share one). */
  runName?: string;
}

/** Summary fields not every report has: merged only when every input has them (`threads` never: thread ids are per process). */
type SummaryIn = StageSummary & { threads?: unknown };

/** Built-in finding kinds that come from a process's samples: analysed per process. */
const PROCESS_FINDING_KINDS: ReadonlySet<string> = new Set(['memory_leak', 'memory_spike', 'gc_pressure']);
/** Recommendation categories that come from a process's samples. */
const PROCESS_RECOMMENDATIONS: ReadonlySet<string> = new Set(['memory_leak', 'memory_spike', 'gc_pressure', 'memory_efficiency']);
/** Analysis flags about a process's samples and memory: taken from each process's analysis. */
const PROCESS_FLAG_CODES: ReadonlySet<string> = new Set(['memory_budget_exceeded', 'sampler_slipped', 'too_few_samples', 'low_memory_efficiency']);
/**
 * Flag codes the analysis raises (analyzers/index.ts, analyzers/qualityFlags.ts). An input's flags
 * with these codes are its own analysis, redone on the merged data, so they are not carried over;
 * its other flags (the collector's notes on the measurement) are. A test keeps this list in step
 * with the analyzers.
 *
 * @internal
 */
export const ANALYSIS_FLAG_CODES: ReadonlySet<string> = new Set([
  'analysis_failed',
  'analysis_section_failed',
  'analyzer_failed',
  'low_memory_efficiency',
  'low_throughput',
  'memory_budget_exceeded',
  'sampler_slipped',
  'stage_memory_over_limit',
  'stage_over_max_duration',
  'stage_too_short',
  'time_estimated',
  'time_share_extrapolated',
  'too_few_samples',
]);

let validator: ValidateFunction | undefined;

/** The report schema's validator, compiled on first use (~0.1-0.3 s) and kept. */
function validateReport(report: unknown): readonly string[] {
  validator ??= new Ajv({ allErrors: true }).compile(reportSchema);
  if (validator(report)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
}

function describe(index: number, source: string | undefined): string {
  return source !== undefined ? `report ${index + 1} (${source})` : `report ${index + 1}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : 'unreadable value';
}

/**
 * Parses the text of a report file for {@link mergeReports}: a clear {@link MergeError}
 * (`invalid_json`) for a truncated or otherwise broken file instead of a bare SyntaxError.
 *
 * @example
 * const report = parseReportText(readFileSync('a.json', 'utf8'), 'a.json');
 */
export function parseReportText(text: string, source?: string): unknown {
  const where = source !== undefined ? source : 'the report';
  if (text.trim() === '') throw new MergeError('invalid_json', `${where} is empty`, undefined, source);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MergeError('invalid_json', `${where} is not valid JSON (truncated?): ${errorText(err)}`, undefined, source);
  }
}

/** Throws a ConfigError listing every invalid option (a programming error, not a bad input). */
function checkOptions(options: unknown): asserts options is MergeOptions {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigError([{ field: '(options)', message: `must be an object (got ${describeValue(options)})` }], 'invalid merge options');
  const o = options as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  for (const key of Object.keys(o)) if (!['sources', 'thresholds', 'analyzers', 'runName'].includes(key)) issues.push({ field: key, message: 'unknown option' });
  if (o.sources !== undefined && !(Array.isArray(o.sources) && o.sources.every((x) => typeof x === 'string'))) issues.push({ field: 'sources', message: `must be an array of strings (got ${describeValue(o.sources)})` });
  if (o.thresholds !== undefined && (typeof o.thresholds !== 'object' || o.thresholds === null || Array.isArray(o.thresholds))) issues.push({ field: 'thresholds', message: `must be an object (got ${describeValue(o.thresholds)})` });
  if (o.analyzers !== undefined && !Array.isArray(o.analyzers)) issues.push({ field: 'analyzers', message: `must be an array (got ${describeValue(o.analyzers)})` });
  if (o.runName !== undefined && (typeof o.runName !== 'string' || o.runName === '' || o.runName.length > 200)) {
    issues.push({ field: 'runName', message: `must be a non-empty string of at most 200 characters (got ${describeValue(o.runName)})` });
  }
  if (issues.length > 0) throw new ConfigError(issues, 'invalid merge options');
}

/** One input, checked. */
interface Input {
  index: number;
  /** `p1`, `p2`...: the process id in the merged report. */
  label: string;
  source: string | undefined;
  report: PerformanceReport;
  startMs: number;
  /** Its start after the merged run's start, ms. */
  offsetMs: number;
}

/** Checks every input; returns them in input order or throws the first reason to refuse. */
function checkInputs(reports: readonly unknown[], sources: readonly string[] | undefined): Input[] {
  if (!Array.isArray(reports) || reports.length === 0) throw new MergeError('empty', 'nothing to merge: give at least one report');
  const versions: Array<{ index: number; version: unknown }> = [];
  for (let i = 0; i < reports.length; i++) {
    const r: unknown = reports[i];
    const source = sources?.[i];
    let version: unknown;
    try {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('not an object');
      version = (r as { schemaVersion?: unknown }).schemaVersion;
    } catch (err) {
      throw new MergeError('not_a_report', `${describe(i, source)} is not a stagemeter report (${errorText(err)})`, i, source);
    }
    if (version === undefined) throw new MergeError('not_a_report', `${describe(i, source)} is not a stagemeter report (it has no schemaVersion)`, i, source);
    versions.push({ index: i, version });
  }
  const first = versions[0]!;
  const other = versions.find((v) => v.version !== first.version);
  if (other !== undefined) {
    const list = versions.map((v) => `${describe(v.index, sources?.[v.index])}: ${JSON.stringify(v.version)}`).join(', ');
    throw new MergeError('schema_version', `the reports have different schema versions (${list}): merge reports written by the same stagemeter version`, other.index, sources?.[other.index]);
  }
  if (first.version !== 1) {
    throw new MergeError('schema_version', `schema version ${JSON.stringify(first.version)} is not supported: this stagemeter reads version 1`, 0, sources?.[0]);
  }
  const inputs: Input[] = [];
  const runIds = new Map<string, number>();
  for (let i = 0; i < reports.length; i++) {
    const source = sources?.[i];
    let problems: readonly string[];
    try {
      problems = validateReport(reports[i]);
    } catch (err) {
      problems = [`unreadable (${errorText(err)})`];
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).join('; ');
      const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
      throw new MergeError('invalid_report', `${describe(i, source)} is not a valid stagemeter report (truncated or edited?): ${shown}${more}`, i, source);
    }
    const report = reports[i] as PerformanceReport;
    if ((report as { processes?: unknown }).processes !== undefined) {
      throw new MergeError('merged_input', `${describe(i, source)} is already a merged report: merge the reports it came from instead`, i, source);
    }
    const startMs = Date.parse(report.run.startedAt);
    if (!Number.isFinite(startMs)) throw new MergeError('invalid_report', `${describe(i, source)} has an impossible run.startedAt (${report.run.startedAt})`, i, source);
    const seen = runIds.get(report.run.id);
    if (seen !== undefined) {
      throw new MergeError(
        'duplicate_run',
        `${describe(seen, sources?.[seen])} and ${describe(i, source)} are the same run (id ${report.run.id}): each run must be given once`,
        i,
        source,
      );
    }
    runIds.set(report.run.id, i);
    inputs.push({ index: i, label: `p${i + 1}`, source, report, startMs, offsetMs: 0 });
  }
  const start = Math.min(...inputs.map((x) => x.startMs));
  for (const x of inputs) x.offsetMs = x.startMs - start;
  return inputs;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const roundMs = (x: number): number => round(x, 6);
const round3 = (x: number): number => round(x, 3);

/** The q-quantile of sorted values, interpolated between ranks (as the collector computes exact quantiles). */
function exactQuantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function sumOf<T>(items: readonly T[], value: (item: T) => number | undefined): number {
  let s = 0;
  for (const item of items) s += value(item) ?? 0;
  return s;
}

/** The sum of a field when every item has it, else undefined. */
function sumIfAll<T>(items: readonly T[], value: (item: T) => number | undefined): number | undefined {
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
interface Part {
  input: Input;
  summary: SummaryIn;
  /** Durations of its kept records of this stage, ms. */
  durations: number[];
}

function timedCallsOf(s: StageSummary): number {
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
function mergeSummary(name: string, parts: readonly Part[], flags: QualityFlag[], endMs: number): StageSummary {
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
function pooledStdDev(summaries: readonly SummaryIn[]): number | undefined {
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

/** The inputs' event-loop figures: per field the worst process's (percentiles cannot be merged). */
function mergeEventLoop(inputs: readonly Input[]): EventLoopStats | undefined {
  const all = inputs.map((x) => x.report.eventLoop).filter((e): e is EventLoopStats => e !== undefined);
  if (all.length === 0) return undefined;
  return {
    delayP50Ms: Math.max(...all.map((e) => e.delayP50Ms)),
    delayP99Ms: Math.max(...all.map((e) => e.delayP99Ms)),
    delayMaxMs: Math.max(...all.map((e) => e.delayMaxMs)),
    delayMeanMs: Math.max(...all.map((e) => e.delayMeanMs)),
  };
}

/** The inputs' GC pauses, summed over the processes (the longest pause: the longest of any). */
function mergeGc(inputs: readonly Input[]): GcStats | undefined {
  const all = inputs.map((x) => x.report.gc).filter((g): g is GcStats => g !== undefined);
  if (all.length === 0) return undefined;
  const byKind: Record<string, { count: number; totalPauseMs: number }> = Object.create(null) as Record<string, { count: number; totalPauseMs: number }>;
  for (const g of all) {
    for (const [kind, v] of Object.entries(g.byKind)) {
      const k = (byKind[kind] ??= { count: 0, totalPauseMs: 0 });
      k.count += v.count;
      k.totalPauseMs = round3(k.totalPauseMs + v.totalPauseMs);
    }
  }
  return {
    count: sumOf(all, (g) => g.count),
    totalPauseMs: round3(sumOf(all, (g) => g.totalPauseMs)),
    maxPauseMs: Math.max(...all.map((g) => g.maxPauseMs)),
    byKind: { ...byKind },
  };
}

/**
 * The largest sum of the processes' rss at one moment: each process counts with its latest sample
 * from its first sample to its end. Samples are ticks, so the true concurrent peak can be higher
 * (up to the sum of the processes' own peaks, also returned).
 */
function concurrentPeak(inputs: readonly Input[]): { rssMb: number; t: number; sumOfProcessPeaksMb: number } | undefined {
  const events: Array<{ t: number; process: number; rssMb: number; end: boolean }> = [];
  inputs.forEach((x, k) => {
    const samples = x.report.memory.samples;
    if (samples.length === 0) return;
    for (const s of samples) events.push({ t: s.t + x.offsetMs, process: k, rssMb: s.rssMb, end: false });
    events.push({ t: Math.max(x.offsetMs + x.report.run.durationMs, samples[samples.length - 1]!.t + x.offsetMs), process: k, rssMb: 0, end: true });
  });
  if (events.length === 0) return undefined;
  // at equal times samples come first: a process is alive at the moment it ends
  events.sort((a, b) => a.t - b.t || Number(a.end) - Number(b.end));
  const current = new Array<number>(inputs.length).fill(0);
  let total = 0;
  let best = { rssMb: 0, t: 0 };
  for (const e of events) {
    total += e.rssMb - current[e.process]!;
    current[e.process] = e.rssMb;
    if (total > best.rssMb) best = { rssMb: total, t: e.t };
  }
  return { rssMb: round3(best.rssMb), t: round3(best.t), sumOfProcessPeaksMb: round3(sumOf(inputs, (x) => x.report.summary.peakMemoryMb)) };
}

/** A process's own run, as its collector handed it to the analysis (flags aside). */
function processRunData(x: Input): RunData {
  const r = x.report;
  const data: RunData = {
    run: r.run,
    stages: r.stages,
    stageSummaries: r.stageSummaries,
    samples: r.memory.samples,
    samplingIntervalMs: r.memory.samplingIntervalMs,
    avgCpuPercent: r.summary.avgCpuPercent,
    peakMemoryMb: r.summary.peakMemoryMb,
    qualityFlags: [],
  };
  if (r.eventLoop !== undefined) data.eventLoop = r.eventLoop;
  if (r.gc !== undefined) data.gc = r.gc;
  return data;
}

const CONFIDENCE_RANK: Record<MemoryTrend['confidence'], number> = { none: 0, low: 1, medium: 2, high: 3 };

/** The trend of the process whose heap floor looks worst: a suspected leak first, then confidence, then slope. */
function worstTrend(trends: ReadonlyArray<{ label: string; trend: MemoryTrend }>): { label: string; trend: MemoryTrend } | undefined {
  let worst: { label: string; trend: MemoryTrend } | undefined;
  for (const c of trends) {
    if (worst === undefined) {
      worst = c;
      continue;
    }
    const a = c.trend;
    const b = worst.trend;
    const better =
      Number(a.leakSuspected) - Number(b.leakSuspected) || CONFIDENCE_RANK[a.confidence] - CONFIDENCE_RANK[b.confidence] || a.slopeMbPerMin - b.slopeMbPerMin;
    if (better > 0) worst = c;
  }
  return worst;
}

/** A UUID-shaped id derived from the input run ids: merging the same reports gives the same id. */
function mergedRunId(inputs: readonly Input[]): string {
  const h = createHash('sha256')
    .update(
      inputs
        .map((x) => x.report.run.id)
        .sort()
        .join('\n'),
    )
    .digest('hex');
  // version 8 (custom) and the RFC 4122 variant bits
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function processPrefix(x: Input): string {
  return `process ${x.label} (pid ${x.report.run.host.pid})`;
}

// ---------------------------------------------------------------------------------------------
// The merge
// ---------------------------------------------------------------------------------------------

/**
 * Merges the reports of one sharded or multi-process run into one report, re-analysed.
 *
 * Refuses, with a {@link MergeError}: an empty list, inputs that are not reports, reports of
 * different schema versions (or one this version cannot read), a report that fails the schema
 * (truncated, edited), a report given twice (same run id), and a report that is itself a merge.
 * Invalid options throw a ConfigError listing each.
 *
 * @example
 * const merged = mergeReports([shardA, shardB], { sources: ['a.json', 'b.json'] });
 * merged.processes?.length;        // 2
 * merged.stageSummaries[0].calls;  // calls of both shards
 */
export function mergeReports(reports: readonly unknown[], options: MergeOptions = {}): PerformanceReport {
  checkOptions(options);
  const inputs = checkInputs(reports, options.sources);
  const thresholds = resolveThresholds(options.thresholds);
  const startMs = Math.min(...inputs.map((x) => x.startMs));
  const durationMs = Math.max(...inputs.map((x) => x.offsetMs + x.report.run.durationMs));
  const endMs = round3(durationMs);
  const flags: QualityFlag[] = [];

  // records, rebased and tagged
  const stages: Array<StageMetrics & { source: string }> = [];
  /** Per input, the durations of its records by stage name. */
  const durations = inputs.map(() => new Map<string, number[]>());
  for (const x of inputs) {
    const byName = durations[x.index]!;
    const prefix = `${x.label}:`;
    for (const r of x.report.stages) {
      // a shallow copy (object spread of 100k records of mixed shapes costs ~3 times as much, and
      // sorts slower); the nested cpu, memory, error and metadata objects are shared with the input
      const m = Object.assign({}, r) as StageMetrics & { source: string };
      m.id = prefix + r.id;
      m.t = roundMs(r.t + x.offsetMs);
      if (r.parentId !== undefined) m.parentId = prefix + r.parentId;
      m.source = x.label;
      stages.push(m);
      const list = byName.get(r.name);
      if (list === undefined) byName.set(r.name, [r.durationMs]);
      else list.push(r.durationMs);
    }
  }
  stages.sort((a, b) => a.t - b.t);

  // summaries, by name in order of first appearance
  const partsByName = new Map<string, Part[]>();
  for (const x of inputs) {
    for (const s of x.report.stageSummaries) {
      const part: Part = { input: x, summary: s, durations: durations[x.index]!.get(s.name) ?? [] };
      const list = partsByName.get(s.name);
      if (list === undefined) partsByName.set(s.name, [part]);
      else list.push(part);
    }
  }
  const stageSummaries: StageSummary[] = [];
  for (const [name, parts] of partsByName) stageSummaries.push(mergeSummary(name, parts, flags, endMs));

  // the inputs' own flags about their measurement (their analysis is redone below)
  for (const x of inputs) {
    for (const f of x.report.qualityFlags) {
      if (f.code !== undefined && ANALYSIS_FLAG_CODES.has(f.code)) continue;
      flags.push({ ...f, message: `${processPrefix(x)}: ${f.message}`, t: round3(f.t + x.offsetMs) });
    }
    if (x.report.run.status !== 'completed') {
      flags.push({
        severity: 'warning',
        code: 'merge_input_incomplete',
        t: round3(x.offsetMs + x.report.run.durationMs),
        message: `${processPrefix(x)} is ${x.report.run.status === 'running' ? 'a checkpoint of a run that was still going' : 'an aborted run'}: its figures stop at ${round3(x.report.run.durationMs)} ms into it`,
      });
    }
  }
  if (options.thresholds === undefined) {
    flags.push({ severity: 'info', code: 'merge_default_thresholds', t: endMs, message: 'the findings of this merged report use the default thresholds: reports do not record the thresholds their runs used' });
  }

  const first = inputs.reduce((a, b) => (b.startMs < a.startMs ? b : a));
  const names = [...new Set(inputs.map((x) => x.report.run.name))];
  const statuses = new Set(inputs.map((x) => x.report.run.status));
  const rowsProcessed = sumOf(inputs, (x) => x.report.run.rowsProcessed);
  const run: RunInfo = {
    id: mergedRunId(inputs),
    name: options.runName ?? (names.length === 1 ? names[0]! : names.join(' + ').slice(0, 200)),
    status: statuses.has('aborted') ? 'aborted' : statuses.has('running') ? 'running' : 'completed',
    startedAt: new Date(startMs).toISOString(),
    endedAt: new Date(startMs + durationMs).toISOString(),
    durationMs: endMs,
    rowsProcessed,
    rowsPerSecond: durationMs > 0 ? round3((rowsProcessed / durationMs) * 1000) : 0,
    endReason: 'merge',
    host: { ...first.report.run.host },
  };
  const expectedRows = sumIfAll(inputs, (x) => x.report.run.expectedRows);
  if (expectedRows !== undefined) run.expectedRows = expectedRows;

  // the job: every record and summary, no samples (they are analysed per process below)
  const peakMemoryMb = Math.max(...inputs.map((x) => x.report.summary.peakMemoryMb));
  const cpuMs = sumOf(inputs, (x) => (x.report.summary.avgCpuPercent / 100) * x.report.run.durationMs);
  const job: RunData = {
    run,
    stages,
    stageSummaries,
    samples: [],
    samplingIntervalMs: null,
    avgCpuPercent: durationMs > 0 ? round3((cpuMs / durationMs) * 100) : 0,
    peakMemoryMb,
    qualityFlags: flags,
  };
  const jobAnalysis = runAnalysis(job, thresholds, options.analyzers ?? []);

  // each process's memory: its own samples, analysed alone
  const processes: MergedProcess[] = [];
  const findings: Finding[] = [...jobAnalysis.bottlenecks.findings];
  const recommendations: Recommendation[] = jobAnalysis.recommendations.filter((r) => !PROCESS_RECOMMENDATIONS.has(r.category));
  const analysisFlags: QualityFlag[] = jobAnalysis.qualityFlags.filter((f) => f.code === undefined || !PROCESS_FLAG_CODES.has(f.code));
  const spikes: Array<MemorySpike & { source: string }> = [];
  const trends: Array<{ label: string; trend: MemoryTrend }> = [];
  const scores: number[] = [];
  for (const x of inputs) {
    const own = runAnalysis(processRunData(x), thresholds);
    const prefix = processPrefix(x);
    for (const f of own.bottlenecks.findings) {
      const fromSamples = PROCESS_FINDING_KINDS.has(f.kind) || f.kind === 'analyzer_failed' || (f.kind === 'event_loop_blocked' && f.evidence?.blockingCalls === undefined);
      if (fromSamples) findings.push({ ...f, message: `${prefix}: ${f.message}`, evidence: { ...f.evidence, source: x.label } });
    }
    for (const r of own.recommendations) if (PROCESS_RECOMMENDATIONS.has(r.category)) recommendations.push({ ...r, message: `In ${prefix}: ${r.message}` });
    for (const f of own.qualityFlags) if (f.code !== undefined && PROCESS_FLAG_CODES.has(f.code)) analysisFlags.push({ ...f, message: `${prefix}: ${f.message}`, t: round3(f.t + x.offsetMs) });
    for (const s of own.spikes) spikes.push({ ...s, t: round3(s.t + x.offsetMs), source: x.label });
    if (x.report.memory.samples.length > 0) trends.push({ label: x.label, trend: own.trend });
    scores.push(own.efficiencyScore);
    processes.push(processEntry(x, own));
  }
  spikes.sort((a, b) => a.t - b.t);
  const priority = { high: 0, medium: 1, low: 2 } as const;
  recommendations.sort((a, b) => priority[a.priority] - priority[b.priority]);
  const worst = worstTrend(trends);
  const trend: MemoryTrend = worst !== undefined ? { ...worst.trend, details: { ...worst.trend.details, source: worst.label } } : jobAnalysis.trend;
  const analysis: AnalysisResult = {
    ...jobAnalysis,
    trend,
    spikes,
    efficiencyScore: Math.min(...scores),
    bottlenecks: { ...jobAnalysis.bottlenecks, findings },
    recommendations,
    qualityFlags: analysisFlags,
  };

  // the report: the job's data with every process's samples on the merged time axis
  const samples: Array<MemorySample & { source: string }> = [];
  for (const x of inputs) for (const s of x.report.memory.samples) samples.push({ ...s, t: round3(s.t + x.offsetMs), source: x.label });
  samples.sort((a, b) => a.t - b.t);
  const intervals = [...new Set(inputs.map((x) => x.report.memory.samplingIntervalMs).filter((v): v is number => v !== null))];
  const reportData: RunData = { ...job, samples, samplingIntervalMs: intervals.length > 0 ? Math.min(...intervals) : null };
  const eventLoop = mergeEventLoop(inputs);
  if (eventLoop !== undefined) reportData.eventLoop = eventLoop;
  const gc = mergeGc(inputs);
  if (gc !== undefined) reportData.gc = gc;
  const report = buildReport(reportData, analysis, inputs.reduce((a, x) => a + x.report.stageRecords.max, 0));
  const peak = concurrentPeak(inputs);
  if (peak !== undefined) report.memory.concurrentPeak = peak;
  report.processes = processes;
  const tracked = mergeTracked(inputs);
  if (tracked.length > 0) report.trackedProcesses = tracked;
  return report;
}

/** Every input's tracked processes, on the merged time axis, each with its `source`. */
function mergeTracked(inputs: readonly Input[]): TrackedProcess[] {
  const out: TrackedProcess[] = [];
  for (const x of inputs) {
    for (const p of x.report.trackedProcesses ?? []) {
      const m: TrackedProcess = { ...p, startedAtMs: round3(p.startedAtMs + x.offsetMs), samples: p.samples.map((s) => ({ ...s, t: round3(s.t + x.offsetMs) })), source: x.label };
      if (p.endedAtMs !== undefined) m.endedAtMs = round3(p.endedAtMs + x.offsetMs);
      out.push(m);
    }
  }
  return out.sort((a, b) => a.startedAtMs - b.startedAtMs);
}

function processEntry(x: Input, own: AnalysisResult): MergedProcess {
  const r = x.report;
  const p: MergedProcess = {
    id: x.label,
    runId: r.run.id,
    name: r.run.name,
    status: r.run.status,
    pid: r.run.host.pid,
    host: { ...r.run.host },
    startedAt: r.run.startedAt,
    endedAt: r.run.endedAt,
    offsetMs: x.offsetMs,
    durationMs: r.run.durationMs,
    rowsProcessed: r.run.rowsProcessed,
    calls: r.summary.totalStages,
    failedCalls: r.summary.failedStages,
    peakMemoryMb: r.summary.peakMemoryMb,
    avgCpuPercent: r.summary.avgCpuPercent,
    sampleCount: r.memory.samples.length,
    memoryTrend: own.trend,
    memoryEfficiencyScore: own.efficiencyScore,
  };
  if (r.run.endReason !== undefined) p.endReason = r.run.endReason;
  if (r.run.fatalError !== undefined) p.fatalError = { name: r.run.fatalError.name, message: r.run.fatalError.message };
  if (r.run.metadata !== undefined) p.metadata = r.run.metadata;
  if (r.run.parent !== undefined) p.parentRunId = r.run.parent.runId;
  const path = x.source ?? r.output?.path;
  if (path !== undefined) p.reportPath = path;
  return p;
}
