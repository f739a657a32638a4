import { olsWithIntercept, robustFit, studentTUpper } from '../../analyzers/regression';

describe('Student t and least squares', () => {
  test('the t tail matches published values', () => {
    // two-sided 5 % critical values: t(0.975, df)
    expect(studentTUpper(2.228139, 10)).toBeCloseTo(0.025, 5);
    expect(studentTUpper(12.7062, 1)).toBeCloseTo(0.025, 4);
    expect(studentTUpper(1.959964, 1e6)).toBeCloseTo(0.025, 4);
    expect(studentTUpper(0, 7)).toBeCloseTo(0.5, 10);
    expect(studentTUpper(-2.228139, 10)).toBeCloseTo(0.975, 5);
    expect(studentTUpper(Infinity, 3)).toBe(0);
  });

  test('recovers the coefficients of a noiseless line and of two regressors', () => {
    const x1 = [1, 2, 3, 4, 5, 6, 7, 8];
    const x2 = [3, 1, 4, 1, 5, 9, 2, 6];
    const y = x1.map((v, i) => 2 + 0.5 * v - 3 * x2[i]!);
    const fit = olsWithIntercept([x1, x2], y)!;
    expect(fit.intercept).toBeCloseTo(2, 9);
    expect(fit.coefficients[0]).toBeCloseTo(0.5, 9);
    expect(fit.coefficients[1]).toBeCloseTo(-3, 9);
    expect(fit.degreesOfFreedom).toBe(5);
  });

  test('five points by hand: slope, intercept, standard error and p', () => {
    // x 1..5, y 3.7 5.1 7.6 9.3 11.2: Sxy 19.2, Sxx 10, so slope 1.92 and intercept 7.38 - 5.76;
    // residuals .16 -.36 .22 0 -.02, RSS .204 over 3 degrees of freedom: s.e. sqrt(.068 / 10)
    const fit = olsWithIntercept([[1, 2, 3, 4, 5]], [3.7, 5.1, 7.6, 9.3, 11.2])!;
    expect(fit.coefficients[0]).toBeCloseTo(1.92, 9);
    expect(fit.intercept).toBeCloseTo(1.62, 9);
    expect(fit.standardErrors[0]).toBeCloseTo(Math.sqrt(0.068 / 10), 9);
    // t = 23.3 with 3 degrees of freedom
    expect(fit.pOneSided[0]).toBeCloseTo(studentTUpper(1.92 / Math.sqrt(0.0068), 3), 12);
    expect(fit.pOneSided[0]).toBeLessThan(1e-4);
  });

  test('too few observations or collinear regressors: no fit', () => {
    expect(olsWithIntercept([[1, 2, 3]], [1, 2, 3])).toBeUndefined();
    expect(olsWithIntercept([[1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12]], [1, 2, 3, 4, 5, 7])).toBeUndefined();
  });
});

describe('robustFit', () => {
  test('one wild point does not drag the slope', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const y = x.map((v) => 2 * v + 1);
    y[4] = 60;
    expect(olsWithIntercept([x], y)!.coefficients[0]).not.toBeCloseTo(2, 1);
    expect(robustFit([x], y)!.coefficients[0]).toBeCloseTo(2, 1);
  });
});
