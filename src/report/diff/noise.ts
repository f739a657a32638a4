/**
 * The noise model of a diff: a stage's change as a log ratio with its standard error, the
 * run-to-run drift measured on the other stages, a t test, and the Holm correction over stages.
 */
import { median } from '../../../analyzers/stats';
import { studentCritical, studentTwoSidedP } from '../../../analyzers/tdist';
import type { DiffEstimate } from './types';
import { CHI2_1_MEDIAN, type Measure } from './stageData';

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/** ln(head / base) of a stage's own time, and its within-run variance (delta method). */
export interface LogChange {
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

export function logChange(b: Measure, h: Measure): LogChange | undefined {
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
export function driftScale(stages: readonly LogChange[]): { kappa: number; k: number } | undefined {
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
export function stageNoise(change: LogChange, others: readonly LogChange[], floor: number): number {
  const scale = driftScale(others);
  if (scale === undefined) return floor;
  const cv = Number.isFinite(change.cv) ? change.cv : median(others.filter((c) => Number.isFinite(c.cv)).map((c) => c.cv));
  return Math.max(floor, scale.kappa * cv);
}

export interface TestResult {
  y: number;
  se: number;
  df: number;
  p: number;
  halfWidth: number;
}

/** t test of y = 0 with the within-run variance and the run-to-run noise `tau` (log scale). */
export function tTest(c: LogChange, tau: number, confidence: number): TestResult {
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
export function holm(estimates: DiffEstimate[]): void {
  const order = estimates.map((e, i) => [e.rawPValue, i] as const).sort((a, b) => a[0] - b[0]);
  const m = order.length;
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, p * (m - rank)));
    estimates[i]!.pValue = running;
  });
}

