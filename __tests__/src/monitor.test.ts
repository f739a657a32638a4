import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createPerformanceMonitor, withStage, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { expectValidReport } from '../helpers/schema';
import { configErrorOf } from '../helpers/thrown';

let dir: string;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let monitor: PerformanceMonitor | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-collector-'));
});

afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
  monitor = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function quiet(options: Parameters<typeof createPerformanceMonitor>[0] = {}): PerformanceMonitor {
  monitor = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
  return monitor;
}

describe('run lifecycle', () => {
  test('startStage/endStage record duration, rows and metadata, and the report validates', () => {
    const m = quiet();
    m.startMonitoring({ expectedRows: 10, runName: 'lifecycle', metadata: { team: 'labels' } });
    const id = m.startStage('load', { month: '2026-01' });
    const metrics = m.endStage(id, 10);
    expect(metrics).toMatchObject({ id, name: 'load', rowsProcessed: 10, success: true, metadata: { month: '2026-01' } });
    const report = expectValidReport(m.stopMonitoring());
    expect(report.run).toMatchObject({ name: 'lifecycle', status: 'completed', expectedRows: 10, rowsProcessed: 10, metadata: { team: 'labels' } });
    expect(report.stages).toHaveLength(1);
    expect(report.stageSummaries[0]).toMatchObject({ name: 'load', calls: 1, failures: 0, rowsProcessed: 10, quantiles: 'exact' });
    expect(report.summary).toMatchObject({ totalStages: 1, failedStages: 0, slowestStage: 'load' });
    expect(m.isMonitoring).toBe(false);
  });

  test('stage ids are unique within a run', () => {
    const m = quiet();
    m.startMonitoring();
    const ids = new Set<string>();
    const f = withStage('hot', (x: number) => x + 1, { monitor: m });
    for (let i = 0; i < 50; i++) {
      ids.add(m.startStage('manual'));
      f(i);
    }
    for (const id of ids) m.endStage(id);
    const report = m.stopMonitoring();
    const all = report.stages.map((s) => s.id);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(100);
  });

  test('a stage ended with an error is failed and keeps the error name and message', () => {
    const m = quiet();
    m.startMonitoring();
    const id = m.startStage('parse');
    const metrics = m.endStage(id, 0, { error: new RangeError('bad row 7') });
    expect(metrics).toMatchObject({ success: false, error: { name: 'RangeError', message: 'bad row 7' } });
    expect(metrics?.error?.stack).toBeUndefined();
    const report = m.stopMonitoring();
    expect(report.summary.failedStages).toBe(1);
    expect(report.stageSummaries[0]?.failures).toBe(1);
  });

  test('captureStackTraces keeps the stack of a failed stage', () => {
    const m = quiet({ captureStackTraces: true });
    m.startMonitoring();
    const metrics = m.endStage(m.startStage('parse'), 0, { error: new Error('x') });
    expect(metrics?.error?.stack).toContain('Error: x');
  });

  test('manual stages nest under the hook stage active where they start', () => {
    const m = quiet();
    m.startMonitoring();
    let inner = '';
    withStage('outer', () => {
      inner = m.startStage('inner');
    }, { monitor: m })();
    m.endStage(inner);
    const report = m.stopMonitoring();
    const outer = report.stages.find((s) => s.name === 'outer');
    expect(report.stages.find((s) => s.name === 'inner')?.parentId).toBe(outer?.id);
  });

  test('run rows count top-level stages only', () => {
    const m = quiet();
    m.startMonitoring({ expectedRows: 100 });
    const child = withStage('child', (rows: number[]) => rows.length, { monitor: m });
    const parent = withStage('parent', (rows: number[]) => child(rows), { monitor: m });
    parent(new Array(100).fill(0));
    const report = m.stopMonitoring();
    expect(report.stageSummaries.map((s) => [s.name, s.rowsProcessed]).sort()).toEqual([
      ['child', 100],
      ['parent', 100],
    ]);
    expect(report.run.rowsProcessed).toBe(100);
  });
});

describe('misuse becomes a quality flag, never an exception', () => {
  test('endStage with an unknown id or an already-ended id is flagged', () => {
    const m = quiet();
    m.startMonitoring();
    const id = m.startStage('x');
    expect(m.endStage(id)).toBeDefined();
    expect(m.endStage(id)).toBeUndefined();
    expect(m.endStage('no-such-id')).toBeUndefined();
    expect(m.endStage(42 as unknown as string)).toBeUndefined();
    const report = expectValidReport(m.stopMonitoring());
    const codes = report.qualityFlags.map((f) => f.code);
    expect(codes).toEqual(expect.arrayContaining(['stage_already_ended', 'unknown_stage_id']));
    expect(report.summary.qualityFlagCounts.warning).toBeGreaterThanOrEqual(3);
  });

  test('startStage before startMonitoring records nothing and is flagged in the next run', () => {
    const m = quiet();
    const id = m.startStage('early');
    expect(typeof id).toBe('string');
    expect(m.endStage(id)).toBeUndefined();
    m.startMonitoring();
    const report = m.stopMonitoring();
    expect(report.stages).toHaveLength(0);
    expect(report.qualityFlags.find((f) => f.code === 'stage_without_run')?.message).toContain('startStage("early") called before startMonitoring()');
  });

  test('stopMonitoring twice returns the same report and leaves the finished file alone', () => {
    const out = join(dir, 'r.json');
    const m = quiet({ outputPath: out });
    m.startMonitoring();
    m.endStage(m.startStage('a'));
    const first = m.stopMonitoring();
    const written = readFileSync(out, 'utf8');
    const mtime = statSync(out).mtimeMs;
    const second = m.stopMonitoring();
    expect(second).toBe(first);
    expect(readFileSync(out, 'utf8')).toBe(written);
    expect(statSync(out).mtimeMs).toBe(mtime);
    expect(second.qualityFlags.map((f) => f.code)).not.toContain('stop_without_run');
  });

  test('stopMonitoring without any run returns an empty aborted report and writes nothing', () => {
    const out = join(dir, 'never.json');
    const m = quiet({ outputPath: out });
    const report = expectValidReport(m.stopMonitoring());
    expect(report.run.status).toBe('aborted');
    expect(report.qualityFlags[0]?.code).toBe('stop_without_run');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('startMonitoring while a run is active is flagged and ignored', () => {
    const m = quiet();
    m.startMonitoring({ runName: 'first' });
    m.startMonitoring({ runName: 'second' });
    const report = m.stopMonitoring();
    expect(report.run.name).toBe('first');
    expect(report.qualityFlags.map((f) => f.code)).toContain('already_monitoring');
  });

  test.each([[-1], [Number.NaN], [Infinity], ['12' as unknown as number], [{} as unknown as number]])('endStage with row count %p counts 0 and is flagged', (rows) => {
    const m = quiet();
    m.startMonitoring();
    const metrics = m.endStage(m.startStage('s'), rows);
    expect(metrics?.rowsProcessed).toBe(0);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.qualityFlags.find((f) => f.code === 'invalid_rows')?.stage).toBe('s');
  });

  test('stopMonitoring from inside nested hook calls closes them with the time they had run', () => {
    const m = quiet();
    m.startMonitoring();
    let report: ReturnType<PerformanceMonitor['stopMonitoring']> | undefined;
    const spinMs = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // busy
      }
    };
    const inner = withStage('inner', () => {
      spinMs(3);
      report = m.stopMonitoring();
      return 'still returns';
    }, { monitor: m });
    const outer = withStage('outer', () => {
      spinMs(3);
      return inner();
    }, { monitor: m });
    for (let i = 0; i < 40; i++) withStage('before', () => i, { monitor: m })(); // some deferred accounting on the way
    expect(outer()).toBe('still returns');
    const stages = expectValidReport(report!).stages;
    const byName = (n: string) => stages.find((st) => st.name === n)!;
    expect(stages.filter((st) => st.name === 'before')).toHaveLength(40);
    expect(byName('inner')).toMatchObject({ success: false, error: { name: 'StageNotEnded' } });
    expect(byName('outer')).toMatchObject({ success: false, error: { name: 'StageNotEnded' } });
    expect(byName('inner').durationMs).toBeGreaterThanOrEqual(3);
    expect(byName('outer').durationMs).toBeGreaterThanOrEqual(6);
    expect(byName('inner').parentId).toBe(byName('outer').id);
  });

  test('stages still open at stopMonitoring are closed as failed, never dropped', async () => {
    const m = quiet();
    m.startMonitoring();
    m.startStage('manual-open');
    let release!: () => void;
    const pending = withStage('async-open', () => new Promise<void>((r) => (release = r)), { monitor: m })();
    const report = expectValidReport(m.stopMonitoring());
    const open = report.stages.filter((s) => !s.success);
    expect(open.map((s) => s.name).sort()).toEqual(['async-open', 'manual-open']);
    expect(open.every((s) => s.error?.name === 'StageNotEnded')).toBe(true);
    expect(report.qualityFlags.map((f) => f.code)).toContain('stages_still_open');
    release();
    await pending; // settling after the run ended records nothing and throws nothing
  });

  test('a sync stage open when stopMonitoring is called from inside it is closed as failed', () => {
    const m = quiet();
    m.startMonitoring();
    let report: ReturnType<PerformanceMonitor['stopMonitoring']> | undefined;
    const result = withStage('outer', () => {
      report = m.stopMonitoring();
      return 7;
    }, { monitor: m })();
    expect(result).toBe(7);
    expect(report?.stages).toHaveLength(1);
    expect(report?.stages[0]).toMatchObject({ name: 'outer', success: false });
  });

  test.each([
    ['empty', '', '(invalid stage name: "")'],
    ['blank', '   ', '(invalid stage name: "   ")'],
    ['not a string', 42, '(invalid stage name: 42)'],
    ['10,000 characters', 'x'.repeat(10_000), `${'x'.repeat(200)}...`],
  ])('a %s stage name given to startStage is recorded under a safe name and flagged', (_label, name, recorded) => {
    const m = quiet();
    m.startMonitoring();
    m.endStage(m.startStage(name as string));
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stages[0]?.name).toBe(recorded);
    expect(report.qualityFlags.map((f) => f.code)).toContain('invalid_stage_name');
  });

  test('addQualityFlag records the flag; a bad severity is recorded as a warning and flagged', () => {
    const m = quiet();
    m.startMonitoring();
    m.addQualityFlag('input file had 3 empty lines', 'info');
    m.addQualityFlag('odd', 'fatal' as 'error');
    const report = m.stopMonitoring();
    expect(report.qualityFlags).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: 'info', message: 'input file had 3 empty lines', code: 'user' }),
        expect.objectContaining({ severity: 'warning', message: 'odd' }),
        expect.objectContaining({ code: 'invalid_severity' }),
      ]),
    );
  });

  test('the same misuse repeated is one flag with a count, not thousands', () => {
    const m = quiet();
    m.startMonitoring();
    for (let i = 0; i < 5000; i++) m.endStage('nope');
    const report = m.stopMonitoring();
    const flags = report.qualityFlags.filter((f) => f.code === 'unknown_stage_id');
    expect(flags).toHaveLength(1);
    expect(flags[0]?.message).toContain('(5000 times)');
  });

  test('invalid startMonitoring options throw a ConfigError naming each field', () => {
    const m = quiet();
    const error = configErrorOf(() => m.startMonitoring({ expectedRows: -5, runName: '', extra: 1 } as never));
    expect(error.issues.map((i) => i.field).sort()).toEqual(['expectedRows', 'extra', 'runName']);
    expect(m.isMonitoring).toBe(false);
  });
});

describe('live statistics', () => {
  test('progress and ETA follow expectedRows; active stages are listed', () => {
    const m = quiet();
    m.startMonitoring({ expectedRows: 400 });
    let inside: ReturnType<PerformanceMonitor['getLivePerformanceStats']> | undefined;
    const step = withStage('step', (rows: number[]) => rows.length, { monitor: m });
    const outer = withStage('outer', () => {
      inside = m.getLivePerformanceStats();
    }, { monitor: m });
    step(new Array(100).fill(0));
    outer();
    const manual = m.startStage('manual');
    const live = m.getLivePerformanceStats();
    expect(inside?.activeStages).toEqual(['outer']);
    expect(live.activeStages).toEqual(['manual']);
    m.endStage(manual);
    expect(live.rowsProcessed).toBe(100);
    expect(live.expectedRows).toBe(400);
    expect(live.progress).toBeCloseTo(0.25, 10);
    expect(live.completedStages).toBe(2);
    expect(live.etaMs).toBeGreaterThan(0);
    expect(live.currentMemoryMb).toBeGreaterThan(0);
    expect(live.peakMemoryMb).toBeGreaterThanOrEqual(live.currentMemoryMb);
  });

  test('every call counts at once in live stats, in the next checkpoint and in the report', async () => {
    const out = join(dir, 'batched.json');
    const m = quiet({ outputPath: out, checkpointIntervalMs: 100 });
    m.startMonitoring();
    const step = withStage('step', (rows: number[]) => {
      const end = performance.now() + 0.003;
      while (performance.now() < end) {
        // busy
      }
      return rows.length;
    }, { monitor: m });
    for (let i = 0; i < 45; i++) step([1, 2, 3]);
    const live = m.getLivePerformanceStats();
    expect(live.completedStages).toBe(45);
    expect(live.rowsProcessed).toBe(135);
    for (let i = 0; i < 3; i++) step([1, 2, 3]);
    // the next checkpoint after the 48th call: every 100 ms, written in slices and fsynced in the
    // thread pool, so on a busy host it can take a few hundred ms to land
    let checkpoint: PerformanceReport | undefined;
    for (let waited = 0; waited < 10_000 && checkpoint?.stageSummaries[0]?.calls !== 48; waited += 50) {
      await sleep(50);
      if (existsSync(out)) checkpoint = expectValidReport(readFileSync(out, 'utf8'));
    }
    expect(checkpoint?.stageSummaries[0]).toMatchObject({ name: 'step', calls: 48, rowsProcessed: 144 });
    step([1]);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries[0]).toMatchObject({ calls: 49, rowsProcessed: 145, recordsKept: 49 });
    expect(report.stages).toHaveLength(49);
    expect(report.run.rowsProcessed).toBe(145);
  });

  test('without a run the live stats are zeros, never an exception', () => {
    const live = quiet().getLivePerformanceStats();
    expect(live).toMatchObject({ elapsedMs: 0, rowsProcessed: 0, activeStages: [], completedStages: 0 });
  });
});

describe('the report file', () => {
  test('stopMonitoring writes the report atomically to outputPath, creating directories', () => {
    const out = join(dir, 'nested', 'deeper', 'run.json');
    const m = quiet({ outputPath: out });
    m.startMonitoring();
    m.endStage(m.startStage('a'), 3);
    const report = m.stopMonitoring();
    expect(report.output).toEqual({ path: out, written: true });
    const onDisk = expectValidReport(readFileSync(out, 'utf8'));
    expect(onDisk.run.id).toBe(report.run.id);
    expect(readdirSync(join(dir, 'nested', 'deeper'))).toEqual(['run.json']);
  });

  test('a path that cannot be written still returns the report, with the error named', () => {
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'not a directory');
    const m = quiet({ outputPath: join(blocker, 'run.json') });
    m.startMonitoring();
    const report = expectValidReport(m.stopMonitoring());
    expect(report.output?.written).toBe(false);
    expect(report.output?.error).toMatch(/ENOTDIR|EEXIST/);
    expect(report.qualityFlags.find((f) => f.code === 'report_write_failed')?.severity).toBe('error');
    expect(report.summary.qualityFlagCounts.error).toBe(1);
  });

  test('an output path that is a directory is reported, not thrown', () => {
    const target = join(dir, 'adir');
    mkdirSync(target);
    const m = quiet({ outputPath: target });
    m.startMonitoring();
    const report = m.stopMonitoring();
    expect(report.output?.written).toBe(false);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(dir)).toEqual(['adir']);
  });

  if (process.getuid?.() !== 0) {
    test('a read-only directory is reported, not thrown', () => {
      const ro = join(dir, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      const m = quiet({ outputPath: join(ro, 'r.json') });
      m.startMonitoring();
      expect(m.stopMonitoring().output?.written).toBe(false);
      chmodSync(ro, 0o700);
    });
  }
});

describe('bounded per-call records', () => {
  test('the run keeps at most maxStageRecords records while every summary counts every call', () => {
    const m = quiet({ maxStageRecords: 100 });
    m.startMonitoring();
    const hot = withStage('hot', (x: number) => x * 2, { monitor: m });
    const rare = withStage('rare', (x: number) => x, { monitor: m });
    const fails = withStage('fails', () => {
      throw new Error('no');
    }, { monitor: m });
    for (let i = 0; i < 5000; i++) {
      hot(i);
      if (i % 500 === 0) rare(i);
    }
    for (let i = 0; i < 150; i++) {
      try {
        fails();
      } catch {
        // expected
      }
    }
    const report = expectValidReport(m.stopMonitoring());
    const by = (n: string) => report.stageSummaries.find((s) => s.name === n)!;
    expect(by('hot')).toMatchObject({ calls: 5000, quantiles: 'sketch' });
    expect(by('rare')).toMatchObject({ calls: 10, recordsKept: 10, quantiles: 'exact' });
    expect(by('fails')).toMatchObject({ calls: 150, failures: 150 });
    expect(report.stages.length).toBeLessThanOrEqual(100);
    expect(report.stageRecords).toEqual({ max: 100, kept: report.stages.length, omitted: 5000 + 10 + 150 - report.stages.length });
    for (const name of ['hot', 'rare', 'fails']) expect(report.stages.filter((s) => s.name === name)).toHaveLength(by(name).recordsKept);
    // the busiest stage's records are spread over its calls, not its first ones
    const hotTimes = report.stages.filter((s) => s.name === 'hot').map((s) => s.t);
    const rareTimes = report.stages.filter((s) => s.name === 'rare').map((s) => s.t);
    expect(Math.max(...hotTimes)).toBeGreaterThan(rareTimes[rareTimes.length - 1]! - 1);
    expect(by('hot').fidelity.recordEvery).toBeGreaterThan(1);
    expect(by('hot').p50Ms).toBeLessThanOrEqual(by('hot').p95Ms);
    expect(by('hot').p95Ms).toBeLessThanOrEqual(by('hot').p99Ms);
    expect(by('hot').p99Ms).toBeLessThanOrEqual(by('hot').maxMs);
  });

  test('failed calls keep their records while failures hold under a quarter of the budget, and the first error is in the summary', () => {
    const m = quiet({ maxStageRecords: 400 });
    m.startMonitoring();
    const short = withStage('short', (i: number) => {
      if (i >= 2048 && i % 100 === 0) throw new Error(`bad row ${i}`);
      return i;
    }, { monitor: m });
    for (let i = 0; i < 4096; i++) {
      try {
        short(i);
      } catch {
        // expected
      }
    }
    const report = expectValidReport(m.stopMonitoring());
    const s = report.stageSummaries.find((x) => x.name === 'short')!;
    expect(s.failures).toBe(20);
    expect(report.stages.filter((r) => r.name === 'short' && !r.success)).toHaveLength(20);
    expect(s.firstError).toMatchObject({ name: 'Error', message: 'bad row 2100' });
    expect(report.stages.length).toBeLessThanOrEqual(400);
  });

  test('a hot stage is sampled and says so; a long stage gets full probes on every call', () => {
    const m = quiet();
    m.startMonitoring();
    const hot = withStage('hot', (x: number) => x + 1, { monitor: m });
    for (let i = 0; i < 20_000; i++) hot(i);
    const long = withStage('long', () => {
      const end = performance.now() + 60;
      while (performance.now() < end) {
        // busy for 60 ms: full probes (2-40 µs, the latter right after long work on a busy host)
        // stay under the tenth of 1 % of that which they may spend
      }
    }, { monitor: m });
    for (let i = 0; i < 12; i++) long();
    const report = expectValidReport(m.stopMonitoring());
    const hotSummary = report.stageSummaries.find((s) => s.name === 'hot')!;
    const longSummary = report.stageSummaries.find((s) => s.name === 'long')!;
    expect(hotSummary.fidelity.mode).toBe('sampled');
    expect(hotSummary.fidelity.probedCalls).toBeLessThan(200);
    expect(hotSummary.fidelity.timedCalls).toBe(hotSummary.calls);
    expect(hotSummary.cpu.estimated).toBe(true);
    expect(longSummary.fidelity).toEqual({ mode: 'full', probedCalls: 12, recordEvery: 1, timedCalls: 12 });
    expect(longSummary.cpu.estimated).toBe(false);
    const timingRecord = report.stages.find((s) => s.name === 'hot' && s.fidelity === 'timing')!;
    expect(timingRecord.cpu.estimated).toBe(true);
    expect(timingRecord.memory.estimated).toBe(true);
    const fullRecord = report.stages.find((s) => s.name === 'long')!;
    expect(fullRecord.fidelity).toBe('full');
    expect(fullRecord.cpu.estimated).toBeUndefined();
    expect(fullRecord.cpu.percent).toBeGreaterThan(0);
  });
});

describe('checkpoints', () => {

  test('a probe failure found again by every checkpoint is one flag, not one per checkpoint', async () => {
    const out = join(dir, 'cp-flags.json');
    const m = quiet({ outputPath: out, checkpointIntervalMs: 100 });
    m.startMonitoring();
    const spy = jest.spyOn(process, 'cpuUsage').mockImplementation(() => {
      throw new Error('EPERM');
    });
    try {
      await sleep(350);
      expect(JSON.parse(readFileSync(out, 'utf8')).run.status).toBe('running');
      const report = expectValidReport(m.stopMonitoring());
      const flags = report.qualityFlags.filter((f) => f.code === 'probe_failed');
      expect(flags.map((f) => f.message)).toEqual(["process.cpuUsage failed: the run's average CPU is unknown (reported as 0)"]);
    } finally {
      spy.mockRestore();
    }
  });

  test.each([
    ['riding on the sampler tick', { memorySamplingIntervalMs: 20 }],
    ['on their own timer when memory tracking is off', { enableMemoryTracking: false }],
  ])('the report is rewritten while the run goes on (%s)', async (_label, extra) => {
    const out = join(dir, 'cp.json');
    const m = quiet({ outputPath: out, checkpointIntervalMs: 100, ...extra });
    m.startMonitoring({ runName: 'checkpointed' });
    m.endStage(m.startStage('before-checkpoint'), 10);
    const open = m.startStage('still-open');
    await sleep(350);
    const checkpoint = expectValidReport(readFileSync(out, 'utf8'));
    expect(checkpoint.run.status).toBe('running');
    expect(checkpoint.run.endReason).toBe('checkpoint');
    expect(checkpoint.stages.map((s) => s.name)).toEqual(['before-checkpoint']);
    m.endStage(open);
    const final = expectValidReport(m.stopMonitoring());
    expect(final.run.status).toBe('completed');
    expect(JSON.parse(readFileSync(out, 'utf8')).run.status).toBe('completed');
    expect(final.stages.map((s) => s.name)).toEqual(['before-checkpoint', 'still-open']);
  });
});
