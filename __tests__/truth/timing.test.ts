/**
 * Ground truth for every call's timing. Each case runs a workload shaped like a real pipeline's
 * (a cache warming up, a phase change, a cost that ramps, one long stall among many fast calls),
 * and measures the truth outside the library: the stage's own work is timed inside the function
 * (a lower bound of what the wrapper can see) and every wrapped call is timed at the call site
 * (an upper bound: the work plus all of stagemeter's cost). The report's figures must lie between.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, withStage, type PerformanceMonitor, type StageSummary } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

jest.setTimeout(120_000);

/** Spins for about `us` microseconds; returns the time it really took, ms. */
function spin(us: number): number {
  const t0 = performance.now();
  const end = t0 + us / 1000;
  let t = t0;
  while (t < end) t = performance.now();
  return t - t0;
}

interface Truth {
  /** Work timed inside the function, per call, ms. */
  inner: number[];
  /** Each wrapped call timed at the call site, ms. */
  outer: number[];
}

/** Runs `calls` calls of a stage whose call i spins `costUs(i)` µs; returns the report's summary and the truth. */
function measure(costUs: (i: number) => number, calls: number): { summary: StageSummary; truth: Truth } {
  const monitor: PerformanceMonitor = createPerformanceMonitor({ enableMemoryTracking: false });
  const truth: Truth = { inner: new Array<number>(calls), outer: new Array<number>(calls) };
  let i = 0;
  const stage = withStage('lookup', (rows: number[]) => {
    truth.inner[i] = spin(costUs(i));
    return rows.length;
  }, { monitor });
  const rows = [1, 2, 3, 4];
  monitor.startMonitoring({ runName: 'truth' });
  for (i = 0; i < calls; i++) {
    const t0 = performance.now();
    stage(rows);
    truth.outer[i] = performance.now() - t0;
  }
  const report = expectValidReport(monitor.stopMonitoring());
  return { summary: report.stageSummaries.find((s) => s.name === 'lookup')!, truth };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const most = (xs: number[]): number => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
}

/** The report's figures lie between the work and the work plus every cost at the call site. */
function expectBracketed(summary: StageSummary, truth: Truth, calls: number): void {
  expect(summary.calls).toBe(calls);
  expect(summary.fidelity.timedCalls).toBe(calls);
  const inner = sum(truth.inner);
  const outer = sum(truth.outer);
  expect(summary.totalMs).toBeGreaterThanOrEqual(inner);
  expect(summary.totalMs).toBeLessThanOrEqual(outer);
  expect(summary.maxMs).toBeGreaterThanOrEqual(most(truth.inner));
  expect(summary.maxMs).toBeLessThanOrEqual(most(truth.outer));
  // Quantiles from the sketch: within its 1 % of a value at that rank, plus the bracket.
  for (const [q, got] of [[0.5, summary.p50Ms], [0.95, summary.p95Ms]] as const) {
    expect(got).toBeGreaterThanOrEqual(quantile(truth.inner, q) * 0.99);
    expect(got).toBeLessThanOrEqual(quantile(truth.outer, q) * 1.01);
  }
  // Throughput: rows over the stage's busy time, which is its summed time for sequential calls.
  expect(summary.busyMs).toBeCloseTo(summary.totalMs, 6);
  expect(summary.rowsPerSecond).toBeCloseTo((summary.rowsProcessed / summary.busyMs) * 1000, 0);
}

describe('every call is timed: the report lies between the work and the work plus its cost', () => {
  test('a cache warming up: the first 1,024 calls take 50 µs, the next 200,000 take 1 µs', () => {
    const calls = 201_024;
    const { summary, truth } = measure((i) => (i < 1024 ? 50 : 1), calls);
    expectBracketed(summary, truth, calls);
    // p95 is a warm call's, not a cold one's
    expect(summary.p95Ms).toBeLessThan(0.02);
  });

  test('a phase change: 100,000 calls of 1 µs, then 20,000 of 10 µs', () => {
    const calls = 120_000;
    const { summary, truth } = measure((i) => (i < 100_000 ? 1 : 10), calls);
    expectBracketed(summary, truth, calls);
  });

  test('a cost that ramps from 1 to 11 µs over 100,000 calls', () => {
    const calls = 100_000;
    const { summary, truth } = measure((i) => 1 + (10 * i) / calls, calls);
    expectBracketed(summary, truth, calls);
  });

  test('one 200 ms stall among 200,000 calls of 1 µs is seen at its length and counted once', () => {
    const calls = 200_001;
    const { summary, truth } = measure((i) => (i === 123_457 ? 200_000 : 1), calls);
    expectBracketed(summary, truth, calls);
    expect(summary.maxMs).toBeGreaterThanOrEqual(190);
    // the total is the stall plus the fast calls, not the stall scaled up
    expect(summary.totalMs).toBeLessThan(sum(truth.outer) + 1);
  });
});
