/**
 * Public types of stagemeter. Units are in the names: `...Ms` milliseconds, `...Mb` MiB
 * (bytes / 1048576), `...Percent` percent of one CPU core, `rowsPerSecond` rows per second.
 * `t` is always milliseconds since the run started.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { PerformanceMonitor } from './monitor';
import type { OtelExportResult } from './integrations/otel';

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
  /**
   * Per-call records kept for the whole run (default 50_000, a report of about 25 MB at most);
   * each stage keeps an evenly spaced sample of its calls once the budget is reached. Summaries
   * always count every call.
   */
  maxStageRecords?: number;
  /** Distinct stage names per run (default 1_000); calls of further names are counted under `"(other stages)"`, flagged. */
  maxStageNames?: number;
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
  /** Also write the self-contained HTML report here when the run ends. */
  htmlOutputPath?: string;
  /** Draw one live progress line on stderr while a run is active (TTY only), default false. */
  progress?: boolean;
  /** Export the run as OpenTelemetry spans and metrics when a provider is registered, default false. */
  otel?: boolean;
  /**
   * Share `outputPath` between processes (default false; always on for the singleton configured by
   * `STAGEMETER_OUTPUT`): the first process to start a run with the path writes it, every other
   * process (children, or another program given the same path) writes `<name>.<pid>.json` beside
   * it, and the first one's report lists its children's files (`run.children`). Needs `outputPath`.
   */
  perProcessOutput?: boolean;
  /** @deprecated Every call is timed; accepted so older configurations load, and ignored. */
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
  /** The stage whose rows are the run's rows (default: the top-level stage with the most rows). */
  rowsFrom?: string;
}

/** Options of `trackProcess()`. */
export interface TrackProcessOptions {
  /** Stage the process's figures belong to (default: the innermost stage open where trackProcess() is called). */
  stage?: string;
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
  monitor?: PerformanceMonitor;
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
  monitor?: PerformanceMonitor;
}

/** The public methods of a monitor (what `PerformanceMonitor` implements). */
export interface PerformanceMonitorLike {
  readonly isMonitoring: boolean;
  startMonitoring(options?: StartOptions): void;
  startStage(name: string, metadata?: Record<string, unknown>): string;
  endStage(stageId: string, rowsProcessed?: number, outcome?: StageOutcome): StageMetrics | undefined;
  addQualityFlag(message: string, severity: Severity): void;
  trackProcess(process: ChildProcess | number, options?: TrackProcessOptions): void;
  getLivePerformanceStats(): LivePerformanceStats;
  stopMonitoring(): PerformanceReport;
  /** With `otel: true`: resolves once the last run's OpenTelemetry export is flushed. */
  waitForOtelExport(): Promise<OtelExportResult | undefined>;
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
  /** The run's rows so far (see `RunInfo.rowsFrom`: counted once, from one stage). */
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
 * were measured. `'full'`: CPU and heap probed on this call. `'timing'`: the clock was read (every
 * call's is); `cpu` and `memory` are then estimates, marked `estimated: true`.
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
  /** Duration less the union of its own child calls' intervals, ms. */
  selfMs?: number;
  /** Rows the call processed. */
  rowsProcessed: number;
  /** rowsProcessed / duration, rows/s (0 when the call was too short to time). */
  rowsPerSecond: number;
  /** False when the call threw, rejected, or was still open when the run ended. */
  success: boolean;
  /** Name and message of the error that ended the call (stack only with `captureStackTraces`). */
  error?: { name: string; message: string; stack?: string };
  /**
   * CPU time of the call's own segments on the thread (an async call's synchronous start and its
   * continuations, not its waits), ms, and as percent of the call's wall time (at most 100: the
   * process's CPU on other threads is not the stage's). `onThreadMs`: wall time of those segments.
   * On probed calls also the context switches meanwhile: voluntary (blocking I/O, sleeps) and
   * involuntary (the OS took the CPU away: a busy host).
   */
  cpu: { userMs: number; systemMs: number; percent: number; onThreadMs?: number; estimated?: boolean; voluntarySwitches?: number; involuntarySwitches?: number };
  /** Heap used after minus before the call, MiB (GC during the call can make it negative). */
  memory: { heapUsedDeltaMb: number; rssDeltaMb?: number; peakMb?: number; estimated?: boolean };
  /** What was measured on this call. */
  fidelity: CallFidelity;
  /** True when the call finished synchronously (it held the event loop for its whole duration). */
  sync: boolean;
  /** Thread the call ran on (0: the main thread; a worker's `threadId` otherwise; its ids then read `t<threadId>:<n>`). */
  threadId?: number;
  /** Metadata of the stage (sanitised and redacted). */
  metadata?: Record<string, unknown>;
  /** In a merged report: the `processes[].id` of the process that recorded the call. */
  source?: string;
}

/**
 * How a stage was measured. Every call is counted and timed. CPU and heap are probed on the calls
 * a budget allows (about 0.4 % of the stage's time): `'full'` when that was every call,
 * `'sampled'` otherwise (the stage's CPU and heap figures are then scaled from the probed calls).
 */
export interface StageFidelity {
  mode: 'full' | 'sampled';
  /** Calls whose CPU and heap were measured. */
  probedCalls: number;
  /** Calls that were timed: every call. */
  timedCalls: number;
  /** About one call in this many has a record in `stages` (1: every call); grows as the run's record budget fills. */
  recordEvery: number;
}

/** Aggregates over every call of one stage name, however many records were kept. */
export interface StageSummary {
  name: string;
  calls: number;
  failures: number;
  /** Sum of call durations, ms ("summed call time": concurrent calls each count in full; child calls also count in their parent). */
  totalMs: number;
  /**
   * Wall time during which at least one call of the stage was open, ms: concurrent calls count
   * once. At most the run's duration (per thread).
   */
  busyMs: number;
  /** Sum over calls of duration less the union of the call's own children's intervals, ms. */
  selfMs: number;
  meanMs: number;
  /** Standard deviation of call durations, ms. */
  stdDevMs: number;
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
  /** Throughput: rowsProcessed / busyMs, rows/s (concurrent calls together, as the pipeline saw it). */
  rowsPerSecond: number;
  /** rowsProcessed / totalMs, rows/s: throughput of one call at a time. */
  rowsPerCallSecond: number;
  /**
   * CPU of this stage's own segments on the thread, ms (scaled from the probed calls to all calls
   * when fidelity is sampled), and as percent of the calls' wall time (at most 100).
   * `onThreadPercent`: share of the calls' wall time their code was on the thread (the rest is
   * waiting: I/O, timers, or other stages' turns). Context switches over the probed calls.
   */
  cpu: {
    userMs: number;
    systemMs: number;
    percent: number;
    onThreadPercent?: number;
    estimated: boolean;
    probedWallMs?: number;
    voluntarySwitches?: number;
    involuntarySwitches?: number;
  };
  /** Mean heap-used delta per call, MiB (over the probed calls). */
  meanHeapUsedDeltaMb: number;
  /** Largest heap-used delta of one probed call, MiB. */
  maxHeapUsedDeltaMb: number;
  /** Calls that finished synchronously. */
  syncCalls: number;
  /** Longest synchronous call, ms (it held the event loop that long), and when it started (ms since the run started). */
  maxSyncMs: number;
  maxSyncAtMs: number;
  /** Calls with no parent stage. */
  rootCalls: number;
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
  /**
   * The figures above split by thread, when worker threads called the stage (absent when every
   * call ran on the main thread): one entry per thread with calls, the main thread (0) first.
   */
  threads?: StageThreadPart[];
}

/** One thread's part of a stage's figures (its entries add up to the stage's). */
export interface StageThreadPart {
  /** 0: the main thread; a worker's `threadId` otherwise. */
  threadId: number;
  calls: number;
  failures: number;
  /** Summed call time on this thread, ms. */
  totalMs: number;
  /** Self time on this thread, ms. */
  selfMs: number;
  /** Wall time during which at least one of the stage's calls was open on this thread, ms. */
  busyMs: number;
  rowsProcessed: number;
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
  /** How long each stage was busy (at least one call open) since the previous sample, ms (stages with none are left out): what the leak attribution regresses the heap floor on. */
  stageBusyMs?: Record<string, number>;
  /** In a merged report: the `processes[].id` of the process the sample was taken in. */
  source?: string;
}

/** Event-loop delay over the run (perf_hooks `monitorEventLoopDelay`). */
export interface EventLoopStats {
  delayP50Ms: number;
  delayP99Ms: number;
  /** The longest time the loop could not turn, ms: the monitor's largest delay, or the longest synchronous stage call when that was longer. */
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
  /** The run's rows, counted once: from the stage `rowsFrom` names. */
  rowsProcessed: number;
  rowsPerSecond: number;
  /**
   * Where `rowsProcessed` comes from: `'option'`, the stage `startMonitoring({ rowsFrom })` named;
   * `'largest-top-level'`, the stage with the largest row total among those with a call that had
   * no parent (among all stages when those count no rows: a `job` stage around the pipeline).
   * Whole stage totals, so the choice does not depend on `asyncContext`. `stage` is absent when no
   * stage counted rows.
   */
  rowsFrom?: { rule: 'option' | 'largest-top-level'; stage?: string };
  /** The error that ended the run, when it was aborted by one. */
  fatalError?: { name: string; message: string; stack?: string };
  /** Why the run ended: `stopMonitoring`, `exit`, `uncaughtException`, `SIGINT`, ... */
  endReason?: string;
  metadata?: Record<string, unknown>;
  host: { node: string; platform: string; arch: string; cpus: number; totalMemoryMb: number; pid: number };
  /** A child process's run (its report is `<name>.<pid>.json` beside its parent's): the parent's pid and run id. */
  parent?: { pid: number; runId: string };
  /**
   * The run that owns a shared report path: the child processes that started a run while it was
   * active, and where each writes its report (a child still running has not written it yet).
   */
  children?: ChildReportRef[];
  /** Children left out of `children` (more than 1,000). */
  childrenOmitted?: number;
}

/** A child process's report, as its parent's report lists it. */
export interface ChildReportRef {
  pid: number;
  /** The child's `run.id`. */
  runId: string;
  /** Where the child writes its report (absolute). */
  path: string;
}

/** One read of a tracked process. */
export interface TrackedProcessSample {
  /** When it was read, ms since the run started. */
  t: number;
  /** Resident set size, MiB (the largest of the reads it stands for, after downsampling). */
  rssMb: number;
  /** CPU since the previous read, percent of one core (absent on the first read). */
  cpuPercent?: number;
  /** Present when this sample stands for several reads after downsampling: how many. */
  span?: number;
}

/** A process that is not the monitored one, sampled by pid (`trackProcess()`). */
export interface TrackedProcess {
  pid: number;
  /** The executable of a ChildProcess (its arguments are left out: they may hold credentials); absent for a bare pid. */
  command?: string;
  /** The stage it belongs to: `options.stage`, else the innermost stage open where trackProcess() was called. */
  stage?: string;
  /** When tracking began, ms since the run started. */
  startedAtMs: number;
  /**
   * When it ended, ms since the run started: its `exit` event (a ChildProcess), else the first read
   * that failed. Absent when it was still running at the end of the run.
   */
  endedAtMs?: number;
  /** How its end was seen: `exit` (the ChildProcess's event, with the code or signal) or `read_failed` (gone at a read). */
  endedBy?: 'exit' | 'read_failed';
  /** Tracked lifetime: end (or the run's end) less startedAtMs, ms. */
  lifetimeMs: number;
  /** Exit code, when it exited by itself. */
  exitCode?: number;
  /** Signal that ended it (`SIGKILL`, ...). */
  signal?: string;
  /** Largest resident set size read, MiB. */
  peakRssMb: number;
  /** CPU over the window between its first and last read, percent of one core (one read: its lifetime average). */
  cpuPercentMean: number;
  /** Largest CPU between two consecutive reads, percent of one core. */
  cpuPercentMax: number;
  /** CPU time (user + system) the process had used at its last read, since it started, ms. */
  cpuMs: number;
  /** Reads that succeeded. */
  sampleCount: number;
  /** The reads, in time order (at most 120: older ones are merged two by two). */
  samples: TrackedProcessSample[];
  /** Why it could not be read, when a read failed for another reason than its end (`EACCES`, ...). */
  readError?: string;
  /** In a merged report: the `processes[].id` of the process that tracked it. */
  source?: string;
}

/** Everything the collector recorded for one run: the input of every analyzer. */
export interface RunData {
  run: RunInfo;
  /** Per-call records kept (at most `maxStageRecords` in all), in start order. */
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
  /** Processes sampled by pid (`trackProcess()`), in the order they were tracked. */
  trackedProcesses?: TrackedProcess[];
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
  /**
   * Each stage's time, ms and percent of the run: `totalMs`, busy wall time (at least one call
   * open; children's time included, so totals nest); `selfMs`, summed self time (each call less
   * its own children: concurrent calls each count); `shareMs`, its exclusive share of its thread
   * (each instant goes to the innermost synchronous call, or is split between the innermost open
   * calls): a thread's shares add up to at most 100 % of the run. Largest share first.
   */
  timeShare?: Array<{ stage: string; threadId: number; totalMs: number; selfMs: number; shareMs: number; totalPercent: number; selfPercent: number; sharePercent: number }>;
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
  /** A child process's report: its parent's run id (the `runId` of another entry when the parent's report was merged too). */
  parentRunId?: string;
}

/** The JSON report; validates against `docs/report.schema.json` ({@link reportSchema}). */
export interface PerformanceReport {
  schemaVersion: 1;
  generator: { name: 'stagemeter'; version: string };
  run: RunInfo;
  summary: ReportSummary;
  stages: StageMetrics[];
  /** The run's budget of per-call records, how many were kept and how many left out. */
  stageRecords: { max: number; kept: number; omitted: number };
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
  /** Processes sampled by pid (`trackProcess()`): one entry each. */
  trackedProcesses?: TrackedProcess[];
}
