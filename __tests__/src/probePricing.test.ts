/**
 * A stage's full probes are priced on its own calls, from before the first probe to the end of
 * the call's accounting (see #priceProbe in src/collector.ts): right after a long call most of
 * what a probed call costs is the probes and the path after them running cold, which a price
 * taken right after the end probe misses. These tests drive the collector's clock by hand and make
 * the probes and the path after them take known times.
 */
import { createPerformanceMonitor, withStage, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

let fakeMs = 0;
jest.mock('../../src/clock', () => ({ now: (): number => fakeMs }));

const realResourceUsage = process.resourceUsage.bind(process);
let monitor: PerformanceMonitor | undefined;
afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
  monitor = undefined;
  jest.restoreAllMocks();
});

/**
 * Runs 2048 calls of a 1 ms stage. The n-th process.resourceUsage() (from 1) takes `probeMs(n)`,
 * and the rows function, which runs after the end probe, `tailMs`. Returns the report and how
 * many probes ran.
 */
function runStage(probeMs: (n: number) => number, tailMs: number): { report: PerformanceReport; probes: number } {
  monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  monitor.startMonitoring();
  let probes = 0;
  jest.spyOn(process, 'resourceUsage').mockImplementation(() => {
    fakeMs += probeMs(++probes);
    return realResourceUsage();
  });
  const stage = withStage(
    'write_month',
    (rows: number[]) => {
      fakeMs += 1;
      return rows.length;
    },
    {
      monitor,
      rows: (n: unknown) => {
        fakeMs += tailMs;
        return n as number;
      },
    },
  );
  const rows = [1, 2, 3];
  for (let i = 0; i < 2048; i++) {
    fakeMs += 0.2;
    expect(stage(rows)).toBe(3);
  }
  return { report: expectValidReport(monitor.stopMonitoring()), probes };
}

function fidelityOf(report: PerformanceReport): { mode: string; probeEvery: number; probedCalls: number } {
  const summary = report.stageSummaries.find((s) => s.name === 'write_month')!;
  expect(summary.calls).toBe(2048);
  expect(summary.meanMs).toBeCloseTo(1, 9);
  return summary.fidelity;
}

describe('pricing of full probes', () => {
  test('a probed call is priced to the end of its accounting, not at its end probe', () => {
    // 2 x 10 µs of probes and 60 µs of path after them: 80 µs a probed call. A 1 ms stage may
    // spend 10 % of its 10 µs budget on probes, 1 µs a call: one call in 128. Priced at the end
    // probe (20 µs), it would be probed one call in 32.
    const fidelity = fidelityOf(runStage(() => 0.01, 0.06).report);
    expect(fidelity.probeEvery).toBe(128);
    // 8 calibration calls, then about (2048 - 8) / rate from each rate the policy went through
    expect(fidelity.probedCalls).toBeGreaterThanOrEqual(8 + 8);
    expect(fidelity.probedCalls).toBeLessThanOrEqual(8 + 64);
  });

  test('the path after the probes counts even when the probes themselves are cheap', () => {
    const cheap = fidelityOf(runStage(() => 0.0009, 0).report);
    const slowTail = fidelityOf(runStage(() => 0.0009, 0.2).report);
    expect(cheap.probeEvery).toBe(2); // 1.8 µs a probed call
    expect(slowTail.probeEvery).toBe(256); // 202 µs
  });

  test('a first probe slowed by compiling or a GC does not set the price', () => {
    // The first probed call takes 20 ms more: the median of the first 8 prices ignores it.
    const fidelity = fidelityOf(runStage((n) => (n === 1 ? 20 : 0.01), 0.06).report);
    expect(fidelity.probeEvery).toBe(128);
  });

  test('one later probe slowed by the OS moves the price by at most an eighth', () => {
    // the 21st probe (the start probe of the 11th probed call, past the first 8) is preempted for 50 ms
    const { report, probes } = runStage((n) => (n === 21 ? 50 : 0.04), 0);
    // 80 µs a probed call; the preempted one counts as 160 µs at most, into an average of 8:
    // 90 µs at most for a while, still one call in 128 (a price over 128 µs would make it 256).
    const fidelity = fidelityOf(report);
    expect(probes).toBeGreaterThan(21);
    expect(fidelity.probeEvery).toBe(128);
  });
});
