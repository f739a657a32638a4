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
import type { PerformanceReport } from '../types';
import { studentCritical } from '../../analyzers/tdist';
import { driftScale, holm, logChange, stageNoise, tTest, type LogChange, type TestResult } from './diff/noise';
import { DEFAULTS, finiteOr, holdsCpu, isFiniteNumber, pct, round, stageData, WALL_FLOOR_FACTOR, type StageData } from './diff/stageData';
import { ReportDiffError, type DiffFigure, type DiffOptions, type DiffResult, type DiffRun, type StageDiff } from './diff/types';

export { ReportDiffError } from './diff/types';
export type { DiffEstimate, DiffFigure, DiffOptions, DiffResult, DiffRun, DiffVerdict, StageDiff } from './diff/types';

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

