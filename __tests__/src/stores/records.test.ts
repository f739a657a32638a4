import { RecordTable, type ThinnedStage } from '../../../src/stores/records';

function stages(n: number): ThinnedStage[] {
  return Array.from({ length: n }, () => ({ stride: 1, kept: 0 }));
}

/** Adds call `seq` of stage `s` the way the call path does: only when its number fits the stride. */
function offer(table: RecordTable, list: ThinnedStage[], s: number, seq: number, failed = false): boolean {
  if (!RecordTable.wanted(list[s]!, seq, failed)) {
    table.omitted++;
    return false;
  }
  return table.add(list, s, seq * 10 + s, -1, seq, 1, 1, 3, seq, 0, true, failed ? { name: 'E', message: 'x' } : undefined, undefined, undefined);
}

describe('the run-wide record budget', () => {
  test('what goes in comes back, with its probe figures, error and metadata', () => {
    const list = stages(2);
    const table = new RecordTable(100);
    const meta = { k: 1 };
    table.add(list, 1, 7, 3, 12.5, 4.25, 1.5, 9, 0, 2, false, { name: 'E', message: 'boom' }, meta, { cpuUserMs: 1, cpuSystemMs: 2, onThreadMs: 3, heapDeltaMb: -0.5, voluntarySwitches: 4, involuntarySwitches: 5 });
    expect(table.get(0)).toEqual({
      id: 7, parentId: 3, t0: 12.5, durationMs: 4.25, selfMs: 1.5, rows: 9, stage: 1, seq: 0, threadId: 2, sync: false, failed: true, probed: true,
      cpuUserMs: 1, cpuSystemMs: 2, onThreadMs: 3, heapDeltaMb: -0.5, voluntarySwitches: 4, involuntarySwitches: 5, error: { name: 'E', message: 'boom' }, metadata: meta,
    });
    expect(list[1]!.kept).toBe(1);
  });

  test('stage, thread and flags share a row at their extremes; probe figures follow their rows through thinning', () => {
    // a million stage names (maxStageNames at most), thread ids from 0 to 2^28 - 1
    const shared: ThinnedStage = { stride: 1, kept: 0 };
    const many = new Array<ThinnedStage>(1_000_001).fill(shared);
    const table = new RecordTable(100);
    const cases: Array<[number, number, boolean, boolean]> = [
      [0, 0, true, false],
      [1_000_000, 2 ** 28 - 1, false, true],
      [123_456, 7, true, true],
    ];
    for (const [i, [stage, thread, sync, failed]] of cases.entries()) {
      table.add(many, stage, i + 1, -1, i, 1, 1, 2 ** 40, 2 ** 40 + i, thread, sync, failed ? { name: 'E', message: 'x' } : undefined, undefined, undefined, !failed);
    }
    for (const [i, [stage, thread, sync, failed]] of cases.entries()) {
      expect(table.get(i)).toMatchObject({ id: i + 1, stage, threadId: thread, sync, failed, probed: false, rows: 2 ** 40, seq: 2 ** 40 + i });
      expect(table.stageAt(i)).toBe(stage);
    }

    // probe figures stay with their calls when thinning moves the rows
    const list = stages(1);
    const small = new RecordTable(8);
    const figures = (seq: number) => ({ cpuUserMs: seq, cpuSystemMs: seq / 2, onThreadMs: seq + 1, heapDeltaMb: -seq, voluntarySwitches: seq, involuntarySwitches: 1 });
    for (let seq = 0; seq < 40; seq++) {
      if (!RecordTable.wanted(list[0]!, seq, false)) continue;
      small.add(list, 0, seq, -1, seq, 1, 1, 0, seq, 0, true, undefined, undefined, seq % 3 === 0 ? figures(seq) : undefined);
    }
    expect(small.thinningPasses).toBeGreaterThan(0);
    for (let i = 0; i < small.length; i++) {
      const r = small.get(i);
      if (r.seq % 3 === 0) expect(r).toMatchObject({ probed: true, ...figures(r.seq) });
      else expect(r).toMatchObject({ probed: false, cpuUserMs: 0, cpuSystemMs: 0, onThreadMs: 0, heapDeltaMb: 0, voluntarySwitches: 0, involuntarySwitches: 0 });
    }
  });

  test('never holds more than the budget; every stage keeps an evenly spaced sample over the whole run', () => {
    const list = stages(3);
    const table = new RecordTable(1000);
    // stage 0: 100,000 calls; stage 1: 5,000; stage 2: 50 (all kept)
    let most = 0;
    for (let seq = 0; seq < 100_000; seq++) {
      offer(table, list, 0, seq);
      if (seq % 20 === 0) offer(table, list, 1, seq / 20);
      if (seq % 2000 === 0) offer(table, list, 2, seq / 2000);
      most = Math.max(most, table.length);
    }
    expect(most).toBe(1000);
    const rows = Array.from({ length: table.length }, (_, i) => table.get(i));
    const byStage = (s: number): number[] => rows.filter((r) => r.stage === s).map((r) => r.seq);
    expect(byStage(2)).toHaveLength(50);
    // the busy stages share what is left, each thinned to a power-of-two stride
    for (const s of [0, 1]) {
      const seqs = byStage(s);
      const stride = list[s]!.stride;
      expect(seqs.length).toBe(list[s]!.kept);
      expect(seqs.every((q) => q % stride === 0)).toBe(true);
      // evenly spaced from the first call to the last
      expect(seqs[0]).toBe(0);
      expect(Math.max(...seqs)).toBeGreaterThan((s === 0 ? 100_000 : 5000) - 2 * stride);
    }
    expect(table.length + table.omitted).toBe(100_000 + 5000 + 50);
  });

  test('failures are kept off the stride while they hold under a quarter of the budget', () => {
    const list = stages(1);
    const table = new RecordTable(400);
    for (let seq = 0; seq < 10_000; seq++) offer(table, list, 0, seq, seq % 100 === 7);
    const failed = Array.from({ length: table.length }, (_, i) => table.get(i)).filter((r) => r.failed);
    expect(failed.length).toBeGreaterThanOrEqual(99);
    expect(failed.length).toBeLessThanOrEqual(101);
    expect(table.length).toBeLessThanOrEqual(400);
  });

  test('thinning is batched: a hundred busy stages filling the default budget cost a pass per ~1/8 of the budget, not one per stage halved', () => {
    const list = stages(100);
    const budget = 50_000;
    const table = new RecordTable(budget);
    let added = 0;
    // each stage called in blocks, as a pipeline's stages are: the table is full after ten stages
    for (let block = 0; block < 10; block++) {
      for (let s = 0; s < 100; s++) for (let k = 0; k < 2500; k++) if (offer(table, list, s, block * 2500 + k)) added++;
    }
    expect(table.length).toBeLessThanOrEqual(budget);
    expect(table.length + table.omitted).toBe(100 * 25_000);
    // every pass frees about an eighth of the budget (at least a sixteenth, as estimated halves go)
    const rowsThinned = added - table.length;
    expect(table.thinningPasses).toBeGreaterThan(0);
    expect(table.thinningPasses).toBeLessThanOrEqual(Math.ceil(rowsThinned / (budget / 16)) + 1);
    // and the sample is as before: every stage on a power-of-two stride, from its first call on
    const rows = Array.from({ length: table.length }, (_, i) => table.get(i));
    for (let s = 0; s < 100; s++) {
      const seqs = rows.filter((r) => r.stage === s).map((r) => r.seq);
      expect(seqs.length).toBe(list[s]!.kept);
      expect(seqs[0]).toBe(0);
      expect(seqs.every((q) => q % list[s]!.stride === 0)).toBe(true);
    }
  });

  test('a budget of 0 keeps nothing', () => {
    const list = stages(1);
    const table = new RecordTable(0);
    expect(offer(table, list, 0, 0)).toBe(false);
    expect(table.length).toBe(0);
  });
});
