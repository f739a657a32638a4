/**
 * Decorated generator methods (sync and async, instance and static) under both decorator modes:
 * one call per iteration, timed from the first next() to the end against a clock here, named
 * `Class.method`, with `this` kept.
 */
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { getMonitoredStages, MonitoredStage, withStage, type PerformanceReport } from '../../src/index';
import { useSingletonRun } from '../helpers/singletonRun';
import { decoratorMode } from './mode';
import { warmGeneratorStages } from '../helpers/warmGenerators';

const run = useSingletonRun();

// The call path compiled before any clock compared below starts.
beforeAll(warmGeneratorStages);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Recorded and measured spans agree to this many ms (the end is seen a few microtasks before the loop exits; 2 shared cores). */
const SLACK_MS = 3;
const callsOf = (report: PerformanceReport, name: string) => report.stages.filter((s) => s.name === name);

class RowSource {
  constructor(readonly prefix: string) {}

  @MonitoredStage()
  async *pages(count: number): AsyncGenerator<string[]> {
    for (let i = 0; i < count; i++) {
      await sleep(4);
      yield [`${this.prefix}${i}a`, `${this.prefix}${i}b`];
    }
  }

  @MonitoredStage({ name: 'source.lines', metadata: { kind: 'sync' } })
  *lines(n: number): Generator<string> {
    for (let i = 0; i < n; i++) yield `${this.prefix}${i}`;
  }

  @MonitoredStage()
  static async *ticks(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) {
      await null;
      yield i;
    }
  }
}

describe(`generator methods (${decoratorMode} decorators build)`, () => {
  test('for await over a decorated async generator method: one call spanning the loop, named Class.method, this kept', async () => {
    const source = new RowSource('r');
    const seen: string[][] = [];
    const pages = source.pages(10);
    const t0 = performance.now();
    for await (const page of pages) seen.push(page);
    const measuredMs = performance.now() - t0;
    expect(seen).toHaveLength(10);
    expect(seen[3]).toEqual(['r3a', 'r3b']);
    const [call, ...more] = callsOf(run.stop(), 'RowSource.pages');
    expect(more).toEqual([]);
    expect(call).toMatchObject({ success: true, rowsProcessed: 10, sync: false });
    expect(call!.durationMs).toBeLessThanOrEqual(measuredMs + 0.1);
    expect(call!.durationMs).toBeGreaterThan(measuredMs - SLACK_MS);
    expect(call!.durationMs).toBeGreaterThanOrEqual(40);
  });

  test('a sync generator method with options and a static async one, iterated inside another stage, nest under it', async () => {
    const consume = withStage('consume', async () => {
      const lines = [...new RowSource('x').lines(3)];
      let n = 0;
      for await (const _ of RowSource.ticks(4)) n++;
      return [lines, n];
    });
    await expect(consume()).resolves.toEqual([['x0', 'x1', 'x2'], 4]);
    const report = run.stop();
    const top = callsOf(report, 'consume')[0]!;
    expect(callsOf(report, 'source.lines')).toMatchObject([{ parentId: top.id, rowsProcessed: 3, metadata: { kind: 'sync' } }]);
    expect(callsOf(report, 'RowSource.ticks')).toMatchObject([{ parentId: top.id, rowsProcessed: 4, success: true }]);
  });

  test('breaking out of for await over a decorated method ends its call with the items taken', async () => {
    const source = new RowSource('b');
    let pages = 0;
    for await (const _ of source.pages(50)) if (++pages === 2) break;
    expect(callsOf(run.stop(), 'RowSource.pages')).toMatchObject([{ success: true, rowsProcessed: 2 }]);
  });

  test('the decorated generator methods are listed with their stage names', () => {
    expect(getMonitoredStages(RowSource)).toEqual(
      expect.arrayContaining([
        { method: 'pages', name: 'RowSource.pages' },
        { method: 'lines', name: 'source.lines' },
        { method: 'ticks', name: 'RowSource.ticks' },
      ]),
    );
  });
});
