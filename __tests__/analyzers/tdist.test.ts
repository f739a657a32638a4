import { studentCritical, studentTwoSidedP } from '../../analyzers/tdist';

describe("Student's t distribution", () => {
  test('two-sided p-values match the tables', () => {
    expect(studentTwoSidedP(2.086, 20)).toBeCloseTo(0.05, 4);
    expect(studentTwoSidedP(12.706, 1)).toBeCloseTo(0.05, 4);
    expect(studentTwoSidedP(2.845, 20)).toBeCloseTo(0.01, 4);
    expect(studentTwoSidedP(-2.086, 20)).toBeCloseTo(0.05, 4);
    expect(studentTwoSidedP(0, 5)).toBe(1);
  });

  test('infinite or huge degrees of freedom are the normal distribution', () => {
    expect(studentTwoSidedP(1.959964, Infinity)).toBeCloseTo(0.05, 6);
    expect(studentTwoSidedP(1.959964, 4e61)).toBeCloseTo(0.05, 6);
    expect(studentCritical(0.01, Infinity)).toBeCloseTo(2.575829, 5);
  });

  test('critical values invert the p-value', () => {
    expect(studentCritical(0.05, 20)).toBeCloseTo(2.086, 3);
    expect(studentCritical(0.01, 20)).toBeCloseTo(2.845, 3);
    expect(studentCritical(0.05, 1)).toBeCloseTo(12.706, 3);
    for (const df of [1, 3.5, 12, 200]) expect(studentTwoSidedP(studentCritical(0.002, df), df)).toBeCloseTo(0.002, 8);
  });

  test('NaN and degenerate inputs give bounded answers', () => {
    expect(studentTwoSidedP(NaN, 10)).toBe(1);
    expect(studentTwoSidedP(3, 0)).toBe(1);
    expect(studentTwoSidedP(Infinity, 10)).toBe(0);
    expect(studentCritical(1, 10)).toBe(0);
    expect(studentCritical(0, 10)).toBe(Infinity);
  });
});
