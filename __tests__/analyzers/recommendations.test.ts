import { runAnalysis } from '../../analyzers';
import { buildRecommendations } from '../../analyzers/recommendations';
import { RunView } from '../../analyzers/view';
import type { Finding } from '../../src/types';
import { rec, runOf, th, tick } from './fixtures';

const slow = th({ slowStageMs: 100 });

describe('recommendations', () => {
  it('a slow CPU-bound stage gets one piece of CPU advice with its share and CPU %, shaped by its calls', () => {
    const run = runOf({ stages: [rec('score', 0, 800, { cpuMs: 780, sync: true }), rec('save', 800, 200, { cpuMs: 10 })] });
    const recs = runAnalysis(run, slow).recommendations.filter((r) => r.stage === 'score');
    expect(recs).toEqual([
      {
        category: 'cpu_bound',
        stage: 'score',
        priority: 'high',
        message:
          'score holds 80% of the run (800 ms) and its own code keeps a core 98% busy: its calls hold the event loop up to 800 ms: split the work into chunks or move it to a worker thread; profile it (node --cpu-prof) to find the functions its time goes to.',
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
        'spin holds 100% of the run (1 s) and needs the CPU, but the host gave it only 30% of a core (the OS preempted the process 140 times a second): run it where it has a core to itself or with fewer processes beside it.',
    });
  });

  it('a slow waiting stage gets concurrency advice, at medium priority when it is a fifth of the run', () => {
    const run = runOf({ stages: [rec('fetch', 0, 200, { cpuMs: 4 }), rec('work', 200, 800, { cpuMs: 400 })] });
    expect(runAnalysis(run, slow).recommendations.find((r) => r.stage === 'fetch')).toEqual({
      category: 'io_bound',
      stage: 'fetch',
      priority: 'medium',
      message: 'fetch holds 20% of the run (200 ms) but its code uses only 2% CPU: it mostly waits for I/O or timers. Run its requests concurrently with a bounded limit, batch them, or cache repeated reads.',
    });
  });

  it('a slow stage with mixed CPU gets the general advice; a marginal one drops to low priority', () => {
    const run = runOf({ stages: [rec('mixed', 0, 200, { cpuMs: 100 })], durationMs: 10_000 });
    expect(runAnalysis(run, slow).recommendations).toEqual([
      {
        category: 'slow_stage',
        stage: 'mixed',
        priority: 'low',
        message: "mixed's slowest call took 200 ms, over the 100 ms threshold; it holds 2% of the run. Its code uses 50% CPU over its calls (neither clearly computing nor clearly waiting): profile it (node --cpu-prof) to find the functions its time goes to.",
      },
    ]);
  });

  it('a slow stage that spends its time in the stages it calls points at them, ranked by their share of the run', () => {
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
        'process_month is open 100% of the run but holds only 2% of it itself: its time is in the stages it calls, audit (holds 60% of the run), load (holds 30% of the run), write (holds 8% of the run). Start with those.',
    });
    expect(recs[0]?.stage).toBe('audit');
  });

  it('low throughput names the rows/s, the minimum and the volume; the stage holding the run is named first, with its time per row', () => {
    const run = runOf({ stages: [rec('enrich', 0, 2000, { rowsProcessed: 900, cpuMs: 1000 })] });
    expect(runAnalysis(run, th()).recommendations).toEqual([
      {
        category: 'dominant_stage',
        stage: 'enrich',
        priority: 'high',
        message:
          'enrich holds 100% of the run (2 s): start there. Its code uses 50% CPU over its calls (neither clearly computing nor clearly waiting): 2,222 µs per row over 900 rows; profile it (node --cpu-prof) to find the functions its time goes to.',
      },
      {
        category: 'low_throughput',
        stage: 'enrich',
        priority: 'high',
        message: 'enrich processes 450 rows/s, under the 1,000 rows/s minimum (900 rows in 2 s of busy time): work on batches of rows instead of one row per call or per await, and parallelise independent batches.',
      },
    ]);
  });

  it('a leak names the slope, the confidence and the stage the floor grows with', () => {
    // cache is busy in bursts (0-120 ms a tick) and keeps 5 MB per busy second
    let kept = 0;
    const samples = Array.from({ length: 601 }, (_, i) => {
      const busy = [0, 40, 80, 120][Math.floor(i / 15) % 4]!;
      kept += busy * 0.005;
      return tick(i * 1000, 50 + kept, { stageBusyMs: { cache: busy } });
    });
    const [leak] = runAnalysis(runOf({ samples }), th()).recommendations.filter((r) => r.category === 'memory_leak');
    expect(leak).toMatchObject({ category: 'memory_leak', stage: 'cache', priority: 'high' });
    expect(leak!.message).toMatch(
      /^The post-GC heap floor grows 18 MB\/min \(p<0\.001, high confidence\)\. The floor grows while cache is busy \(1[78]\d MB of its growth\): look first at what cache adds to long-lived structures/,
    );
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
