/**
 * Once a short stage's timing is sampled, the collector hands most of its untimed calls to the
 * wrapper, which counts them itself in a frame it reuses (StageDefinition.fastLeft in
 * src/collector.ts). These tests check that such calls behave for the program, and count in the
 * report, exactly as calls through the collector do: results, errors, `this`, arguments, rows,
 * nesting, and everything that can happen during a call (a child stage, a stage started by hand,
 * recursion, a promise, the run stopping, the singleton being replaced, async context starting).
 */
import { createPerformanceMonitor, MonitoredStage, recordRows, setMonitor, withStage, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { resetGlobalStateForTests } from '../../src/global';
import { expectValidReport } from '../helpers/schema';
import { decoratorMode } from './mode';

let fakeMs = 0;
jest.mock('../../src/clock', () => ({ now: (): number => fakeMs }));

let monitors: PerformanceMonitor[] = [];
afterEach(() => {
  for (const m of monitors) if (m.isMonitoring) m.stopMonitoring();
  monitors = [];
  resetGlobalStateForTests();
});

function quiet(): PerformanceMonitor {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  monitors.push(m);
  return m;
}

/** Calls past the first 1024 of a stage, when its timing is sampled and calls are handed over. */
const CALLS = 6000;

/** Durations of 0.5-1.7 µs (a hot stage: one call in about 8 timed). */
const hotMs = (i: number): number => 0.0005 + ((i * 7) % 13) * 0.0001;

function summaryOf(report: PerformanceReport, name: string): PerformanceReport['stageSummaries'][number] {
  const s = report.stageSummaries.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no summary for ${name}`);
  return s;
}

describe(`calls the wrapper makes by itself (${decoratorMode})`, () => {
  test('every call is counted with its rows; live stats read mid-run count the calls made so far', () => {
    const m = quiet();
    m.startMonitoring();
    const hot = withStage('hot', (rows: number[], i: number) => {
      fakeMs += hotMs(i);
      return rows.length;
    }, { monitor: m });
    const rows = [1, 2, 3];
    for (let i = 0; i < CALLS; i++) {
      expect(hot(rows, i)).toBe(3);
      if (i === 4321) expect(m.getLivePerformanceStats()).toMatchObject({ completedStages: 4322, rowsProcessed: 4322 * 3 });
    }
    const report = expectValidReport(m.stopMonitoring());
    const s = summaryOf(report, 'hot');
    expect(s).toMatchObject({ calls: CALLS, failures: 0, syncCalls: CALLS, rowsProcessed: CALLS * 3 });
    expect(s.fidelity.timeEvery).toBe(8);
    expect(s.fidelity.timedCalls).toBeLessThan(CALLS / 2);
    expect(s.recordsKept + s.recordsOmitted).toBe(CALLS);
    expect(report.run.rowsProcessed).toBe(CALLS * 3);
  });

  test("rows: 'output', a fixed count and recordRows() count on handed-over calls as on the others", () => {
    const m = quiet();
    m.startMonitoring();
    const out = withStage('out', (i: number) => {
      fakeMs += hotMs(i);
      return [i, i];
    }, { monitor: m, rows: 'output' });
    const fixed = withStage('fixed', (i: number) => {
      fakeMs += hotMs(i);
      return i;
    }, { monitor: m, rows: 5 });
    const byHand = withStage('byHand', (i: number) => {
      fakeMs += hotMs(i);
      recordRows(1);
      recordRows(i % 3);
      return i;
    }, { monitor: m });
    let expectedByHand = 0;
    for (let i = 0; i < CALLS; i++) {
      expect(out(i)).toEqual([i, i]);
      expect(fixed(i)).toBe(i);
      expect(byHand(i)).toBe(i);
      expectedByHand += 1 + (i % 3);
    }
    const report = expectValidReport(m.stopMonitoring());
    expect(summaryOf(report, 'out')).toMatchObject({ calls: CALLS, rowsProcessed: CALLS * 2 });
    expect(summaryOf(report, 'fixed')).toMatchObject({ calls: CALLS, rowsProcessed: CALLS * 5 });
    expect(summaryOf(report, 'byHand')).toMatchObject({ calls: CALLS, rowsProcessed: expectedByHand });
    expect(report.run.rowsProcessed).toBe(CALLS * 2 + CALLS * 5 + expectedByHand);
  });

  test('the same this, the same arguments (none, one, many, trailing undefined) and the same result object', () => {
    const m = quiet();
    m.startMonitoring();
    const seen: unknown[][] = [];
    const self = { tag: 'self' };
    const result = { tag: 'result' };
    const f = withStage('f', function (this: unknown, ...args: unknown[]) {
      fakeMs += 0.0008;
      seen.push([this, args.length, ...args]);
      return result;
    }, { monitor: m });
    for (let i = 0; i < 3000; i++) f.call(self, i);
    seen.length = 0;
    const obj = {};
    const many = Array.from({ length: 10_000 }, (_, i) => i);
    for (let k = 0; k < 40; k++) {
      expect(f.call(self)).toBe(result);
      expect(f.call(self, obj)).toBe(result);
      expect(f.call(self, 1, obj, undefined)).toBe(result);
      expect(f.call(self, ...many)).toBe(result);
    }
    for (let k = 0; k < 40; k++) {
      expect(seen[4 * k]).toEqual([self, 0]);
      expect(seen[4 * k + 1]![2]).toBe(obj);
      expect(seen[4 * k + 2]).toEqual([self, 3, 1, obj, undefined]);
      expect(seen[4 * k + 3]![1]).toBe(10_000);
      expect(seen[4 * k + 3]![10_001]).toBe(9999);
    }
    expect(summaryOf(expectValidReport(m.stopMonitoring()), 'f').calls).toBe(3000 + 160);
  });

  test('a child stage inside a handed-over call gets that call as its parent, a distinct one each time', () => {
    const m = quiet();
    m.startMonitoring();
    const child = withStage('child', () => {
      fakeMs += 0.0002;
    }, { monitor: m });
    const parent = withStage('parent', (i: number) => {
      fakeMs += hotMs(i);
      if (i % 100 === 7) child();
      return i;
    }, { monitor: m });
    for (let i = 0; i < CALLS; i++) expect(parent(i)).toBe(i);
    const report = expectValidReport(m.stopMonitoring());
    const children = report.stages.filter((s) => s.name === 'child');
    expect(summaryOf(report, 'child').calls).toBe(CALLS / 100);
    expect(children).toHaveLength(CALLS / 100);
    const parentIds = children.map((c) => c.parentId);
    expect(parentIds.every((p) => p !== undefined)).toBe(true);
    expect(new Set(parentIds).size).toBe(children.length);
    // ids follow the order calls started in: a parent's id is below its child's
    for (const c of children) expect(Number(c.parentId)).toBeLessThan(Number(c.id));
    // parents whose call was timed have a record, and it is the child's parent
    const byId = new Map(report.stages.map((s) => [s.id, s]));
    for (const c of children) {
      const p = byId.get(c.parentId!);
      if (p !== undefined) expect(p.name).toBe('parent');
    }
    // a child is never a root: the run's rows are the parents' alone (0 rows each here)
    expect(report.run.rowsProcessed).toBe(0);
  });

  test('a stage started by hand inside a handed-over call and ended after it keeps that call as its parent', () => {
    const m = quiet();
    m.startMonitoring();
    const opened: Array<{ id: string; call: number }> = [];
    const hot = withStage('hot', (i: number) => {
      fakeMs += hotMs(i);
      if (i > 2000 && i % 500 === 3) opened.push({ id: m.startStage('manual'), call: i });
      return i;
    }, { monitor: m });
    for (let i = 0; i < CALLS; i++) hot(i);
    for (const o of opened) m.endStage(o.id, 1);
    const report = expectValidReport(m.stopMonitoring());
    const manual = report.stages.filter((s) => s.name === 'manual');
    expect(manual).toHaveLength(opened.length);
    const parents = manual.map((s) => s.parentId);
    expect(parents.every((p) => p !== undefined)).toBe(true);
    expect(new Set(parents).size).toBe(manual.length);
    for (const s of manual) expect(Number(s.parentId)).toBeLessThan(Number(s.id));
    expect(summaryOf(report, 'hot').calls).toBe(CALLS);
  });

  test('a stage that calls itself is counted once per call, the inner calls nested in the outer ones', () => {
    const m = quiet();
    m.startMonitoring();
    const rows = [1, 2, 3];
    const rec = withStage('rec', (input: number[], depth: number, i: number): number => {
      fakeMs += hotMs(i);
      return depth === 0 ? 0 : 1 + rec(input, depth - 1, i);
    }, { monitor: m });
    for (let i = 0; i < 2000; i++) expect(rec(rows, i % 4, i)).toBe(i % 4);
    const report = expectValidReport(m.stopMonitoring());
    // depths 0..3 in turn: 1 + 2 + 3 + 4 calls for every 4 top-level calls
    const s = summaryOf(report, 'rec');
    expect(s).toMatchObject({ calls: (2000 / 4) * 10, rowsProcessed: (2000 / 4) * 10 * 3 });
    // only the top-level calls are roots: their rows alone are the run's
    expect(report.run.rowsProcessed).toBe(2000 * 3);
  });

  test('errors come out as the same object; failures and the first error are counted', () => {
    const m = quiet();
    m.startMonitoring();
    const errors: Error[] = [];
    const flaky = withStage('flaky', (i: number) => {
      fakeMs += hotMs(i);
      if (i > 3000 && i % 97 === 0) {
        const err = new RangeError(`row ${i}`);
        errors.push(err);
        throw err;
      }
      return i;
    }, { monitor: m });
    let caught = 0;
    for (let i = 0; i < CALLS; i++) {
      try {
        expect(flaky(i)).toBe(i);
      } catch (err) {
        expect(err).toBe(errors[caught]);
        caught++;
      }
    }
    expect(caught).toBe(errors.length);
    const s = summaryOf(expectValidReport(m.stopMonitoring()), 'flaky');
    expect(s).toMatchObject({ calls: CALLS, failures: errors.length, firstError: { name: 'RangeError', message: errors[0]!.message } });
  });

  test('a plain function that starts returning promises: same values, every call counted, the sync ones as sync', async () => {
    const m = quiet();
    m.startMonitoring();
    const mixed = withStage('mixed', (i: number): number | Promise<number> => {
      fakeMs += hotMs(i);
      return i < 3000 ? i : Promise.resolve(i * 2);
    }, { monitor: m });
    for (let i = 0; i < 3000; i++) expect(mixed(i)).toBe(i);
    for (let i = 3000; i < 3200; i++) {
      const p = mixed(i);
      expect(p).toBeInstanceOf(Promise);
      expect(await p).toBe(i * 2);
    }
    const s = summaryOf(expectValidReport(m.stopMonitoring()), 'mixed');
    expect(s).toMatchObject({ calls: 3200, syncCalls: 3000, failures: 0 });
  });

  test('a run stopped inside a handed-over call counts that call once; the next run counts from zero', () => {
    const m = quiet();
    m.startMonitoring();
    let report: PerformanceReport | undefined;
    const hot = withStage('hot', (i: number) => {
      fakeMs += hotMs(i);
      if (i === 4000) report = m.stopMonitoring();
      return i;
    }, { monitor: m });
    for (let i = 0; i < 4100; i++) expect(hot(i)).toBe(i);
    const s = summaryOf(expectValidReport(report!), 'hot');
    expect(s).toMatchObject({ calls: 4001, failures: 1, firstError: { name: 'StageNotEnded' } });
    expect(m.isMonitoring).toBe(false);
    m.startMonitoring();
    for (let i = 0; i < 3000; i++) expect(hot(i)).toBe(i);
    expect(summaryOf(expectValidReport(m.stopMonitoring()), 'hot')).toMatchObject({ calls: 3000, failures: 0 });
  });

  test('live stats read inside a handed-over call list the stage as active', () => {
    const m = quiet();
    m.startMonitoring();
    const active: string[][] = [];
    const hot = withStage('hot', (i: number) => {
      fakeMs += hotMs(i);
      if (i > 2000 && i % 300 === 1) active.push(m.getLivePerformanceStats().activeStages);
      return i;
    }, { monitor: m });
    for (let i = 0; i < CALLS; i++) hot(i);
    expect(active.length).toBeGreaterThan(10);
    for (const a of active) expect(a).toEqual(['hot']);
    expect(summaryOf(expectValidReport(m.stopMonitoring()), 'hot').calls).toBe(CALLS);
  });

  test('replacing the singleton mid-run: each call counts in the run of the monitor in place when it was made', () => {
    const a = quiet();
    const b = quiet();
    setMonitor(a);
    a.startMonitoring();
    b.startMonitoring();
    const hot = withStage('hot', (i: number) => {
      fakeMs += hotMs(i);
      return i;
    });
    const made = new Map<PerformanceMonitor, number>([[a, 0], [b, 0]]);
    let current = a;
    for (let i = 0; i < 12_000; i++) {
      // both runs see the stage past its first 1024 calls, then the singleton changes every 101 calls
      if (i >= 3000 && i % 101 === 0) {
        current = current === a ? b : a;
        setMonitor(current);
      } else if (i === 1500) {
        current = b;
        setMonitor(b);
      }
      hot(i);
      made.set(current, made.get(current)! + 1);
    }
    expect(summaryOf(expectValidReport(a.stopMonitoring()), 'hot').calls).toBe(made.get(a));
    expect(summaryOf(expectValidReport(b.stopMonitoring()), 'hot').calls).toBe(made.get(b));
  });

  test('once an async stage has started the async context, sync calls still count, with their parent across await', async () => {
    const m = quiet();
    m.startMonitoring();
    const hot = withStage('hot', (i: number) => {
      fakeMs += hotMs(i);
      return i;
    }, { monitor: m });
    const outer = withStage('outer', async (n: number) => {
      await Promise.resolve();
      for (let i = 0; i < n; i++) hot(i);
    }, { monitor: m });
    for (let i = 0; i < 3000; i++) hot(i);
    await outer(2000);
    for (let i = 0; i < 1000; i++) hot(i);
    const report = expectValidReport(m.stopMonitoring());
    expect(summaryOf(report, 'hot').calls).toBe(6000);
    const outerRecord = report.stages.find((s) => s.name === 'outer')!;
    const insideOuter = report.stages.filter((s) => s.name === 'hot' && s.parentId === outerRecord.id);
    expect(insideOuter.length).toBeGreaterThan(0);
    expect(insideOuter.length).toBe(report.stages.filter((s) => s.name === 'hot' && s.t >= outerRecord.t && s.t < outerRecord.t + outerRecord.durationMs).length);
  });

  test('two definitions of one stage name add up', () => {
    const m = quiet();
    m.startMonitoring();
    const a = withStage('shared', (i: number) => {
      fakeMs += hotMs(i);
      return i;
    }, { monitor: m });
    const b = withStage('shared', (i: number) => {
      fakeMs += hotMs(i);
      return -i;
    }, { monitor: m });
    for (let i = 0; i < 4000; i++) {
      expect(a(i)).toBe(i);
      expect(b(i)).toBe(-i);
    }
    expect(summaryOf(expectValidReport(m.stopMonitoring()), 'shared').calls).toBe(8000);
  });

  test('a decorated method: the same this and result on handed-over calls', () => {
    const m = quiet();
    m.startMonitoring();
    class Scorer {
      constructor(readonly weight: number) {}

      @MonitoredStage({ name: 'score', monitor: m, rows: 1 })
      score(x: number): number {
        fakeMs += hotMs(x);
        return x * this.weight;
      }
    }
    const s1 = new Scorer(2);
    const s2 = new Scorer(3);
    for (let i = 0; i < 3000; i++) {
      expect(s1.score(i)).toBe(2 * i);
      expect(s2.score(i)).toBe(3 * i);
    }
    expect(summaryOf(expectValidReport(m.stopMonitoring()), 'score')).toMatchObject({ calls: 6000, rowsProcessed: 6000 });
  });
});
