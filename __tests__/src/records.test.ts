import { recordOf, RecordTable, type RecordSource } from '../../src/records';
import { BUDGET_FRACTION, HOT_BUDGET_NS, probeEveryFor, recordEveryFor, timeEveryFor } from '../../src/collector';

function call(id: number, extra: Partial<RecordSource> = {}): RecordSource {
  return { id, parent: undefined, t0: id * 10, durationMs: id / 2, rows: id * 3, sync: true, error: undefined, metadata: undefined, probe: undefined, ...extra };
}

describe('per-call records kept as columns', () => {
  test('what goes in comes back, row by row, across growth', () => {
    const table = new RecordTable();
    const meta = { k: 1 };
    for (let i = 1; i <= 1000; i++) {
      table.add(
        call(i, {
          parent: i % 2 === 0 ? { id: i - 1 } : undefined,
          sync: i % 3 !== 0,
          error: i === 500 ? { name: 'E', message: 'five hundred' } : undefined,
          metadata: i % 10 === 0 ? meta : undefined,
          probe: i % 4 === 0 ? { done: true, cpuUserMs: i, cpuSystemMs: 1, heapDeltaMb: -0.5, voluntarySwitches: 2, involuntarySwitches: i } : i % 4 === 1 ? { done: false, cpuUserMs: 9, cpuSystemMs: 9, heapDeltaMb: 9, voluntarySwitches: 9, involuntarySwitches: 9 } : undefined,
        }),
        i % 5,
      );
    }
    expect(table.length).toBe(1000);
    expect(table.get(499)).toEqual({ id: 500, parentId: 499, t0: 5000, durationMs: 250, rows: 1500, stage: 0, sync: true, probed: true, cpuUserMs: 500, cpuSystemMs: 1, heapDeltaMb: -0.5, voluntarySwitches: 2, involuntarySwitches: 500, error: { name: 'E', message: 'five hundred' }, metadata: meta });
    expect(table.get(0)).toMatchObject({ id: 1, parentId: -1, stage: 1, sync: true, probed: false, cpuUserMs: 0, involuntarySwitches: 0, error: undefined, metadata: undefined });
    expect(table.get(2)).toMatchObject({ id: 3, sync: false });
  });

  test('a queued call written from its fields reads back like one written from its frame', () => {
    const table = new RecordTable();
    const meta = { month: '2026-01' };
    for (let i = 1; i <= 600; i++) {
      if (i % 2 === 0) table.addSync(i, i - 1, i * 10, i / 2, i * 3, 2, i % 4 === 0 ? meta : undefined);
      else table.add(call(i, { error: i === 301 ? { name: 'E', message: 'failed' } : undefined }), 1);
    }
    expect(table.length).toBe(600);
    for (const i of [1, 2, 4, 300, 301, 302, 600]) {
      const byFields = i % 2 === 0;
      expect(table.get(i - 1)).toEqual({
        id: i,
        parentId: byFields ? i - 1 : -1,
        t0: i * 10,
        durationMs: i / 2,
        rows: i * 3,
        stage: byFields ? 2 : 1,
        sync: true,
        probed: false,
        cpuUserMs: 0,
        cpuSystemMs: 0,
        heapDeltaMb: 0,
        voluntarySwitches: 0,
        involuntarySwitches: 0,
        error: i === 301 ? { name: 'E', message: 'failed' } : undefined,
        metadata: byFields && i % 4 === 0 ? meta : undefined,
      });
    }
  });

  test('a record read straight from a call matches the stored one', () => {
    const source = call(7, { parent: { id: 3 }, probe: { done: true, cpuUserMs: 2, cpuSystemMs: 0.5, heapDeltaMb: 1, voluntarySwitches: 3, involuntarySwitches: 4 } });
    const table = new RecordTable();
    table.add(source, 4);
    expect(recordOf(source, 4)).toEqual(table.get(0));
  });
});

describe('fidelity policy', () => {
  test('the budget constants', () => {
    expect(HOT_BUDGET_NS).toBe(150);
    expect(BUDGET_FRACTION).toBe(0.01);
  });

  test.each([
    // mean duration ns, probe cost ns, expected probeEvery
    [100, 3000, 2048], // hot: 2 ns of probes a call
    [10_000, 3000, 2048], // 1 % of 10 µs is under 150 ns: treated as hot
    // longer stages, at the price of a probed call measured end to end: probes may spend 10 % of
    // the budget, or half of what a plain call (8 µs) leaves of it, whichever is more
    [100_000, 3000, 32], // 1 % = 1000 ns; 10 %: 100 ns, for 3000 ns
    [250_000, 100_000, 512], // 250 ns for 100 µs (what a probed call costs after 250 µs of work)
    [1_000_000, 100_000, 128], // 10 %: 1 µs (half of 10 µs - 8 µs is as much)
    [5_000_000, 100_000, 8], // half of 50 µs - 8 µs: 21 µs
    [4_000_000, 4000, 1], // full fidelity
    [33_000_000, 100_000, 1], // 161 µs: the demo's write_month, probed on every call
    [10_000_000, 100_000, 4], // 46 µs
  ])('a stage of %d ns with probes costing %d ns is probed one call in %d', (meanNs, costNs, expected) => {
    expect(probeEveryFor(meanNs, costNs)).toBe(expected);
  });

  test('the amortised probe cost stays within its share of the budget', () => {
    for (const meanNs of [50, 1e3, 1e4, 5e4, 1e5, 3e5, 1e6, 3e6, 1e7, 1e8]) {
      for (const priceNs of [1500, 3000, 6000, 40_000, 100_000]) {
        const k = probeEveryFor(meanNs, priceNs);
        const budget = Math.max(HOT_BUDGET_NS, meanNs * 0.01);
        const hot = budget <= HOT_BUDGET_NS;
        const share = hot ? 2 : Math.max(budget * 0.1, (budget - 8000) / 2);
        expect(priceNs / k).toBeLessThanOrEqual(share);
        // and not needlessly rare: twice as often would not fit
        if (k > 1) expect(priceNs / (k / 2)).toBeGreaterThan(share);
      }
    }
  });

  test.each([
    // mean duration ns, expected recordEvery
    [100, 1], // hot: the record is cheap while in cache
    [1_900, 1],
    [10_000, 64], // 150 ns budget: no room for a cold record
    [30_000, 4], // 300 ns: 270 - 200 = 70 ns of room for a 250 ns record
    [40_000, 2],
    [50_000, 1], // 450 - 200 = 250 ns: every call
    [1_000_000, 1],
  ])('a stage of %d ns gets a record on one call in %d', (meanNs, expected) => {
    expect(recordEveryFor(meanNs)).toBe(expected);
  });

  test.each([
    // mean duration ns, expected timeEvery under shortStageTiming: 'sampled'
    [100, 8], // hot: a timed call takes nearly the whole 150 ns budget
    [1_900, 8],
    [2_000, 32], // a few µs: the timed call runs cold, ~175 ns more than an untimed one
    [10_000, 32], // 150 ns budget, a cold timed call ~200 ns
    [22_000, 32], // 220 ns: 90 % of it (198 ns) still short of 200
    [22_300, 1], // 223 ns: 200.7 ns pays for it
    [250_000, 1],
  ])('a stage of %d ns is timed on one call in %d', (meanNs, expected) => {
    expect(timeEveryFor(meanNs)).toBe(expected);
  });

  test.each([
    // mean duration ns of a mostly asynchronous stage, expected timeEvery
    [500, 32], // a timed async call costs ~125 ns more than an untimed one
    [10_000, 32],
    [22_300, 1], // the budget pays for timing every call, async or not
    [1_000_000, 1],
  ])('a mostly asynchronous stage of %d ns is timed on one call in %d', (meanNs, expected) => {
    expect(timeEveryFor(meanNs, true)).toBe(expected);
  });
});
