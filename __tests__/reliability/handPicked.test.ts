/**
 * Bad input, hand-picked: the cases a reviewer tries first. An output path that is a directory
 * or cannot be written, empty and 10,000-character stage names, options of the wrong type, absurd
 * row counts, and junk in the environment of a program run without any code change.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, createPerformanceMonitor, MonitoredStage, recordRows, withStage, type MonitorOptions } from '../../src/index';
import { expectValidReport } from '../helpers/schema';
import { outcome, runFixture, twoAtATime, useTempDir } from './support';
import { configErrorOf } from '../helpers/thrown';

jest.setTimeout(90_000);
const tmp = useTempDir('handpicked');

/** The host program run once without stagemeter, shared by the child-process tests below. */
let baseline: Promise<ReturnType<typeof outcome>> | undefined;
const plainHost = (): Promise<ReturnType<typeof outcome>> => (baseline ??= runFixture('host.ts', [], { env: { REL_MONITOR: 'off' } }).then(outcome));

function configErrorFields(make: () => unknown): string[] {
  return configErrorOf(make).issues.map((i) => i.field);
}

describe('stage names', () => {
  test.each([
    ['empty', ''],
    ['blank', '   '],
    ['10,000 characters', 'x'.repeat(10_000)],
  ])('an %s name is a ConfigError when a hook is applied, never later', (_label, name) => {
    expect(configErrorFields(() => withStage(name, () => 1))).toEqual(['name']);
    expect(configErrorFields(() => MonitoredStage(name))).toEqual(['name']);
    expect(configErrorFields(() => MonitoredStage({ name }))).toEqual(['name']);
  });

  test('an empty or 10,000-character name given to startStage is recorded under a flagged, bounded name', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring();
    const long = 'y'.repeat(10_000);
    expect(m.endStage(m.startStage(long), 1)?.success).toBe(true);
    expect(m.endStage(m.startStage(''), 1)?.success).toBe(true);
    expect(m.endStage(m.startStage(undefined as unknown as string), 1)?.success).toBe(true);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.summary.totalStages).toBe(3);
    for (const s of report.stages) expect(s.name.length).toBeLessThanOrEqual(256);
    expect(report.qualityFlags.filter((f) => f.code === 'invalid_stage_name').length).toBeGreaterThanOrEqual(3);
  });
});

describe('options of the wrong type are a ConfigError naming the field, never a TypeError', () => {
  const cases: Array<[string, string, unknown]> = [
    ['outputPath', '42', 42],
    ['outputPath', 'an array', ['run.json']],
    ['enableMemoryTracking', '1', 1],
    ['memorySamplingIntervalMs', '"100"', '100'],
    ['memorySamplingIntervalMs', 'NaN', NaN],
    ['memorySamplingIntervalMs', 'Infinity', Infinity],
    ['enableDetailedLogging', '"true"', 'true'],
    ['logger', '"pino"', 'pino'],
    ['logger', 'null', null],
    ['logger', 'console', console],
    ['thresholds', '"strict"', 'strict'],
    ['thresholds', 'an array', []],
    ['analyzers', 'an object', {}],
    ['analyzers', 'an array of functions', [() => []]],
    ['maxStageRecords', '-1', -1],
    ['maxStageRecords', '"10000"', '10000'],
    ['maxMemorySamples', '1', 1],
    ['checkpointIntervalMs', 'true', true],
    ['checkpointIntervalMs', '0', 0],
    ['redact', '"password"', 'password'],
    ['redact', '[1]', [1]],
    ['captureStackTraces', '"yes"', 'yes'],
  ];
  test.each(cases)('%s: %s', (field, _label, value) => {
    const fields = configErrorFields(() => createPerformanceMonitor({ [field]: value } as MonitorOptions));
    expect(fields.length).toBeGreaterThan(0);
    for (const f of fields) expect(f.split('.')[0]).toBe(field);
  });

  test('thresholds of the wrong type, hook options and start options of the wrong type too', () => {
    expect(configErrorFields(() => createPerformanceMonitor({ thresholds: { slowStageMs: '30s', maxMemoryMb: null } } as never)).sort()).toEqual(['thresholds.maxMemoryMb', 'thresholds.slowStageMs']);
    expect(configErrorFields(() => withStage('s', () => 1, { rows: 'all' } as never))).toEqual(['options.rows']);
    expect(configErrorFields(() => withStage('s', () => 1, { metadata: 'm' } as never))).toEqual(['options.metadata']);
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    expect(configErrorFields(() => m.startMonitoring('run' as never))).toEqual(['(options)']);
    expect(configErrorFields(() => m.startMonitoring({ expectedRows: '10' } as never))).toEqual(['expectedRows']);
    expect(configErrorFields(() => m.startMonitoring({ runName: 'r'.repeat(10_000) }))).toEqual(['runName']);
    expect(m.isMonitoring).toBe(false);
  });
});

describe('absurd row counts', () => {
  test('counts as large as Number.MAX_VALUE never make a figure infinite: the report stays valid', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ expectedRows: Number.MAX_VALUE });
    const huge = withStage('huge', () => {
      recordRows(Number.MAX_VALUE);
      recordRows(Number.MAX_VALUE); // the sum overflows to Infinity
      return 1;
    }, { monitor: m });
    expect(huge()).toBe(1);
    m.endStage(m.startStage('manual-huge'), Number.MAX_VALUE);
    m.endStage(m.startStage('manual-huge'), Number.MAX_VALUE);
    const live = m.getLivePerformanceStats();
    for (const v of [live.rowsProcessed, live.currentRowsPerSecond, live.averageRowsPerSecond]) expect(Number.isFinite(v)).toBe(true);
    const report = expectValidReport(m.stopMonitoring());
    expect(Number.isFinite(report.run.rowsProcessed)).toBe(true);
    expect(report.summary.totalStages).toBe(3);
  });
});

/** The program's own outcome is unchanged; stderr has one more line, saying why the report is missing. */
function expectSameWithOneLine(monitored: ReturnType<typeof outcome>, plain: ReturnType<typeof outcome>, why: RegExp): void {
  const extra = monitored.stderr.replace(plain.stderr, '');
  expect(monitored.stderr).toContain(plain.stderr);
  expect(extra).toMatch(/^stagemeter: the report could not be written to .*\n$/);
  expect(extra).toMatch(why);
  expect({ ...monitored, stderr: plain.stderr }).toEqual(plain);
}

describe('the output location (child processes, zero-code-change runs)', () => {
  test('an output path that is a directory: the program prints and exits the same, the directory is left alone', async () => {
    const target = join(tmp(), 'a-directory');
    mkdirSync(target);
    const [plain, monitored] = await Promise.all([plainHost(), runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: target } })]);
    expectSameWithOneLine(outcome(monitored), plain, /ENOTREGULAR: .* is a directory/);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(tmp())).toEqual(['a-directory']);
  });

  test('an output path under /proc (exists, but cannot hold a file): the program still ends, the same way', async () => {
    // Node's recursive mkdir spins forever on procfs (it answers ENOENT, not EACCES).
    const [plain, monitored] = await Promise.all([plainHost(), runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: '/proc/self/stagemeter/reports/run.json' }, timeoutMs: 15_000 })]);
    expectSameWithOneLine(outcome(monitored), plain, /ENOENT/);
  });
});

describe('junk in the environment', () => {
  test('junk STAGEMETER_* values leave the program\'s output and exit code unchanged, with one stderr message', async () => {
    const out = join(tmp(), 'never.json');
    const junk: NodeJS.ProcessEnv[] = [
      { STAGEMETER_OUTPUT: out, STAGEMETER_SAMPLE_MS: '10; rm -rf /', STAGEMETER_LOG: 'yes please' },
      { STAGEMETER_OUTPUT: out, STAGEMETER_OUTPTU: 'typo.json' },
    ];
    const base = await plainHost();
    const runs = await twoAtATime(junk.map((env) => () => runFixture('host.ts', [], { env: { REL_MONITOR: 'off', ...env } })));
    runs.forEach((r, i) => {
      const got = outcome(r);
      expect({ env: junk[i], code: got.code, signal: got.signal, stdout: got.stdout }).toEqual({ env: junk[i], code: base.code, signal: base.signal, stdout: base.stdout });
      const extra = got.stderr.replace(base.stderr, '');
      expect(got.stderr).toContain(base.stderr);
      expect(extra.match(/^stagemeter:/gm)).toHaveLength(1);
      for (const name of Object.keys(junk[i]!).filter((k) => k !== 'STAGEMETER_OUTPUT')) expect(extra).toContain(name);
    });
    expect(readdirSync(tmp())).toEqual([]);
  });
});
