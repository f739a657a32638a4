import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUN_KEY } from '../../../src/callpath/global';
import { createPerformanceMonitor, withStage, type PerformanceMonitor } from '../../../src/index';
import { CHECKPOINT_ANALYSIS_MAX_RECORDS, CheckpointWriter } from '../../../src/run/checkpoint';
import type { RunState } from '../../../src/run/state';
import type { PerformanceReport } from '../../../src/types';
import { expectValidReport } from '../../helpers/schema';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-checkpoint-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A run with `stages` stages of `calls` calls each (every call kept up to the default budget). */
function busyRun(out: string, stages: number, calls: number): { monitor: PerformanceMonitor; run: RunState; writer: CheckpointWriter } {
  const monitor = createPerformanceMonitor({ outputPath: out, enableMemoryTracking: false });
  monitor.startMonitoring({ runName: 'ckpt' });
  for (let s = 0; s < stages; s++) {
    const f = withStage(`stage_${s}`, (x: number) => x + s, { monitor });
    for (let i = 0; i < calls; i++) f(i);
  }
  const run = monitor[RUN_KEY].run!;
  return { monitor, run, writer: new CheckpointWriter(run, out, () => monitor[RUN_KEY].run === run) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 2000) throw new Error('not reached in time');
    await sleep(5);
  }
}

function readJson(path: string): PerformanceReport {
  return expectValidReport(readFileSync(path, 'utf8'));
}

describe('a checkpoint', () => {
  test('describes the run at the moment it started, while the run goes on; the event loop turns between its slices', async () => {
    const out = join(dir, 'r.json');
    const { monitor, writer } = busyRun(out, 12, 1000);
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    writer.start();
    // calls made after the checkpoint started are not in it
    withStage('later', () => 1, { monitor })();
    await until(() => writer.written === 1);
    counting = false;
    const report = readJson(out);
    expect(report.run.status).toBe('running');
    expect(report.run.endReason).toBe('checkpoint');
    expect(report.summary.totalStages).toBe(12_000);
    expect(report.stages).toHaveLength(12_000);
    expect(report.stageSummaries.map((s) => s.name)).not.toContain('later');
    // 12,000 records: analysed without them, and the report says so
    expect(report.qualityFlags.map((f) => f.code)).toContain('analysis_without_records');
    expect(turns).toBeGreaterThan(3);
    expect(readdirSync(dir)).toEqual(['r.json']);
    monitor.stopMonitoring();
  });

  test(`with at most ${CHECKPOINT_ANALYSIS_MAX_RECORDS} records it is analysed with them, as the final report is`, async () => {
    const out = join(dir, 'r.json');
    const { monitor, writer } = busyRun(out, 4, 1000);
    writer.start();
    await until(() => writer.written === 1);
    const checkpoint = readJson(out);
    expect(checkpoint.qualityFlags.map((f) => f.code)).not.toContain('analysis_without_records');
    expect(checkpoint.timeShare?.length).toBe(4);
    const final = monitor.stopMonitoring();
    expect(final.qualityFlags.map((f) => f.code)).not.toContain('analysis_without_records');
  });

  test('only one at a time: starting another while one is being written does nothing', async () => {
    const { monitor, writer } = busyRun(join(dir, 'r.json'), 20, 500);
    writer.start();
    writer.start();
    expect(writer.started).toBe(1);
    await until(() => writer.written === 1);
    monitor.stopMonitoring();
  });

  const moments: Array<[string, (dir: string) => Promise<void>]> = [
    ...[0, 1, 3, 8, 21].map((k): [string, () => Promise<void>] => [`${k} turns of the loop`, async () => {
      for (let i = 0; i < k; i++) await turn();
    }]),
    ['30 ms', () => sleep(30)],
    // the text is being written to its temp file (in libuv's thread pool)
    ['once its temp file exists', (d) => until(() => readdirSync(d).some((f) => f.endsWith('.tmp')))],
  ];
  test.each(moments)('the run ending %s after it started: the final report is never replaced, and no temp file is left', async (_when, wait) => {
    const out = join(dir, 'r.json');
    const { monitor, writer } = busyRun(out, 12, 1000);
    writer.start();
    await wait(dir);
    // what the monitor does at stop: cancel the checkpoint, then write the final report
    writer.cancel();
    monitor.stopMonitoring();
    expect(readJson(out).run.status).toBe('completed');
    await sleep(300);
    expect(readJson(out).run.status).toBe('completed');
    expect(readdirSync(dir)).toEqual(['r.json']);
    expect(writer.written).toBe(0);
  });

  test('a run that ended without cancelling it (another monitor took over) makes it give up too', async () => {
    const out = join(dir, 'r.json');
    const { monitor, writer } = busyRun(out, 12, 1000);
    writer.start();
    await turn();
    monitor.stopMonitoring();
    await sleep(300);
    expect(readJson(out).run.status).toBe('completed');
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  test('a checkpoint that cannot be written is a flag in the run and one stderr line; the run goes on', async () => {
    const out = join(dir, 'missing-parent-is-a-file', 'r.json');
    require('node:fs').writeFileSync(join(dir, 'missing-parent-is-a-file'), '');
    const { monitor, writer } = busyRun(out, 2, 10);
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      writer.start();
      await until(() => writer.started === 1 && writes.length > 0);
      await sleep(20);
      const report = monitor.stopMonitoring();
      expect(report.qualityFlags.filter((f) => f.code === 'checkpoint_failed')).toHaveLength(1);
      expect(writes.filter((w) => w.includes('checkpoint could not be written'))).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });
});
