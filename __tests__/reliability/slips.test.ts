/**
 * Common slips get a name or a hint instead of a silent gap: a decorated `#private` method is
 * recorded under its class, a misspelt option says "did you mean", and a started monitor that
 * was never made the singleton says why its report is empty. (A run lost at process exit, and
 * setMonitor() across two installed copies of the package, are in hostileProcess.test.ts.)
 */
import * as ts from 'typescript';
import { createPerformanceMonitor, getMonitor, MonitoredStage, setMonitor, withStage, type MonitorOptions, type PerformanceMonitor } from '../../src/index';
import { resetGlobalStateForTests } from '../../src/callpath/global';
import { expectValidReport } from '../helpers/schema';
import { configErrorOf } from '../helpers/thrown';

let monitors: PerformanceMonitor[] = [];
beforeEach(() => resetGlobalStateForTests());
afterEach(() => {
  for (const m of monitors) if (m.isMonitoring) m.stopMonitoring();
  monitors = [];
  resetGlobalStateForTests();
});

function started(options: MonitorOptions = {}): PerformanceMonitor {
  const m = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
  monitors.push(m);
  m.startMonitoring();
  return m;
}

/**
 * Decorators on #private methods exist only in the standard mode, and the test sources are also
 * type-checked under experimentalDecorators: the class is compiled here by TypeScript itself
 * (standard decorators, as a program compiled with TS 5+ defaults gets) and then run.
 */
function compileStandard<T>(source: string, scope: Record<string, unknown>): T {
  const { outputText } = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, experimentalDecorators: false } });
  const exports: Record<string, unknown> = {};
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('exports', ...Object.keys(scope), outputText)(exports, ...Object.values(scope));
  return exports.default as T;
}

describe('a decorated #private method', () => {
  test('is recorded as Class.#name (instance and static), also when it is called from a subclass instance', () => {
    const m = started();
    const Scorer = compileStandard<new (weight: number) => { run(rows: number[]): number }>(
      `export default class Scorer {
        constructor(weight) { this.weight = weight; }
        @MonitoredStage({ monitor })
        #score(rows) { return rows.length * this.weight; }
        @MonitoredStage({ monitor })
        static #normalise(rows) { return rows.map((r) => r / 2); }
        run(rows) { return this.#score(Scorer.#normalise(rows)); }
      }`,
      { MonitoredStage, monitor: m },
    );
    expect(new Scorer(2).run([2, 4])).toBe(4);
    class Sub extends Scorer {}
    expect(new Sub(3).run([2])).toBe(3);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries.map((s) => [s.name, s.calls]).sort()).toEqual([
      ['Scorer.#normalise', 2],
      ['Scorer.#score', 2],
    ]);
  });
});

describe('a misspelt option name', () => {
  test.each([
    ['createPerformanceMonitor', () => createPerformanceMonitor({ outputPth: 'x.json' } as MonitorOptions), 'outputPath'],
    ['createPerformanceMonitor, nested', () => createPerformanceMonitor({ thresholds: { slowStageMS: 5 } } as unknown as MonitorOptions), 'slowStageMs'],
    ['startMonitoring', () => createPerformanceMonitor({ enableMemoryTracking: false }).startMonitoring({ expectedRow: 5 } as never), 'expectedRows'],
    ['withStage', () => withStage('s', () => 1, { rwos: 'output' } as never), 'rows'],
    ['@MonitoredStage', () => MonitoredStage({ nmae: 'x' } as never), 'name'],
  ])('%s: a ConfigError that says "did you mean"', (_where, make, meant) => {
    const error = configErrorOf(make);
    expect(error.message).toContain(`did you mean ${meant}?`);
  });
});

describe('a monitor started but never made the singleton', () => {
  test('hooks without { monitor } record nowhere, and the empty report says setMonitor() was forgotten', () => {
    const m = started();
    const work = withStage('work', (rows: number[]) => rows.length);
    let total = 0;
    for (let i = 0; i < 4; i++) total += work([1, 2]);
    expect(total).toBe(8);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.summary.totalStages).toBe(0);
    const hint = report.qualityFlags.find((f) => f.code === 'hooks_elsewhere');
    expect(hint).toMatchObject({ severity: 'warning' });
    expect(hint?.message).toMatch(/^4 hook calls .* setMonitor\(monitor\)/);
  });

  test('no hint once setMonitor() was called, nor for the singleton itself', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    monitors.push(m);
    setMonitor(m);
    m.startMonitoring();
    withStage('work', (rows: number[]) => rows.length)([1]);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.summary.totalStages).toBe(1);
    expect(report.qualityFlags.map((f) => f.code)).not.toContain('hooks_elsewhere');
    const single = getMonitor();
    monitors.push(single);
    expect(single).toBe(m);
  });
});
