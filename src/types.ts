/**
 * Public types of stagemeter. Units are in the names: `...Ms` milliseconds, `...Mb` MiB
 * (bytes / 1048576), `...Percent` percent of one CPU core, `rowsPerSecond` rows per second.
 * `t` is always milliseconds since the run started.
 */
import type { Logger } from 'pino';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** Limits the analyzers compare a run against. Defaults come from the original requirements. */
export interface Thresholds {
  /** Rows per second under which a stage that processes rows is `low_throughput` (default 1000). */
  minThroughputRowsPerSec: number;
  /** Memory budget for the whole process, MiB of rss (default 8192). */
  maxMemoryMb: number;
  /** A single stage call longer than this raises a quality-flag warning, ms (default 1_800_000). */
  maxStageDurationMs: number;
  /** A stage whose slowest call is longer than this is a `slow_stage` bottleneck, ms (default 30_000). */
  slowStageMs: number;
  /** A stage call that grows the heap by more than this is `memory_intensive`, MiB (default 500). */
  memoryIntensiveMb: number;
  /** A stage call that grows memory by more than this raises a quality-flag warning, MiB (default 1024). */
  stageMemoryWarningMb: number;
  /** Memory efficiency score (0-100) under which the run is flagged (default 70). */
  memoryEfficiencyThreshold: number;
  /** Event-loop delay above which the loop counts as blocked, ms (default 100). */
  eventLoopBlockedMs: number;
  /** Share of wall time spent in GC pauses above which `gc_pressure` is raised, percent (default 10). */
  gcPressurePercent: number;
  /** Growth of the post-GC heap floor that counts as a leak, MiB per minute (default 1). */
  minLeakSlopeMbPerMin: number;
}

/** Options of {@link createPerformanceMonitor}. Every field is optional; unknown keys are rejected. */
export interface MonitorOptions {
  /** Where `stopMonitoring()` writes the JSON report (directories are created). */
  outputPath?: string;
  /** Run the background sampler (memory, CPU, event-loop delay, GC), default true. */
  enableMemoryTracking?: boolean;
  /** Sampler period, ms (default 1000, at least 10). */
  memorySamplingIntervalMs?: number;
  /** Log one structured pino line per stage start/end and per finding, default false. */
  enableDetailedLogging?: boolean;
  /** The application's own pino logger; stagemeter logs through a child of it. */
  logger?: Logger;
  /** Overrides of the default {@link Thresholds}. */
  thresholds?: Partial<Thresholds>;
  /** Extra analyzers, run after the built-in ones. */
  analyzers?: Analyzer[];
  /** Per-call records kept per stage name (default 10_000); summaries always count every call. */
  maxStageRecords?: number;
  /** Memory samples kept in memory and in the report before older ones are downsampled (default 10_000). */
  maxMemorySamples?: number;
  /** Periodic atomic rewrite of the report while running, ms (off by default). */
  checkpointIntervalMs?: number;
  /** Metadata keys or pino-style paths whose values are replaced by `"[Redacted]"`. */
  redact?: string[];
  /** Keep error stacks in the report, default false (messages are always kept). */
  captureStackTraces?: boolean;
  /**
   * How a stage called after an `await` finds its parent. `'promise'` (default): V8 promise hooks,
   * which follow await and promise chains at about half the cost of an AsyncLocalStorage;
   * `'asyncLocalStorage'`: also follows callbacks (timers, event emitters, stream events), at the
   * full AsyncLocalStorage price on every promise of the process. Either is on only while a run
   * has async stages.
   */
  asyncContext?: 'promise' | 'asyncLocalStorage';
  /**
   * Timing of short stages (mean under about 22 µs, after their first 1024 calls), where two clock
   * reads are most of what a monitored call costs. `'sampled'` (default): about one call in 8 of a
   * hot synchronous stage is timed (one in 32 of a stage of a few µs, or of a mostly asynchronous
   * one), which cuts what a hot call costs to about a third; every call is still counted, with its
   * rows and failures, and the stage's total time is estimated from the timed calls
   * (`fidelity.timeEvery`, `fidelity.timedCalls`, `fidelity.totalErrorPercent`, flag
   * `time_estimated`). `'every'`: every call is timed, so `totalMs`, `minMs` and `maxMs` are
   * measured over all calls, at about three times the cost.
   */
  shortStageTiming?: 'sampled' | 'every';
}

/** Options of `startMonitoring()`. */
export interface StartOptions {
  /** Rows the run is expected to process; enables progress and ETA. */
  expectedRows?: number;
  /** Name of the run in the report (default `"stagemeter-run"`). */
  runName?: string;
  /** Free-form run metadata copied (sanitised, redacted) into the report. */
  metadata?: Record<string, unknown>;
}

/**
 * How a hook counts the rows a call processed. A number or a function wins over everything;
 * otherwise rows given with `recordRows()` win; otherwise `'input'` (the default) takes the size of
 * the first argument that holds rows and `'output'` the size of the result.
 */
export type RowsOption = 'input' | 'output' | number | ((result: unknown, args: unknown[]) => number);

/** Options of `withStage()`. */
export interface StageOptions {
  /** How rows are counted (default `'input'`). */
  rows?: RowsOption;
  /** Metadata attached to every record of this stage. */
  metadata?: Record<string, unknown>;
  /** Record into this monitor instead of the process-wide singleton. */
  monitor?: PerformanceMonitorLike;
}

/** Options of `@MonitoredStage({...})`. */
export interface MonitoredStageOptions {
  /** Stage name (default `ClassName.methodName`). */
  name?: string;
  /** How rows are counted (default `'input'`). */
  rows?: RowsOption;
  /** Metadata attached to every record of this stage. */
  metadata?: Record<string, unknown>;
  /** Record into this monitor instead of the process-wide singleton. */
  monitor?: PerformanceMonitorLike;
}

/** The part of a monitor the hooks rely on; satisfied by `PerformanceMonitor`. */
export interface PerformanceMonitorLike {
  readonly isMonitoring: boolean;
  startMonitoring(options?: StartOptions): void;
  startStage(name: string, metadata?: Record<string, unknown>): string;
  endStage(stageId: string, rowsProcessed?: number, outcome?: StageOutcome): StageMetrics | undefined;
  addQualityFlag(message: string, severity: Severity): void;
  getLivePerformanceStats(): LivePerformanceStats;
  stopMonitoring(): PerformanceReport;
}

/** Outcome passed to `endStage()`. */
export interface StageOutcome {
  /** Whether the stage succeeded (default: true unless `error` is given). */
  success?: boolean;
  /** The error that ended the stage; its name and message are recorded. */
  error?: unknown;
}

export type Severity = 'info' | 'warning' | 'error';

// ---------------------------------------------------------------------------------------------
// Live statistics
// ---------------------------------------------------------------------------------------------

/** A snapshot of the active run, cheap enough to poll every second. */
export interface LivePerformanceStats {
  /** Time since the run started, ms. */
  elapsedMs: number;
  /** Rows processed by completed top-level stages. */
  rowsProcessed: number;
  /** Rows the run expects, when given to `startMonitoring()`. */
  expectedRows?: number;
  /** Throughput over the last few seconds (whole run while it is younger), rows/s. */
  currentRowsPerSecond: number;
  /** Throughput over the whole run so far, rows/s. */
  averageRowsPerSecond: number;
  /** Resident set size now, MiB. */
  currentMemoryMb: number;
  /** Largest resident set size seen in this run, MiB. */
  peakMemoryMb: number;
  /** Names of the stages open right now (innermost last for nested synchronous stages). */
  activeStages: string[];
  /** Stage calls completed so far. */
  completedStages: number;
  /** rowsProcessed / expectedRows, 0..1, when expectedRows is known. */
  progress?: number;
  /** Estimated time to finish at the current throughput, ms, when expectedRows is known. */
  etaMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Recorded data (what the collector keeps; the input of the analyzers)
// ---------------------------------------------------------------------------------------------

/**
 * Whether a figure was measured on this call or estimated from the calls of the same stage that
 * were measured. `'full'`: CPU and heap probed on this call. `'timing'`: only the clock was read;
 * `cpu` and `memory` are then estimates, marked `estimated: true`.
 */
export type CallFidelity = 'full' | 'timing';

/** One stage call as recorded. */
export interface StageMetrics {
  /** Unique within the run. */
  id: string;
  /** Stage name. */
  name: string;
  /** Id of the enclosing stage in the same async context, if any. */
  parentId?: string;
  /** Start, ms since the run started. */
  t: number;
  /** Wall time of the call, ms. */
  durationMs: number;
  /** Rows the call processed. */
  rowsProcessed: number;
  /** rowsProcessed / duration, rows/s (0 when the call was too short to time). */
  rowsPerSecond: number;
  /** False when the call threw, rejected, or was still open when the run ended. */
  success: boolean;
  /** Name and message of the error that ended the call (stack only with `captureStackTraces`). */
  error?: { name: string; message: string; stack?: string };
  /**
   * CPU time of the process during the call, ms, and as percent of one core. On probed calls also
   * the context switches of the process during the call: voluntary (it gave up the CPU: blocking
   * I/O, sleeps) and involuntary (the OS took the CPU away: a busy host).
   */
  cpu: { userMs: number; systemMs: number; percent: number; estimated?: boolean; voluntarySwitches?: number; involuntarySwitches?: number };
  /** Heap used after minus before the call, MiB (GC during the call can make it negative). */
  memory: { heapUsedDeltaMb: number; rssDeltaMb?: number; peakMb?: number; estimated?: boolean };
  /** What was measured on this call. */
  fidelity: CallFidelity;
  /** True when the call finished synchronously (it held the event loop for its whole duration). */
  sync: boolean;
  /** Metadata of the stage (sanitised and redacted). */
  metadata?: Record<string, unknown>;
  /** In a merged report: the `processes[].id` of the process that recorded the call. */
  source?: string;
}

/**
 * How a stage was measured. `'full'`: CPU and heap probed on every call. `'sampled'`: CPU and heap
 * on about one timed call in `probeEvery` (figures for the others are estimates). Every call is
 * counted; every call is timed too, except in short stages under `shortStageTiming: 'sampled'`
 * (`timeEvery` > 1). The policy keeps the overhead under max(150 ns, 1 % of the stage's mean duration).
 */
export interface StageFidelity {
  mode: 'full' | 'sampled';
  /** About one timed call in this many gets the full probes (1 for `'full'`). */
  probeEvery: number;
  /** Calls whose CPU and heap were measured. */
  probedCalls: number;
  /**
   * About one call in this many has a record in `stages` (1: every call, until `maxStageRecords`).
   * Stages of a few µs get sampled records, because writing a record costs more than their budget
   * there; the calls without one are still timed and counted in full (`recordsOmitted`).
   */
  recordEvery: number;
  /**
   * About one call in this many is timed (1: every call). Short stages (mean under about 22 µs)
   * time about one call in 8 (hot synchronous ones, under 2 µs) or 32 (the others) after their first
   * 1024 calls, unless `shortStageTiming` is `'every'`; their
   * `totalMs` is then the timed calls' total scaled to all calls, and `meanMs`, the quantiles,
   * `minMs` and `maxMs` describe the timed calls (flag `time_estimated` gives the error).
   */
  timeEvery: number;
  /** Calls that were timed (equal to `calls` unless `timeEvery` > 1). */
  timedCalls: number;
  /**
   * When some calls were not timed: half-width of the 95 % interval of the estimated `totalMs`,
   * percent of it (the timed calls are a random sample of the stage's calls).
   */
  totalErrorPercent?: number;
}

/** Aggregates over every call of one stage name, however many records were kept. */
export interface StageSummary {
  name: string;
  calls: number;
  failures: number;
  /**
   * Sum of call durations, ms (nested calls are counted inside their parent too). When only some
   * calls were timed (`fidelity.timedCalls` < `calls`): their sum scaled by calls / timedCalls.
   */
  totalMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Shortest call, ms. */
  minMs: number;
  /**
   * How the quantiles were computed: `exact` from every call, `sketch` from a sketch with 1 %
   * relative error, `records` (merged reports only) from the kept records, a sample of the calls.
   */
  quantiles: 'exact' | 'sketch' | 'records';
  rowsProcessed: number;
  /** rowsProcessed / totalMs, rows/s. */
  rowsPerSecond: number;
  /**
   * CPU of the process during this stage's calls, ms (estimated when fidelity is sampled), and the
   * context switches counted over the probed calls (`probedWallMs` of wall time).
   */
  cpu: { userMs: number; systemMs: number; percent: number; estimated: boolean; probedWallMs?: number; voluntarySwitches?: number; involuntarySwitches?: number };
  /** Mean heap-used delta per call, MiB (over the probed calls). */
  meanHeapUsedDeltaMb: number;
  /** Largest heap-used delta of one probed call, MiB. */
  maxHeapUsedDeltaMb: number;
  /** Calls that finished synchronously. */
  syncCalls: number;
  fidelity: StageFidelity;
  /** Per-call records kept in `stages`, and left out once `maxStageRecords` was reached. */
  recordsKept: number;
  recordsOmitted: number;
  /**
   * The stage's first failure: its error's name and message, and when (ms since the run started).
   * Kept whether or not that call has a record in `stages`.
   */
  firstError?: { name: string; message: string; t: number };
  /** The stage's timed call durations as a mergeable quantile sketch (see {@link SketchJson}). */
  sketch?: SketchJson;
}

/**
 * A mergeable quantile sketch of call durations, ms (docs/report-format.md, "Quantile sketch").
 * Bucket `k` (an integer, may be negative) holds the values in [2^e × (1 + s/64),
 * 2^e × (1 + (s+1)/64)) ms, with e = floor(k / 64) and s = k − 64e. `counts` lists the buckets
 * from `offset` up: a positive entry is one bucket's count, a negative entry −n stands for n empty
 * buckets; the first and last entries are positive.
 */
export interface SketchJson {
  /** Format version: 1. */
  v: 1;
  /** Buckets per power of two: 64. */
  subBuckets: 64;
  /** Values in the sketch (zeros included, invalid inputs not). */
  count: number;
  /** Values under 2^-32 ms. */
  zeros: number;
  /** NaN, negative or infinite inputs, not added (absent when 0). */
  invalid?: number;
  /** Smallest value, ms (0 when empty). */
  min: number;
  /** Largest value, ms (0 when empty). */
  max: number;
  /** Sum of the values, ms. */
  sum: number;
  /** Key of the first bucket of `counts` (0 when empty). */
  offset: number;
  counts: number[];
}

/** One sampler tick. */
export interface MemorySample {
  /** ms since the run started. */
  t: number;
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  /** Process CPU since the previous sample, percent of one core. */
  cpuPercent?: number;
  /** Event-loop delay accumulated since the previous sample, ms: how much later than due the
   *  monitor timer (period 20-200 ms) fired, summed. A loop blocked for 300 ms shows ~300. */
  loopDelayMs?: number;
  /** GC pauses since the previous sample: how many and how long in all, ms. */
  gcCount?: number;
  gcPauseMs?: number;
  /** Present when this sample stands for several ticks after downsampling: how many. */
  span?: number;
  /** After downsampling, `heapUsedMb` is the lowest heap of the merged ticks and this the highest, MiB. */
  heapUsedMaxMb?: number;
  /** In a merged report: the `processes[].id` of the process the sample was taken in. */
  source?: string;
}

/** Event-loop delay over the run (perf_hooks `monitorEventLoopDelay`). */
export interface EventLoopStats {
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** Mean delay, ms. */
  delayMeanMs: number;
}

/** Garbage-collection pauses over the run (PerformanceObserver on `gc`). */
export interface GcStats {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
  /** Pauses by kind: `minor`, `major`, `incremental`, `weakcb`. */
  byKind: Record<string, { count: number; totalPauseMs: number }>;
}

/** A quality flag: a warning about the run or about the measurement itself. */
export interface QualityFlag {
  severity: Severity;
  message: string;
  /** Stage the flag is about, if any. */
  stage?: string;
  /** When it was raised, ms since the run started. */
  t: number;
  /** Machine-readable kind, e.g. `invalid_rows`, `unknown_stage_id`, `report_write_failed`. */
  code?: string;
}

/** Information about the run. */
export interface RunInfo {
  id: string;
  name: string;
  /** `'running'` only in checkpoints written while the run goes on. */
  status: 'completed' | 'aborted' | 'running';
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601. */
  endedAt: string;
  durationMs: number;
  expectedRows?: number;
  /** Rows of top-level stages (nested stages are not counted twice). */
  rowsProcessed: number;
  rowsPerSecond: number;
  /** The error that ended the run, when it was aborted by one. */
  fatalError?: { name: string; message: string; stack?: string };
  /** Why the run ended: `stopMonitoring`, `exit`, `uncaughtException`, `SIGINT`, ... */
  endReason?: string;
  metadata?: Record<string, unknown>;
  host: { node: string; platform: string; arch: string; cpus: number; totalMemoryMb: number; pid: number };
}

/** Everything the collector recorded for one run: the input of every analyzer. */
export interface RunData {
  run: RunInfo;
  /** Per-call records kept (at most `maxStageRecords` per stage name), in start order. */
  stages: StageMetrics[];
  /** One entry per stage name, covering every call. */
  stageSummaries: StageSummary[];
  /** Sampler ticks in time order (possibly downsampled); empty when memory tracking is off. */
  samples: MemorySample[];
  /** The sampler period, ms, or null when memory tracking was off. */
  samplingIntervalMs: number | null;
  /** Process CPU over the whole run, percent of one core. */
  avgCpuPercent: number;
  /** Largest rss seen, MiB (kept exactly even when samples are downsampled). */
  peakMemoryMb: number;
  eventLoop?: EventLoopStats;
  gc?: GcStats;
  /** Flags the collector raised while recording (misuse, measurement problems). */
  qualityFlags: QualityFlag[];
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

/** Result of the memory trend fit. */
export interface MemoryTrend {
  leakSuspected: boolean;
  /** Growth of the heap floor, MiB per minute. */
  slopeMbPerMin: number;
  /** Coefficient of determination of the fit, 0..1. */
  r2: number;
  /** Two-sided p-value of the trend test, where it applies. */
  pValue?: number;
  /** How the trend was fitted, e.g. `theil-sen+mann-kendall(floor)`. */
  method: string;
  /** Samples the fit used. */
  sampleCount: number;
  confidence: 'none' | 'low' | 'medium' | 'high';
  /** Extra figures behind the verdict (recent slope, warm-up cut, shape). */
  details?: Record<string, unknown>;
}

/** A finding of an analyzer. */
export interface Finding {
  /** `slow_stage`, `low_throughput`, `memory_intensive`, `cpu_bound`, `io_bound`, `memory_leak`,
   *  `memory_spike`, `event_loop_blocked`, `gc_pressure`, `stage_failed`, ... */
  kind: string;
  severity: Severity;
  stage?: string;
  message: string;
  /** The numbers behind the finding, with units in the key names. */
  evidence?: Record<string, unknown>;
}

/** A pure function from a recorded run to findings. */
export interface Analyzer {
  name: string;
  analyze(run: RunData, thresholds: Thresholds): Finding[];
}

/** An unusual jump in rss or heap. */
export interface MemorySpike {
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** Stage(s) active at that moment, comma-separated. */
  stage?: string;
  /** Robust z-score of the jump (median/MAD). */
  score?: number;
  /** In a merged report: the `processes[].id` of the process whose memory jumped. */
  source?: string;
}

export interface Recommendation {
  category: string;
  stage?: string;
  priority: 'low' | 'medium' | 'high';
  message: string;
}

/** What the analyzer pipeline produces from a {@link RunData}. */
export interface AnalysisResult {
  trend: MemoryTrend;
  spikes: MemorySpike[];
  /** Memory efficiency of the run, 0-100. */
  efficiencyScore: number;
  /** Per-stage efficiency where it means something, 0-100. */
  stageEfficiency?: Record<string, number>;
  bottlenecks: {
    slowestStages: string[];
    memoryIntensiveStages: string[];
    cpuIntensiveStages: string[];
    lowThroughputStages: string[];
    findings: Finding[];
  };
  recommendations: Recommendation[];
  /** Flags added by the analysis (the collector's own flags are not repeated here). */
  qualityFlags: QualityFlag[];
  /** Share of the run's wall time per stage: total (with children) and self (without). */
  timeShare?: Array<{ stage: string; totalMs: number; selfMs: number; totalPercent: number; selfPercent: number }>;
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

export interface ReportSummary {
  totalStages: number;
  failedStages: number;
  peakMemoryMb: number;
  avgCpuPercent: number;
  memoryEfficiencyScore: number;
  slowestStage?: string;
  qualityFlagCounts: { info: number; warning: number; error: number };
}

/** One input report of a merged report (`processes[]`). */
export interface MergedProcess {
  /** `p1`, `p2`... in input order: the `source` of its records, samples and spikes. */
  id: string;
  /** The input report's `run.id`. */
  runId: string;
  name: string;
  status: RunInfo['status'];
  pid: number;
  host: RunInfo['host'];
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601. */
  endedAt: string;
  /** Its start after the merged run's start, ms: add it to the input report's `t` values. */
  offsetMs: number;
  durationMs: number;
  /** Its `run.rowsProcessed`. */
  rowsProcessed: number;
  /** Stage calls, and failed ones. */
  calls: number;
  failedCalls: number;
  /** Largest rss of the process, MiB. */
  peakMemoryMb: number;
  /** Process CPU over its run, percent of one core. */
  avgCpuPercent: number;
  /** Memory samples it took (all in `memory.samples`, with `source`). */
  sampleCount: number;
  /** The leak trend fitted on its own samples. */
  memoryTrend: MemoryTrend;
  /** Its memory efficiency score, 0-100, from its own samples. */
  memoryEfficiencyScore: number;
  endReason?: string;
  fatalError?: { name: string; message: string };
  metadata?: Record<string, unknown>;
  /** The file the report was read from, when known. */
  reportPath?: string;
}

/** The JSON report; validates against `docs/report.schema.json` ({@link reportSchema}). */
export interface PerformanceReport {
  schemaVersion: 1;
  generator: { name: 'stagemeter'; version: string };
  run: RunInfo;
  summary: ReportSummary;
  stages: StageMetrics[];
  /** Bound on per-call records and how many were left out. */
  stageRecords: { maxPerStage: number; kept: number; omitted: number };
  stageSummaries: StageSummary[];
  memory: {
    samples: MemorySample[];
    samplingIntervalMs: number | null;
    trend: MemoryTrend;
    spikes: MemorySpike[];
    efficiencyScore: number;
    stageEfficiency?: Record<string, number>;
    /**
     * Merged reports: the largest sum of the processes' rss seen at one moment (MiB, at `t`),
     * and the sum of their own peaks (the most the processes can have held at once).
     */
    concurrentPeak?: { rssMb: number; t: number; sumOfProcessPeaksMb: number };
  };
  eventLoop?: EventLoopStats;
  gc?: GcStats;
  timeShare?: AnalysisResult['timeShare'];
  bottlenecks: AnalysisResult['bottlenecks'];
  recommendations: Recommendation[];
  qualityFlags: QualityFlag[];
  /** Where the report was written, or why it could not be. */
  output?: { path: string; written: boolean; error?: string };
  /** Merged reports only: the reports merged, one per process. */
  processes?: MergedProcess[];
}
