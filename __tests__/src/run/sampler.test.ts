import { join } from 'node:path';
import { createPerformanceMonitor, type PerformanceMonitor } from '../../../src/index';
import { Sampler, type SamplerProbes } from '../../../src/run/sampler';
import type { MemorySample } from '../../../src/types';
import { runChild } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';

// Some tests here start child processes, which load the TypeScript compiler (~2 s each on a busy machine).
jest.setTimeout(60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let monitor: PerformanceMonitor | undefined;

afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
});

/** Timers stagemeter creates (unref'd timers do not show in process.getActiveResourcesInfo()). */
function spyTimers(): { created: () => number; live: () => number; restore: () => void } {
  const handles = new Set<NodeJS.Timeout>();
  const set = jest.spyOn(global, 'setInterval');
  const clear = jest.spyOn(global, 'clearInterval');
  set.mockImplementation(((fn: () => void, ms?: number) => {
    const h = (jest.requireActual('node:timers') as typeof import('node:timers')).setInterval(fn, ms);
    handles.add(h);
    return h;
  }) as typeof setInterval);
  clear.mockImplementation(((h?: NodeJS.Timeout) => {
    if (h !== undefined) handles.delete(h);
    (jest.requireActual('node:timers') as typeof import('node:timers')).clearInterval(h);
  }) as typeof clearInterval);
  return {
    created: () => set.mock.calls.length,
    live: () => handles.size,
    restore: () => {
      set.mockRestore();
      clear.mockRestore();
    },
  };
}

describe('the background sampler', () => {
  test('records rss, heap, external, CPU, event-loop delay and GC at the configured interval', async () => {
    monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 20 });
    monitor.startMonitoring();
    const keep: number[][] = [];
    for (let i = 0; i < 15; i++) {
      keep.push(new Array(50_000).fill(i));
      let garbage: Array<{ i: number }> = [];
      for (let j = 0; j < 200_000; j++) garbage.push({ i: j }); // young-generation churn: minor GCs
      garbage = [];
      await sleep(10);
    }
    const report = expectValidReport(monitor.stopMonitoring());
    const samples = report.memory.samples;
    expect(report.memory.samplingIntervalMs).toBe(20);
    expect(samples.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.t).toBeGreaterThanOrEqual(samples[i - 1]!.t);
    const s = samples[samples.length - 1]!;
    expect(s.rssMb).toBeGreaterThan(s.heapUsedMb);
    expect(s.heapTotalMb).toBeGreaterThanOrEqual(s.heapUsedMb);
    expect(s.externalMb).toBeGreaterThanOrEqual(0);
    expect(samples.slice(1).every((x) => typeof x.cpuPercent === 'number' && typeof x.loopDelayMs === 'number' && typeof x.gcCount === 'number')).toBe(true);
    expect(report.summary.peakMemoryMb).toBeGreaterThanOrEqual(Math.max(...samples.map((x) => x.rssMb)));
    expect(report.eventLoop).toBeDefined();
    expect(report.gc?.count).toBeGreaterThan(0);
    expect(report.gc?.count).toBe(samples.reduce((n, x) => n + (x.gcCount ?? 0), 0));
    expect(keep).toHaveLength(15);
  });

  test('a blocked event loop shows up as a large per-tick delay', async () => {
    monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 20 });
    monitor.startMonitoring();
    await sleep(50);
    const end = performance.now() + 150;
    while (performance.now() < end) {
      // hold the loop for 150 ms
    }
    await sleep(60);
    const report = monitor.stopMonitoring();
    expect(Math.max(...report.memory.samples.map((s) => s.loopDelayMs ?? 0))).toBeGreaterThan(80);
    expect(report.eventLoop!.delayMaxMs).toBeGreaterThan(80);
  });

  test('an idle stretch disarms the event-loop monitor and a busy one arms it again, without the idle stretch counted as a delay', async () => {
    const samples: MemorySample[] = [];
    const sampler = new Sampler(20, performance.now(), { onSample: (s) => samples.push(s), onError: () => undefined });
    sampler.start();
    /** Keeps the loop busy in 5 ms slices (never blocked for long) for `ms`. */
    const busy = async (ms: number): Promise<void> => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const slice = performance.now() + 5;
        while (performance.now() < slice) {
          // work
        }
        await new Promise((r) => setImmediate(r));
      }
    };
    try {
      await busy(150);
      expect(sampler.loopMonitor.armed).toBe(true);
      await sleep(400); // idle: an idle tick disarms it
      expect(sampler.loopMonitor).toEqual({ armed: false, stretches: 1 });
      await busy(150);
      expect(sampler.loopMonitor).toEqual({ armed: true, stretches: 2 });
    } finally {
      sampler.stop();
    }
    const loop = sampler.eventLoop()!;
    // the 400 ms of sleep are not one long delay (re-arming the monitor without a reset records
    // the disarmed stretch as its first interval)
    expect(loop.delayMaxMs).toBeLessThan(200);
    expect(loop.delayP50Ms).toBeLessThan(loop.delayMaxMs + 1e-9);
    expect(samples.length).toBeGreaterThan(20);
  });

  test('a loop blocked right after an idle stretch shows in the late tick, and in the run\'s maximum', async () => {
    monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 20 });
    monitor.startMonitoring();
    await sleep(300); // idle: the monitor is disarmed
    const end = performance.now() + 150;
    while (performance.now() < end) {
      // hold the loop for 150 ms
    }
    await sleep(60);
    const report = expectValidReport(monitor.stopMonitoring());
    expect(Math.max(...report.memory.samples.map((s) => s.loopDelayMs ?? 0))).toBeGreaterThan(80);
    expect(report.eventLoop!.delayMaxMs).toBeGreaterThan(80);
  });

  test('memory tracking off means no timer at all and no samples', () => {
    const spy = spyTimers();
    try {
      monitor = createPerformanceMonitor({ enableMemoryTracking: false });
      monitor.startMonitoring();
      monitor.endStage(monitor.startStage('s'));
      expect(spy.created()).toBe(0);
    } finally {
      spy.restore();
    }
    const report = expectValidReport(monitor.stopMonitoring());
    expect(report.memory.samples).toEqual([]);
    expect(report.memory.samplingIntervalMs).toBeNull();
    expect(report.eventLoop).toBeUndefined();
  });

  test('one unref\'d timer while the run is active, cleared when it stops', () => {
    const spy = spyTimers();
    try {
      monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 50 });
      monitor.startMonitoring();
      expect(spy.created()).toBe(1);
      expect(spy.live()).toBe(1);
      monitor.stopMonitoring();
      expect(spy.live()).toBe(0);
    } finally {
      spy.restore();
    }
  });

  test('failing probes are reported and the sampler carries on', () => {
    const errors: string[] = [];
    const samples: MemorySample[] = [];
    let calls = 0;
    const probes: SamplerProbes = {
      memoryUsage: () => {
        calls++;
        if (calls % 2 === 1) throw new Error('EACCES /proc/self/stat');
        return process.memoryUsage();
      },
      cpuUsage: () => {
        throw new Error('no rusage');
      },
    };
    const sampler = new Sampler(1000, performance.now(), { onSample: (s) => samples.push(s), onError: (_e, what) => errors.push(what) }, probes);
    sampler.start();
    sampler.sampleNow();
    sampler.stop();
    expect(errors).toEqual(['process.memoryUsage', 'process.cpuUsage', 'process.memoryUsage']);
    expect(samples).toHaveLength(1);
    expect(samples[0]!.cpuPercent).toBeUndefined();
  });

  test('a monitor whose probes fail keeps recording stages and flags it', async () => {
    monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 10 });
    const spy = jest.spyOn(process, 'memoryUsage').mockImplementation(() => {
      throw new Error('probe broken');
    });
    try {
      monitor.startMonitoring();
      monitor.endStage(monitor.startStage('still-recorded'), 5);
      await sleep(40);
    } finally {
      spy.mockRestore();
    }
    const report = expectValidReport(monitor.stopMonitoring());
    expect(report.stages.map((s) => s.name)).toEqual(['still-recorded']);
    expect(report.qualityFlags.find((f) => f.code === 'probe_failed')?.message).toContain('process.memoryUsage failed: probe broken');
  });

  test('the sampler never keeps a finished program alive', async () => {
    const result = await runChild(join(__dirname, '..', '..', 'fixtures', 'timersUnref.ts'), [], { timeoutMs: 20_000 });
    expect(result).toMatchObject({ code: 0, stdout: 'main done\n' });
  });
});
