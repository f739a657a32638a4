/**
 * What a run records of each call and each stage, the samples and the quality flags: the input of
 * the analyzers. Units as in src/types.ts.
 */
import type { Severity } from './config';

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
