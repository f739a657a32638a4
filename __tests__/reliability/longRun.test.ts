/**
 * Long runs stay bounded: a run sampled every 10 ms for three hours, driven through the real
 * monitor and sampler with a fake clock and fake timers (no waiting for hours), keeps a bounded
 * number of samples in memory and in the report, and downsampling keeps the peaks and the trend.
 */
import { configOf } from '../../src/monitor';
import { createPerformanceMonitor, DEFAULT_THRESHOLDS } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

// The collector's clock follows the fake timers' Date.now, so samples carry hours of `t`.
jest.mock('../../src/callpath/clock', () => ({ now: () => Date.now() }));

const MB = 1024 * 1024;
const HOURS = 3;
const TICK_MS = 10;
const TICKS = (HOURS * 3600 * 1000) / TICK_MS; // 1.08 million sampler ticks
const LEAK_MB_PER_MIN = 2;
const SPIKE_AT_MS = 83 * 60 * 1000 + 420; // one tick at 1 h 23 min
const SPIKE_RSS_MB = 6000;

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

test(`a run sampled every ${TICK_MS} ms for ${HOURS} hours keeps at most maxMemorySamples samples, its peaks and its trend`, () => {
  jest.useFakeTimers({ now: 1_800_000_000_000 });
  const start = Date.now();
  let heapMaxMb = 0;
  let calls = 0;
  // A leaking heap: the post-GC floor rises LEAK_MB_PER_MIN, with a GC sawtooth on top; rss has one spike.
  jest.spyOn(process, 'memoryUsage').mockImplementation((() => {
    calls++;
    const t = Date.now() - start;
    const heapMb = 200 + (LEAK_MB_PER_MIN * t) / 60_000 + ((t / TICK_MS) % 100) * 0.5;
    heapMaxMb = Math.max(heapMaxMb, heapMb);
    const rssMb = t === SPIKE_AT_MS ? SPIKE_RSS_MB : heapMb + 150;
    return { rss: rssMb * MB, heapUsed: heapMb * MB, heapTotal: (heapMb + 64) * MB, external: 5 * MB, arrayBuffers: 0 };
  }) as unknown as typeof process.memoryUsage);

  const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: TICK_MS });
  const maxSamples = configOf(monitor).maxMemorySamples;
  monitor.startMonitoring({ runName: 'three-hours' });
  monitor.endStage(monitor.startStage('load'), 1000);
  jest.advanceTimersByTime(HOURS * 3600 * 1000);
  const report = expectValidReport(monitor.stopMonitoring());

  const samples = report.memory.samples;
  expect(calls).toBeGreaterThanOrEqual(TICKS); // every tick was taken
  expect(samples.length).toBeLessThanOrEqual(maxSamples);
  expect(samples.length).toBeGreaterThan(maxSamples / 4);
  // every tick is accounted for by the merged samples
  expect(samples.reduce((n, s) => n + (s.span ?? 1), 0)).toBe(calls);
  for (let i = 1; i < samples.length; i++) expect(samples[i]!.t).toBeGreaterThan(samples[i - 1]!.t);
  expect(samples[samples.length - 1]!.t).toBeGreaterThanOrEqual(HOURS * 3600 * 1000 - 1000);
  // peaks survive downsampling
  expect(Math.max(...samples.map((s) => s.rssMb))).toBeCloseTo(SPIKE_RSS_MB, 2);
  expect(report.summary.peakMemoryMb).toBeCloseTo(SPIKE_RSS_MB, 2);
  expect(Math.max(...samples.map((s) => s.heapUsedMaxMb ?? s.heapUsedMb))).toBeCloseTo(heapMaxMb, 1);
  // the trend survives: the floor's slope is found
  expect(report.memory.trend.leakSuspected).toBe(true);
  expect(report.memory.trend.slopeMbPerMin).toBeGreaterThan(LEAK_MB_PER_MIN * 0.8);
  expect(report.memory.trend.slopeMbPerMin).toBeLessThan(LEAK_MB_PER_MIN * 1.2);
  expect(report.memory.trend.slopeMbPerMin).toBeGreaterThan(DEFAULT_THRESHOLDS.minLeakSlopeMbPerMin ?? 1);
  // and the report stays small whatever the run's length
  expect(JSON.stringify(report).length).toBeLessThan(8 * MB);
});
