import { attributeLeak } from '../../analyzers/leakAttribution';
import { memoryLeak } from '../../analyzers/memoryLeak';
import type { MemorySample } from '../../src/types';
import { flatTicks, runOf, th, tick } from './fixtures';

/** Ten minutes of ticks, heap floor rising 2 MB/min (rss = heap + 40). */
const leaking = Array.from({ length: 601 }, (_, i) => tick(i * 1000, 50 + (2 * i) / 60));

/**
 * Ticks every second for ten minutes. `cache` is busy in bursts (0, 40, 80 or 120 ms a tick, in
 * blocks of 15 ticks) and keeps 5 MB per second it is busy; `churn` is busy 200 ms every tick and
 * keeps nothing, but the heap swings by up to 30 MB between collections (a sawtooth whose troughs
 * are the floor).
 */
function burstyLeak(): MemorySample[] {
  const out: MemorySample[] = [];
  let kept = 0;
  for (let i = 0; i <= 600; i++) {
    const cacheMs = [0, 40, 80, 120][Math.floor(i / 15) % 4]!;
    kept += cacheMs * 0.005;
    const sawtooth = (i % 5) * 7.5; // the garbage churn leaves until the next GC
    out.push(tick(i * 1000, 50 + kept + sawtooth, { stageBusyMs: { cache: cacheMs, churn: 200 } }));
  }
  return out;
}

describe('memoryLeak', () => {
  it('a growing floor is a memory_leak naming the stage whose activity it follows, sized from the floor', () => {
    const samples = burstyLeak();
    const [f] = memoryLeak.analyze(runOf({ samples }), th());
    expect(f).toMatchObject({ kind: 'memory_leak', stage: 'cache' });
    const growth = f!.evidence!.floorGrowthMb as number;
    const retained = f!.evidence!.retainedMb as number;
    // 600 ticks x 60 ms busy on average x 5 MB/s: 180 MB kept; the floor grew by about that
    expect(growth).toBeGreaterThan(150);
    expect(retained).toBeLessThanOrEqual(growth + 1e-9);
    expect(retained).toBeGreaterThan(0.8 * growth);
    expect(f!.evidence!.mbPerBusySecond as number).toBeCloseTo(5, 0);
    expect(f!.message).toContain('it grows while cache is busy');
  });

  it('a stage that only churns is never named, however much it allocates or how its rate varies', () => {
    // the floor grows at a steady 2 MB/min from code outside any stage; churn varies
    const samples = leaking.map((s, i) => ({ ...s, heapUsedMb: s.heapUsedMb + (i % 5) * 7.5, stageBusyMs: { churn: [50, 300, 150, 400, 100][Math.floor(i / 7) % 5]! } }));
    const [f] = memoryLeak.analyze(runOf({ samples }), th());
    expect(f).toMatchObject({ kind: 'memory_leak' });
    expect(f!.stage).toBeUndefined();
    expect(f!.message).toContain('no stage can be named');
  });

  it('stages busy together are not told apart: no stage named, both listed', () => {
    const samples = burstyLeak().map((s) => ({ ...s, stageBusyMs: { cache: s.stageBusyMs!.cache!, audit: s.stageBusyMs!.cache! * 2 } }));
    const [f] = memoryLeak.analyze(runOf({ samples }), th());
    expect(f!.stage).toBeUndefined();
    expect((f!.evidence!.tiedStages as string[]).sort()).toEqual(['audit', 'cache']);
  });

  it('a stage busy at a steady rate cannot be told from everything else: named only when its activity varies', () => {
    const steady = leaking.map((s) => ({ ...s, stageBusyMs: { cache: 100 } }));
    expect(memoryLeak.analyze(runOf({ samples: steady }), th())[0]!.stage).toBeUndefined();
    expect(attributeLeak(steady, 0, 20).reason).toMatch(/steady rate/);
  });

  it('without a full collection the sizes are stated as upper bounds; with one, or with the GC unobserved, nothing is said', () => {
    const gc = (major: number) => ({ count: 40 + major, totalPauseMs: 20, maxPauseMs: 2, byKind: { minor: { count: 40, totalPauseMs: 12 }, ...(major > 0 ? { major: { count: major, totalPauseMs: 8 } } : {}) } });
    const [none] = memoryLeak.analyze(runOf({ samples: burstyLeak(), gc: gc(0) }), th());
    expect(none!.evidence!.fullCollections).toBe(0);
    expect(none!.message).toMatch(/no full collection ran.*upper bounds/);
    const [some] = memoryLeak.analyze(runOf({ samples: burstyLeak(), gc: gc(3) }), th());
    expect(some!.evidence!.fullCollections).toBe(3);
    expect(some!.message).not.toMatch(/upper bounds/);
    const [unobserved] = memoryLeak.analyze(runOf({ samples: burstyLeak() }), th());
    expect(unobserved!.evidence!.fullCollections).toBeUndefined();
    expect(unobserved!.message).not.toMatch(/upper bounds/);
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
