/**
 * Never lose the report: a child pipeline ends in each way the runtime can see, once under
 * stagemeter (outputPath set) and once without any monitor. The process must end exactly the same
 * way (exit code or signal, stdout, stderr apart from stack frames) and the monitored one must
 * leave a schema-valid report naming how it ended.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PerformanceReport, StageMetrics } from '../../src/types';
import { expectValidReport } from '../helpers/schema';
import { outcome, readReport, runFixture, useTempDir, waitFor, type ChildOptions } from './support';

jest.setTimeout(90_000);
const tmp = useTempDir('crash');

/** Runs the fixture in `mode` without and with monitoring (in parallel) and returns both. */
async function pair(mode: string, options: Omit<ChildOptions, 'env'> = {}): Promise<{ plain: ReturnType<typeof outcome>; monitored: ReturnType<typeof outcome>; report: PerformanceReport }> {
  const out = join(tmp(), 'reports', `${mode}.json`);
  const [plain, monitored] = await Promise.all([
    runFixture('crashModes.ts', [mode], options),
    runFixture('crashModes.ts', [mode], { ...options, env: { REL_OUTPUT: out } }),
  ]);
  return { plain: outcome(plain), monitored: outcome(monitored), report: readReport(out) };
}

function stageOutcomes(report: PerformanceReport): Array<[string, boolean, string | undefined]> {
  return report.stages.map((s: StageMetrics) => [s.name, s.success, s.error?.name]);
}

/** The part every mode shares: two finished batches, then a pending async stage and an open manual one. */
const FINISHED: Array<[string, boolean, string | undefined]> = [
  ['load', true, undefined],
  ['label', true, undefined],
  ['load', true, undefined],
  ['label', true, undefined],
];
const CLOSED_AS_FAILED: Array<[string, boolean, string | undefined]> = [
  ['forever', false, 'StageNotEnded'],
  ['open-manual', false, 'StageNotEnded'],
];

describe('a run that ends in any way the runtime can see leaves its report, and ends as it would have', () => {
  test('normal end: completed, open stages closed as failed', async () => {
    const { plain, monitored, report } = await pair('normal');
    expect(monitored).toEqual(plain);
    expect(plain).toMatchObject({ code: 0, signal: null, stdout: 'labeled 68\ndone\n', stderr: '' });
    expect(report.run).toMatchObject({ status: 'completed', endReason: 'exit(0)', name: 'crash-normal' });
    expect(report.run.fatalError).toBeUndefined();
    expect(stageOutcomes(report)).toEqual([...FINISHED, ...CLOSED_AS_FAILED]);
    expect(report.summary).toMatchObject({ totalStages: 6, failedStages: 2 });
  });

  test('process.exit(7) inside a stage: same exit code, aborted, the exiting stage closed as failed', async () => {
    const { plain, monitored, report } = await pair('exit');
    expect(monitored).toEqual(plain);
    expect(plain.code).toBe(7);
    expect(report.run).toMatchObject({ status: 'aborted', endReason: 'exit(7)' });
    expect(stageOutcomes(report)).toEqual([...FINISHED, ...CLOSED_AS_FAILED, ['exiting', false, 'StageNotEnded']]);
  });

  test('uncaught exception (a sync throw in a timer): exit code 1, the same crash message, the fatal error named', async () => {
    const { plain, monitored, report } = await pair('uncaught-timer');
    expect(monitored).toEqual(plain);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('Error: boom in a timer');
    expect(report.run).toMatchObject({ status: 'aborted', endReason: 'uncaughtException', fatalError: { name: 'Error', message: 'boom in a timer' } });
    expect(stageOutcomes(report)).toEqual([...FINISHED, ...CLOSED_AS_FAILED]);
  });

  test('a throw inside an async stage that nobody awaits: the stage failed with that error, the crash unchanged', async () => {
    const { plain, monitored, report } = await pair('async-stage-throw');
    expect(monitored).toEqual(plain);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('TypeError: bad row 3 in an async stage');
    expect(report.run).toMatchObject({ status: 'aborted', endReason: 'unhandledRejection', fatalError: { name: 'TypeError', message: 'bad row 3 in an async stage' } });
    const failing = report.stages.find((s) => s.name === 'failing');
    expect(failing).toMatchObject({ success: false, error: { name: 'TypeError', message: 'bad row 3 in an async stage' }, rowsProcessed: 3 });
  });

  test('unhandled rejection: exit code 1, the rejection named', async () => {
    const { plain, monitored, report } = await pair('unhandled-rejection');
    expect(monitored).toEqual(plain);
    expect(plain.code).toBe(1);
    expect(report.run).toMatchObject({ status: 'aborted', endReason: 'unhandledRejection', fatalError: { name: 'RangeError', message: 'nobody handles this rejection' } });
    expect(stageOutcomes(report)).toEqual([...FINISHED, ...CLOSED_AS_FAILED]);
  });

  test.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s with no handler of its own: the process still dies of the signal', async (signal) => {
    const { plain, monitored, report } = await pair('signal', { signalOnReady: signal });
    expect(monitored).toEqual(plain);
    expect(plain).toMatchObject({ code: null, signal });
    expect(report.run).toMatchObject({ status: 'aborted', endReason: signal });
    expect(stageOutcomes(report).slice(0, 4)).toEqual(FINISHED);
    expect(report.stages.filter((s) => !s.success).map((s) => [s.name, s.error?.name])).toEqual([
      ['forever', 'StageNotEnded'],
      ['open-manual', 'StageNotEnded'],
    ]);
  });

  test('SIGTERM with the application\'s own handler: the handler decides (drain, exit code 3), the report is there at exit', async () => {
    const { plain, monitored, report } = await pair('own-sigterm', { signalOnReady: 'SIGTERM' });
    expect(monitored).toEqual(plain);
    expect(plain).toMatchObject({ code: 3, signal: null, stdout: expect.stringContaining('got SIGTERM, draining\ndrained 5\n') });
    expect(report.run.status).toBe('aborted');
    expect(['exit(3)', 'SIGTERM']).toContain(report.run.endReason);
    // the stage the handler ran after the signal was recorded: the run went on until the exit
    expect(report.stages.find((s) => s.name === 'drain')).toMatchObject({ success: true, rowsProcessed: 5 });
  });

  test('a process.once(SIGINT) handler installed before monitoring started still runs its graceful shutdown to the end', async () => {
    const { plain, monitored, report } = await pair('sigint-once-first', { signalOnReady: 'SIGINT' });
    expect(plain).toMatchObject({ code: 0, signal: null, stdout: expect.stringContaining('graceful shutdown done') });
    expect(monitored).toEqual(plain);
    expect(report.run.status).toBe('completed');
  });

  test('an uncaught exception the application handles itself is not fatal: the run goes on and is not reported as a crash', async () => {
    const { plain, monitored, report } = await pair('handled-uncaught');
    expect(plain).toMatchObject({ code: 0, stdout: 'labeled 68\nrecovered from: a recoverable error\ncarried on\n' });
    expect(monitored).toEqual(plain);
    expect(report.run.fatalError).toBeUndefined();
    expect(report.run).toMatchObject({ status: 'completed', endReason: 'exit(0)' });
  });

  test('SIGKILL cannot be seen: with checkpointIntervalMs the last checkpoint is left, schema-valid, status running', async () => {
    const out = join(tmp(), 'reports', 'killed.json');
    const result = await runFixture('crashModes.ts', ['checkpointed'], {
      env: { REL_OUTPUT: out, REL_CHECKPOINT_MS: '100' },
      signalOnReady: 'SIGKILL',
      // kill only once a checkpoint is on disk (it is due every 100 ms; no timing is asserted)
      beforeSignal: () => waitFor(() => existsSync(out)),
    });
    expect(result.signal).toBe('SIGKILL');
    const report = expectValidReport(readFileSync(out, 'utf8'));
    expect(report.run).toMatchObject({ status: 'running', endReason: 'checkpoint', name: 'crash-checkpointed' });
    expect(stageOutcomes(report).slice(0, 4)).toEqual(FINISHED);
    expect(report.summary.totalStages).toBeGreaterThanOrEqual(4);
  });
});

describe('two copies of the package in one process', () => {
  test('a signal flushes the runs of both copies, and the process still dies of it', async () => {
    const firstOut = join(tmp(), 'first.json');
    const secondOut = join(tmp(), 'second.json');
    const result = await runFixture('twoCopies.ts', [firstOut, secondOut], { signalOnReady: 'SIGTERM' });
    expect(result).toMatchObject({ code: null, signal: 'SIGTERM' });
    const first = readReport(firstOut);
    const second = readReport(secondOut);
    expect([first.run.name, first.run.status, first.run.endReason]).toEqual(['first-copy', 'aborted', 'SIGTERM']);
    expect([second.run.name, second.run.status, second.run.endReason]).toEqual(['second-copy', 'aborted', 'SIGTERM']);
    expect(first.stages.map((s) => s.name)).toEqual(['from-first']);
    expect(second.stages.map((s) => s.name)).toEqual(['from-second']);
  });
});
