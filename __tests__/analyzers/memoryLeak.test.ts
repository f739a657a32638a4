import { leakSuspect, memoryLeak } from '../../analyzers/memoryLeak';
import { RunView } from '../../analyzers/view';
import { flatTicks, rec, runOf, th, tick } from './fixtures';

/** Ten minutes of ticks, heap floor rising 2 MB/min (rss = heap + 40). */
const leaking = Array.from({ length: 601 }, (_, i) => tick(i * 1000, 50 + (2 * i) / 60));

describe('memoryLeak', () => {
  it('a growing floor is a memory_leak naming the stage that kept the memory', () => {
    const stages = Array.from({ length: 10 }, (_, k) => rec('cache', k * 60_000, 1000, { heapMb: 2 }));
    stages.push(...Array.from({ length: 10 }, (_, k) => rec('churn', k * 60_000 + 2000, 1000, { heapMb: k % 2 === 0 ? 5 : -5 })));
    const [f] = memoryLeak.analyze(runOf({ stages, samples: leaking }), th());
    expect(f).toEqual({
      kind: 'memory_leak',
      severity: 'warning',
      stage: 'cache',
      message:
        'Memory leak suspected: the post-GC heap floor grows 2 MB/min (p<0.001, high confidence, 601 samples); cache left 20 MB behind over its calls; at this rate the 8192 MB budget is reached in 67.4 h',
      evidence: {
        slopeMbPerMin: 2,
        minLeakSlopeMbPerMin: 1,
        pValue: 0,
        r2: 1,
        confidence: 'high',
        method: 'theil-sen+mann-kendall(hamed-rao) on post-gc heap floor',
        sampleCount: 601,
        floorGrowthMb: 19.667,
        shape: 'growing',
        minutesToBudget: 4041,
        retainedMb: 20,
      },
    });
  });

  it('no stage is named when none left at least a quarter of the growth behind', () => {
    const stages = [rec('tiny', 0, 10, { heapMb: 1 })];
    const [f] = memoryLeak.analyze(runOf({ stages, samples: leaking }), th());
    expect(f!.stage).toBeUndefined();
    expect(leakSuspect(new RunView(runOf({ stages, samples: leaking }), th()), 19.667)).toBeUndefined();
  });

  it('an error when the memory budget would be reached within an hour', () => {
    const [f] = memoryLeak.analyze(runOf({ samples: leaking }), th({ maxMemoryMb: 200 }));
    expect(f).toMatchObject({ severity: 'error', evidence: { minutesToBudget: 45 } });
  });

  it('minLeakSlopeMbPerMin is the leak threshold: 2 MB/min under a 5 MB/min threshold is no finding', () => {
    expect(memoryLeak.analyze(runOf({ samples: leaking }), th({ minLeakSlopeMbPerMin: 5 }))).toEqual([]);
  });

  it('a flat heap, too few samples or the sampler off: no finding', () => {
    expect(memoryLeak.analyze(runOf({ samples: flatTicks(600, 1000) }), th())).toEqual([]);
    expect(memoryLeak.analyze(runOf({ samples: leaking.slice(0, 3) }), th())).toEqual([]);
    expect(memoryLeak.analyze(runOf({ samples: [], samplingIntervalMs: null }), th())).toEqual([]);
  });
});
