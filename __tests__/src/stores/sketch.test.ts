import { prng } from '../../../examples/random';
import { QUANTILE_RELATIVE_ERROR, QuantileSketch } from '../../../src/stores/sketch';

function exact(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('quantile sketch', () => {
  test.each([
    ['uniform 0-10 ms', (r: () => number) => r() * 10],
    ['log-normal around 50 µs', (r: () => number) => 0.05 * Math.exp(2 * (r() + r() + r() - 1.5))],
    ['bimodal: cache hits and misses', (r: () => number) => (r() < 0.9 ? 0.0002 + r() * 0.0001 : 5 + r() * 50)],
    ['heavy tail', (r: () => number) => 0.001 / (r() + 1e-6)],
  ])('%s: every quantile within the stated relative error', (_name, draw) => {
    const rand = prng(7);
    const sketch = new QuantileSketch();
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const v = draw(rand);
      values.push(v);
      sketch.add(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) {
      const truth = exact(values, q);
      const got = sketch.quantile(q);
      // the sketch answers with a value within 1 % of one whose rank is q (ties between ranks aside)
      const lo = exact(values, Math.max(0, q - 1 / values.length)) * (1 - QUANTILE_RELATIVE_ERROR);
      const hi = exact(values, Math.min(1, q + 1 / values.length)) * (1 + QUANTILE_RELATIVE_ERROR);
      expect(got).toBeGreaterThanOrEqual(Math.min(lo, truth * (1 - QUANTILE_RELATIVE_ERROR)));
      expect(got).toBeLessThanOrEqual(Math.max(hi, truth * (1 + QUANTILE_RELATIVE_ERROR)));
    }
    expect(sketch.count).toBe(50_000);
    expect(sketch.quantile(0)).toBe(values[0]);
    expect(sketch.quantile(1)).toBe(values[values.length - 1]);
  });

  test('zeros, sub-nanosecond values and huge values are counted', () => {
    const s = new QuantileSketch();
    s.add(0);
    s.add(1e-9);
    s.add(5e9);
    expect(s.count).toBe(3);
    expect(s.quantile(0)).toBe(0);
    expect(s.quantile(1)).toBe(5e9);
    expect(new QuantileSketch().quantile(0.5)).toBe(0);
  });
});
