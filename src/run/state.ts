/**
 * The state of one run: its identity and clock origin, the figures of every stage name, the
 * bounded stores (records, samples, flags), the calls open right now, and the probe budget. The
 * monitor holds it while the run is active; frames reach it through a RunLink that is cut when
 * the run stops, so nothing the program keeps alive (a wrapped function, a promise made inside a
 * stage) keeps a stopped run's stores alive.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { now } from '../callpath/clock';
import { Frame, RunLink } from '../callpath/frame';
import type { StageDefinition } from '../callpath/stage';
import { sanitizeMetadata } from '../sanitize';
import { RecordTable } from '../stores/records';
import { SampleStore } from '../stores/samples';
import type { ResolvedConfig } from '../validate';
import type { StartOptions } from '../types';
import { FlagSet } from './flags';
import { ProbeBudget } from './probes';
import type { OutputClaim } from '../report/ownership';
import type { ProcessTracker } from './processes';
import type { Sampler } from './sampler';
import { StageStats } from './stageStats';
import type { ThreadHub } from './threads';

/** Synchronous calls nested deeper than this that are still running at stop are closed with 0 ms. */
export const MAX_STACK_STARTS = 64;

/** Where stage names past `maxStageNames` are counted. */
export const OTHER_STAGES = '(other stages)';

/** The CPU time of the process, or undefined when the probe fails (it never throws into the run). */
export function cpuUsageOrUndefined(previous?: NodeJS.CpuUsage): NodeJS.CpuUsage | undefined {
  try {
    return process.cpuUsage(previous);
  } catch {
    return undefined;
  }
}

export class RunState {
  readonly link: RunLink;
  readonly config: ResolvedConfig;
  readonly log: Logger;
  /** Set when the run has stopped: calls that end later are ignored. */
  ended = false;
  readonly logStages: boolean;
  lastId = 0;
  readonly id = randomUUID();
  readonly name: string;
  readonly startedAtMs = Date.now();
  readonly t0 = now();
  readonly expectedRows: number | undefined;
  /** The stage whose rows are the run's (`startMonitoring({ rowsFrom })`). */
  readonly rowsFrom: string | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  readonly cpuAtStart = cpuUsageOrUndefined();
  /** Thread the run's own calls are recorded under (0: the main thread). */
  readonly threadId: number;
  readonly stats = new Map<string, StageStats>();
  readonly statsList: StageStats[] = [];
  readonly records: RecordTable;
  readonly samples: SampleStore;
  readonly flags: FlagSet;
  readonly probes: ProbeBudget;
  /** Open asynchronous calls, newest first (synchronous ones are found through the context). */
  openAsync: Frame | undefined = undefined;
  /** Stages started by hand and not ended yet, by id. */
  readonly manual = new Map<string, Frame>();
  /** Each stage's busy time at the last sampler tick, ms, by stage index (see busySinceLastTick). */
  readonly #busyAtTick: number[] = [];
  /** Definitions that cached this run's figures (cleared when it stops). */
  readonly #bound: StageDefinition[] = [];
  usesAsyncContext = false;
  /** Depth of the synchronous hook calls running now, and their starts by depth (clock ms): a call on the stack when the run stops is closed with the time it had run. */
  depth = 0;
  readonly starts = new Float64Array(MAX_STACK_STARTS);
  /** A failed report write was reported on stderr (once per run). */
  writeFailureReported = false;
  peakRssMb = 0;
  /** [t, rows] marks for the live throughput window. */
  rateMarks: number[] = [];
  fatalError: { name: string; message: string; stack?: string } | undefined = undefined;
  endReason: string | undefined = undefined;
  sampler: Sampler | undefined = undefined;
  stopTicker: (() => void) | undefined = undefined;
  /** Where this run writes its report: `outputPath`, or `<name>.<pid>.json` beside it when another process owns it. */
  outputPath: string | undefined;
  /** How the run came by `outputPath` when several processes share it (`perProcessOutput`). */
  claim: OutputClaim | undefined = undefined;
  /** Processes sampled by pid (`trackProcess()`), from the first one on. */
  processes: ProcessTracker | undefined = undefined;
  /** Main thread: where worker threads' batches come in (see threads.ts). */
  threads: ThreadHub | undefined = undefined;
  /**
   * Worker thread: when the call numbered `checkAtId` starts, `onCheck` decides whether a batch is
   * due (see forward.ts); a thread that never yields to its event loop still sends its batches.
   * -1 (never) on the main thread: the hot path pays one comparison.
   */
  checkAtId = -1;
  onCheck: (() => void) | undefined = undefined;

  constructor(config: ResolvedConfig, log: Logger, options: StartOptions, threadId: number) {
    this.link = new RunLink(this);
    this.config = config;
    this.log = log;
    this.logStages = config.enableDetailedLogging;
    this.name = options.runName ?? 'stagemeter-run';
    this.expectedRows = options.expectedRows;
    this.rowsFrom = options.rowsFrom;
    this.threadId = threadId;
    this.outputPath = config.outputPath;
    const notes = new Set<string>();
    this.metadata = sanitizeMetadata(options.metadata, config.redact, notes);
    this.records = new RecordTable(config.maxStageRecords);
    this.samples = new SampleStore(config.maxMemorySamples);
    this.flags = new FlagSet(log);
    this.probes = new ProbeBudget(this.t0);
    this.flagMetadata('the run', notes);
  }

  /** ms since the run started. */
  t(): number {
    return now() - this.t0;
  }

  flag(severity: 'info' | 'warning' | 'error', code: string, message: string, stage?: string, once = false): void {
    this.flags.add(this.t(), severity, code, message, stage, once);
  }

  /** Metadata that could not be kept as given (cycles, BigInt, throwing getters, huge strings...). */
  flagMetadata(whose: string, notes: Iterable<string>, stage?: string): void {
    const list = [...notes];
    if (list.length > 0) this.flag('info', 'metadata_sanitised', `metadata of ${whose} could not be kept as given: ${list.join(', ')}`, stage);
  }

  /**
   * The figures of a stage name, created on first use. Past `maxStageNames` distinct names, new
   * names are counted under OTHER_STAGES (as metric libraries cap label cardinality): a program
   * that makes a stage name per row would otherwise grow the report and the run's memory without bound.
   */
  statsFor(name: string): StageStats {
    let stats = this.stats.get(name);
    if (stats !== undefined) return stats;
    if (this.statsList.length >= this.config.maxStageNames && name !== OTHER_STAGES) {
      this.flag('warning', 'too_many_stage_names', `more than ${this.config.maxStageNames} distinct stage names (maxStageNames): the others are counted under "${OTHER_STAGES}"`, undefined, true);
      return this.statsFor(OTHER_STAGES);
    }
    stats = new StageStats(name, this.statsList.length);
    this.stats.set(name, stats);
    this.statsList.push(stats);
    this.probes.open(stats);
    return stats;
  }

  /** The figures a definition's calls record into, cached on it until the run stops. */
  bind(def: StageDefinition, thisArg: unknown): StageStats {
    if (def.name === '') def.resolveName?.(thisArg);
    const stats = this.statsFor(def.name);
    if (def.boundRun === undefined) this.#bound.push(def);
    def.boundRun = this;
    def.boundStats = stats;
    if (def.metadataNotes !== undefined) this.flagMetadata(`stage ${def.name}`, def.metadataNotes, def.name);
    return stats;
  }

  /** A new call's frame: the next id, the parent found from `outer`. */
  frame(stats: StageStats, outer: Frame['outer'], metadata: Record<string, unknown> | undefined): Frame {
    const id = ++this.lastId;
    if (id === this.checkAtId) this.onCheck!();
    return new Frame(this.link, stats, id, outer, metadata);
  }

  linkOpen(frame: Frame): void {
    frame.nextOpen = this.openAsync;
    if (this.openAsync !== undefined) this.openAsync.prevOpen = frame;
    this.openAsync = frame;
  }

  unlinkOpen(frame: Frame): void {
    if (frame.prevOpen !== undefined) frame.prevOpen.nextOpen = frame.nextOpen;
    else if (this.openAsync === frame) this.openAsync = frame.nextOpen;
    if (frame.nextOpen !== undefined) frame.nextOpen.prevOpen = frame.prevOpen;
    frame.prevOpen = frame.nextOpen = undefined;
  }

  /**
   * The run's rows: every row of the stage named by `rowsFrom`; else the rows of the stage with
   * the most among those with a top-level call (no parent), or among all stages when those count
   * none. Never a sum over stages, so rows that flow through load -> transform -> write count once
   * (and a recursive stage's inner calls do not count its rows again).
   */
  rows(): { rows: number; stage: string | undefined; rule: 'option' | 'largest-top-level' } {
    if (this.rowsFrom !== undefined) return { rows: this.stats.get(this.rowsFrom)?.rows ?? 0, stage: this.rowsFrom, rule: 'option' };
    // Whole stage totals, not the rows of its top-level calls only: which calls are top-level
    // depends on the context mode (a stage called from a stream callback has a parent under
    // 'asyncLocalStorage' and none under 'promise'), the stage's total does not. When the
    // top-level stages count no rows (a `job` stage around the whole pipeline), any stage may.
    // A call inside a call of the same stage (recursion) counts no rows again.
    const own = (s: StageStats): number => s.rows - s.nestedRows;
    let best: StageStats | undefined;
    for (const s of this.statsList) if (s.rootCalls > 0 && own(s) > 0 && (best === undefined || own(s) > own(best))) best = s;
    if (best === undefined) for (const s of this.statsList) if (own(s) > 0 && (best === undefined || own(s) > own(best))) best = s;
    return { rows: best !== undefined ? own(best) : 0, stage: best?.name, rule: 'largest-top-level' };
  }

  /**
   * How long each stage was busy since the last call of this (at each sampler tick), ms; undefined
   * when none was. The busy time at the last tick is kept here, by stage index, not on the stage's
   * figures: a field written only by ticks would change their hidden class at the run's first tick
   * or stop, and every function of the call path optimised for the old one would deoptimise in
   * the next run (tens of ms of calls at several times their cost).
   */
  busySinceLastTick(): Record<string, number> | undefined {
    const t = now();
    let out: Record<string, number> | undefined;
    const atTick = this.#busyAtTick;
    for (const s of this.statsList) {
      const busy = s.busyMsAt(t);
      const ms = busy - (atTick[s.index] ?? 0);
      if (!(ms > 0)) continue;
      atTick[s.index] = busy;
      out ??= Object.create(null) as Record<string, number>;
      out[s.name] = Math.round(ms * 1000) / 1000;
    }
    return out;
  }

  /** Cuts every reference into the run from outside it: frames' link, definitions' caches. */
  release(): void {
    this.ended = true;
    this.link.state = undefined;
    for (const def of this.#bound) {
      if (def.boundRun === this) {
        def.boundRun = undefined;
        def.boundStats = undefined;
      }
    }
    this.#bound.length = 0;
  }
}
