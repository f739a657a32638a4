import { mergeSamples, SampleStore } from '../../../src/stores/samples';
import type { MemorySample } from '../../../src/types';

function tick(i: number, heap: number, rss = heap * 2): MemorySample {
  return { t: i * 10, rssMb: rss, heapUsedMb: heap, heapTotalMb: heap + 10, externalMb: 1, cpuPercent: 50, loopDelayMs: i === 500 ? 250 : 0, gcCount: 1, gcPauseMs: 0.5 };
}

describe('bounded sample storage', () => {
  test('keeps every tick until the capacity is reached', () => {
    const store = new SampleStore(100);
    for (let i = 0; i < 99; i++) store.add(tick(i, 10));
    expect(store.length).toBe(99);
    expect(store.span).toBe(1);
    expect(store.toArray()[5]).toEqual(tick(5, 10));
  });

  test('stays bounded for a run sampled every 10 ms for ten hours, and keeps floor, peak and sums', () => {
    const store = new SampleStore(1000);
    const ticks = 10 * 3600 * 100; // 3.6 million ticks
    for (let i = 0; i < ticks; i++) {
      // a sawtooth whose floor rises by one MB every 100,000 ticks, one rss spike
      const heap = 100 + Math.floor(i / 100_000) + (i % 50);
      store.add(tick(i, heap, i === 1_234_567 ? 5000 : heap * 2));
    }
    const samples = store.toArray();
    expect(samples.length).toBeLessThanOrEqual(1000);
    expect(samples.length).toBeGreaterThanOrEqual(400);
    expect(samples.reduce((n, s) => n + (s.span ?? 1), 0)).toBe(ticks);
    expect(samples.reduce((n, s) => n + (s.gcCount ?? 0), 0)).toBe(ticks);
    expect(samples.reduce((n, s) => n + (s.loopDelayMs ?? 0), 0)).toBe(250);
    expect(Math.max(...samples.map((s) => s.rssMb))).toBe(5000);
    // the floor of each merged sample is the sawtooth's low point, so the trend survives
    expect(samples[0]!.heapUsedMb).toBe(100);
    expect(samples[samples.length - 1]!.heapUsedMb).toBeGreaterThanOrEqual(100 + 35);
    expect(Math.max(...samples.map((s) => s.heapUsedMaxMb ?? s.heapUsedMb))).toBe(100 + 35 + 49);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.t).toBeGreaterThan(samples[i - 1]!.t);
  });

  test('merging keeps the floor, the peaks, the sums and the span-weighted CPU', () => {
    const a: MemorySample = { t: 0, rssMb: 10, heapUsedMb: 5, heapTotalMb: 8, externalMb: 1, cpuPercent: 100, loopDelayMs: 3, gcCount: 2, gcPauseMs: 1 };
    const b: MemorySample = { t: 10, rssMb: 12, heapUsedMb: 4, heapTotalMb: 9, externalMb: 2, cpuPercent: 40, loopDelayMs: 1, gcCount: 1, gcPauseMs: 0.5, span: 3 };
    expect(mergeSamples(a, b)).toEqual({ t: 0, rssMb: 12, heapUsedMb: 4, heapUsedMaxMb: 5, heapTotalMb: 9, externalMb: 2, span: 4, cpuPercent: 55, loopDelayMs: 4, gcCount: 3, gcPauseMs: 1.5 });
  });
});
