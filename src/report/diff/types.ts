/** The public types of a diff: its options, its result, its error. */

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
