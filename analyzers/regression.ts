/**
 * Ordinary least squares with an intercept, for a handful of regressors, with the standard error
 * and a one-sided p-value of each coefficient (Student's t). Pure; O(n·k² + k³).
 */
import { studentTwoSidedP } from './tdist';

export interface OlsFit {
  intercept: number;
  coefficients: number[];
  standardErrors: number[];
  /** P(T >= t) for each coefficient: small when it is significantly positive. */
  pOneSided: number[];
  degreesOfFreedom: number;
}

/** Solves A x = b (A square, copied) by Gaussian elimination with partial pivoting; undefined when singular. */
function solve(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[piv]![c]!)) piv = r;
    if (Math.abs(m[piv]![c]!) < 1e-12) return undefined;
    [m[c], m[piv]] = [m[piv]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      if (f === 0) continue;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/** The inverse of a small symmetric matrix, column by column; undefined when singular. */
function inverse(a: number[][]): number[][] | undefined {
  const n = a.length;
  const cols: number[][] = [];
  for (let j = 0; j < n; j++) {
    const e = new Array<number>(n).fill(0);
    e[j] = 1;
    const x = solve(a, e);
    if (x === undefined) return undefined;
    cols.push(x);
  }
  return a.map((_, i) => cols.map((c) => c[i]!));
}

/**
 * P(T >= t) for Student's t with `df` degrees of freedom.
 *
 * @example
 * studentTUpper(2.0, 10); // ~0.0367
 */
export function studentTUpper(t: number, df: number): number {
  const tail = 0.5 * studentTwoSidedP(t, df);
  return t >= 0 ? tail : 1 - tail;
}

/**
 * Fits y = intercept + Σ βk·xk by (weighted) least squares. Undefined with fewer observations than
 * parameters + 2, or collinear regressors.
 *
 * @example
 * olsWithIntercept([[1, 2, 3, 4, 5, 6]], [2.1, 3.9, 6.2, 7.8, 10.1, 12]); // { coefficients: [~2], ... }
 */
export function olsWithIntercept(xs: readonly (readonly number[])[], y: readonly number[], weights?: readonly number[]): OlsFit | undefined {
  const n = y.length;
  const k = xs.length + 1;
  const df = n - k;
  if (df < 2) return undefined;
  const row = (i: number): number[] => [1, ...xs.map((x) => x[i]!)];
  const xtx = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const xty = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    const r = row(i);
    const w = weights?.[i] ?? 1;
    for (let a = 0; a < k; a++) {
      xty[a]! += w * r[a]! * y[i]!;
      for (let b = 0; b < k; b++) xtx[a]![b]! += w * r[a]! * r[b]!;
    }
  }
  const inv = inverse(xtx);
  if (inv === undefined) return undefined;
  const beta = inv.map((r) => r.reduce((s, v, j) => s + v * xty[j]!, 0));
  let rss = 0;
  for (let i = 0; i < n; i++) {
    const r = row(i);
    const fitted = r.reduce((s, v, j) => s + v * beta[j]!, 0);
    rss += (weights?.[i] ?? 1) * (y[i]! - fitted) ** 2;
  }
  const sigma2 = rss / df;
  const se = inv.map((r, j) => Math.sqrt(Math.max(0, sigma2 * r[j]!)));
  const p = beta.map((b, j) => (se[j]! > 0 ? studentTUpper(b / se[j]!, df) : b > 0 ? 0 : 1));
  return { intercept: beta[0]!, coefficients: beta.slice(1), standardErrors: se.slice(1), pOneSided: p.slice(1), degreesOfFreedom: df };
}

/** Huber's tuning constant: 95 % efficiency on normal errors. */
const HUBER_K = 1.345;

/**
 * A least-squares fit that outlying observations cannot drag: iteratively reweighted, each
 * residual beyond HUBER_K robust standard deviations weighted down in proportion (Huber's M-estimator).
 * The heap floor read between two collections now and then misses a collection and jumps by
 * megabytes; such a point would otherwise decide the fit.
 *
 * @example
 * robustFit([[1, 2, 3, 4, 5, 6, 7, 8]], [1, 2, 3, 40, 5, 6, 7, 8]); // slope ~1 despite the 40
 */
export function robustFit(xs: readonly (readonly number[])[], y: readonly number[], iterations = 6): OlsFit | undefined {
  let fit = olsWithIntercept(xs, y);
  for (let it = 0; it < iterations && fit !== undefined; it++) {
    const f = fit;
    const residuals = y.map((v, i) => v - f.intercept - xs.reduce((s, x, j) => s + f.coefficients[j]! * x[i]!, 0));
    const abs = residuals.map(Math.abs).sort((a, b) => a - b);
    const scale = 1.4826 * abs[abs.length >> 1]!;
    if (!(scale > 0)) break;
    const c = HUBER_K * scale;
    const weights = residuals.map((r) => (Math.abs(r) <= c ? 1 : c / Math.abs(r)));
    fit = olsWithIntercept(xs, y, weights);
  }
  return fit;
}
