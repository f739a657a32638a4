import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { configOf } from '../../src/monitor';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createPerformanceMonitor, getMonitor, PerformanceMonitor, setMonitor, withStage } from '../../src/index';
import { resetGlobalStateForTests, slot } from '../../src/callpath/global';
import { runChild } from '../helpers/child';
import { expectValidReport } from '../helpers/schema';

// Some tests here start child processes, which load the TypeScript compiler (~2 s each on a busy machine).
jest.setTimeout(60_000);

const saved = { ...process.env };
let dir: string;

beforeEach(() => {
  resetGlobalStateForTests();
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-singleton-'));
  for (const k of Object.keys(process.env)) if (k.startsWith('STAGEMETER_')) delete process.env[k];
});

afterEach(() => {
  const m = slot.monitor as PerformanceMonitor | undefined;
  if (m?.isMonitoring) m.stopMonitoring();
  resetGlobalStateForTests();
  process.env = { ...saved };
  rmSync(dir, { recursive: true, force: true });
});

describe('the process-wide monitor', () => {
  test('getMonitor creates one monitor from the environment and keeps returning it', () => {
    process.env.STAGEMETER_OUTPUT = join(dir, 'env.json');
    process.env.STAGEMETER_SAMPLE_MS = '250';
    const m = getMonitor();
    expect(getMonitor()).toBe(m);
    expect(configOf(m).outputPath).toBe(join(dir, 'env.json'));
    expect(configOf(m).memorySamplingIntervalMs).toBe(250);
  });

  test('it lives on globalThis under a versioned Symbol.for key, so copies of the package share it', () => {
    const m = getMonitor();
    const key = Symbol.for('stagemeter.global.v4');
    expect((globalThis as Record<symbol, { monitor: unknown }>)[key]?.monitor).toBe(m);
    jest.isolateModules(() => {
      // A second copy of the package, as when two dependencies each bring one.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const copy = require('../../src/index') as typeof import('../../src/index');
      expect(copy.getMonitor()).toBe(m);
    });
  });

  test('setMonitor replaces it; hooks record into the new one', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    setMonitor(m);
    expect(getMonitor()).toBe(m);
    m.startMonitoring();
    withStage('s', () => 1)();
    expect(m.stopMonitoring().stages).toHaveLength(1);
  });

  test('setMonitor with something that is not a monitor throws a ConfigError', () => {
    expect(() => setMonitor({} as PerformanceMonitor)).toThrow(ConfigError);
  });

  test('getMonitor with a bad environment throws a ConfigError naming the variable', () => {
    process.env.STAGEMETER_SAMPLE_MS = 'fast';
    expect(() => getMonitor()).toThrow(/STAGEMETER_SAMPLE_MS/);
  });

  test('a hook meeting a bad environment logs once on stderr, leaves monitoring off and never throws', () => {
    process.env.STAGEMETER_OUTPUT = join(dir, 'r.json');
    process.env.STAGEMETER_LOG = 'loud';
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const f = withStage('s', (x: number) => x * 2);
      expect(f(2)).toBe(4);
      expect(f(3)).toBe(6);
    } finally {
      spy.mockRestore();
    }
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('stagemeter: monitoring is off');
    expect(writes[0]).toContain('STAGEMETER_LOG');
    expect(slot.monitor).toBeUndefined();
  });

  test('without STAGEMETER_OUTPUT hooks pass straight through and nothing is created', () => {
    expect(withStage('s', () => 'ok')()).toBe('ok');
    expect(slot.monitor).toBeUndefined();
    expect(slot.autoStart).toBe(false);
  });
});

describe('zero-code-change runs (child processes)', () => {
  const script = join(__dirname, '..', 'fixtures', 'zeroCodeChange.ts');

  test('with STAGEMETER_OUTPUT the first stage starts the run and the report is written at exit', async () => {
    const out = join(dir, 'reports', 'auto.json');
    const result = await runChild(script, [], { env: { STAGEMETER_OUTPUT: out } });
    expect(result).toMatchObject({ code: 0, stdout: 'labeled 3000\n', stderr: '' });
    const report = expectValidReport(readFileSync(out, 'utf8'));
    // 3,000 rows flow through load and label: counted once, from the top-level stage with the most rows
    expect(report.run).toMatchObject({ status: 'completed', name: 'zeroCodeChange.ts', rowsProcessed: 3000 });
    expect(report.stageSummaries.map((s) => [s.name, s.calls]).sort()).toEqual([
      ['Engine.label', 3],
      ['load', 3],
    ]);
  });

  test('STAGEMETER_LOG=1 writes one JSON line per stage start and end to stderr, never to stdout', async () => {
    const out = join(dir, 'logged.json');
    const plain = await runChild(script);
    const logged = await runChild(script, [], { env: { STAGEMETER_OUTPUT: out, STAGEMETER_LOG: '1' } });
    expect(logged.stdout).toBe(plain.stdout);
    const lines = logged.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; stage?: string; name?: string });
    expect(lines.every((l) => l.name === 'stagemeter')).toBe(true);
    expect(lines.filter((l) => l.event === 'stage_start')).toHaveLength(6);
    expect(lines.filter((l) => l.event === 'stage_end').map((l) => l.stage).sort()).toEqual(['Engine.label', 'Engine.label', 'Engine.label', 'load', 'load', 'load']);
    expect(lines[lines.length - 1]?.event).toBe('run_end');
  });

  test('process.exit(3) still leaves the report, with the run aborted and the exit code kept', async () => {
    const out = join(dir, 'exit3.json');
    const result = await runChild(script, ['3'], { env: { STAGEMETER_OUTPUT: out } });
    expect(result.code).toBe(3);
    const report = expectValidReport(readFileSync(out, 'utf8'));
    expect(report.run).toMatchObject({ status: 'aborted', endReason: 'exit(3)' });
  });

  test('a bad environment never changes what the program prints or how it ends, besides one stderr line', async () => {
    const out = join(dir, 'never.json');
    const plain = await runChild(script);
    const bad = await runChild(script, [], { env: { STAGEMETER_OUTPUT: out, STAGEMETER_SAMPLE_MS: 'often' } });
    expect(bad.code).toBe(plain.code);
    expect(bad.stdout).toBe(plain.stdout);
    expect(plain.stderr).toBe('');
    expect(bad.stderr.trim().split('\n')).toHaveLength(2);
    expect(bad.stderr).toContain('STAGEMETER_SAMPLE_MS');
    expect(existsSync(out)).toBe(false);
  });
});
