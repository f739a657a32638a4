/**
 * Compares two reports stage by stage and tells a real change from noise: the CI gate behind
 * `stagemeter diff`. Pure: reports in, a {@link DiffResult} out, no I/O, no clock.
 *
 * The model, in short (docs/cli.md explains it for users):
 * - What is compared is a stage's own time: its calls' durations less the time spent in the
 *   stages nested in them, so a slower child never makes its parent read slower. A stage that
 *   holds the CPU (synchronous calls that do not block, or CPU at least 75 % of its wall time)
 *   and whose CPU was measured on at least half its calls is compared on its CPU time: on a
 *   shared machine the wall time of the same code moves by tens of percent with what else runs
 *   (2x between two runs on a loaded 2-core host), its CPU time by 10-40 %. A stage that waits
 *   (I/O, timers) is compared on wall time.
 * - Noise has two parts. Within a run a stage's calls vary: the spread of its kept per-call
 *   records (or `stdDevMs`, or its quantiles) gives the standard error of its mean. Between runs
 *   the whole stage drifts (other load, CPU frequency, caches shared with a neighbour). That drift
 *   is taken as proportional to how much the stage's calls vary within a run, with the factor
 *   measured on the other stages of the same two reports, and never below a floor (14 % for CPU
 *   time, twice that for wall time). Both go into a t test on the log of the ratio head / base.
 * - A change gets a verdict of `slower` or `faster` only when that test rejects "no change" at the
 *   chosen confidence after a Holm correction over the compared stages (a report with fifty
 *   stages is not fifty chances of a false alarm), when it is at least `minChangePercent`, and
 *   when it moves the run by at least `minImpactPercent`. It is a regression only when it is
 *   `slower` by at least `failOnPercent`: a change smaller than the threshold is never a
 *   regression, however sure.
 */
import { median } from '../../analyzers/stats';
import type { PerformanceReport, StageMetrics, StageSummary } from '../types';
import { studentCritical, studentTwoSidedP } from '../../analyzers/tdist';

/** Options of {@link diffReports}. */
export interface DiffOptions {
  /** A stage is a regression when it got slower by at least this much, percent (default 10). */
  failOnPercent?: number;
  /** Confidence a verdict of faster or slower needs, 0.5-0.9999 (default 0.99), after the Holm correction over stages. */
  confidence?: number;
  /** Smallest change, percent, that can be called faster or slower (default: 5, or `failOnPercent` when lower). */
  minChangePercent?: number;
  /**
   * Smallest change that can be called faster or slower, as a share of the run's duration, percent
   * (default 0.5). A stage of a few milliseconds can double because one preemption by the OS
   * landed in it; a change that moves the run by less than this is within noise, however large
   * it is against the stage.
   */
  minImpactPercent?: number;
  /**
   * Run-to-run noise of one stage's CPU time (one standard deviation) assumed at least, percent
   * (default 14: a long CPU-bound stage drifted up to 38 % between identical runs on a loaded
   * 2-core host; 2-3 suits a quiet, dedicated machine). Wall time's floor is twice this. Above
   * the floor, a stage's noise is measured (see `DiffResult.noise`). The floor bounds the smallest
   * change two runs can show: with 14 % and 8 stages at 99 % confidence, about 50 % in CPU time
   * and 120 % in wall time (each stage's `detectablePercent`).
   */
  noiseFloorPercent?: number;
}

/** `faster` / `slower`: a change beyond the noise; `within-noise`: no change that the data can tell from noise. */
export type DiffVerdict = 'faster' | 'slower' | 'within-noise';

/** One figure in both runs. `changePercent` is null when the base is 0 or a side is missing. */
export interface DiffFigure {
  base?: number;
  head?: number;
  changePercent: number | null;
}

/** The change a verdict rests on, with how sure it is. */
export interface DiffEstimate {
  /** `cpu`: the stage's own CPU time; `wall`: its own wall time. */
  basis: 'cpu' | 'wall';
  /** Change of the stage's own time, head against base, percent. */
  changePercent: number;
  /** Confidence interval of `changePercent` at the chosen confidence (not Holm-corrected), percent. */
  ciLowPercent: number;
  ciHighPercent: number;
  /** p-value of "no change", Holm-corrected over the compared stages. */
  pValue: number;
  /** p-value of "no change" for this stage alone. */
  rawPValue: number;
  /** How much the change moves the run: the change of the stage's own time over the longer run's duration, percent. */
  impactPercent: number;
  /** Noise of the change (one standard error, within-run and run-to-run together), percent. */
  noisePercent: number;
  /** Degrees of freedom of the t test; null when infinite (the noise is then taken as known, a normal test). */
  df: number | null;
  /**
   * Smallest slowdown these two runs could tell from noise for this stage, percent: the change
   * whose p-value would pass the chosen confidence at the strictest Holm step, and at least
   * `minChangePercent`.
   */
  detectablePercent: number;
}

/** The comparison of one stage name. */
export interface StageDiff {
  stage: string;
  /** `both`: in both reports; `appeared`: only in head; `vanished`: only in base. */
  presence: 'both' | 'appeared' | 'vanished';
  /** Present for stages in both reports. */
  verdict?: DiffVerdict;
  /** True when the stage is `slower` by at least `failOnPercent`: what fails the gate. */
  regressed: boolean;
  /** The change the verdict rests on; absent when the stage's time could not be compared (then `note` says why). */
  estimate?: DiffEstimate;
  /** Why there is no estimate, or what limits it. */
  note?: string;
  calls: DiffFigure;
  /** Summed call time, ms (nested stages count inside their parent too). */
  totalMs: DiffFigure;
  /** Own time: summed call time less the time in nested stages, ms. */
  selfMs: DiffFigure;
  /** Own CPU time, ms, where the report measured it. */
  cpuMs: DiffFigure;
  p95Ms: DiffFigure;
  rowsPerSecond: DiffFigure;
  /** CPU of the process during the stage's calls, percent of one core. */
  cpuPercent: DiffFigure;
  /** Mean heap-used change per call, MiB. */
  heapDeltaMb: DiffFigure;
}

/** Identifies one of the two runs. */
export interface DiffRun {
  name: string;
  id: string;
  startedAt: string;
  status: string;
  durationMs: number;
  rowsProcessed: number;
  rowsPerSecond: number;
  generatorVersion: string;
}

/** What {@link diffReports} returns; `stagemeter diff --format json` prints it. */
export interface DiffResult {
  /** Schema version of both reports. */
  schemaVersion: number;
  base: DiffRun;
  head: DiffRun;
  /** The options in force, defaults filled in. */
  options: Required<DiffOptions>;
  run: { durationMs: DiffFigure; rowsProcessed: DiffFigure; rowsPerSecond: DiffFigure };
  /**
   * The run-to-run noise model of these two reports. A stage's noise (one standard deviation of
   * its log change, besides its within-run spread) is `scale` times its calls' coefficient of
   * variation, never below the floor. `scale` is measured on `stages` stages whose calls vary;
   * null when fewer than two, and then the floor alone applies.
   */
  noise: { cpuFloorPercent: number; wallFloorPercent: number; cpuScale: number | null; wallScale: number | null; cpuStages: number; wallStages: number };
  /** Regressed stages first, then slower, faster, unchanged, appeared, vanished; by time within each. */
  stages: StageDiff[];
  /** Names of the regressed stages. */
  regressions: string[];
  /** `regression` when any stage regressed: the gate fails. */
  verdict: 'regression' | 'ok';
  /** Caveats that apply to the whole comparison (different row counts, unfinished runs, ...). */
  notes: string[];
}

/** Bad input to {@link diffReports}: an empty report, or reports of different schema versions. */
export class ReportDiffError extends Error {
  override readonly name = 'ReportDiffError';
}

/** Fields the coming report versions add to a stage summary; read when present. */
type SummaryIn = StageSummary & { stdDevMs?: number; selfMs?: number; busyMs?: number };

/** A stage's own time in one run: its total and what its per-call spread says of the total's precision. */
interface Measure {
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

interface StageData {
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
const WALL_FLOOR_FACTOR = 2;
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
const CHI2_1_MEDIAN = 0.4549364231195724;

const DEFAULTS = { failOnPercent: 10, confidence: 0.99, noiseFloorPercent: 14, minImpactPercent: 0.5 } as const;

/**
 * Compares `head` against `base` stage by stage: per stage the change in own time with a verdict
 * (`faster`, `slower`, `within-noise`) and its confidence, total and p95 time, rows/s, CPU and
 * heap; stages that appeared or vanished; and whether any stage regressed past `failOnPercent`.
 * Both reports should come from the same workload (same input) on comparable machines.
 * Throws {@link ReportDiffError} for reports of different schema versions or without stages.
 *
 * @example
 * const result = diffReports(readReport('main.json'), readReport('pr.json'), { failOnPercent: 10 });
 * if (result.verdict === 'regression') console.log(`slower: ${result.regressions.join(', ')}`);
 */
export function diffReports(base: PerformanceReport, head: PerformanceReport, options: DiffOptions = {}): DiffResult {
  const opts = resolveOptions(options);
  if (base.schemaVersion !== head.schemaVersion) {
    throw new ReportDiffError(`the reports have different schema versions (base ${String(base.schemaVersion)}, head ${String(head.schemaVersion)}): compare reports written by the same major version of stagemeter`);
  }
  for (const [side, report] of [['base', base], ['head', head]] as const) {
    if (!Array.isArray(report.stageSummaries) || report.stageSummaries.length === 0) {
      throw new ReportDiffError(`the ${side} report has no stages: there is nothing to compare (was the pipeline monitored, and did its stages run?)`);
    }
  }
  const baseData = stageData(base);
  const headData = stageData(head);

  const compared: Array<{ name: string; b: StageData; h: StageData }> = [];
  const stages: StageDiff[] = [];
  for (const [name, b] of baseData) {
    const h = headData.get(name);
    if (h !== undefined) compared.push({ name, b, h });
    else stages.push({ ...figures(b, undefined), stage: name, presence: 'vanished', regressed: false });
  }
  for (const [name, h] of headData) if (!baseData.has(name)) stages.push({ ...figures(undefined, h), stage: name, presence: 'appeared', regressed: false });

  const cpuFloor = Math.log1p(opts.noiseFloorPercent / 100);
  const wallFloor = Math.log1p((opts.noiseFloorPercent * WALL_FLOOR_FACTOR) / 100);
  const wallChanges = compared.map(({ b, h }) => logChange(b.wall, h.wall));
  const cpuChanges = compared.map(({ b, h }) => (b.cpu && h.cpu ? logChange(b.cpu, h.cpu) : undefined));
  const othersThan = (changes: ReadonlyArray<LogChange | undefined>, i: number): LogChange[] => changes.filter((c, j): c is LogChange => j !== i && c !== undefined);
  const runMs = Math.max(finiteOr(base.run.durationMs), finiteOr(head.run.durationMs));
  const alpha = 1 - opts.confidence;

  const tested: Array<{ diff: StageDiff; test: TestResult }> = [];
  compared.forEach(({ name, b, h }, i) => {
    const diff: StageDiff = { ...figures(b, h), stage: name, presence: 'both', verdict: 'within-noise', regressed: false };
    stages.push(diff);
    const useCpu = cpuChanges[i] !== undefined && holdsCpu(b, h);
    const changes = useCpu ? cpuChanges : wallChanges;
    const change = changes[i];
    if (change === undefined) {
      diff.note = b.wall.totalMs > 0 || h.wall.totalMs > 0 ? 'no own time measured in one of the runs' : 'no own time measured in either run';
      return;
    }
    // the stage's own change must not widen the noise it is judged against
    const test = tTest(change, stageNoise(change, othersThan(changes, i), useCpu ? cpuFloor : wallFloor), opts.confidence);
    tested.push({ diff, test });
    const [mb, mh] = useCpu ? [b.cpu!, h.cpu!] : [b.wall, h.wall];
    diff.estimate = {
      basis: useCpu ? 'cpu' : 'wall',
      changePercent: pct(test.y),
      ciLowPercent: pct(test.y - test.halfWidth),
      ciHighPercent: pct(test.y + test.halfWidth),
      pValue: test.p,
      rawPValue: test.p,
      impactPercent: runMs > 0 ? round((Math.abs(mh.totalMs - mb.totalMs) / runMs) * 100, 3) : 0,
      noisePercent: round(Math.expm1(test.se) * 100, 2),
      df: Number.isFinite(test.df) ? round(test.df, 1) : null,
      detectablePercent: 0,
    };
    if (change.singleCall) diff.note = 'called once in a run: the noise measured on the other stages (or the floor) alone bounds it';
  });

  holm(tested.map((t) => t.diff.estimate!));
  for (const { diff, test } of tested) {
    const e = diff.estimate!;
    e.detectablePercent = Math.max(opts.minChangePercent, pct(test.se * studentCritical(alpha / tested.length, test.df)));
    if (e.pValue >= alpha) continue;
    if (e.impactPercent < opts.minImpactPercent) {
      diff.note = `changed by ${e.changePercent}%, which moves the run by ${e.impactPercent}%, under the ${opts.minImpactPercent}% that counts`;
      continue;
    }
    if (e.changePercent >= opts.minChangePercent) diff.verdict = 'slower';
    else if (e.changePercent <= -opts.minChangePercent) diff.verdict = 'faster';
    diff.regressed = diff.verdict === 'slower' && e.changePercent >= opts.failOnPercent;
  }
  const wallScale = driftScale(othersThan(wallChanges, -1));
  const cpuScale = driftScale(othersThan(cpuChanges, -1));

  stages.sort(byImportance);
  const regressions = stages.filter((s) => s.regressed).map((s) => s.stage);
  return {
    schemaVersion: base.schemaVersion,
    base: runOf(base),
    head: runOf(head),
    options: opts,
    run: {
      durationMs: figure(base.run.durationMs, head.run.durationMs),
      rowsProcessed: figure(base.run.rowsProcessed, head.run.rowsProcessed),
      rowsPerSecond: figure(base.run.rowsPerSecond, head.run.rowsPerSecond),
    },
    noise: {
      cpuFloorPercent: opts.noiseFloorPercent,
      wallFloorPercent: round(opts.noiseFloorPercent * WALL_FLOOR_FACTOR, 2),
      cpuScale: cpuScale !== undefined ? round(cpuScale.kappa, 3) : null,
      wallScale: wallScale !== undefined ? round(wallScale.kappa, 3) : null,
      cpuStages: cpuScale?.k ?? 0,
      wallStages: wallScale?.k ?? 0,
    },
    stages,
    regressions,
    verdict: regressions.length > 0 ? 'regression' : 'ok',
    notes: notesOf(base, head),
  };
}

function resolveOptions(o: DiffOptions): Required<DiffOptions> {
  const failOnPercent = o.failOnPercent ?? DEFAULTS.failOnPercent;
  const confidence = o.confidence ?? DEFAULTS.confidence;
  const noiseFloorPercent = o.noiseFloorPercent ?? DEFAULTS.noiseFloorPercent;
  const minChangePercent = o.minChangePercent ?? Math.min(5, failOnPercent);
  const minImpactPercent = o.minImpactPercent ?? DEFAULTS.minImpactPercent;
  const bad: string[] = [];
  if (!(Number.isFinite(failOnPercent) && failOnPercent >= 0)) bad.push(`failOnPercent must be a number >= 0 (got ${String(failOnPercent)})`);
  if (!(Number.isFinite(confidence) && confidence >= 0.5 && confidence <= 0.9999)) bad.push(`confidence must be from 0.5 to 0.9999 (got ${String(confidence)})`);
  if (!(Number.isFinite(noiseFloorPercent) && noiseFloorPercent >= 0)) bad.push(`noiseFloorPercent must be a number >= 0 (got ${String(noiseFloorPercent)})`);
  if (!(Number.isFinite(minChangePercent) && minChangePercent >= 0)) bad.push(`minChangePercent must be a number >= 0 (got ${String(minChangePercent)})`);
  if (!(Number.isFinite(minImpactPercent) && minImpactPercent >= 0)) bad.push(`minImpactPercent must be a number >= 0 (got ${String(minImpactPercent)})`);
  if (bad.length > 0) throw new ReportDiffError(`invalid diff options: ${bad.join('; ')}`);
  return { failOnPercent, confidence, minChangePercent, minImpactPercent, noiseFloorPercent };
}

// ---------------------------------------------------------------------------------------------
// What a report says about each stage's own time
// ---------------------------------------------------------------------------------------------

/** Per stage name: its summary and its own time in wall and (where measured) CPU terms. */
function stageData(report: PerformanceReport): Map<string, StageData> {
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
function holdsCpu(b: StageData, h: StageData): boolean {
  if (b.cpu === undefined || h.cpu === undefined) return false;
  if (probedShare(b) < MIN_PROBED_SHARE || probedShare(h) < MIN_PROBED_SHARE) return false;
  return Math.max(share(b.cpu, b.wall), share(h.cpu, h.wall)) >= CPU_BOUND_SHARE || (runsOnCpu(b.summary) && runsOnCpu(h.summary));
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/** ln(head / base) of a stage's own time, and its within-run variance (delta method). */
interface LogChange {
  /**
   * Coefficient of variation of one call's own time (standard deviation over mean), the larger of
   * the two runs; NaN when unknown (a single call).
   */
  cv: number;
  y: number;
  /** Within-run variance of y. */
  v: number;
  /** Welch-Satterthwaite parts: (variance term, its degrees of freedom) per run. */
  parts: Array<readonly [number, number]>;
  singleCall: boolean;
}

function logChange(b: Measure, h: Measure): LogChange | undefined {
  if (!(b.totalMs > 0 && h.totalMs > 0)) return undefined;
  const y = Math.log(h.totalMs / b.totalMs);
  const parts: Array<readonly [number, number]> = [];
  let v = 0;
  let singleCall = false;
  for (const m of [b, h]) {
    if (m.sd === undefined || m.df < 1) {
      singleCall = true;
      continue;
    }
    const cv = m.sd / (m.totalMs / m.calls);
    const term = (cv * cv) / m.n;
    v += term;
    parts.push([term, m.df]);
  }
  const cvOf = (m: Measure): number => (m.sd !== undefined && m.totalMs > 0 && m.calls > 0 ? m.sd / (m.totalMs / m.calls) : NaN);
  return { cv: Math.max(cvOf(b), cvOf(h)), y, v, parts, singleCall };
}

/**
 * How far a stage drifts between two runs, per unit of how much its calls vary within a run: the
 * κ at which the median over the given stages of y² / (v + κ²·cv²) is the median of χ²(1) (a
 * median form of the Paule-Mandel estimator of meta-analysis, with each stage's run-to-run
 * variance taken as κ²·cv²). Undefined with fewer than two stages whose calls vary.
 *
 * Why per unit of call-to-call variation: both come from the same interference (other processes,
 * where GC lands, caches), and a stage that is steady from call to call is steady from run to run.
 * On a loaded 2-core host the audit stage (calls within ±12 %) drifted up to 38 % in CPU time
 * between identical runs, while stages whose calls varied ±100 % drifted 50-200 %: judged by the
 * other stages' drift alone, the audit's doubling went unseen in 4 of 44 pairs.
 */
function driftScale(stages: readonly LogChange[]): { kappa: number; k: number } | undefined {
  const usable = stages.filter((c) => Number.isFinite(c.cv) && c.cv > 0);
  if (usable.length < 2) return undefined;
  const stat = (kappa: number): number => median(usable.map((c) => (c.y * c.y) / (c.v + kappa * kappa * c.cv * c.cv || Number.MIN_VALUE)));
  if (stat(0) <= CHI2_1_MEDIAN) return { kappa: 0, k: usable.length };
  let lo = 0;
  let hi = 1;
  while (stat(hi) > CHI2_1_MEDIAN && hi < 1e6) hi *= 2;
  // the statistic falls as κ grows: bisect to 0.1 % of κ's scale
  while (hi - lo > 1e-3 * Math.max(1, hi)) {
    const mid = (lo + hi) / 2;
    if (stat(mid) > CHI2_1_MEDIAN) lo = mid;
    else hi = mid;
  }
  return { kappa: hi, k: usable.length };
}

/**
 * The run-to-run noise of one stage's log change: κ (measured on the other stages, never on the
 * stage judged, so a large change cannot hide itself) times the stage's own call-to-call
 * variation, and never below `floor`, which covers what two runs cannot show (a drift shared by
 * every stage, a stage drifting more than its calls vary). A stage called once has no variation
 * of its own: it gets the other stages' typical drift, κ times the median of their variation.
 */
function stageNoise(change: LogChange, others: readonly LogChange[], floor: number): number {
  const scale = driftScale(others);
  if (scale === undefined) return floor;
  const cv = Number.isFinite(change.cv) ? change.cv : median(others.filter((c) => Number.isFinite(c.cv)).map((c) => c.cv));
  return Math.max(floor, scale.kappa * cv);
}

interface TestResult {
  y: number;
  se: number;
  df: number;
  p: number;
  halfWidth: number;
}

/** t test of y = 0 with the within-run variance and the run-to-run noise `tau` (log scale). */
function tTest(c: LogChange, tau: number, confidence: number): TestResult {
  const tau2 = tau * tau;
  const variance = c.v + tau2;
  const se = Math.sqrt(variance);
  // Welch-Satterthwaite over the within-run terms. The run-to-run term is taken as known: giving it
  // the k − 1 degrees of freedom of a handful of stages made a 2x slowdown unprovable on a loaded
  // host (t critical ~8 at df 4), and its floor, not its degrees of freedom, is what keeps a lucky
  // low estimate from raising false alarms
  let denom = 0;
  for (const [term, df] of c.parts) denom += (term * term) / df;
  const df = denom > 0 ? (variance * variance) / denom : Infinity;
  const p = se > 0 ? studentTwoSidedP(c.y / se, df) : c.y === 0 ? 1 : 0;
  const halfWidth = se * studentCritical(1 - confidence, df);
  return { y: c.y, se, df, p, halfWidth };
}

/** Holm-Bonferroni: replaces each estimate's pValue by its step-down adjusted value (rawPValue keeps the original). */
function holm(estimates: DiffEstimate[]): void {
  const order = estimates.map((e, i) => [e.rawPValue, i] as const).sort((a, b) => a[0] - b[0]);
  const m = order.length;
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, p * (m - rank)));
    estimates[i]!.pValue = running;
  });
}

// ---------------------------------------------------------------------------------------------
// Figures, order, notes
// ---------------------------------------------------------------------------------------------

type Figures = Pick<StageDiff, 'calls' | 'totalMs' | 'selfMs' | 'cpuMs' | 'p95Ms' | 'rowsPerSecond' | 'cpuPercent' | 'heapDeltaMb'>;

function figures(b: StageData | undefined, h: StageData | undefined): Figures {
  const f = (get: (d: StageData) => number | undefined): DiffFigure => figure(b && get(b), h && get(h));
  return {
    calls: f((d) => d.summary.calls),
    totalMs: f((d) => d.summary.totalMs),
    selfMs: f((d) => d.selfMs),
    cpuMs: f((d) => d.cpu?.totalMs),
    p95Ms: f((d) => d.summary.p95Ms),
    rowsPerSecond: f((d) => d.summary.rowsPerSecond),
    cpuPercent: f((d) => d.summary.cpu?.percent),
    heapDeltaMb: f((d) => d.summary.meanHeapUsedDeltaMb),
  };
}

function figure(base: number | undefined, head: number | undefined): DiffFigure {
  const b = isFiniteNumber(base) ? base : undefined;
  const h = isFiniteNumber(head) ? head : undefined;
  const changePercent = b !== undefined && h !== undefined && b !== 0 ? round(((h - b) / Math.abs(b)) * 100, 2) : null;
  return { ...(b !== undefined ? { base: b } : {}), ...(h !== undefined ? { head: h } : {}), changePercent };
}

const RANK: Record<string, number> = { regressed: 0, slower: 1, faster: 2, 'within-noise': 3, appeared: 4, vanished: 5 };

function byImportance(a: StageDiff, b: StageDiff): number {
  const ra = RANK[a.regressed ? 'regressed' : a.presence === 'both' ? a.verdict! : a.presence]!;
  const rb = RANK[b.regressed ? 'regressed' : b.presence === 'both' ? b.verdict! : b.presence]!;
  if (ra !== rb) return ra - rb;
  const ta = Math.max(a.selfMs.base ?? 0, a.selfMs.head ?? 0);
  const tb = Math.max(b.selfMs.base ?? 0, b.selfMs.head ?? 0);
  return tb - ta || (a.stage < b.stage ? -1 : a.stage > b.stage ? 1 : 0);
}

function runOf(r: PerformanceReport): DiffRun {
  return {
    name: r.run.name,
    id: r.run.id,
    startedAt: r.run.startedAt,
    status: r.run.status,
    durationMs: r.run.durationMs,
    rowsProcessed: r.run.rowsProcessed,
    rowsPerSecond: r.run.rowsPerSecond,
    generatorVersion: r.generator?.version ?? 'unknown',
  };
}

function notesOf(base: PerformanceReport, head: PerformanceReport): string[] {
  const notes: string[] = [];
  const rb = base.run.rowsProcessed;
  const rh = head.run.rowsProcessed;
  if (rb !== rh && Math.abs(rh - rb) > 0.01 * Math.max(rb, rh)) {
    notes.push(`the runs processed different numbers of rows (base ${rb}, head ${rh}): stage times compare different work; rows/s compares like with like`);
  }
  for (const [side, r] of [['base', base], ['head', head]] as const) {
    if (r.run.status !== 'completed') notes.push(`the ${side} run is ${r.run.status}, not completed: its stages may be missing calls`);
  }
  if (base.run.host?.cpus !== head.run.host?.cpus || base.run.host?.platform !== head.run.host?.platform || base.run.host?.arch !== head.run.host?.arch) {
    notes.push('the runs come from different kinds of machine (CPU count, platform or architecture): a change may be the machine');
  }
  return notes;
}

// ---------------------------------------------------------------------------------------------
// Small numeric helpers
// ---------------------------------------------------------------------------------------------

function pct(logRatio: number): number {
  return round(Math.expm1(logRatio) * 100, 2);
}

function round(x: number, digits: number): number {
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

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function isFiniteNonNegative(x: unknown): x is number {
  return isFiniteNumber(x) && x >= 0;
}

function positiveInt(x: unknown, fallback: number): number {
  return isFiniteNumber(x) && x >= 1 ? Math.floor(x) : Math.max(1, fallback);
}

function finiteOr(...values: Array<number | undefined>): number {
  for (const v of values) if (isFiniteNonNegative(v)) return v;
  return 0;
}
