/**
 * Successful synchronous calls of stages with a mean of 2 µs or more are accounted in batches of
 * 32, from rows of numbers rather than from their frames (see PENDING_CALLS in src/collector.ts).
 * These tests drive the collector's clock by hand, so every call's true start and duration are
 * known, and check that a queued call reaches the report exactly as one accounted at once would:
 * its parent, metadata, rows, start and duration, in every reader of the run's figures.
 */
import { createPerformanceMonitor, withStage, type PerformanceMonitor } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

let fakeMs = 0;
jest.mock('../../src/clock', () => ({ now: (): number => fakeMs }));

let monitor: PerformanceMonitor | undefined;
afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
  monitor = undefined;
});

function quiet(): PerformanceMonitor {
  monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  return monitor;
}

/** A month of 3 label batches: each batch takes 5 µs, the month 1 µs more of its own. */
function pipeline(m: PerformanceMonitor): (rows: number[]) => number {
  const label = withStage('label', (batch: number[]) => {
    fakeMs += 0.005;
    return batch.length;
  }, { monitor: m });
  return withStage('month', (rows: number[]) => {
    fakeMs += 0.001;
    let n = 0;
    for (let i = 0; i < 3; i++) n += label(rows.slice(i * 2, i * 2 + 2));
    return n;
  }, { monitor: m, metadata: { month: '2026-01' } });
}

describe('queued accounting of longer synchronous calls', () => {
  test('each queued call keeps its parent, metadata, rows, start and duration', () => {
    const m = quiet();
    m.startMonitoring();
    const month = pipeline(m);
    const rows = [1, 2, 3, 4, 5, 6];
    const starts: number[] = [];
    // 100 months and 300 batches: a dozen batches of 32 queued calls, and some left at stop
    for (let k = 0; k < 100; k++) {
      fakeMs += 0.5; // between months
      starts.push(fakeMs);
      expect(month(rows)).toBe(6);
    }
    const report = expectValidReport(m.stopMonitoring());
    const months = report.stages.filter((s) => s.name === 'month');
    const labels = report.stages.filter((s) => s.name === 'label');
    expect(months).toHaveLength(100);
    expect(labels).toHaveLength(300);
    const t0 = starts[0]! - months[0]!.t; // the run's start on the fake clock
    months.forEach((mo, k) => {
      expect(mo.parentId).toBeUndefined();
      expect(mo.metadata).toEqual({ month: '2026-01' });
      expect(mo.rowsProcessed).toBe(6);
      expect(mo.t).toBeCloseTo(starts[k]! - t0, 9);
      expect(mo.durationMs).toBeCloseTo(0.016, 9);
      // its three batches name it as their parent, and start inside it, 5 µs apart
      const own = labels.filter((l) => l.parentId === mo.id);
      expect(own).toHaveLength(3);
      own.forEach((l, i) => {
        expect(l.metadata).toBeUndefined();
        expect(l.rowsProcessed).toBe(2);
        expect(l.durationMs).toBeCloseTo(0.005, 9);
        expect(l.t).toBeCloseTo(mo.t + 0.001 + i * 0.005, 9);
      });
    });
    const byName = (n: string) => report.stageSummaries.find((s) => s.name === n)!;
    expect(byName('month')).toMatchObject({ calls: 100, rowsProcessed: 600, recordsKept: 100, recordsOmitted: 0 });
    expect(byName('label')).toMatchObject({ calls: 300, rowsProcessed: 600, recordsKept: 300, recordsOmitted: 0 });
    expect(byName('month').totalMs).toBeCloseTo(1.6, 6);
    expect(byName('label').totalMs).toBeCloseTo(1.5, 6);
    // rows of the run: the top-level calls only
    expect(report.run.rowsProcessed).toBe(600);
  });

  test('the live stats count the calls still in the queue', () => {
    const m = quiet();
    m.startMonitoring();
    const month = pipeline(m);
    for (let k = 0; k < 5; k++) month([1, 2, 3, 4, 5, 6]); // 20 calls: fewer than a batch
    const live = m.getLivePerformanceStats();
    expect(live.completedStages).toBe(20);
    expect(live.rowsProcessed).toBe(30);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stages).toHaveLength(20);
  });
});
