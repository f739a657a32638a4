/**
 * Monitor, run, hook and analyzer options. Units as in src/types.ts.
 */
import type { OtelExportResult } from '../integrations/otel';
import type { PerformanceMonitor } from '../monitor';
import type { Analyzer } from './analysis';
import type { LivePerformanceStats } from './live';
import type { StageMetrics } from './records';
import type { PerformanceReport } from './report';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

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
