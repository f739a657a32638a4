import { setFlagsFromString } from 'node:v8';
import { RUN_KEY } from '../../../src/callpath/global';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import type { RunState } from '../../../src/run/state';
import { StageStats } from '../../../src/run/stageStats';

// %HaveSameMap compares two objects' hidden classes; the natives syntax is switched on for this
// worker and the check compiled at run time (TypeScript cannot parse `%`).
setFlagsFromString('--allow-natives-syntax');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('StageStats', () => {
  it("keeps its hidden class through a run's ticks and stop: the next run's stages get the one the call path was optimised for", async () => {
    const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 10 });
    const stage = withStage('hot', (x: number) => x + 1, { monitor });
    monitor.startMonitoring({ runName: 'first' });
    for (let i = 0; i < 2000; i++) stage(i);
    const run = (monitor as unknown as Record<typeof RUN_KEY, { run: RunState | undefined }>)[RUN_KEY].run!;
    const live = run.statsList[0]!;
    const before = new StageStats('before', 0);
    expect(sameMap(before, live)).toBe(true);
    // the sampler's ticks record each stage's busy time since the last tick (the leak attribution's activity)
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) stage(i);
      await sleep(15);
    }
    const report = monitor.stopMonitoring();
    expect(report.memory.samples.some((s) => (s.stageBusyMs?.hot ?? 0) > 0)).toBe(true);
    const after = new StageStats('after', 1);
    expect(sameMap(after, before)).toBe(true);
    expect(sameMap(after, live)).toBe(true);
  });
});
