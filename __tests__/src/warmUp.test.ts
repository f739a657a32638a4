/**
 * The first run of a process first runs the per-call path on a private run of its own, so that V8
 * optimizes it before the user's first call (see #warmUp in src/collector.ts). Nothing of that
 * private run may reach the user: not its stages, rows, records, flags or ids, not the context.
 */
import * as stagemeter from '../../src/index';
import { type PerformanceMonitor } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

const monitors: PerformanceMonitor[] = [];
afterEach(() => {
  for (const m of monitors.splice(0)) if (m.isMonitoring) m.stopMonitoring();
});

/** A fresh copy of the package, whose first startMonitoring warms up (the context slot is shared). */
function freshCopy(): typeof stagemeter {
  let copy: typeof stagemeter | undefined;
  jest.isolateModules(() => {
    copy = require('../../src/index') as typeof stagemeter;
  });
  return copy!;
}

function quiet(lib: typeof stagemeter = stagemeter): PerformanceMonitor {
  const m = lib.createPerformanceMonitor({ enableMemoryTracking: false });
  monitors.push(m);
  return m;
}

describe('the warm-up of the first run', () => {
  test('runs once per process, at the first startMonitoring, and probes there only', () => {
    const spy = jest.spyOn(process, 'resourceUsage');
    try {
      const first = quiet();
      first.startMonitoring();
      const atFirst = spy.mock.calls.length;
      first.stopMonitoring();
      spy.mockClear();
      const second = quiet();
      second.startMonitoring();
      // full probes of the warm-up's probed stage, at both ends of each call
      expect(atFirst).toBeGreaterThanOrEqual(2 * 24);
      expect(spy.mock.calls.length).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  test('leaves no stage, row, record, flag or id of its own in the report', () => {
    const lib = freshCopy();
    const m = quiet(lib);
    m.startMonitoring({ runName: 'user' });
    const label = lib.withStage('label', (rows: number[]) => rows.length, { monitor: m });
    expect(label([1, 2, 3])).toBe(3);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries.map((s) => s.name)).toEqual(['label']);
    expect(report.stages.map((s) => [s.name, s.id])).toEqual([['label', '1']]);
    expect(report.run.rowsProcessed).toBe(3);
    expect(report.qualityFlags.filter((f) => /warm/i.test(f.message) || f.stage?.startsWith('warmup'))).toEqual([]);
  });

  test('a run started inside another monitor\'s stage keeps that stage as the context', () => {
    const outerMonitor = quiet();
    const innerMonitor = quiet(freshCopy()); // its startMonitoring warms up, inside 'parent'
    outerMonitor.startMonitoring();
    const child = stagemeter.withStage('child', () => 1, { monitor: outerMonitor });
    const parent = stagemeter.withStage('parent', () => {
      innerMonitor.startMonitoring();
      return child();
    }, { monitor: outerMonitor });
    expect(parent()).toBe(1);
    const stages = expectValidReport(outerMonitor.stopMonitoring()).stages;
    const byName = (n: string) => stages.find((s) => s.name === n)!;
    expect(byName('child').parentId).toBe(byName('parent').id);
    expect(expectValidReport(innerMonitor.stopMonitoring()).stages).toEqual([]);
  });
});
