/**
 * Short stages time a sample of their calls after their first 1024 (`shortStageTiming: 'sampled'`,
 * the default): hot synchronous ones about one call in 8, those of a few µs (up to about 22 µs) and
 * mostly asynchronous ones about one in 32. These tests drive the collector's clock by hand, so the true total of every call is
 * known and the estimate can be checked against it; and they check that an untimed call behaves
 * exactly like a timed one for the program (result, error identity, `this`, context, rows).
 */
import { createPerformanceMonitor, MonitoredStage, recordRows, withStage, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { expectValidReport } from '../helpers/schema';
import { decoratorMode } from './mode';

let fakeMs = 0;
jest.mock('../../src/clock', () => ({ now: (): number => fakeMs }));

let monitor: PerformanceMonitor | undefined;
afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
  monitor = undefined;
});

function quiet(options: Parameters<typeof createPerformanceMonitor>[0] = {}): PerformanceMonitor {
  monitor = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
  return monitor;
}

/** Durations of 0.5-1.7 µs that vary from call to call (a hot stage). */
const durationOf = (i: number): number => 0.0005 + ((i * 7) % 13) * 0.0001;

function summaryOf(report: PerformanceReport, name: string): PerformanceReport['stageSummaries'][number] {
  const s = report.stageSummaries.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no summary for ${name}`);
  return s;
}

describe(`sampled timing of hot stages (${decoratorMode})`, () => {
  test('a hot stage times about one call in 8 after 1024; counts and rows are exact, the total is within its stated error', () => {
    const m = quiet();
    m.startMonitoring();
    let trueTotal = 0;
    const hot = withStage('hot', (rows: number[], i: number) => {
      const d = durationOf(i);
      fakeMs += d;
      trueTotal += d;
      return rows.length * 2;
    }, { monitor: m });
    const rows = [1, 2, 3];
    let sum = 0;
    for (let i = 0; i < 40_000; i++) sum += hot(rows, i);
    expect(sum).toBe(40_000 * 6);
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'hot');
    expect(s.calls).toBe(40_000);
    expect(s.rowsProcessed).toBe(120_000);
    expect(report.run.rowsProcessed).toBe(120_000);
    expect(s.fidelity.timeEvery).toBe(8);
    // the first 1024 timed, then about 1 in 8.5 (a jittered countdown of 5-12)
    expect(s.fidelity.timedCalls).toBeGreaterThan(1024 + (40_000 - 1024) / 12);
    expect(s.fidelity.timedCalls).toBeLessThan(1024 + (40_000 - 1024) / 5);
    expect(s.recordsKept).toBe(s.fidelity.timedCalls);
    expect(s.recordsKept + s.recordsOmitted).toBe(40_000);
    expect(s.quantiles).toBe('sketch');
    expect(s.minMs).toBeCloseTo(0.0005, 6);
    expect(s.maxMs).toBeCloseTo(0.0017, 6);
    // the estimate against the truth: inside its 95 % interval (with a little room), and close
    const error = s.fidelity.totalErrorPercent!;
    expect(error).toBeGreaterThan(0);
    expect(error).toBeLessThan(2);
    const off = (Math.abs(s.totalMs - trueTotal) / trueTotal) * 100;
    expect(off).toBeLessThan(error * 1.5);
    // the total is the timed calls' mean times every call (meanMs is rounded to the ns)
    expect(Math.abs(s.meanMs * s.calls - s.totalMs) / s.totalMs).toBeLessThan(0.001);
    const flag = report.qualityFlags.find((f) => f.code === 'time_estimated' && f.stage === 'hot');
    expect(flag?.message).toContain(`of 40,000 calls timed (about 1 in 8); totalMs is estimated from them (±${error} %, 95 %)`);
  });

  test("shortStageTiming: 'every' times every call: the total is exact and nothing is flagged", () => {
    const m = quiet({ shortStageTiming: 'every' });
    m.startMonitoring();
    let trueTotal = 0;
    const hot = withStage('hot', (i: number) => {
      const d = durationOf(i);
      fakeMs += d;
      trueTotal += d;
      return i;
    }, { monitor: m });
    for (let i = 0; i < 20_000; i++) hot(i);
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'hot');
    expect(s.fidelity).toMatchObject({ timeEvery: 1, timedCalls: 20_000 });
    expect(s.fidelity.totalErrorPercent).toBeUndefined();
    expect(s.totalMs).toBeCloseTo(trueTotal, 6);
    expect(report.qualityFlags.filter((f) => f.code === 'time_estimated')).toEqual([]);
  });

  test('a stage of 10 µs times about one call in 32; one of 30 µs, whose budget pays for a cold timed call, every call', () => {
    const m = quiet();
    m.startMonitoring();
    const medium = withStage('medium', () => {
      fakeMs += 0.01;
    }, { monitor: m });
    const longer = withStage('longer', () => {
      fakeMs += 0.03;
    }, { monitor: m });
    for (let i = 0; i < 5000; i++) {
      medium();
      longer();
    }
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'medium');
    expect(s.fidelity.timeEvery).toBe(32);
    // the first 1024 timed, then one in 17-48 (a jittered countdown)
    expect(s.fidelity.timedCalls).toBeGreaterThan(1024 + (5000 - 1024) / 48);
    expect(s.fidelity.timedCalls).toBeLessThan(1024 + (5000 - 1024) / 17);
    // every call takes 10 µs here: the estimate is exact and its error 0
    expect(s.totalMs).toBeCloseTo(50, 6);
    expect(s.fidelity.totalErrorPercent).toBe(0);
    expect(summaryOf(report, 'longer').fidelity).toMatchObject({ timeEvery: 1, timedCalls: 5000 });
    expect(summaryOf(report, 'longer').totalMs).toBeCloseTo(150, 6);
  });

  test('untimed calls throw the same error object; failures are counted and the first error is in the summary and the finding', () => {
    const m = quiet();
    m.startMonitoring();
    const errors: Error[] = [];
    const flaky = withStage('flaky', (i: number) => {
      fakeMs += durationOf(i);
      if (i >= 2000 && i % 10 === 0) {
        const err = new RangeError(`row ${i} out of range`);
        errors.push(err);
        throw err;
      }
      return i;
    }, { monitor: m });
    let caught = 0;
    for (let i = 0; i < 6000; i++) {
      try {
        flaky(i);
      } catch (err) {
        expect(err).toBe(errors[caught]);
        caught++;
      }
    }
    expect(caught).toBe(400);
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'flaky');
    expect(s.calls).toBe(6000);
    expect(s.failures).toBe(400);
    expect(s.fidelity.timedCalls).toBeLessThan(6000);
    expect(s.firstError).toMatchObject({ name: 'RangeError', message: 'row 2000 out of range' });
    // failed calls that were timed always have a record; the untimed ones have none
    const failedRecords = report.stages.filter((r) => r.name === 'flaky' && !r.success);
    expect(failedRecords.length).toBeGreaterThan(0);
    expect(failedRecords.length).toBeLessThan(400);
    const finding = report.bottlenecks.findings.find((f) => f.kind === 'stage_failed' && f.stage === 'flaky');
    expect(finding?.message).toContain('failed 400 of 6000 call(s)');
    expect(finding?.message).toContain('RangeError: row 2000 out of range');
  });

  test('untimed calls keep the context: nested stages get their parent, recordRows reaches the right call', () => {
    const m = quiet();
    m.startMonitoring();
    // outer's calls include inner's: both halved, so outer stays under the 2 µs of a hot stage
    const inner = withStage('inner', (i: number) => {
      fakeMs += durationOf(i) / 2;
      recordRows(1);
      return i;
    }, { monitor: m });
    const outer = withStage('outer', function (this: { k: number }, i: number) {
      fakeMs += durationOf(i) / 2;
      inner(i);
      recordRows(2);
      return this.k;
    }, { monitor: m, rows: 'output' });
    const self = { k: 3 };
    for (let i = 0; i < 8000; i++) expect(outer.call(self, i)).toBe(3);
    const report = expectValidReport(m.stopMonitoring());
    expect(summaryOf(report, 'outer').fidelity.timeEvery).toBe(8);
    expect(summaryOf(report, 'inner').calls).toBe(8000);
    const innerRecords = report.stages.filter((r) => r.name === 'inner');
    expect(innerRecords.length).toBeGreaterThan(0);
    expect(innerRecords.every((r) => r.parentId !== undefined)).toBe(true);
    // recordRows reached the innermost call each time; only top-level rows count for the run
    expect(summaryOf(report, 'inner').rowsProcessed).toBe(8000);
    expect(summaryOf(report, 'outer').rowsProcessed).toBe(16_000);
    expect(report.run.rowsProcessed).toBe(16_000);
  });

  test('an async hot stage: same values and rejections, every call counted', async () => {
    const m = quiet();
    m.startMonitoring();
    const reasons: Error[] = [];
    const hotAsync = withStage('hotAsync', async (i: number) => {
      fakeMs += durationOf(i);
      if (i >= 2000 && i % 50 === 0) {
        const err = new TypeError(`bad ${i}`);
        reasons.push(err);
        throw err;
      }
      return i * 2;
    }, { monitor: m });
    let rejected = 0;
    for (let i = 0; i < 4000; i++) {
      const p = hotAsync(i);
      expect(p).toBeInstanceOf(Promise);
      try {
        expect(await p).toBe(i * 2);
      } catch (err) {
        expect(err).toBe(reasons[rejected]);
        rejected++;
      }
    }
    expect(rejected).toBe(40);
    const s = summaryOf(expectValidReport(m.stopMonitoring()), 'hotAsync');
    expect(s).toMatchObject({ calls: 4000, failures: 40, syncCalls: 0 });
    // a timed async call costs more than a timed sync one (a clock read in the reaction, the full
    // accounting): mostly asynchronous short stages time one call in 32
    expect(s.fidelity.timeEvery).toBe(32);
    expect(s.fidelity.timedCalls).toBeLessThan(4000);
    expect(s.firstError).toMatchObject({ name: 'TypeError', message: 'bad 2000' });
  });

  test('untimed async calls pending at stop are listed live, closed as failed once each, and settle later unchanged', async () => {
    const m = quiet();
    m.startMonitoring();
    const gates: Array<() => void> = [];
    let hold = false;
    const pendingStage = withStage('pendingAsync', async (i: number) => {
      fakeMs += durationOf(i);
      if (hold) await new Promise<void>((resolve) => gates.push(resolve));
      return i * 2;
    }, { monitor: m });
    for (let i = 0; i < 3000; i++) expect(await pendingStage(i)).toBe(i * 2);
    hold = true;
    const pending = Array.from({ length: 100 }, (_, k) => pendingStage(3000 + k));
    const live = m.getLivePerformanceStats();
    expect(live.activeStages).toEqual(Array.from({ length: 100 }, () => 'pendingAsync'));
    expect(live.completedStages).toBe(3000);
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'pendingAsync');
    expect(s).toMatchObject({ calls: 3100, failures: 100, firstError: { name: 'StageNotEnded' } });
    expect(s.fidelity.timeEvery).toBe(32);
    // A few of the 100 were timed (closed from the run's list, with a record each), the rest untimed.
    const closedRecords = report.stages.filter((r) => r.name === 'pendingAsync' && !r.success);
    expect(closedRecords.length).toBeGreaterThan(0);
    expect(closedRecords.length).toBeLessThan(20);
    expect(closedRecords.every((r) => r.error?.name === 'StageNotEnded')).toBe(true);
    expect(report.qualityFlags.filter((f) => f.code === 'stages_still_open').map((f) => f.message)).toEqual([
      '100 stage(s) were still running when the run ended; closed as failed',
    ]);
    hold = false;
    for (const open of gates) open();
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 100 }, (_, k) => (3000 + k) * 2));
    expect(summaryOf(report, 'pendingAsync').calls).toBe(3100);
    // The next run starts from nothing: the calls of the last one do not linger as open.
    m.startMonitoring();
    expect(m.getLivePerformanceStats().activeStages).toEqual([]);
    expect(await pendingStage(1)).toBe(2);
    expect(summaryOf(m.stopMonitoring(), 'pendingAsync')).toMatchObject({ calls: 1, failures: 0 });
  });

  test('a decorated hot method is sampled the same way, with its this', () => {
    const m = quiet();
    m.startMonitoring();
    class Scorer {
      constructor(readonly weight: number) {}

      @MonitoredStage({ name: 'score_row', monitor: m })
      score(row: number): number {
        fakeMs += durationOf(row);
        return row * this.weight;
      }
    }
    const scorer = new Scorer(3);
    let sum = 0;
    for (let i = 0; i < 5000; i++) sum += scorer.score(i);
    expect(sum).toBe(3 * ((4999 * 5000) / 2));
    const s = summaryOf(expectValidReport(m.stopMonitoring()), 'score_row');
    expect(s.calls).toBe(5000);
    expect(s.fidelity.timeEvery).toBe(8);
  });

  test('a run stopped from inside an untimed or timed call closes it as failed, counted once', () => {
    const m = quiet();
    m.startMonitoring();
    let report: PerformanceReport | undefined;
    const hot = withStage('hot', (i: number) => {
      fakeMs += durationOf(i);
      if (i === 3000) report = m.stopMonitoring();
      return i;
    }, { monitor: m });
    for (let i = 0; i < 3100; i++) expect(hot(i)).toBe(i);
    const s = summaryOf(expectValidReport(report!), 'hot');
    expect(s.calls).toBe(3001);
    expect(s.failures).toBe(1);
    expect(s.firstError?.name).toBe('StageNotEnded');
  });

  test('a run stopped inside timed calls around an untimed one closes each timed call with its own elapsed time', () => {
    // outer (100 µs: always timed) -> middle (0.5 µs: one in 8 timed) -> inner (first call: timed).
    // Which calls are timed follows a seeded countdown, so the middle call at stopAt is the same
    // untimed one on every run of this test (checked below).
    const m = quiet();
    m.startMonitoring();
    let report: PerformanceReport | undefined;
    const stopAt = 2500;
    const inner = withStage('inner', () => {
      fakeMs += 0.05;
      report = m.stopMonitoring();
    }, { monitor: m });
    const middle = withStage('middle', (i: number) => {
      fakeMs += 0.0005;
      if (i === stopAt) inner();
      return i;
    }, { monitor: m });
    const outer = withStage('outer', (i: number) => {
      fakeMs += 0.1;
      return middle(i);
    }, { monitor: m });
    for (let i = 0; i <= stopAt; i++) expect(outer(i)).toBe(i);
    const r = expectValidReport(report!);
    const innerRecord = r.stages.find((s) => s.name === 'inner')!;
    const outerRecord = r.stages.filter((s) => s.name === 'outer').at(-1)!;
    expect(innerRecord).toMatchObject({ success: false, error: { name: 'StageNotEnded' } });
    expect(innerRecord.durationMs).toBeCloseTo(0.05, 9);
    expect(outerRecord).toMatchObject({ success: false, error: { name: 'StageNotEnded' } });
    expect(outerRecord.durationMs).toBeCloseTo(0.1505, 9);
    const middleSummary = summaryOf(r, 'middle');
    expect(middleSummary).toMatchObject({ calls: stopAt + 1, failures: 1, firstError: { name: 'StageNotEnded' } });
    expect(middleSummary.fidelity.timeEvery).toBe(8);
    // the middle call was untimed: closed at stop, counted as failed, without a record
    expect(r.stages.some((s) => s.name === 'middle' && !s.success)).toBe(false);
    expect(middleSummary.fidelity.timedCalls).toBeLessThan(stopAt + 1);
  });

  test('per-call logging times every call', () => {
    const lines: string[] = [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pino = require('pino') as typeof import('pino');
    const logger = pino.pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const m = quiet({ enableDetailedLogging: true, logger, maxStageRecords: 100_000 });
    m.startMonitoring();
    const hot = withStage('hot', (i: number) => {
      fakeMs += durationOf(i);
      return i;
    }, { monitor: m });
    for (let i = 0; i < 3000; i++) hot(i);
    const s = summaryOf(expectValidReport(m.stopMonitoring()), 'hot');
    expect(s.fidelity).toMatchObject({ timeEvery: 1, timedCalls: 3000 });
    expect(lines.length).toBeGreaterThan(3000);
  });
});
