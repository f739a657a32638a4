/**
 * The collector: one run at a time per monitor, fed by the hooks through `_invoke` (the hot path)
 * and by hand through startStage/endStage. It records, it never analyses: stopMonitoring() hands
 * the recorded run to the analyzer pipeline and the report writer.
 */
import { cpus, totalmem } from 'node:os';
import { randomUUID } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import { runAnalysis } from '../analyzers';
import { now } from './clock';
import { resolveConfig, type ResolvedConfig } from './config';
import { acquireAsyncContext, currentFrame, releaseAsyncContext } from './context';
import { ConfigError, describeValue, type ConfigIssue } from './errors';
import { slot, type ContextFrame } from './global';
import { watchProcessEnd, unwatchProcessEnd, type ExitParticipant } from './lifecycle';
import { createLogger, loggerFailure, safeLog } from './logger';
import { buildReport, generatePerformanceReportJson } from './report';
import { recordOf, RecordTable, type CallRecord } from './records';
import { SampleStore } from './samples';
import { Sampler, startTicker } from './sampler';
import { describeError, sanitizeMetadata } from './sanitize';
import { QuantileSketch } from './sketch';
import type {
  AnalysisResult,
  LivePerformanceStats,
  MemorySample,
  MonitorOptions,
  PerformanceMonitorLike,
  PerformanceReport,
  QualityFlag,
  RowsOption,
  RunData,
  RunInfo,
  Severity,
  StageMetrics,
  StageOutcome,
  StageSummary,
  StartOptions,
} from './types';

const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Fidelity policy. Every stage call may cost max(150 ns, 1 % of the stage's mean duration): its
// budget. Every call is counted; every call is timed (two clock reads) except some of a short
// stage's (below). What a call costs, measured by `npm run bench` on a 2-core Node 20 VM whose
// caches other tenants share:
// - On a hot stage, whose code and data stay in cache, a timed call with its record costs 130-150 ns.
// - Right after a call of a few µs or more, the wrapper's code and data are cold: a timed call
//   costs ~200 ns without a record, and writing the record (a fresh 96-byte row) ~250 ns more.
//   Such stages get one record in `recordEvery` calls where the budget cannot pay for one per
//   call (stages of about 2-45 µs); the others are counted, timed and in the sketch, not in `stages`.
// - The clock itself is ~85 of the ~140 ns of a timed hot call, and a cold timed call (~200 ns)
//   is over the budget of stages under ~22 µs. Under `shortStageTiming: 'sampled'` (the default)
//   such short stages time one call in about HOT_TIME_EVERY (hot ones) or COLD_TIME_EVERY (the
//   others) after their first 1024 (timeEveryFor), so that timing costs ~10 ns a call or less on
//   average; every call is still counted, with its rows and failures, and the total is the timed
//   calls' total scaled to all calls.
// - Full probes (CPU time and context switches from process.resourceUsage(), heap from
//   v8.getHeapStatistics(), at both ends) make a call cost ~2-5 µs more on a hot stage and
//   ~100 µs more after a 250 µs call: there they run cold, and so does the slower path a probed
//   call takes. Each stage prices its probed calls end to end (#priceProbe). Probes may spend,
//   amortised over about one call in `probeEvery`: 2 ns per call of a hot stage; otherwise 10 %
//   of the budget, or half of what is left of it once a plain call is paid for (LONG_CALL_NS),
//   whichever is more (the latter for stages over ~1 ms).
// Every stage is fully probed for its first 8 calls and fully recorded for its first 1024; the
// policy is revisited at every power-of-two call count.
// ---------------------------------------------------------------------------------------------

/** Overhead allowed for any stage call, ns, when 1 % of its mean is less. */
export const HOT_BUDGET_NS = 150;
/** Share of a stage's mean duration its instrumentation may cost. */
export const BUDGET_FRACTION = 0.01;
/** Cost of a timed call without a record right after WARM_BELOW_NS or more of work (cold caches), ns. */
const COLD_TIMED_CALL_NS = 200;
/** Cost of writing a call's record right after WARM_BELOW_NS or more of work, ns. */
const COLD_RECORD_NS = 250;
/** Stages with a shorter mean run with the wrapper's code and data in cache. */
const WARM_BELOW_NS = 2000;
/** Calls of every stage that are fully probed before the policy decides. */
const CALIBRATION_CALLS = 8;
/** Calls of every stage that all get a record (within maxStageRecords) before any is left out. */
const SAMPLED_RECORDS_AFTER_CALLS = 1024;
/** At least one call in this many gets a record (within maxStageRecords). */
const MAX_RECORD_EVERY = 64;
/** Share of a stage's budget its sampled full probes may spend, amortised, at least (their price
 *  is what a probed call costs more than a plain one, end to end: see #priceProbe). */
const PROBE_SHARE_OF_BUDGET = 0.1;
/**
 * What a plain (unprobed) call of a long stage costs on average, cold, its share of the batched
 * accounting and its record included, ns: 1-4 µs measured at 250 µs, 2-8 µs at 1 ms (a longer
 * call is more often interrupted, and leaves more of the path cold). Of the budget left past it,
 * probes may spend half (the other half is margin for a slow host).
 */
const LONG_CALL_NS = 8000;
const PROBE_SHARE_OF_REST = 0.5;
/** Amortised probe spend allowed per call of a hot stage, ns (probeEvery lands near 2048). */
const HOT_PROBE_BUDGET_NS = 2;
/**
 * Under `shortStageTiming: 'sampled'`, a hot stage (under WARM_BELOW_NS) times about one call in
 * this many after its first SAMPLED_RECORDS_AFTER_CALLS calls. An untimed call keeps the context,
 * the count, the rows and the failures, without clock reads: a timed hot call costs ~80 ns more, so
 * one in 8 costs ~10 ns a call (`npm run bench`: ~57 ns a call on average, ~165 with every call
 * timed). One in 8 keeps the estimated total within about a percent once a few thousand calls are
 * timed (the report gives the error of each).
 */
const HOT_TIME_EVERY = 8;
/**
 * The same for the other short stages (about 2-22 µs, see timeEveryFor) and for short stages whose
 * calls are mostly asynchronous. Right after a call of a few µs a timed call costs ~175 ns more
 * than an untimed one (measured at 10 µs: ~60 ns untimed), and its share of the batched accounting
 * (#flushPending, one batch per PENDING_CALLS timed calls) comes on top; a timed async call costs
 * ~125 ns more (a clock read in the reaction, the full accounting). One in 32 keeps timing near
 * 4-6 ns a call. The estimate's error is larger than at one in 8 (1.3-2 % for the bench's 10 µs
 * stage, 11,000 calls; the report gives it).
 */
const COLD_TIME_EVERY = 32;

function budgetNsFor(meanNs: number): number {
  return Math.max(HOT_BUDGET_NS, meanNs * BUDGET_FRACTION);
}

function powerOfTwoAtLeast(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}

/** How many calls per recorded call a stage with this mean duration can afford (1: all of them). */
export function recordEveryFor(meanNs: number): number {
  if (meanNs < WARM_BELOW_NS) return 1;
  const budget = budgetNsFor(meanNs);
  const room = budget * (1 - PROBE_SHARE_OF_BUDGET) - COLD_TIMED_CALL_NS;
  if (room >= COLD_RECORD_NS) return 1;
  if (room <= 0) return MAX_RECORD_EVERY;
  return Math.min(MAX_RECORD_EVERY, powerOfTwoAtLeast(COLD_RECORD_NS / room));
}

/**
 * How many calls per timed call a stage with this mean duration gets under sampled timing (1: all
 * of them). Stages whose budget cannot pay for a cold timed call (up to about 22 µs) are short:
 * hot synchronous ones (under WARM_BELOW_NS), whose timed calls take nearly the whole 150 ns budget
 * (more on a slow host), time one call in HOT_TIME_EVERY; the others (a few µs, or mostly async)
 * one in COLD_TIME_EVERY.
 */
export function timeEveryFor(meanNs: number, mostlyAsync = false): number {
  if (budgetNsFor(meanNs) * (1 - PROBE_SHARE_OF_BUDGET) >= COLD_TIMED_CALL_NS) return 1;
  return meanNs < WARM_BELOW_NS && !mostlyAsync ? HOT_TIME_EVERY : COLD_TIME_EVERY;
}

let fullProbeCostNs: number | undefined;

/** Measures what full probes cost on this machine (once per process, well under a millisecond). */
function calibrateFullProbeCost(): number {
  if (fullProbeCostNs !== undefined) return fullProbeCostNs;
  try {
    fullProbeCostNs = measureFullProbeCost();
  } catch {
    // a probe that throws here will throw per call too: price it high, so it is rarely tried
    fullProbeCostNs = 50_000;
  }
  return fullProbeCostNs;
}

function measureFullProbeCost(): number {
  const probeTwice = (): void => {
    process.resourceUsage();
    getHeapStatistics();
    process.resourceUsage();
    getHeapStatistics();
  };
  for (let i = 0; i < 32; i++) probeTwice(); // warm up: the first calls pay for compilation
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = now();
    for (let i = 0; i < 16; i++) probeTwice();
    batches.push(((now() - t0) * 1e6) / 16);
  }
  batches.sort((a, b) => a - b);
  // The median batch: robust to a batch that a GC or another process interrupted.
  return Math.min(Math.max(batches[2]!, 200), 50_000);
}

/** process.cpuUsage(), or undefined when the probe fails (it never throws into the run). */
function cpuUsageOrUndefined(previous?: NodeJS.CpuUsage): NodeJS.CpuUsage | undefined {
  try {
    return process.cpuUsage(previous);
  } catch {
    return undefined;
  }
}

/** How many calls per fully probed call a stage with this mean duration can afford. */
export function probeEveryFor(meanNs: number, probeCostNs: number): number {
  const budget = budgetNsFor(meanNs);
  const hot = budget <= HOT_BUDGET_NS;
  const headroom = hot ? HOT_PROBE_BUDGET_NS : Math.max(budget * PROBE_SHARE_OF_BUDGET, (budget - LONG_CALL_NS) * PROBE_SHARE_OF_REST);
  if (probeCostNs <= headroom) return 1;
  return powerOfTwoAtLeast(probeCostNs / headroom);
}

// ---------------------------------------------------------------------------------------------
// Stage definitions (built once by the hooks) and per-run state
// ---------------------------------------------------------------------------------------------

/** @internal How a stage's rows are counted (StageDefinition.rowsKind). */
export const ROWS_INPUT = 0;
const ROWS_OUTPUT = 1;
const ROWS_FIXED = 2;
const ROWS_FN = 3;
/** A stage whose wrapper-made calls' frames were taken as context this often is not handed any more. */
const FAST_ESCAPES_MAX = 8;

/**
 * @internal A wrapped function's stage, built once when withStage or the decorator is applied.
 */
export class StageDefinition {
  /**
   * Untimed calls the wrapper may still make by itself before it hands a call to the collector
   * again (0: every call goes through `_invoke`). Set by #handOverUntimed, for a short synchronous
   * stage whose next calls are untimed anyway: such a call then touches this definition, the
   * global slot and one reused frame, nothing else, and its count waits here (fastCalls...) until
   * the collector next sees the stage or the run's figures are read. Measured after 10 µs of work
   * (the work raw and wrapped in turn, trimmed means of 8 processes): 80-108 ns a call through
   * `_invoke`, 40-56 ns made by the wrapper, a bare timer ~100 ns.
   */
  fastLeft = 0;
  /** The monitor (and run, stage, frame) the wrapper's calls count for. */
  fastMonitor: PerformanceMonitor | undefined = undefined;
  fastFrame: Frame | undefined = undefined;
  /** Calls the wrapper made since the collector last took them in, with their rows (all, and those of calls with no parent). */
  fastCalls = 0;
  fastRows = 0;
  fastRootRows = 0;
  fastRun: RunState | undefined = undefined;
  fastStats: StageStats | undefined = undefined;
  /** Wrapper-made calls whose frame another frame took as its context (then it is not reused); past FAST_ESCAPES_MAX, no more. */
  fastEscapes = 0;
  // What every call through _invoke reads comes next.
  /** Per-run cache of the stats object, so the hot path skips the Map lookup. */
  cacheRun: RunState | undefined = undefined;
  cacheStats: StageStats | undefined = undefined;
  readonly fn: (...args: unknown[]) => unknown;
  /** Calls carry their stage into async continuations (async functions, or after one returned a promise). */
  usesAsyncContext: boolean;
  readonly rowsKind: number;
  /** Resolved lazily for decorated methods (the class name is known at the first call). */
  name: string;
  readonly rowsFixed: number;
  readonly rowsFn: ((result: unknown, args: unknown[]) => number) | undefined;
  /** JSON-safe snapshot of the metadata (redacted per monitor when the report is built). */
  readonly metadata: Record<string, unknown> | undefined;
  /** What had to be changed to make the metadata JSON (flagged in each run that calls the stage). */
  readonly metadataNotes: string[] | undefined;
  /** Set by the standard-mode decorator until the declaring class is known. */
  resolveName: ((self: unknown) => void) | undefined = undefined;

  constructor(name: string, fn: (...args: unknown[]) => unknown, rows: RowsOption | undefined, metadata: Record<string, unknown> | undefined) {
    this.name = name;
    this.fn = fn;
    this.rowsKind = rows === 'output' ? ROWS_OUTPUT : typeof rows === 'number' ? ROWS_FIXED : typeof rows === 'function' ? ROWS_FN : ROWS_INPUT;
    this.rowsFixed = typeof rows === 'number' ? rows : 0;
    this.rowsFn = typeof rows === 'function' ? rows : undefined;
    const notes = new Set<string>();
    this.metadata = sanitizeMetadata(metadata, undefined, notes);
    this.metadataNotes = notes.size > 0 ? [...notes] : undefined;
    this.usesAsyncContext = Object.prototype.toString.call(fn) === '[object AsyncFunction]';
  }

  /**
   * The rows of an ended call whose stage counts rows without a function, but for the input's
   * rows not recorded by hand (rowsOfArgs; the wrapper counts those itself, see handedOverCall).
   */
  rowsOfResult(frame: Frame, result: unknown): number {
    if (this.rowsKind === ROWS_FIXED) return this.rowsFixed;
    if (frame.rowsRecorded) return frame.rows;
    return this.rowsKind === ROWS_OUTPUT ? (rowsHeldBy(result) ?? 0) : 0;
  }

  /** Counts a call the wrapper made; its frame is not reused once another frame took it as its context. */
  countFastCall(frame: Frame, rows: number): void {
    frame.ended = true;
    this.fastCalls++;
    this.fastRows += rows;
    if (frame.parent === undefined) this.fastRootRows += rows;
    if (frame.id !== 0) {
      // that frame may outlive the call (an async or manual stage): the collector makes another
      this.fastFrame = undefined;
      this.fastLeft = 0;
      this.fastEscapes++;
    }
  }
}

/**
 * Checks hook options at configuration time; returns the issues found (empty when valid).
 */
export function checkStageOptions(rows: unknown, metadata: unknown, monitor: unknown, prefix: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const rowsOk =
    rows === undefined ||
    rows === 'input' ||
    rows === 'output' ||
    typeof rows === 'function' ||
    (typeof rows === 'number' && Number.isFinite(rows) && rows >= 0);
  if (!rowsOk) {
    issues.push({ field: `${prefix}rows`, message: `must be 'input', 'output', a finite number >= 0 or a function (got ${describeValue(rows)})` });
  }
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    issues.push({ field: `${prefix}metadata`, message: `must be a plain object (got ${describeValue(metadata)})` });
  }
  if (monitor !== undefined && !(monitor instanceof PerformanceMonitor)) {
    issues.push({ field: `${prefix}monitor`, message: 'must be a monitor from createPerformanceMonitor()' });
  }
  return issues;
}

/** Aggregates of one stage name over every call of a run. */
class StageStats {
  // Read by every call: first, on the object's first cache line.
  /** Calls left before the next fully probed one. */
  countdown = 0;
  /** Untimed async calls still running: counted here, not on the run's list of open calls (see #trackPromise). */
  openUntimed = 0;
  /** Successful calls are accounted in batches (stages of WARM_BELOW_NS and more; see PENDING_CALLS). */
  batchAccounting = true;
  /** About one call in this many is timed (see timeEveryFor). */
  timeEvery = 1;
  /** Calls left before the next timed one (while timeEvery > 1). */
  timeCountdown = 0;
  readonly name: string;
  /** Position among the run's stages (records refer to their stage by it). */
  readonly index: number;
  calls = 0;
  failures = 0;
  kept = 0;
  /** Calls that were timed; totalMs, minMs, maxMs, the sketch and the records cover only these. */
  timedCalls = 0;
  totalMs = 0;
  /** Sum of squared durations of the timed calls, ms² (the error of an estimated total). */
  sumSqMs = 0;
  maxMs = 0;
  minMs = Infinity;
  rows = 0;
  syncCalls = 0;
  readonly sketch = new QuantileSketch();
  probeEvery = 1;
  probedCalls = 0;
  /** About one call in this many gets a record (within the run's maxStageRecords). */
  recordEvery = 1;
  recordCountdown = 0;
  probedWallMs = 0;
  cpuUserUs = 0;
  cpuSystemUs = 0;
  voluntarySwitches = 0;
  involuntarySwitches = 0;
  heapDeltaSumMb = 0;
  heapDeltaMaxMb = -Infinity;
  omitted = 0;
  /** xorshift state for jittering which calls get probed (avoids aliasing with periodic work). */
  seed: number;

  /** What a probed call of this stage costs more than a plain one, measured on its calls, ns (0 until one ran). */
  probeCostNs = 0;
  /** The prices of its first CALIBRATION_CALLS probes (their median is the price until then). */
  readonly firstProbePrices: number[] = [];
  /** The first failure, kept whether or not its call gets a record. */
  firstError: { name: string; message: string; t: number } | undefined = undefined;

  constructor(name: string, index: number, seed: number) {
    this.name = name;
    this.index = index;
    this.seed = seed | 1;
  }

  nextCountdown(k: number = this.probeEvery): number {
    if (k <= 1) return 1;
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x;
    return (k >> 1) + ((x >>> 0) & (k - 1)) + 1;
  }
}

/** CPU and heap readings of a fully probed call. */
class Probe {
  /** Clock reading before the start probes, to price the probes in place. */
  readonly p0: number;
  readonly usage0: NodeJS.ResourceUsage;
  readonly heap0: number;
  /** False until the end probe succeeded. */
  done = false;
  cpuUserMs = 0;
  cpuSystemMs = 0;
  heapDeltaMb = 0;
  voluntarySwitches = 0;
  involuntarySwitches = 0;

  constructor(p0: number, usage0: NodeJS.ResourceUsage, heap0: number) {
    this.p0 = p0;
    this.usage0 = usage0;
    this.heap0 = heap0;
  }
}

/**
 * @internal One stage call (a record is copied from it when the call gets one). The frame of a
 * call the wrapper makes by itself (StageDefinition.fastLeft) is reused from call to call and has
 * id 0 until a frame takes it as its context.
 */
export class Frame implements ContextFrame {
  readonly run: RunState;
  readonly stats: StageStats;
  // id, parent and outer change when the wrapper reuses the frame (StageDefinition.fastLeft).
  id: number;
  /** The enclosing stage of the same run (its id is the record's parentId). */
  parent: Frame | undefined;
  outer: ContextFrame | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  /**
   * Start and duration, ms, set on the calls accounted at once (a deferred call keeps them in the
   * run's pending buffer instead). Both start as `undefined`, so V8 keeps these fields tagged:
   * a number field would get a heap-allocated double box in every frame, ~10 ns a call.
   */
  t0: number = UNSET;
  durationMs: number = UNSET;
  rows = 0;
  rowsRecorded = false;
  ended = false;
  /** Position on the run's stack of running hook calls (see RunState.times); -1 for manual stages. */
  depth = -1;
  /** Finished synchronously: it held the event loop for its whole duration. */
  sync = true;
  /** False for a short stage's call that was not timed (see timeEveryFor): counted, no duration. */
  timed = true;
  /** Set when the call failed. */
  error: { name: string; message: string; stack?: string } | undefined = undefined;
  probe: Probe | undefined = undefined;
  /** Links of the open-async-calls list (synchronous calls are found through the context). */
  prevOpen: Frame | undefined = undefined;
  nextOpen: Frame | undefined = undefined;

  constructor(run: RunState, stats: StageStats, outer: ContextFrame | undefined, metadata: Record<string, unknown> | undefined) {
    this.run = run;
    this.stats = stats;
    // A call the wrapper made by itself gets its id now that a frame takes it as its context
    // (before this one's, so ids still follow the order calls started in); the wrapper then
    // stops reusing its frame.
    if (outer !== undefined && (outer as Frame).id === 0) (outer as Frame).id = ++(outer.run as RunState).lastId;
    this.id = ++run.lastId;
    this.outer = outer;
    this.parent = sameRunAncestor(outer, run);
    this.metadata = metadata;
  }

  /** Makes the reused frame of a call the wrapper makes (StageDefinition.fastLeft) that call's. */
  reuse(outer: ContextFrame | undefined): void {
    const run = this.run;
    this.id = 0;
    this.outer = outer;
    this.parent = sameRunAncestor(outer, run);
    this.rows = 0;
    this.rowsRecorded = false;
    this.ended = false;
  }
}

/** The nearest frame of `run` in a context chain, `from` itself first (frames of other monitors are skipped). */
function sameRunAncestor(from: ContextFrame | undefined, run: RunState): Frame | undefined {
  let f = from;
  while (f !== undefined && f.run !== run) f = f.outer;
  return f as Frame | undefined;
}

interface FlagEntry {
  flag: QualityFlag;
  count: number;
}

/**
 * Successful synchronous calls of stages with a mean of WARM_BELOW_NS or more are accounted
 * (stage totals, records, sketch, policy) in batches of this many: right after such a call, that
 * code and its data are out of the CPU caches, and the batch pays for bringing them back once
 * instead of on every call. A queued call is a row of numbers (PENDING_WIDTH), not its frame: by
 * the time the batch is accounted, 32 frames spread over the young generation are out of the
 * caches too, and reading them cost ~1 µs a call after 250 µs stages (a row is read in sequence).
 * Hot stages, which keep all of it in cache, are accounted at once (the queue would only add
 * work). Every reader of the run's figures flushes the batch first.
 */
const PENDING_CALLS = 32;
/** A queued call's row in RunState.times: start, end, id, parent id (-1: none), rows, stage index. */
const PENDING_WIDTH = 6;
const P_T0 = 0;
const P_T1 = 1;
const P_ID = 2;
const P_PARENT = 3;
const P_ROWS = 4;
const P_STAGE = 5;
/** Hook calls nested deeper than this that are still running at stop are closed with 0 ms. */
const MAX_STACK_STARTS = 64;

/** Longest stage name; hooks reject longer ones at wrap time, startStage() truncates and flags. */
const MAX_STAGE_NAME = 200;
/** Bound on distinct quality flags per run (repeats of one are counted, not stored). */
const MAX_FLAGS = 1000;
/** Live throughput window, ms. */
const RATE_WINDOW_MS = 5000;
/** Spacing of the [t, rows] marks the live throughput is computed from, ms. */
const RATE_MARK_MS = 250;

class RunState {
  // The fields every hook call reads or writes come first, so they share two cache lines: right
  // after a long call they are out of the caches, and each line costs a miss (see PENDING_CALLS).
  ended = false;
  readonly logStages: boolean;
  readonly maxRecords: number;
  /** Short stages time one call in HOT_TIME_EVERY or COLD_TIME_EVERY (`shortStageTiming: 'sampled'`, no per-call logging). */
  sampleShortTiming = false;
  lastId = 0;
  stackDepth = 0;
  /** Ended synchronous calls whose accounting waits for #flushPending (at most PENDING_CALLS). */
  pendingCount = 0;
  /**
   * Numbers of the hook calls, in one array (one object to reach): at [0, MAX_STACK_STARTS) the
   * start, ms, of each hook call on the current stack, by depth (a call still running when the run
   * stops is closed with its elapsed time; its frame does not hold its start); after that, the
   * row of each pending call (PENDING_WIDTH doubles in a typed array: no boxes).
   */
  readonly times = new Float64Array(MAX_STACK_STARTS + PENDING_CALLS * PENDING_WIDTH);
  /** Metadata of each pending call (most have none: the slot stays undefined). */
  readonly pendingMetadata: Array<Record<string, unknown> | undefined> = new Array<Record<string, unknown> | undefined>(PENDING_CALLS).fill(undefined);
  rows = 0;
  lastRateMark = -Infinity;
  usesAsyncContext = false;
  /** The async context is an AsyncLocalStorage (`asyncContext: 'asyncLocalStorage'`). */
  usesAls = false;
  openAsync: Frame | undefined = undefined;
  readonly monitor: PerformanceMonitor;
  readonly id = randomUUID();
  readonly name: string;
  readonly startedAtMs = Date.now();
  readonly t0 = now();
  readonly expectedRows: number | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  readonly cpuAtStart = cpuUsageOrUndefined();
  readonly stats = new Map<string, StageStats>();
  readonly records = new RecordTable();
  readonly statsList: StageStats[] = [];
  readonly manual = new Map<string, Frame>();
  /** Definitions whose wrapper made calls in this run (see StageDefinition.fastLeft). */
  readonly fastDefs: StageDefinition[] = [];
  readonly flags = new Map<string, FlagEntry>();
  readonly samples: SampleStore;
  peakRssMb = 0;
  flagsDropped = 0;
  /** [t, rows] checkpoints for the live throughput window. */
  rateMarks: number[] = [];
  fatalError: { name: string; message: string; stack?: string } | undefined = undefined;
  endReason: string | undefined = undefined;
  sampler: Sampler | undefined = undefined;
  stopTicker: (() => void) | undefined = undefined;

  constructor(
    monitor: PerformanceMonitor,
    options: StartOptions,
    limits: { maxSamples: number; maxRecords: number },
    logStages: boolean,
    redactMetadata: (m: unknown) => Record<string, unknown> | undefined,
  ) {
    this.monitor = monitor;
    this.maxRecords = limits.maxRecords;
    this.name = options.runName ?? 'stagemeter-run';
    this.expectedRows = options.expectedRows;
    this.metadata = redactMetadata(options.metadata);
    this.samples = new SampleStore(limits.maxSamples);
    this.logStages = logStages;
  }

  t(): number {
    return now() - this.t0;
  }
}

const NO_ERROR: unique symbol = Symbol('stagemeter.noError');

/** Initial value of Frame's time fields (see there): `undefined`, typed as a number. */
const UNSET = undefined as unknown as number;

/**
 * A frame in no run, kept for the life of the process (by PerformanceMonitor's static field, so
 * that it is a real reference: a module-level constant no closure reads is not kept).
 *
 * It keeps the hot path optimised. V8 gives a class's instances their final map (hidden class)
 * through a chain of transitions that only live instances keep alive. Frames die young: between
 * two calls none is alive, and a memory-reducing full GC (what `global.gc()` runs; V8 runs them on
 * its own too, from its memory reducer once allocation slows down) then drops that map, and with
 * it every optimised function that checks for it, `_invoke` among them ("weak objects" in
 * `--trace-deopt`). The path fell back to the interpreter and took ~2,700 calls to be optimised
 * again: 2.7 s of a 1 ms stage, ~700 ms of a 250 µs one, each call at a few times the optimised
 * cost. Measured with `%GetOptimizationStatus` after `gc()`: without this frame, back to the
 * interpreter after every such GC; with it, optimised throughout.
 */
function frameMapAnchor(): Frame {
  return new Frame({ lastId: 0 } as unknown as RunState, undefined as unknown as StageStats, undefined, undefined);
}

/** @internal Rows held by one value: arrays and typed arrays by length, objects by numeric length/size/rowCount. */
export function rowsHeldBy(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) return value.length;
  try {
    if (ArrayBuffer.isView(value)) return 'length' in value ? (value as unknown as { length: number }).length : undefined;
    const v = value as { length?: unknown; size?: unknown; rowCount?: unknown };
    if (typeof v.length === 'number') return v.length;
    if (typeof v.size === 'number') return v.size;
    if (typeof v.rowCount === 'number') return v.rowCount;
  } catch {
    // a throwing getter or proxy trap holds no rows we can count
  }
  return undefined;
}

function rowsOfArgs(args: readonly unknown[]): number {
  for (let i = 0; i < args.length; i++) {
    const n = rowsHeldBy(args[i]);
    if (n !== undefined) return n;
  }
  return 0;
}

/** A row count: finite, >= 0, and small enough that sums and rates stay finite. */
function isValidRowCount(n: unknown): n is number {
  return typeof n === 'number' && n >= 0 && n <= Number.MAX_SAFE_INTEGER;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Durations keep nanosecond precision: hot stages run in well under a microsecond. */
function roundMs(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// The monitor
// ---------------------------------------------------------------------------------------------

/**
 * Collects stage timings, rows, CPU and memory for one run at a time, and turns the run into a
 * report. Create one with {@link createPerformanceMonitor}, or use the process-wide singleton.
 *
 * @example
 * const monitor = createPerformanceMonitor({ outputPath: 'reports/run.json' });
 * monitor.startMonitoring({ expectedRows: 1_000_000 });
 * const id = monitor.startStage('load');
 * monitor.endStage(id, 1_000_000);
 * const report = monitor.stopMonitoring();
 */
export class PerformanceMonitor implements PerformanceMonitorLike {
  /** Keeps the frames' map alive: see frameMapAnchor. */
  static readonly #frameMapAnchor: Frame = frameMapAnchor();
  readonly #config: ResolvedConfig;
  readonly #log: Logger;
  #run: RunState | undefined = undefined;
  #lastReport: PerformanceReport | undefined = undefined;
  /** Misuse seen while no run was active; reported in the next run. */
  #pendingFlags: Array<{ severity: Severity; code: string; message: string }> = [];
  #exitParticipant: ExitParticipant | undefined = undefined;

  /** Use {@link createPerformanceMonitor}; throws {@link ConfigError} on invalid options. */
  constructor(options?: MonitorOptions) {
    this.#config = resolveConfig(options);
    this.#log = createLogger(this.#config);
  }

  /** The options in force, after defaults. */
  get config(): ResolvedConfig {
    return this.#config;
  }

  /** True between startMonitoring() and stopMonitoring(). */
  get isMonitoring(): boolean {
    return this.#run !== undefined;
  }

  /**
   * Starts a run: the sampler, the clock origin, and (when an output path is set) the process-end
   * hooks that write the report however the process ends. Throws {@link ConfigError} on invalid
   * options; starting twice is a quality flag, not an error.
   */
  startMonitoring(options: StartOptions = {}): void {
    const issues = checkStartOptions(options);
    if (issues.length > 0) throw new ConfigError(issues, 'invalid startMonitoring() options');
    if (this.#run !== undefined) {
      this.#flag(this.#run, 'warning', 'already_monitoring', 'startMonitoring() called while a run was active; the call was ignored');
      return;
    }
    if (slot.monitor === this) slot.autoStart = false;
    calibrateFullProbeCost();
    const cfg = this.#config;
    const runNotes = new Set<string>();
    const run = new RunState(this, options, { maxSamples: cfg.maxMemorySamples, maxRecords: cfg.maxStageRecords }, cfg.enableDetailedLogging, (m) => sanitizeMetadata(m, cfg.redact, runNotes));
    run.sampleShortTiming = cfg.shortStageTiming === 'sampled' && !cfg.enableDetailedLogging;
    this.#run = run;
    this.#lastReport = undefined;
    this.#flagMetadata(run, 'the run', runNotes);
    for (const p of this.#pendingFlags) this.#flag(run, p.severity, p.code, p.message);
    this.#pendingFlags = [];
    if (cfg.enableMemoryTracking) {
      const sampler = new Sampler(cfg.memorySamplingIntervalMs, run.t0, {
        onSample: (s) => this.#onSample(run, s),
        onError: (err, what) => this.#flag(run, 'warning', 'probe_failed', `${what} failed: ${describeError(err).message}`),
      });
      run.sampler = sampler;
      sampler.start();
    }
    this.#startCheckpoints(run);
    if (cfg.outputPath !== undefined) {
      const participant: ExitParticipant = {
        onFatal: (error, origin) => {
          if (this.#run === run) {
            run.fatalError = describeError(error, this.#config.captureStackTraces);
            run.endReason = origin;
          }
        },
        onExit: (code) => {
          if (this.#run === run) this.#stop(run.fatalError !== undefined || code !== 0 ? 'aborted' : 'completed', run.endReason ?? `exit(${code})`);
        },
        onSignal: (signal, terminating) => {
          if (this.#run !== run) return;
          if (terminating) {
            this.#stop('aborted', signal);
            return;
          }
          // The application handles the signal and may go on: keep the run, save what we have.
          this.#flag(run, 'info', 'signal_received', `${signal} received; the application handles it, the run goes on`);
          this.#write(this.#report(run, 'running', signal, false));
        },
      };
      this.#exitParticipant = participant;
      watchProcessEnd(participant);
    }
    safeLog(this.#log, 'info', { event: 'run_start', runId: run.id, runName: run.name, expectedRows: run.expectedRows }, 'stagemeter run started');
  }

  /**
   * Starts a stage by hand and returns its id. The stage's parent is the stage active where it
   * is called; it does not become the parent of stages started later (use withStage for that).
   * Before startMonitoring() it records nothing and the misuse is flagged in the next run.
   */
  startStage(name: string, metadata?: Record<string, unknown>): string {
    const run = this.#run;
    const stageName =
      typeof name !== 'string' || name.trim() === ''
        ? `(invalid stage name: ${describeValue(name)})`
        : name.length > MAX_STAGE_NAME
          ? `${name.slice(0, MAX_STAGE_NAME)}...`
          : name;
    if (run === undefined) {
      this.#flagWithoutRun('warning', 'stage_without_run', `startStage(${JSON.stringify(stageName)}) called before startMonitoring(); the stage was not recorded`);
      return 'inactive';
    }
    if (stageName !== name) {
      this.#flag(run, 'warning', 'invalid_stage_name', `startStage() needs a non-empty string name of at most ${MAX_STAGE_NAME} characters; recorded as ${stageName}`);
    }
    const stats = this.#statsFor(run, stageName);
    const notes = new Set<string>();
    const frame = new Frame(run, stats, currentFrame(), sanitizeMetadata(metadata, this.#config.redact, notes));
    this.#flagMetadata(run, `stage ${stageName}`, notes, stageName);
    frame.sync = false;
    this.#probeStart(frame);
    frame.t0 = now();
    this.#linkOpen(run, frame);
    const id = String(frame.id);
    run.manual.set(id, frame);
    if (run.logStages && stats.kept < run.maxRecords) this.#logStart(frame);
    return id;
  }

  /**
   * Ends a stage started with startStage(). Unknown or already-ended ids are flagged, never thrown.
   * Returns the stage's record, or undefined when nothing was recorded.
   */
  endStage(stageId: string, rowsProcessed?: number, outcome?: StageOutcome): StageMetrics | undefined {
    const t1 = now();
    const run = this.#run;
    if (run === undefined) {
      if (stageId !== 'inactive') this.#flagWithoutRun('warning', 'stage_without_run', `endStage(${describeValue(stageId)}) called with no active run`);
      return undefined;
    }
    const frame = typeof stageId === 'string' ? run.manual.get(stageId) : undefined;
    if (frame === undefined) {
      const known = typeof stageId === 'string' && /^\d+$/.test(stageId) && Number(stageId) <= run.lastId;
      this.#flag(run, 'warning', known ? 'stage_already_ended' : 'unknown_stage_id',
        known ? `endStage(${describeValue(stageId)}): that stage has already ended` : `endStage(${describeValue(stageId)}): no stage with that id in this run`);
      return undefined;
    }
    run.manual.delete(stageId);
    if (rowsProcessed !== undefined) {
      if (isValidRowCount(rowsProcessed)) {
        frame.rows = rowsProcessed;
        frame.rowsRecorded = true;
      } else {
        this.#flag(run, 'warning', 'invalid_rows', `endStage(): invalid row count ${describeValue(rowsProcessed)} for ${frame.stats.name}; counted as 0`, frame.stats.name);
      }
    }
    const failed = outcome?.success === false || (outcome?.error !== undefined && outcome.success !== true);
    this.#finish(frame, t1, failed ? (outcome?.error ?? new Error('stage reported failure')) : NO_ERROR, undefined, undefined, undefined);
    return this.#toMetrics(run, recordOf(frame, frame.stats.index), new Map());
  }

  /** Adds a quality flag to the active run (or to the next run when none is active). */
  addQualityFlag(message: string, severity: Severity): void {
    const sev: Severity = severity === 'info' || severity === 'warning' || severity === 'error' ? severity : 'warning';
    const msg = typeof message === 'string' ? message : describeValue(message);
    const run = this.#run;
    if (run === undefined) {
      this.#flagWithoutRun(sev, 'user', msg);
      return;
    }
    if (sev !== severity) this.#flag(run, 'warning', 'invalid_severity', `addQualityFlag(): severity ${describeValue(severity)} is not info, warning or error; recorded as warning`);
    this.#flag(run, sev, `user:${msg}`, msg);
  }

  /**
   * A snapshot of the active run: throughput, memory, open stages, and progress and ETA when the
   * expected row count is known. Costs one process.memoryUsage() (~8 µs): fine to poll.
   */
  getLivePerformanceStats(): LivePerformanceStats {
    const run = this.#run;
    if (run !== undefined) this.#flushPending(run);
    let rssMb = 0;
    try {
      rssMb = round3(process.memoryUsage.rss() / MB);
    } catch {
      rssMb = 0;
    }
    if (run === undefined) {
      return { elapsedMs: 0, rowsProcessed: 0, currentRowsPerSecond: 0, averageRowsPerSecond: 0, currentMemoryMb: rssMb, peakMemoryMb: rssMb, activeStages: [], completedStages: 0 };
    }
    const elapsedMs = run.t();
    if (rssMb > run.peakRssMb) run.peakRssMb = rssMb;
    const averageRowsPerSecond = elapsedMs > 0 ? (run.rows / elapsedMs) * 1000 : 0;
    const currentRowsPerSecond = this.#currentRate(run, elapsedMs, averageRowsPerSecond);
    const stats: LivePerformanceStats = {
      elapsedMs: round3(elapsedMs),
      rowsProcessed: run.rows,
      currentRowsPerSecond: round3(currentRowsPerSecond),
      averageRowsPerSecond: round3(averageRowsPerSecond),
      currentMemoryMb: rssMb,
      peakMemoryMb: run.peakRssMb,
      activeStages: this.#activeStages(run),
      completedStages: [...run.stats.values()].reduce((n, st) => n + st.calls, 0),
    };
    if (run.expectedRows !== undefined) {
      stats.expectedRows = run.expectedRows;
      stats.progress = run.expectedRows > 0 ? Math.min(1, run.rows / run.expectedRows) : 1;
      const left = Math.max(0, run.expectedRows - run.rows);
      if (left === 0) stats.etaMs = 0;
      else if (currentRowsPerSecond > 0) stats.etaMs = round3((left / currentRowsPerSecond) * 1000);
    }
    return stats;
  }

  /**
   * Ends the run: open stages are closed as failed, the analyzers run, and the report is written
   * atomically to `outputPath` (when set) and returned. Never throws: a report that cannot be
   * written is still returned, with the error in `output` and in a quality flag.
   */
  stopMonitoring(): PerformanceReport {
    const run = this.#run;
    if (run === undefined) return this.#stopWithoutRun();
    return this.#stop('completed', 'stopMonitoring');
  }

  // -------------------------------------------------------------------------------------------
  // Hot path
  // -------------------------------------------------------------------------------------------

  /**
   * @internal The per-call path of withStage and @MonitoredStage. Same result, same error
   * (rethrown unchanged), same `this`; a sync function stays sync. Per call it pays two clock
   * reads (~50 ns each), two small allocations (the frame, the arguments' array), and full probes
   * only as the fidelity policy allows.
   * The call's arguments arrive spread and are gathered here, not in the wrapper: see makeWrapper.
   */
  _invoke(def: StageDefinition, thisArg: unknown, ...args: unknown[]): unknown {
    const run = this.#run;
    if (run === undefined) return Reflect.apply(def.fn, thisArg, args);
    let stats = def.cacheStats;
    if (def.cacheRun !== run || stats === undefined) {
      if (def.name === '') def.resolveName?.(thisArg);
      stats = this.#statsFor(run, def.name);
      def.cacheRun = run;
      def.cacheStats = stats;
      if (def.metadataNotes !== undefined) this.#flagMetadata(run, `stage ${def.name}`, def.metadataNotes, def.name);
    }
    if (def.fastCalls > 0) this.#takeFastCalls(def);
    const prev = slot.current;
    const ctx = prev ?? (slot.alsUsers > 0 ? slot.als?.getStore() : undefined);
    const frame = new Frame(run, stats, ctx, def.metadata);
    if (stats.timeEvery !== 1) {
      if (--stats.timeCountdown > 0) {
        if (stats.timeCountdown > 1 && !def.usesAsyncContext) this.#handOverUntimed(run, stats, def);
        return this.#untimedCall(run, frame, prev, def, thisArg, args);
      }
      stats.timeCountdown = stats.nextCountdown(stats.timeEvery);
    }
    if (--stats.countdown <= 0) this.#probeStart(frame);
    if (run.logStages && stats.kept < run.maxRecords) this.#logStart(frame);
    slot.current = frame;
    let result: unknown;
    const depth = run.stackDepth;
    frame.depth = depth;
    run.stackDepth = depth + 1;
    const t0 = now();
    if (depth < MAX_STACK_STARTS) run.times[depth] = t0;
    try {
      result = def.usesAsyncContext ? this.#callInAsyncContext(run, frame, def, thisArg, args) : Reflect.apply(def.fn, thisArg, args);
    } catch (error) {
      const t1 = now();
      slot.current = prev;
      run.stackDepth = depth;
      frame.t0 = t0;
      this.#finish(frame, t1, error, undefined, args, def);
      throw error;
    }
    run.stackDepth = depth;
    if (typeof result === 'object' && result instanceof Promise) {
      slot.current = prev;
      frame.t0 = t0;
      return this.#trackPromise(frame, result, args, def);
    }
    const t1 = now();
    slot.current = prev;
    if (frame.probe === undefined && !run.logStages) {
      this.#endSync(run, frame, t0, t1, result, args, def);
    } else {
      frame.t0 = t0;
      this.#finish(frame, t1, NO_ERROR, result, args, def);
    }
    return result;
  }

  /**
   * A short stage's call that is not timed (see timeEveryFor): the same context, result, error and
   * sync-ness as a timed call; counted with its rows and outcome, without clock reads, probe or record.
   */
  #untimedCall(run: RunState, frame: Frame, prev: ContextFrame | undefined, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
    // No slot on the run's stack of start times (RunState.times): it has no start to keep, and a
    // run stopped from inside it closes it as untimed.
    frame.timed = false;
    slot.current = frame;
    let result: unknown;
    try {
      result = def.usesAsyncContext ? this.#callInAsyncContext(run, frame, def, thisArg, args) : Reflect.apply(def.fn, thisArg, args);
    } catch (error) {
      slot.current = prev;
      this.#finish(frame, 0, error, undefined, args, def);
      throw error;
    }
    slot.current = prev;
    if (typeof result === 'object' && result instanceof Promise) return this.#trackPromise(frame, result, args, def);
    frame.ended = true;
    if (!run.ended) {
      frame.rows = this.#callRows(frame, def, result, args);
      this.#accountUntimed(run, frame);
    }
    return result;
  }

  /**
   * Lets the wrapper make the stage's next untimed calls by itself, up to the next timed one (see
   * StageDefinition.fastLeft), when nothing but the count, the rows and the context is needed of
   * them: a synchronous stage (the caller checks, so an async stage's calls do not pay for this
   * call), rows not counted by a function (it may throw), no per-call logging, and no async
   * context in use (a promise made in the call could carry the reused frame away).
   */
  #handOverUntimed(run: RunState, stats: StageStats, def: StageDefinition): void {
    if (def.rowsKind === ROWS_FN || run.logStages || slot.promiseHookUsers !== 0 || slot.alsUsers !== 0) return;
    if (def.fastEscapes >= FAST_ESCAPES_MAX) return;
    if (def.fastRun !== run || def.fastStats !== stats) {
      if (def.fastCalls > 0) this.#takeFastCalls(def);
      if (def.fastRun !== run) run.fastDefs.push(def);
      def.fastRun = run;
      def.fastStats = stats;
      def.fastFrame = undefined;
    }
    if (def.fastFrame === undefined) {
      const frame = new Frame(run, stats, undefined, def.metadata);
      frame.timed = false;
      frame.ended = true;
      def.fastFrame = frame;
    }
    def.fastMonitor = this;
    // This call is untimed too; the wrapper makes the ones after it, the next call here is timed.
    def.fastLeft = stats.timeCountdown - 1;
    stats.timeCountdown = 1;
  }

  /** Takes in the counts of the calls the wrapper made by itself (see StageDefinition.fastLeft). */
  #takeFastCalls(def: StageDefinition): void {
    const n = def.fastCalls;
    const run = def.fastRun;
    const stats = def.fastStats;
    def.fastCalls = 0;
    // Counts of a run that has ended were taken in when it ended (none are made after).
    if (run === undefined || stats === undefined) {
      def.fastRows = 0;
      def.fastRootRows = 0;
      return;
    }
    stats.rows += def.fastRows;
    run.rows += def.fastRootRows;
    def.fastRows = 0;
    def.fastRootRows = 0;
    // What #accountUntimed does for each of them.
    if (stats.omitted === 0) this.#fillSketchFromRecords(run, stats);
    stats.omitted += n;
    stats.syncCalls += n;
    const before = stats.calls;
    stats.calls = before + n;
    // The policy is revisited when the count passes a power of two.
    if (Math.floor(Math.log2(before)) !== Math.floor(Math.log2(stats.calls))) this.#revisitPolicy(run, stats);
  }

  /** Takes in the wrapper's counts of every stage of the run, and hands no more calls to it. */
  #takeAllFastCalls(run: RunState, stopHandingOver: boolean): void {
    for (const def of run.fastDefs) {
      if (def.fastRun !== run) continue;
      if (def.fastCalls > 0) this.#takeFastCalls(def);
      if (stopHandingOver) {
        def.fastLeft = 0;
        def.fastMonitor = undefined;
        def.fastFrame = undefined;
        def.fastRun = undefined;
        def.fastStats = undefined;
      }
    }
  }

  /**
   * @internal A call the wrapper made by itself threw: it ends as an untimed failed call (the
   * error recorded, the same object rethrown by the wrapper), and its frame is not reused.
   */
  _fastCallThrew(def: StageDefinition, frame: Frame, error: unknown, ...args: unknown[]): void {
    def.fastFrame = undefined;
    def.fastLeft = 0;
    this.#finish(frame, 0, error, undefined, args, def);
  }

  /**
   * @internal A call the wrapper made by itself returned a promise: it is tracked as any untimed
   * async call, the stage's later calls go through _invoke, and its frame is not reused.
   */
  _fastCallReturnedPromise(def: StageDefinition, frame: Frame, promise: Promise<unknown>, ...args: unknown[]): Promise<unknown> {
    def.fastFrame = undefined;
    def.fastLeft = 0;
    return this.#trackPromise(frame, promise, args, def);
  }

  /**
   * Ends a successful synchronous call that needs no probe or log line: rows and `ended` now, so
   * neither the arguments nor the result are kept; the rest of its accounting now for a hot
   * stage, queued for #flushPending otherwise (see PENDING_CALLS).
   */
  #endSync(run: RunState, frame: Frame, t0: number, t1: number, result: unknown, args: unknown[], def: StageDefinition): void {
    frame.ended = true;
    // The run ended during the call (stopMonitoring() from inside it): closed already.
    if (run.ended) return;
    frame.rows = this.#callRows(frame, def, result, args);
    if (!frame.stats.batchAccounting) {
      this.#account(frame, t0, t1 > t0 ? t1 - t0 : 0, t1);
      return;
    }
    const n = run.pendingCount;
    const times = run.times;
    const o = MAX_STACK_STARTS + n * PENDING_WIDTH;
    times[o + P_T0] = t0;
    times[o + P_T1] = t1;
    times[o + P_ID] = frame.id;
    times[o + P_PARENT] = frame.parent === undefined ? -1 : frame.parent.id;
    times[o + P_ROWS] = frame.rows;
    times[o + P_STAGE] = frame.stats.index;
    if (frame.metadata !== undefined) run.pendingMetadata[n] = frame.metadata;
    run.pendingCount = n + 1;
    if (n + 1 === PENDING_CALLS) this.#flushPending(run);
  }

  /** Accounts the queued calls (see PENDING_CALLS): what #account does, from their rows. */
  #flushPending(run: RunState): void {
    if (run.fastDefs.length > 0) this.#takeAllFastCalls(run, false);
    const n = run.pendingCount;
    run.pendingCount = 0;
    const times = run.times;
    const metadata = run.pendingMetadata;
    for (let i = 0; i < n; i++) {
      const o = MAX_STACK_STARTS + i * PENDING_WIDTH;
      const t0 = times[o + P_T0]!;
      const t1 = times[o + P_T1]!;
      const durationMs = t1 > t0 ? t1 - t0 : 0;
      const parentId = times[o + P_PARENT]!;
      const rows = times[o + P_ROWS]!;
      const stats = run.statsList[times[o + P_STAGE]!]!;
      stats.rows += rows;
      stats.syncCalls++;
      if (parentId === -1) run.rows += rows;
      const c = ++stats.calls;
      if (this.#accountTimed(run, stats, c, durationMs, t1, parentId === -1, false)) {
        run.records.addSync(times[o + P_ID]!, parentId, t0, durationMs, rows, stats.index, metadata[i]);
      }
      metadata[i] = undefined;
      if (c >= CALIBRATION_CALLS && (c & (c - 1)) === 0) this.#revisitPolicy(run, stats);
    }
  }

  /**
   * Runs an async call. With promise hooks, `slot.current` (already `frame`) is all the promises
   * created in the call need; with an AsyncLocalStorage, `frame` becomes its store for the call.
   */
  #callInAsyncContext(run: RunState, frame: Frame, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
    if (!run.usesAsyncContext) this.#useAsyncContext(run);
    if (!run.usesAls) return Reflect.apply(def.fn, thisArg, args);
    const als = slot.als!;
    const outer = als.getStore();
    // enterWith + restore is what als.run() does, minus its rest-arguments copy and extra apply.
    als.enterWith(frame);
    try {
      return Reflect.apply(def.fn, thisArg, args);
    } finally {
      als.enterWith(outer as ContextFrame);
    }
  }

  #trackPromise(frame: Frame, promise: Promise<unknown>, args: unknown[], def: StageDefinition): Promise<unknown> {
    frame.sync = false;
    const run = frame.run;
    if (!def.usesAsyncContext) {
      // A plain function returned a promise: later calls carry their context into continuations.
      def.usesAsyncContext = true;
      if (!run.usesAsyncContext) this.#useAsyncContext(run);
    }
    // The caller gets a promise that settles with the same value or the same error object, one
    // microtask after the original; rejections stay unhandled exactly when the caller ignores them.
    if (!frame.timed) {
      // An untimed call (31 in 32 of a short async stage's) is counted open on its stage rather
      // than linked in the run's list, and ends on a shorter path: 13-17 ns less a call (two A/B
      // runs of 30 processes, means of their medians: 136-151 against 153-165 ns over a raw async
      // call with the promise hooks on).
      frame.stats.openUntimed++;
      return promise.then(
        (value) => {
          this.#endUntimedAsync(frame, value, args, def);
          return value;
        },
        (error: unknown) => {
          this.#finish(frame, 0, error, undefined, args, def);
          throw error;
        },
      );
    }
    this.#linkOpen(run, frame);
    return promise.then(
      (value) => {
        this.#finish(frame, frame.timed ? now() : 0, NO_ERROR, value, args, def);
        return value;
      },
      (error: unknown) => {
        this.#finish(frame, frame.timed ? now() : 0, error, undefined, args, def);
        throw error;
      },
    );
  }

  /** What #finish does for an untimed call that resolved: rows, count; no clock, probe or record. */
  #endUntimedAsync(frame: Frame, value: unknown, args: unknown[], def: StageDefinition): void {
    if (frame.ended) return;
    frame.ended = true;
    const run = frame.run;
    if (run.ended) return;
    frame.rows = this.#callRows(frame, def, value, args);
    this.#accountUntimed(run, frame);
  }

  #useAsyncContext(run: RunState): void {
    run.usesAsyncContext = true;
    acquireAsyncContext(this.#config.asyncContext);
    run.usesAls = this.#config.asyncContext === 'asyncLocalStorage';
  }

  #probeStart(frame: Frame): void {
    frame.stats.countdown = frame.stats.nextCountdown();
    // Full probes, outside the timed interval: ~700 ns + ~180 ns here and again at the end.
    try {
      const p0 = now();
      frame.probe = new Probe(p0, process.resourceUsage(), getHeapStatistics().used_heap_size);
    } catch {
      frame.probe = undefined;
    }
  }

  #probeEnd(frame: Frame, probe: Probe): void {
    try {
      const heap1 = getHeapStatistics().used_heap_size;
      const usage = process.resourceUsage();
      const u0 = probe.usage0;
      const userUs = usage.userCPUTime - u0.userCPUTime;
      const systemUs = usage.systemCPUTime - u0.systemCPUTime;
      probe.cpuUserMs = userUs / 1000;
      probe.cpuSystemMs = systemUs / 1000;
      // Voluntary: the process gave up the CPU (blocking I/O, sleeps). Involuntary: the OS took it
      // away (preempted on a busy host), which otherwise looks like waiting in CPU figures.
      probe.voluntarySwitches = usage.voluntaryContextSwitches - u0.voluntaryContextSwitches;
      probe.involuntarySwitches = usage.involuntaryContextSwitches - u0.involuntaryContextSwitches;
      probe.heapDeltaMb = (heap1 - probe.heap0) / MB;
      probe.done = true;
      const stats = frame.stats;
      stats.probedCalls++;
      stats.probedWallMs += frame.durationMs;
      stats.cpuUserUs += userUs;
      stats.cpuSystemUs += systemUs;
      stats.voluntarySwitches += probe.voluntarySwitches;
      stats.involuntarySwitches += probe.involuntarySwitches;
      stats.heapDeltaSumMb += probe.heapDeltaMb;
      if (probe.heapDeltaMb > stats.heapDeltaMaxMb) stats.heapDeltaMaxMb = probe.heapDeltaMb;
    } catch {
      frame.probe = undefined;
    }
  }

  /** Ends a call: timing, rows, outcome, probes, summaries, the record. Never throws. */
  #finish(frame: Frame, t1: number, error: unknown, result: unknown, args: unknown[] | undefined, def: StageDefinition | undefined): void {
    if (frame.ended) return;
    frame.ended = true;
    const run = frame.run;
    // A call that outlived its run (an async stage still pending at stop) was already closed.
    if (run.ended) return;
    let durationMs = 0;
    if (frame.timed) {
      const d = t1 - frame.t0;
      durationMs = d > 0 ? d : 0;
      frame.durationMs = durationMs;
      if (frame.probe !== undefined) this.#probeEnd(frame, frame.probe);
    }
    if (def !== undefined) {
      frame.rows = this.#callRows(frame, def, result, args!);
    }
    if (error !== NO_ERROR) this.#recordError(frame, error);
    if (frame.timed) this.#account(frame, frame.t0, durationMs, t1);
    else this.#accountUntimed(run, frame);
    if (frame.probe?.done === true) this.#priceProbe(frame.stats, frame.probe, durationMs);
  }

  /**
   * Prices a probed call where it ran: from before its first probe to the end of its accounting,
   * less the stage's own time. That is the probes and the slower path a probed call takes, run
   * cold: right after a long call, resourceUsage() and getHeapStatistics() cost 10-25 µs each the
   * first time round and the path after them 15-30 µs, all of it missing from a tight-loop price.
   * The median of the first CALIBRATION_CALLS prices (the first includes compiling the path), then
   * a moving average whose readings are clamped at twice the running price, so that a probe slowed
   * by a GC or preempted by the OS cannot make probes rare for good.
   */
  #priceProbe(stats: StageStats, probe: Probe, durationMs: number): void {
    const costNs = Math.max(0, (now() - probe.p0 - durationMs) * 1e6);
    const first = stats.firstProbePrices;
    if (first.length < CALIBRATION_CALLS) {
      first.push(costNs);
      const sorted = [...first].sort((a, b) => a - b);
      stats.probeCostNs = sorted[sorted.length >> 1]!;
      return;
    }
    const prev = stats.probeCostNs;
    stats.probeCostNs = prev > 0 ? prev * 0.875 + Math.min(costNs, 2 * prev) * 0.125 : costNs;
  }

  /** What every ended call adds, timed or not: its count, rows and outcome. Returns the count. */
  #count(run: RunState, frame: Frame): number {
    const stats = frame.stats;
    stats.rows += frame.rows;
    if (frame.sync) stats.syncCalls++;
    else if (frame.timed) this.#unlinkOpen(run, frame);
    else stats.openUntimed--;
    if (frame.parent === undefined) run.rows += frame.rows;
    return ++stats.calls;
  }

  /** A call without a record: from the first one on, the quantiles come from the sketch. */
  #omit(run: RunState, stats: StageStats): void {
    // While every call has a record, quantiles come from the records; the sketch is not touched
    // before (one cache miss fewer per call).
    if (stats.omitted === 0) this.#fillSketchFromRecords(run, stats);
    stats.omitted++;
  }

  /** An untimed call's share of the figures: counted, rows, outcome; no duration, no record. */
  #accountUntimed(run: RunState, frame: Frame): void {
    const c = this.#count(run, frame);
    this.#omit(run, frame.stats);
    if ((c & (c - 1)) === 0) this.#revisitPolicy(run, frame.stats);
  }

  /** A finished call's share of the stage's and run's figures, its record, the policy. */
  #account(frame: Frame, t0: number, durationMs: number, t1: number): void {
    const run = frame.run;
    const stats = frame.stats;
    const c = this.#count(run, frame);
    if (this.#accountTimed(run, stats, c, durationMs, t1, frame.parent === undefined, frame.error !== undefined)) this.#keep(run, frame, t0, durationMs);
    if (c >= CALIBRATION_CALLS && (c & (c - 1)) === 0) this.#revisitPolicy(run, stats);
  }

  /**
   * A timed call's duration in the stage's figures, and whether it gets a record (counted in
   * `kept` here; the caller writes it). `c` is the call's count, `root` that it has no parent.
   */
  #accountTimed(run: RunState, stats: StageStats, c: number, durationMs: number, t1: number, root: boolean, failed: boolean): boolean {
    stats.timedCalls++;
    stats.totalMs += durationMs;
    stats.sumSqMs += durationMs * durationMs;
    if (durationMs > stats.maxMs) stats.maxMs = durationMs;
    if (durationMs < stats.minMs) stats.minMs = durationMs;
    if (root && t1 - run.lastRateMark >= RATE_MARK_MS) this.#markRate(run, t1);
    // A failed call always gets a record (within maxStageRecords): its error is what a user acts on.
    if (stats.kept < run.maxRecords && (stats.recordEvery === 1 || failed || --stats.recordCountdown <= 0)) {
      if (stats.recordEvery > 1 && !failed) stats.recordCountdown = stats.nextCountdown(stats.recordEvery);
      stats.kept++;
      if (stats.omitted > 0) stats.sketch.add(durationMs);
      return true;
    }
    this.#omit(run, stats);
    stats.sketch.add(durationMs);
    return false;
  }

  #fillSketchFromRecords(run: RunState, stats: StageStats): void {
    const table = run.records;
    for (let i = 0; i < table.length; i++) if (table.stageOf(i) === stats.index) stats.sketch.add(table.durationOf(i));
  }

  #recordError(frame: Frame, error: unknown): void {
    const described = describeError(error, this.#config.captureStackTraces);
    frame.error = described;
    const stats = frame.stats;
    stats.failures++;
    stats.firstError ??= { name: described.name, message: described.message, t: round3(frame.run.t()) };
  }

  #keep(run: RunState, frame: Frame, t0: number, durationMs: number): void {
    run.records.add(frame, frame.stats.index, t0, durationMs);
    if (run.logStages) this.#logEnd(frame);
  }

  #revisitPolicy(run: RunState, stats: StageStats): void {
    if (stats.timedCalls === 0) return;
    const meanNs = (stats.totalMs / stats.timedCalls) * 1e6;
    stats.probeEvery = probeEveryFor(meanNs, stats.probeCostNs > 0 ? stats.probeCostNs : (fullProbeCostNs ?? 2000));
    if (stats.countdown > stats.probeEvery * 2) stats.countdown = stats.nextCountdown();
    stats.recordEvery = stats.calls >= SAMPLED_RECORDS_AFTER_CALLS ? recordEveryFor(meanNs) : 1;
    if (stats.recordCountdown > stats.recordEvery * 2) stats.recordCountdown = stats.nextCountdown(stats.recordEvery);
    stats.batchAccounting = meanNs >= WARM_BELOW_NS;
    const timeEvery = run.sampleShortTiming && stats.calls >= SAMPLED_RECORDS_AFTER_CALLS ? timeEveryFor(meanNs, stats.syncCalls * 2 < stats.calls) : 1;
    if (timeEvery !== stats.timeEvery) {
      stats.timeEvery = timeEvery;
      stats.timeCountdown = stats.nextCountdown(timeEvery);
    }
  }

  /** Rows of an ended hook call: the common case (the input's size) inline, the rest in #rowsOf. */
  #callRows(frame: Frame, def: StageDefinition, result: unknown, args: unknown[]): number {
    return def.rowsKind === ROWS_INPUT && !frame.rowsRecorded ? rowsOfArgs(args) : this.#rowsOf(frame, def, result, args);
  }

  /** The rows #callRows does not count inline: by the definition's rule, or by the user's function (checked). */
  #rowsOf(frame: Frame, def: StageDefinition, result: unknown, args: unknown[]): number {
    if (def.rowsKind !== ROWS_FN) return def.rowsOfResult(frame, result);
    let n: unknown;
    try {
      n = def.rowsFn!(result, args);
    } catch (err) {
      this.#flag(frame.run, 'warning', 'rows_function_threw', `the rows function of ${frame.stats.name} threw (${describeError(err).message}); counted as 0`, frame.stats.name);
      return 0;
    }
    if (isValidRowCount(n)) return n;
    this.#flag(frame.run, 'warning', 'invalid_rows', `the rows function of ${frame.stats.name} returned ${describeValue(n)}; counted as 0`, frame.stats.name);
    return 0;
  }

  /** @internal recordRows(): adds rows to the innermost open stage, flags bad counts. */
  _recordRows(frame: Frame, n: unknown): void {
    if (frame.ended || frame.run.ended) return;
    if (!isValidRowCount(n)) {
      this.#flag(frame.run, 'warning', 'invalid_rows', `recordRows(${describeValue(n)}) in ${frame.stats.name}: not a finite count >= 0; ignored`, frame.stats.name);
      return;
    }
    frame.rows = frame.rowsRecorded ? frame.rows + n : n;
    frame.rowsRecorded = true;
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping
  // -------------------------------------------------------------------------------------------

  #statsFor(run: RunState, name: string): StageStats {
    let stats = run.stats.get(name);
    if (stats === undefined) {
      stats = new StageStats(name, run.statsList.length, (run.statsList.length + 1) * 0x9e3779b1);
      run.stats.set(name, stats);
      run.statsList.push(stats);
    }
    return stats;
  }

  #linkOpen(run: RunState, frame: Frame): void {
    frame.nextOpen = run.openAsync;
    if (run.openAsync !== undefined) run.openAsync.prevOpen = frame;
    run.openAsync = frame;
  }

  #unlinkOpen(run: RunState, frame: Frame): void {
    if (frame.prevOpen !== undefined) frame.prevOpen.nextOpen = frame.nextOpen;
    else if (run.openAsync === frame) run.openAsync = frame.nextOpen;
    if (frame.nextOpen !== undefined) frame.nextOpen.prevOpen = frame.prevOpen;
    frame.prevOpen = frame.nextOpen = undefined;
  }

  /** Open frames of a run: async ones from the list, sync ones from the current context chain. */
  #openFrames(run: RunState): Frame[] {
    const open: Frame[] = [];
    for (let f = run.openAsync; f !== undefined; f = f.nextOpen) open.push(f);
    const chain: Frame[] = [];
    for (let f = currentFrame(); f !== undefined; f = f.outer) {
      const frame = f as Frame;
      if (frame.run === run && !frame.ended && frame.sync && !open.includes(frame)) chain.push(frame);
    }
    open.sort((a, b) => a.id - b.id);
    return [...open, ...chain.reverse()];
  }

  /** The stage of every open call: those of #openFrames, then the untimed async ones, by stage. */
  #activeStages(run: RunState): string[] {
    const names = this.#openFrames(run).map((f) => f.stats.name);
    for (const stats of run.statsList) for (let i = 0; i < stats.openUntimed; i++) names.push(stats.name);
    return names;
  }

  /**
   * Closes the untimed async calls still running at stop, as #stop closes the listed ones. They
   * have no frame at hand (the promise reactions hold them), so each gets a stand-in of its stage:
   * counted, failed with `error`; when the call settles later its run has ended and it is ignored.
   */
  #closeOpenUntimed(run: RunState, error: Error): number {
    let closed = 0;
    for (const stats of run.statsList) {
      const n = stats.openUntimed;
      // #finish counts each down (#count)
      for (let i = 0; i < n; i++) {
        const frame = new Frame(run, stats, undefined, undefined);
        frame.timed = false;
        frame.sync = false;
        this.#finish(frame, 0, error, undefined, undefined, undefined);
      }
      closed += n;
    }
    return closed;
  }

  #markRate(run: RunState, t1: number): void {
    run.lastRateMark = t1;
    const marks = run.rateMarks;
    marks.push(t1 - run.t0, run.rows);
    // Keep about two windows of marks.
    if (marks.length > 4 * (RATE_WINDOW_MS / RATE_MARK_MS) + 8) marks.splice(0, marks.length / 2);
  }

  #currentRate(run: RunState, elapsedMs: number, average: number): number {
    const marks = run.rateMarks;
    if (elapsedMs < RATE_WINDOW_MS || marks.length < 4) return average;
    for (let i = marks.length - 2; i >= 0; i -= 2) {
      const t = marks[i]!;
      if (elapsedMs - t >= RATE_WINDOW_MS) {
        const dt = elapsedMs - t;
        return dt > 0 ? ((run.rows - marks[i + 1]!) / dt) * 1000 : average;
      }
    }
    const t = marks[0]!;
    return elapsedMs > t ? ((run.rows - marks[1]!) / (elapsedMs - t)) * 1000 : average;
  }

  #onSample(run: RunState, sample: MemorySample): void {
    if (sample.rssMb > run.peakRssMb) run.peakRssMb = sample.rssMb;
    run.samples.add(sample);
  }

  /**
   * Adds a quality flag; the same flag raised again is counted, not stored again. With `once`, a
   * repeat is not even counted: for a state found again each time a report is built (checkpoints
   * rebuild it), which happened once, not once per report.
   */
  #flag(run: RunState, severity: Severity, code: string, message: string, stage?: string, once = false): void {
    const key = `${code}\u0000${stage ?? ''}\u0000${code.startsWith('user:') ? '' : message}`;
    const entry = run.flags.get(key);
    if (entry !== undefined) {
      if (!once) entry.count++;
      return;
    }
    if (run.flags.size >= MAX_FLAGS) {
      run.flagsDropped++;
      return;
    }
    const flag: QualityFlag = { severity, message, t: round3(run.t()), code: code.startsWith('user:') ? 'user' : code };
    if (stage !== undefined) flag.stage = stage;
    run.flags.set(key, { flag, count: 1 });
    safeLog(this.#log, severity === 'info' ? 'info' : severity === 'warning' ? 'warn' : 'error', { event: 'quality_flag', code: flag.code, stage }, message);
  }

  /** Metadata that could not be kept as given (cycles, BigInt, throwing getters, huge strings...). */
  #flagMetadata(run: RunState, whose: string, notes: Iterable<string>, stage?: string): void {
    const list = [...notes];
    if (list.length === 0) return;
    this.#flag(run, 'info', 'metadata_sanitised', `metadata of ${whose} could not be kept as given: ${list.join(', ')}`, stage);
  }

  #flagWithoutRun(severity: Severity, code: string, message: string): void {
    if (this.#pendingFlags.length < 100) this.#pendingFlags.push({ severity, code, message: `${message} (at ${new Date().toISOString()}, before this run)` });
    safeLog(this.#log, 'warn', { event: 'quality_flag', code }, message);
  }

  #logStart(frame: Frame): void {
    safeLog(this.#log, 'info', { event: 'stage_start', stage: frame.stats.name, id: String(frame.id), parentId: frame.parent?.id }, 'stage start');
  }

  #logEnd(frame: Frame): void {
    safeLog(
      this.#log,
      frame.error === undefined ? 'info' : 'warn',
      { event: 'stage_end', stage: frame.stats.name, id: String(frame.id), durationMs: roundMs(frame.durationMs), rows: frame.rows, success: frame.error === undefined, error: frame.error?.message },
      'stage end',
    );
  }

  // -------------------------------------------------------------------------------------------
  // Stopping and reporting
  // -------------------------------------------------------------------------------------------

  #stopWithoutRun(): PerformanceReport {
    const last = this.#lastReport;
    const message = last === undefined ? 'stopMonitoring() called without startMonitoring(); nothing was recorded' : 'stopMonitoring() called twice; the report of the last run is returned again';
    safeLog(this.#log, 'warn', { event: 'quality_flag', code: 'stop_without_run' }, message);
    if (last !== undefined) {
      const flag: QualityFlag = { severity: 'warning', message, t: last.run.durationMs, code: 'stop_without_run' };
      const report: PerformanceReport = {
        ...last,
        qualityFlags: [...last.qualityFlags, flag],
        summary: { ...last.summary, qualityFlagCounts: { ...last.summary.qualityFlagCounts, warning: last.summary.qualityFlagCounts.warning + 1 } },
      };
      this.#lastReport = report;
      this.#write(report);
      return report;
    }
    // An empty run, so the caller still gets a schema-valid report; nothing is written over a
    // report that may already be at outputPath.
    const run = new RunState(this, {}, { maxSamples: 2, maxRecords: 0 }, false, () => undefined);
    this.#flag(run, 'warning', 'stop_without_run', message);
    run.ended = true;
    return this.#report(run, 'aborted', 'stopMonitoring');
  }

  #stop(status: 'completed' | 'aborted', reason: string): PerformanceReport {
    const run = this.#run!;
    run.endReason ??= reason;
    const t1 = now();
    this.#takeAllFastCalls(run, true);
    // Close what is still open as failed, innermost first, so parents outlast their children.
    const notEnded = (): Error => Object.assign(new Error(`still running when the run ended (${run.endReason})`), { name: 'StageNotEnded' });
    const open = this.#openFrames(run);
    for (let i = open.length - 1; i >= 0; i--) {
      const frame = open[i]!;
      const err = notEnded();
      // A hook call still on the stack has its start in run.times, not on its frame.
      if (frame.t0 === undefined) frame.t0 = frame.depth >= 0 && frame.depth < MAX_STACK_STARTS ? run.times[frame.depth]! : t1;
      this.#finish(frame, t1, err, undefined, undefined, undefined);
    }
    const openCount = open.length + this.#closeOpenUntimed(run, notEnded());
    run.manual.clear();
    if (openCount > 0) this.#flag(run, 'warning', 'stages_still_open', `${openCount} stage(s) were still running when the run ended; closed as failed`);
    try {
      run.stopTicker?.();
      run.sampler?.stop();
    } catch (err) {
      this.#flag(run, 'warning', 'probe_failed', `sampler stop failed: ${describeError(err).message}`);
    }
    run.ended = true;
    this.#run = undefined;
    if (run.usesAsyncContext) releaseAsyncContext(this.#config.asyncContext);
    if (this.#exitParticipant !== undefined) {
      unwatchProcessEnd(this.#exitParticipant);
      this.#exitParticipant = undefined;
    }
    const report = this.#report(run, status, reason);
    this.#write(report);
    this.#lastReport = report;
    safeLog(this.#log, 'info', { event: 'run_end', runId: run.id, status: report.run.status, durationMs: report.run.durationMs, rows: report.run.rowsProcessed }, 'stagemeter run ended');
    return report;
  }

  #write(report: PerformanceReport): void {
    const path = this.#config.outputPath;
    if (path === undefined) return;
    try {
      generatePerformanceReportJson(report, path);
      report.output = { path, written: true };
    } catch (err) {
      const message = `the report could not be written to ${path}: ${describeError(err).message}`;
      report.output = { path, written: false, error: describeError(err).message };
      report.qualityFlags.push({ severity: 'error', message, t: report.run.durationMs, code: 'report_write_failed' });
      report.summary.qualityFlagCounts.error++;
      safeLog(this.#log, 'error', { event: 'report_write_failed', path, err: describeError(err) }, message);
    }
  }

  /**
   * Checkpoints: every `checkpointIntervalMs` the report is rewritten atomically with
   * `run.status: 'running'` (stages still open are not in it yet), so a run killed by SIGKILL or a
   * power cut leaves its last checkpoint. They ride on the sampler's tick when it has one.
   */
  #startCheckpoints(run: RunState): void {
    const every = this.#config.checkpointIntervalMs;
    if (every === undefined || this.#config.outputPath === undefined) return;
    let last = run.t();
    const checkpoint = (): void => {
      if (this.#run !== run || run.t() - last < every * 0.9) return;
      last = run.t();
      this.#write(this.#report(run, 'running', 'checkpoint', false));
    };
    const sampler = run.sampler;
    if (sampler !== undefined && sampler.intervalMs <= every) {
      sampler.onTick = checkpoint;
    } else {
      run.stopTicker = startTicker(every, checkpoint, (err) => this.#flag(run, 'warning', 'checkpoint_failed', `checkpoint failed: ${describeError(err).message}`));
    }
  }

  #report(run: RunState, status: RunInfo['status'], reason: string, logFindings = true): PerformanceReport {
    const data = this.#runData(run, status, reason);
    let analysis: AnalysisResult;
    try {
      analysis = runAnalysis(data, this.#config.thresholds, this.#config.analyzers);
    } catch (err) {
      analysis = emptyAnalysis(data, `the analysis failed: ${describeError(err).message}`);
    }
    for (const f of logFindings ? analysis.bottlenecks.findings : []) {
      safeLog(this.#log, f.severity === 'error' ? 'error' : f.severity === 'warning' ? 'warn' : 'info', { event: 'finding', kind: f.kind, stage: f.stage, evidence: f.evidence }, f.message);
    }
    return buildReport(data, analysis, this.#config.maxStageRecords);
  }

  #runData(run: RunState, status: RunInfo['status'], reason: string): RunData {
    this.#flushPending(run);
    const durationMs = Math.max(0, now() - run.t0);
    const cpu = run.cpuAtStart === undefined ? undefined : cpuUsageOrUndefined(run.cpuAtStart);
    if (cpu === undefined) this.#flag(run, 'warning', 'probe_failed', 'process.cpuUsage failed: the run\'s average CPU is unknown (reported as 0)', undefined, true);
    const redacted = new Map<Record<string, unknown>, Record<string, unknown> | undefined>();
    const records: CallRecord[] = [];
    for (let i = 0; i < run.records.length; i++) records.push(run.records.get(i));
    const stages = records.sort((a, b) => a.id - b.id).map((r) => this.#toMetrics(run, r, redacted));
    const durationsByName = new Map<string, number[]>();
    for (const m of stages) {
      const list = durationsByName.get(m.name);
      if (list === undefined) durationsByName.set(m.name, [m.durationMs]);
      else list.push(m.durationMs);
    }
    const summaries: StageSummary[] = [...run.stats.values()].map((s) => summarize(s, durationsByName.get(s.name) ?? []));
    const logFailure = loggerFailure(this.#log);
    if (logFailure !== undefined) this.#flag(run, 'warning', 'logger_failed', `the logger failed, log lines were lost: ${logFailure}`, undefined, true);
    const flags: QualityFlag[] = [];
    for (const { flag, count } of run.flags.values()) flags.push(count > 1 ? { ...flag, message: `${flag.message} (${count} times)` } : flag);
    if (run.flagsDropped > 0) {
      flags.push({ severity: 'warning', message: `${run.flagsDropped} further quality flags were dropped (bound: ${MAX_FLAGS})`, t: round3(durationMs), code: 'flags_dropped' });
    }
    const samples = run.samples.toArray();
    const info: RunData['run'] = {
      id: run.id,
      name: run.name,
      status,
      startedAt: new Date(run.startedAtMs).toISOString(),
      endedAt: new Date(run.startedAtMs + durationMs).toISOString(),
      durationMs: round3(durationMs),
      rowsProcessed: run.rows,
      rowsPerSecond: durationMs > 0 ? round3((run.rows / durationMs) * 1000) : 0,
      endReason: reason === 'stopMonitoring' ? reason : (run.endReason ?? reason),
      host: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length, totalMemoryMb: Math.round(totalmem() / MB), pid: process.pid },
    };
    if (run.expectedRows !== undefined) info.expectedRows = run.expectedRows;
    if (run.fatalError !== undefined) info.fatalError = run.fatalError;
    if (run.metadata !== undefined) info.metadata = run.metadata;
    const data: RunData = {
      run: info,
      stages,
      stageSummaries: summaries,
      samples,
      samplingIntervalMs: run.sampler?.intervalMs ?? null,
      avgCpuPercent: cpu !== undefined && durationMs > 0 ? round3(((cpu.user + cpu.system) / 1000 / durationMs) * 100) : 0,
      peakMemoryMb: run.peakRssMb,
      qualityFlags: flags,
    };
    const loop = run.sampler?.eventLoop();
    if (loop !== undefined) data.eventLoop = loop;
    const gc = run.sampler?.gc();
    if (gc !== undefined) data.gc = gc;
    return data;
  }

  #toMetrics(run: RunState, r: CallRecord, redacted: Map<Record<string, unknown>, Record<string, unknown> | undefined>): StageMetrics {
    const stats = run.statsList[r.stage]!;
    let cpu: StageMetrics['cpu'];
    let memory: StageMetrics['memory'];
    if (r.probed) {
      const cpuMs = r.cpuUserMs + r.cpuSystemMs;
      cpu = {
        userMs: round3(r.cpuUserMs),
        systemMs: round3(r.cpuSystemMs),
        percent: r.durationMs > 0 ? round3((cpuMs / r.durationMs) * 100) : 0,
        voluntarySwitches: r.voluntarySwitches,
        involuntarySwitches: r.involuntarySwitches,
      };
      memory = { heapUsedDeltaMb: round3(r.heapDeltaMb) };
    } else {
      // Not measured on this call: the stage's measured ratio applied to this call's duration.
      const wall = stats.probedWallMs;
      const userShare = wall > 0 ? stats.cpuUserUs / 1000 / wall : 0;
      const sysShare = wall > 0 ? stats.cpuSystemUs / 1000 / wall : 0;
      cpu = { userMs: round3(userShare * r.durationMs), systemMs: round3(sysShare * r.durationMs), percent: round3((userShare + sysShare) * 100), estimated: true };
      memory = { heapUsedDeltaMb: stats.probedCalls > 0 ? round3(stats.heapDeltaSumMb / stats.probedCalls) : 0, estimated: true };
    }
    const m: StageMetrics = {
      id: String(r.id),
      name: stats.name,
      t: roundMs(r.t0 - run.t0),
      durationMs: roundMs(r.durationMs),
      rowsProcessed: r.rows,
      rowsPerSecond: r.durationMs > 0 ? round3((r.rows / r.durationMs) * 1000) : 0,
      success: r.error === undefined,
      cpu,
      memory,
      fidelity: r.probed ? 'full' : 'timing',
      sync: r.sync,
    };
    if (r.parentId >= 0) m.parentId = String(r.parentId);
    if (r.error !== undefined) m.error = r.error;
    if (r.metadata !== undefined) {
      let meta = redacted.get(r.metadata);
      if (meta === undefined && !redacted.has(r.metadata)) {
        meta = this.#config.redact === undefined ? r.metadata : sanitizeMetadata(r.metadata, this.#config.redact);
        redacted.set(r.metadata, meta);
      }
      if (meta !== undefined) m.metadata = meta;
    }
    return m;
  }
}

function checkStartOptions(options: unknown): ConfigIssue[] {
  if (options === undefined) return [];
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return [{ field: '(options)', message: `must be an object (got ${describeValue(options)})` }];
  }
  const issues: ConfigIssue[] = [];
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'expectedRows' && key !== 'runName' && key !== 'metadata') issues.push({ field: key, message: 'unknown option' });
  }
  if (o.expectedRows !== undefined && !(typeof o.expectedRows === 'number' && Number.isFinite(o.expectedRows) && o.expectedRows >= 0)) {
    issues.push({ field: 'expectedRows', message: `must be a finite number >= 0 (got ${describeValue(o.expectedRows)})` });
  }
  if (o.runName !== undefined && (typeof o.runName !== 'string' || o.runName === '' || o.runName.length > 200)) {
    issues.push({ field: 'runName', message: `must be a non-empty string of at most 200 characters (got ${describeValue(o.runName)})` });
  }
  if (o.metadata !== undefined && (typeof o.metadata !== 'object' || o.metadata === null || Array.isArray(o.metadata))) {
    issues.push({ field: 'metadata', message: `must be a plain object (got ${describeValue(o.metadata)})` });
  }
  return issues;
}

function exactQuantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function summarize(s: StageStats, keptDurations: number[]): StageSummary {
  const exact = s.omitted === 0;
  let q: (p: number) => number;
  if (exact) {
    const durations = keptDurations.sort((a, b) => a - b);
    q = (p) => exactQuantile(durations, p);
  } else {
    q = (p) => s.sketch.quantile(p);
  }
  const wall = s.probedWallMs;
  const sampled = s.probedCalls < s.calls;
  const totalMs = estimatedTotalMs(s);
  const cpuUserMs = sampled ? (wall > 0 ? (s.cpuUserUs / 1000 / wall) * totalMs : 0) : s.cpuUserUs / 1000;
  const cpuSystemMs = sampled ? (wall > 0 ? (s.cpuSystemUs / 1000 / wall) * totalMs : 0) : s.cpuSystemUs / 1000;
  const summary: StageSummary = {
    name: s.name,
    calls: s.calls,
    failures: s.failures,
    totalMs: roundMs(totalMs),
    meanMs: s.timedCalls > 0 ? roundMs(s.totalMs / s.timedCalls) : 0,
    p50Ms: roundMs(q(0.5)),
    p95Ms: roundMs(q(0.95)),
    p99Ms: roundMs(q(0.99)),
    maxMs: roundMs(s.maxMs),
    minMs: s.timedCalls > 0 ? roundMs(s.minMs) : 0,
    quantiles: exact ? 'exact' : 'sketch',
    rowsProcessed: s.rows,
    rowsPerSecond: totalMs > 0 ? round3((s.rows / totalMs) * 1000) : 0,
    cpu: {
      userMs: round3(cpuUserMs),
      systemMs: round3(cpuSystemMs),
      percent: totalMs > 0 ? round3(((cpuUserMs + cpuSystemMs) / totalMs) * 100) : 0,
      estimated: sampled,
      probedWallMs: roundMs(wall),
      voluntarySwitches: s.voluntarySwitches,
      involuntarySwitches: s.involuntarySwitches,
    },
    meanHeapUsedDeltaMb: s.probedCalls > 0 ? round3(s.heapDeltaSumMb / s.probedCalls) : 0,
    maxHeapUsedDeltaMb: s.probedCalls > 0 ? round3(s.heapDeltaMaxMb) : 0,
    syncCalls: s.syncCalls,
    fidelity: {
      mode: sampled ? 'sampled' : 'full',
      probeEvery: sampled ? s.probeEvery : 1,
      probedCalls: s.probedCalls,
      recordEvery: s.recordEvery,
      timeEvery: s.timeEvery,
      timedCalls: s.timedCalls,
    },
    recordsKept: s.kept,
    recordsOmitted: s.omitted,
  };
  if (s.timedCalls < s.calls) {
    summary.fidelity.totalErrorPercent = round3(estimatedTotalErrorFraction(s.calls, s.timedCalls, s.totalMs, s.sumSqMs) * 100);
  }
  if (s.firstError !== undefined) summary.firstError = { ...s.firstError };
  return summary;
}

/** The stage's total time, ms: measured, or (some calls untimed) the timed calls' total scaled to all calls. */
function estimatedTotalMs(s: StageStats): number {
  return s.timedCalls < s.calls && s.timedCalls > 0 ? (s.totalMs / s.timedCalls) * s.calls : s.totalMs;
}

/**
 * Half-width of the 95 % interval of an estimated total, relative to it: the timed calls are a
 * random sample of the stage's calls (finite-population correction included). 0 when all were timed.
 */
function estimatedTotalErrorFraction(calls: number, timedCalls: number, totalMs: number, sumSqMs: number): number {
  if (timedCalls >= calls || timedCalls < 2 || totalMs <= 0) return 0;
  const mean = totalMs / timedCalls;
  const variance = Math.max(0, (sumSqMs - timedCalls * mean * mean) / (timedCalls - 1));
  return (1.96 * Math.sqrt(variance / timedCalls) * Math.sqrt(1 - timedCalls / calls)) / mean;
}

function emptyAnalysis(data: RunData, message: string): AnalysisResult {
  return {
    trend: { leakSuspected: false, slopeMbPerMin: 0, r2: 0, method: 'none', sampleCount: data.samples.length, confidence: 'none' },
    spikes: [],
    efficiencyScore: 0,
    bottlenecks: { slowestStages: [], memoryIntensiveStages: [], cpuIntensiveStages: [], lowThroughputStages: [], findings: [] },
    recommendations: [],
    qualityFlags: [{ severity: 'error', message, t: data.run.durationMs, code: 'analysis_failed' }],
  };
}

/** @internal recordRows() for the hooks: the innermost open frame, whichever monitor owns it. */
export function recordRowsInContext(n: unknown): void {
  const frame = currentFrame() as Frame | undefined;
  if (frame === undefined) return;
  frame.run.monitor._recordRows(frame, n);
}

/**
 * Creates an isolated monitor. Throws {@link ConfigError} listing every invalid option.
 *
 * @example
 * const monitor = createPerformanceMonitor({ outputPath: 'reports/run.json', memorySamplingIntervalMs: 500 });
 */
export function createPerformanceMonitor(options?: MonitorOptions): PerformanceMonitor {
  return new PerformanceMonitor(options);
}
