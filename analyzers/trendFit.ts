/**
 * Line fits and trend tests for the memory trend: robust line fits (Theil-Sen), the Mann-Kendall
 * trend test with the Hamed-Rao correction for autocorrelated series, ordinary least squares (the
 * naive baseline and r²), and the normal distribution. Pure; finite numbers for finite input.
 */
import { clamp, median, strideIndices } from './stats';

/** Theil-Sen fits more points than this on an evenly strided subsample (keeps it O(n) in n). */
export const THEIL_SEN_MAX_POINTS = 400;

export interface LineFit {
  /** Change of y per unit of x. */
  slope: number;
  intercept: number;
}

/**
 * Theil-Sen line: the median of the slopes of all pairs with distinct x (robust to 29 % of
 * outliers), intercept = median of y − slope·x. Series longer than {@link THEIL_SEN_MAX_POINTS}
 * are fitted on an evenly strided subsample, so the cost stays bounded (≈ 80 000 pairs).
 *
 * @example
 * theilSen([0, 1, 2, 3], [1, 3, 5, 100]).slope; // 2
 */
export function theilSen(xs: ArrayLike<number>, ys: ArrayLike<number>): LineFit {
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return { slope: 0, intercept: 0 };
  const idx = strideIndices(n, THEIL_SEN_MAX_POINTS);
  const m = idx.length;
  const slopes = new Float64Array((m * (m - 1)) / 2);
  let k = 0;
  for (let a = 0; a < m; a++) {
    const i = idx[a]!;
    const xi = xs[i]!;
    const yi = ys[i]!;
    for (let b = a + 1; b < m; b++) {
      const j = idx[b]!;
      const dx = xs[j]! - xi;
      if (dx !== 0) {
        const s = (ys[j]! - yi) / dx;
        if (Number.isFinite(s)) slopes[k++] = s;
      }
    }
  }
  const slope = k > 0 ? median(slopes.subarray(0, k)) : 0;
  const resid = new Float64Array(n);
  for (let i = 0; i < n; i++) resid[i] = ys[i]! - slope * xs[i]!;
  return { slope, intercept: median(resid) };
}

/**
 * Coefficient of determination of the line on the points, clamped to 0..1 (0 when y does not vary).
 *
 * @example
 * rSquared([0, 1, 2], [0, 1, 2], { slope: 1, intercept: 0 }); // 1
 */
export function rSquared(xs: ArrayLike<number>, ys: ArrayLike<number>, fit: LineFit): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += ys[i]!;
  mean /= n;
  let ssTot = 0;
  let ssRes = 0;
  for (let i = 0; i < n; i++) {
    const y = ys[i]!;
    const r = y - (fit.intercept + fit.slope * xs[i]!);
    ssRes += r * r;
    ssTot += (y - mean) * (y - mean);
  }
  if (!(ssTot > 0)) return 0;
  return clamp(1 - ssRes / ssTot, 0, 1);
}

export interface LeastSquaresFit extends LineFit {
  r2: number;
  /** Standard error of the slope. */
  slopeStdErr: number;
  /** Two-sided p-value of slope ≠ 0 (normal approximation of the t statistic). */
  pValue: number;
}

/**
 * Ordinary least squares with the usual t test of the slope (normal approximation, fine for the
 * series lengths stagemeter sees). This is the naive leak detector the memory trend is compared to.
 *
 * @example
 * leastSquares([0, 1, 2, 3], [1, 3, 5, 7]).slope; // 2
 */
export function leastSquares(xs: ArrayLike<number>, ys: ArrayLike<number>): LeastSquaresFit {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { slope: 0, intercept: n === 1 ? ys[0]! : 0, r2: 0, slopeStdErr: 0, pValue: 1 };
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (!(sxx > 0)) return { slope: 0, intercept: my, r2: 0, slopeStdErr: 0, pValue: 1 };
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const ssRes = Math.max(0, syy - slope * sxy);
  const r2 = syy > 0 ? clamp(1 - ssRes / syy, 0, 1) : 0;
  const slopeStdErr = n > 2 ? Math.sqrt(ssRes / (n - 2) / sxx) : 0;
  const pValue = slopeStdErr > 0 ? twoSidedP(slope / slopeStdErr) : slope === 0 ? 1 : 0;
  return { slope, intercept, r2, slopeStdErr, pValue };
}

/**
 * Complementary error function, fractional error < 1.2e-7 everywhere (Numerical Recipes
 * `erfcc`), so tail p-values keep their precision.
 *
 * @example
 * erfc(0); // ≈ 1
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/**
 * Standard normal cumulative distribution function.
 *
 * @example
 * normalCdf(1.959964); // ≈ 0.975
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return 0.5;
  return 0.5 * erfc(-z / Math.SQRT2);
}

/**
 * Two-sided p-value of a standard normal statistic, within 0..1.
 *
 * @example
 * twoSidedP(1.959964); // ≈ 0.05
 */
export function twoSidedP(z: number): number {
  if (Number.isNaN(z)) return 1;
  return clamp(erfc(Math.abs(z) / Math.SQRT2), 0, 1);
}

/**
 * Ranks 1..n, ties get their mean rank.
 *
 * @example
 * ranks([10, 20, 20, 5]); // Float64Array [2, 3.5, 3.5, 1]
 */
export function ranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const out = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]!] === values[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]!] = r;
    i = j + 1;
  }
  return out;
}

export interface MannKendallResult {
  /** The S statistic: concordant minus discordant pairs. */
  s: number;
  /** Kendall's tau-a, S / (n(n−1)/2), −1..1. */
  tau: number;
  /** Variance of S under no trend, with ties and the autocorrelation correction applied. */
  varS: number;
  /** Variance inflation of the Hamed-Rao correction (n/n*, never below 1). */
  varianceInflation: number;
  z: number;
  /** Two-sided p-value, 0..1. */
  pValue: number;
}

/**
 * Mann-Kendall trend test of `ys` in time order, with the Hamed & Rao (1998) correction for
 * autocorrelation: the series is detrended with its Theil-Sen slope against `xs`, the
 * autocorrelations of its ranks at every lag that is significant at 5 % inflate the variance of S
 * by n/n* = 1 + 2/(n(n−1)(n−2)) Σ (n−k)(n−k−1)(n−k−2) ρ_k. The inflation is never allowed below 1:
 * negative autocorrelation does not make the test more confident. O(n²); callers keep n small.
 *
 * @example
 * mannKendall([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).s; // 45
 */
export function mannKendall(xs: ArrayLike<number>, ys: ArrayLike<number>): MannKendallResult {
  const n = Math.min(xs.length, ys.length);
  if (n < 3) return { s: 0, tau: 0, varS: 0, varianceInflation: 1, z: 0, pValue: 1 };
  let s = 0;
  for (let i = 0; i < n - 1; i++) {
    const yi = ys[i]!;
    for (let j = i + 1; j < n; j++) {
      const d = ys[j]! - yi;
      s += d > 0 ? 1 : d < 0 ? -1 : 0;
    }
  }
  // variance with the tie correction
  const sorted = Float64Array.from({ length: n }, (_, i) => ys[i]!).sort();
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && sorted[j + 1] === sorted[i]) j++;
    const t = j - i + 1;
    if (t > 1) tieTerm += t * (t - 1) * (2 * t + 5);
    i = j + 1;
  }
  let varS = (n * (n - 1) * (2 * n + 5) - tieTerm) / 18;
  // Hamed-Rao: autocorrelation of the ranks of the detrended series
  const fit = theilSen(xs, ys);
  const detrended = new Float64Array(n);
  for (let i = 0; i < n; i++) detrended[i] = ys[i]! - fit.slope * xs[i]!;
  const r = ranks(detrended);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += r[i]!;
  mean /= n;
  let c0 = 0;
  for (let i = 0; i < n; i++) c0 += (r[i]! - mean) ** 2;
  let inflation = 1;
  if (c0 > 0) {
    const bound = 1.96 / Math.sqrt(n);
    let sum = 0;
    for (let k = 1; k < n - 2; k++) {
      let ck = 0;
      for (let i = 0; i + k < n; i++) ck += (r[i]! - mean) * (r[i + k]! - mean);
      const rho = ck / c0;
      // lags up to the first insignificant one: later "significant" lags of a short series are
      // mostly noise, and their negative values would cancel the real short-range dependence
      if (!(rho > bound || rho < -bound)) break;
      sum += (n - k) * (n - k - 1) * (n - k - 2) * rho;
    }
    inflation = Math.max(1, 1 + (2 / (n * (n - 1) * (n - 2))) * sum);
  }
  varS *= inflation;
  const z = varS > 0 ? (s > 0 ? (s - 1) / Math.sqrt(varS) : s < 0 ? (s + 1) / Math.sqrt(varS) : 0) : 0;
  return { s, tau: s / ((n * (n - 1)) / 2), varS, varianceInflation: inflation, z, pValue: twoSidedP(z) };
}
