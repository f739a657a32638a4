import { clamp, LargestK, mad, median, quantile, round, strideIndices } from '../../analyzers/stats';
import { erfc, leastSquares, mannKendall, normalCdf, ranks, rSquared, theilSen, THEIL_SEN_MAX_POINTS, twoSidedP } from '../../analyzers/trendFit';

describe('order statistics', () => {
  it('median of an odd and an even number of values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBe(0);
  });

  it('quantile interpolates linearly between order statistics', () => {
    expect(quantile([5, 1, 4, 2, 3], 0.75)).toBe(4);
    expect(quantile([10, 20], 0.25)).toBe(12.5);
    expect(quantile([7], 0.9)).toBe(7);
  });

  it('quantile does not reorder its input', () => {
    const values = [3, 1, 2];
    quantile(values, 0.5);
    expect(values).toEqual([3, 1, 2]);
  });

  it('MAD ignores a single huge outlier', () => {
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
    expect(mad([5, 5, 5])).toBe(0);
  });

  it('ranks give tied values their mean rank', () => {
    expect([...ranks([10, 20, 20, 5])]).toEqual([2, 3.5, 3.5, 1]);
  });

  it('strideIndices keeps the first and last index and at most max indices', () => {
    expect(strideIndices(5, 10)).toEqual([0, 1, 2, 3, 4]);
    expect(strideIndices(101, 5)).toEqual([0, 25, 50, 75, 100]);
    expect(strideIndices(0, 10)).toEqual([]);
  });

  it('quantile does not reorder a typed array either', () => {
    const values = Float64Array.of(3, 1, 2);
    expect(quantile(values, 0.5)).toBe(2);
    expect([...values]).toEqual([3, 1, 2]);
  });
});

describe('LargestK', () => {
  const offerAll = (values: readonly number[], k: number): LargestK => {
    const top = new LargestK(k);
    values.forEach((v, i) => top.offer(i, v));
    return top;
  };

  it('keeps the positions of the k largest values, in position order, ties to the earlier', () => {
    expect([...offerAll([5, 1, 7, 5, 2], 2).positions()]).toEqual([0, 2]);
    expect([...offerAll([5, 1, 7, 5, 2], 3).positions()]).toEqual([0, 2, 3]);
  });

  it('keeps what a stable sort, largest first, cut at k keeps, across many compactions of its buffer', () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // few distinct values, so ties straddle every cut-off
    const values = Array.from({ length: 20_000 }, () => Math.floor(next() * 40));
    for (const k of [1, 7, 50, 1000]) {
      const bySort = values
        .map((v, i) => ({ v, i }))
        .sort((a, b) => b.v - a.v)
        .slice(0, k)
        .map((e) => e.i)
        .sort((a, b) => a - b);
      expect([...offerAll(values, k).positions()]).toEqual(bySort);
    }
  });

  it('keeps everything when at most k values are offered, and counts what was offered', () => {
    const top = offerAll([3, 9, 3], 5);
    expect([...top.positions()]).toEqual([0, 1, 2]);
    expect(top.offered).toBe(3);
    expect([...offerAll([3, 9, 3], 0).positions()]).toEqual([]);
  });

  it('never keeps NaN', () => {
    expect([...offerAll([Number.NaN, 1, Number.NaN], 2).positions()]).toEqual([1]);
  });
});

describe('line fits', () => {
  it('Theil-Sen recovers the slope despite an outlier that drags least squares', () => {
    const xs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const ys = xs.map((x) => 1 + 2 * x);
    ys[9] = 500;
    expect(theilSen(xs, ys)).toEqual({ slope: 2, intercept: 1 });
    expect(leastSquares(xs, ys).slope).toBeGreaterThan(20);
  });

  it('Theil-Sen skips pairs with the same x', () => {
    expect(theilSen([0, 0, 1, 2], [0, 5, 1, 2]).slope).toBe(1);
  });

  it('Theil-Sen subsamples long series and still finds the exact slope of a line', () => {
    const n = THEIL_SEN_MAX_POINTS * 10;
    const xs = Array.from({ length: n }, (_, i) => i);
    expect(theilSen(xs, xs.map((x) => 3 * x - 7))).toEqual({ slope: 3, intercept: -7 });
  });

  it('least squares gives slope, intercept, r² and a p-value', () => {
    const fit = leastSquares([0, 1, 2, 3], [1, 3, 5, 7]);
    expect(fit.slope).toBe(2);
    expect(fit.intercept).toBe(1);
    expect(fit.r2).toBe(1);
    expect(fit.pValue).toBe(0);
    expect(leastSquares([0, 1, 2, 3], [1, 3, 1, 3])).toMatchObject({ slope: 0.4, pValue: expect.any(Number) });
  });

  it('least squares of constant x has no slope and p = 1', () => {
    expect(leastSquares([1, 1, 1], [1, 2, 3])).toMatchObject({ slope: 0, pValue: 1 });
  });

  it('r² is 1 for a perfect fit, 0 when y does not vary, never negative', () => {
    expect(rSquared([0, 1, 2], [0, 1, 2], { slope: 1, intercept: 0 })).toBe(1);
    expect(rSquared([0, 1, 2], [5, 5, 5], { slope: 0, intercept: 5 })).toBe(0);
    expect(rSquared([0, 1, 2], [0, 1, 2], { slope: -10, intercept: 0 })).toBe(0);
  });
});

describe('normal distribution', () => {
  it('normalCdf matches the familiar quantiles', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.575829)).toBeCloseTo(0.005, 6);
  });

  it('erfc keeps relative precision far in the tail', () => {
    expect(erfc(5) / 1.5374597944280e-12).toBeCloseTo(1, 5);
  });

  it('two-sided p-values stay within 0..1', () => {
    expect(twoSidedP(0)).toBeCloseTo(1, 6);
    expect(twoSidedP(1.959964)).toBeCloseTo(0.05, 6);
    expect(twoSidedP(Number.NaN)).toBe(1);
    expect(twoSidedP(1e9)).toBe(0);
  });
});

describe('Mann-Kendall', () => {
  it('a strictly increasing series of 10 has S = 45, Var(S) = 125 and p ≈ 8.3e-5', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i);
    const mk = mannKendall(xs, xs.map((x) => x + 1));
    expect(mk.s).toBe(45);
    expect(mk.tau).toBe(1);
    expect(mk.varS).toBe(125);
    expect(mk.varianceInflation).toBe(1);
    expect(mk.z).toBeCloseTo(44 / Math.sqrt(125), 10);
    expect(mk.pValue).toBeCloseTo(8.3e-5, 5);
  });

  it('ties reduce the variance of S', () => {
    const mk = mannKendall([0, 1, 2, 3], [1, 1, 2, 3]);
    expect(mk.s).toBe(5);
    expect(mk.varS).toBeCloseTo((4 * 3 * 13 - 2 * 1 * 9) / 18, 10);
  });

  it('autocorrelated noise inflates the variance (Hamed-Rao), so a wander is less significant', () => {
    // a slow zigzag: long runs up and down are strongly autocorrelated
    const ys = Array.from({ length: 60 }, (_, i) => Math.sin(i / 6) * 10 + i * 0.05);
    const xs = ys.map((_, i) => i);
    const mk = mannKendall(xs, ys);
    expect(mk.varianceInflation).toBeGreaterThan(2);
    expect(mk.varS).toBeCloseTo(((60 * 59 * 125) / 18) * mk.varianceInflation, 6);
  });

  it('fewer than 3 points: no test', () => {
    expect(mannKendall([0, 1], [0, 1])).toMatchObject({ s: 0, pValue: 1 });
  });
});

describe('helpers', () => {
  it('clamp maps non-finite input to the low bound', () => {
    expect(clamp(5, 0, 1)).toBe(1);
    expect(clamp(Number.NaN, 0, 1)).toBe(0);
    expect(clamp(-Infinity, 2, 3)).toBe(2);
  });

  it('round gives finite output', () => {
    expect(round(1.23456, 2)).toBe(1.23);
    expect(round(Infinity)).toBe(0);
  });
});
