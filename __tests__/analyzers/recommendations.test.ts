import { runAnalysis } from '../../analyzers';
import { buildRecommendations } from '../../analyzers/recommendations';
import { RunView } from '../../analyzers/view';
import type { Finding } from '../../src/types';
import { rec, runOf, th, tick } from './fixtures';

const slow = th({ slowStageMs: 100 });

describe('recommendations', () => {
  it('a slow CPU-bound stage gets one piece of CPU advice with its share, slowest call and CPU %', () => {
    const run = runOf({ stages: [rec('score', 0, 800, { cpuMs: 780, sync: true }), rec('save', 800, 200, { cpuMs: 10 })] });
    const recs = runAnalysis(run, slow).recommendations.filter((r) => r.stage === 'score');
    expect(recs).toEqual([
      {
        category: 'cpu_bound',
        stage: 'score',
        priority: 'high',
        message:
          'score takes 80% of the run (slowest call 800 ms, 800 ms in its own code) and is CPU-bound at 98% of a core: profile it (node --cpu-prof) for hot functions, cut per-row work (precompile regexes, hoist lookups out of loops), or spread it over worker_threads.',
      },
      {
        category: 'event_loop_blocked',
        stage: 'score',
        priority: 'high',
        message:
          'score blocks the event loop for up to 800 ms (threshold 100 ms); timers, I/O callbacks and health checks stall meanwhile. Split the work into chunks that yield (await setImmediate between chunks) or move it to a worker thread.',
      },
    ]);
  });

  it('a CPU-bound stage starved by a busy host is told so, with the preemption rate', () => {
    const spin = rec('spin', 0, 1000, { cpuMs: 300, sync: true });
    spin.cpu = { ...spin.cpu, voluntarySwitches: 5, involuntarySwitches: 140 };
    expect(runAnalysis(runOf({ stages: [spin] }), slow).recommendations.find((r) => r.category === 'cpu_bound')).toEqual({
      category: 'cpu_bound',
      stage: 'spin',
      priority: 'high',
      message:
        'spin takes 100% of the run (slowest call 1 s, 1 s in its own code) and needs the CPU, but the host gave it only 30% of a core (the OS preempted the process 140 times a second): run it where it has a core to itself or with fewer processes beside it, then profile it (node --cpu-prof) if it is still slow.',
    });
  });

  it('a slow waiting stage gets concurrency advice, at medium priority when it is a fifth of the run', () => {
    const run = runOf({ stages: [rec('fetch', 0, 200, { cpuMs: 4 }), rec('work', 200, 800, { cpuMs: 400 })] });
    expect(runAnalysis(run, slow).recommendations.find((r) => r.stage === 'fetch')).toEqual({
      category: 'io_bound',
      stage: 'fetch',
      priority: 'medium',
      message: 'fetch takes 20% of the run (slowest call 200 ms, 200 ms in its own code) but uses only 2% CPU: it mostly waits. Run its requests concurrently with a bounded limit, batch them, or cache repeated reads.',
    });
  });

  it('a slow stage with mixed CPU gets the general advice; a marginal one drops to low priority', () => {
    const run = runOf({ stages: [rec('mixed', 0, 200, { cpuMs: 100 })], durationMs: 10_000 });
    expect(runAnalysis(run, slow).recommendations).toEqual([
      {
        category: 'slow_stage',
        stage: 'mixed',
        priority: 'low',
        message: 'mixed takes 2% of the run (slowest call 200 ms, 200 ms in its own code), over the 100 ms threshold: start optimising there; its CPU use (50%) is mixed, so profile both CPU and waits.',
      },
    ]);
  });

  it('a slow stage that spends its time in the stages it calls points at them, ranked by their own time', () => {
    const month = rec('process_month', 0, 1000, { cpuMs: 900 });
    const stages = [
      month,
      rec('load', 5, 300, { parentId: month.id, cpuMs: 50 }),
      rec('audit', 310, 600, { parentId: month.id, cpuMs: 590 }),
      rec('write', 915, 80, { parentId: month.id, cpuMs: 10 }),
    ];
    const recs = runAnalysis(runOf({ stages, durationMs: 1000 }), slow).recommendations;
    expect(recs.find((r) => r.stage === 'process_month')).toEqual({
      category: 'slow_stage',
      stage: 'process_month',
      priority: 'low',
      message:
        'process_month takes 100% of the run (slowest call 1 s) but only 2% in its own code: its time is in the stages it calls, audit (60% of the run in its own code), load (30% of the run in its own code), write (8% of the run in its own code). Start with those.',
    });
    expect(recs[0]?.stage).toBe('audit');
  });

  it('low throughput names the rows/s, the minimum and the volume', () => {
    const run = runOf({ stages: [rec('enrich', 0, 2000, { rowsProcessed: 900, cpuMs: 1000 })] });
    expect(runAnalysis(run, th()).recommendations).toEqual([
      {
        category: 'low_throughput',
        stage: 'enrich',
        priority: 'high',
        message: 'enrich processes 450 rows/s, under the 1,000 rows/s minimum (900 rows in 2 s): work on batches of rows instead of one row per call or per await, and parallelise independent batches.',
      },
    ]);
  });

  it('a leak names the slope, the confidence and the stage that kept the memory', () => {
    const samples = Array.from({ length: 601 }, (_, i) => tick(i * 1000, 50 + (2 * i) / 60));
    const stages = Array.from({ length: 10 }, (_, k) => rec('cache', k * 60_000, 1000, { heapMb: 2 }));
    const [leak] = runAnalysis(runOf({ stages, samples }), th()).recommendations.filter((r) => r.category === 'memory_leak');
    expect(leak).toEqual({
      category: 'memory_leak',
      stage: 'cache',
      priority: 'high',
      message:
        'The post-GC heap floor grows 2 MB/min (p<0.001, high confidence). cache left 20 MB behind over its calls: look first at what it adds to long-lived structures (module-level caches, arrays, maps, listeners). At this rate the memory budget is reached in 67.4 h. Compare two heap snapshots taken a few minutes apart (node --heapsnapshot-signal=SIGUSR2) to see what accumulates.',
    });
  });

  it('failures come first, with the error', () => {
    const run = runOf({ stages: [rec('fetch', 0, 10, { success: false, error: { name: 'FetchError', message: 'timeout' } }), rec('x', 10, 200)] });
    const recs = runAnalysis(run, slow).recommendations;
    expect(recs[0]).toEqual({
      category: 'stage_failed',
      stage: 'fetch',
      priority: 'high',
      message: "fetch failed 1 of 1 calls (100%). The first error was FetchError: timeout. Handle or retry that error; failed calls also distort the stage's timings.",
    });
  });

  it('memory efficiency under the threshold gets a recommendation naming the largest cost', () => {
    const recs = runAnalysis(runOf({ peakMemoryMb: 8000 }), th()).recommendations;
    expect(recs).toEqual([
      {
        category: 'memory_efficiency',
        priority: 'medium',
        message: 'Memory efficiency is 61.9/100, under the 70 threshold; the peak (8000 MB, 98% of the 8192 MB budget) costs the most. See the memory findings for the stages involved.',
      },
    ]);
  });

  it('one recommendation per category and stage, highest priority first', () => {
    const view = new RunView(runOf({ stages: [rec('a', 0, 10)] }), th());
    const findings: Finding[] = [
      { kind: 'call_skew', severity: 'info', stage: 'a', message: '', evidence: { maxMs: 500, p75Ms: 10, calls: 9 } },
      { kind: 'memory_intensive', severity: 'error', stage: 'a', message: '', evidence: { heapUsedDeltaMb: 1200, memoryIntensiveMb: 500 } },
      { kind: 'memory_intensive', severity: 'error', stage: 'a', message: '', evidence: { heapUsedDeltaMb: 1300, memoryIntensiveMb: 500 } },
      { kind: 'user_defined', severity: 'error', message: 'no advice for unknown kinds' },
    ];
    expect(buildRecommendations(findings, view, undefined).map((r) => [r.category, r.priority])).toEqual([
      ['memory_intensive', 'high'],
      ['call_skew', 'low'],
    ]);
  });
});
