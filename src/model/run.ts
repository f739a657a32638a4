/**
 * The run as a report gives it, the processes it tracked, and the data handed to the analyzers.
 * Units as in src/types.ts.
 */
import type { EventLoopStats, GcStats, MemorySample, QualityFlag, StageMetrics, StageSummary } from './records';

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
