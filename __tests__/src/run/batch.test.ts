import { addStageDelta, encodeRecords, F_FAILED, F_PROBED, F_SYNC, RECORD_WIDTH, takeStageDelta } from '../../../src/run/batch';
import { StageStats } from '../../../src/run/stageStats';
import { RecordTable } from '../../../src/stores/records';

/** A sync call of `ms`, ending at `end` (clock ms), with `rows`. */
function call(s: StageStats, start: number, ms: number, rows: number, failed = false): void {
  s.begin(start);
  s.end(ms, ms, start + ms, start, true);
  s.rows += rows;
  s.rootCalls++;
  s.rootRows += rows;
  if (failed) {
    s.failures++;
    s.firstError ??= { name: 'RangeError', message: `at ${start}`, t: start };
  }
}

/** The figures a summary is built from. */
function figures(s: StageStats): Record<string, unknown> {
  return {
    calls: s.calls,
    failures: s.failures,
    syncCalls: s.syncCalls,
    rootCalls: s.rootCalls,
    rootRows: s.rootRows,
    rows: s.rows,
    totalMs: s.totalMs,
    sumSqMs: s.sumSqMs,
    selfMs: s.selfMs,
    busyMs: s.busyMs,
    minMs: s.minMs,
    maxMs: s.maxMs,
    maxAtMs: s.maxAtMs,
    maxSyncMs: s.maxSyncMs,
    firstError: s.firstError,
    sketch: s.sketch.encode(),
  };
}

describe('stage deltas', () => {
  test('a worker stage sent in two batches adds up, in the main run, to exactly the same figures as the calls made there', () => {
    const calls: Array<[number, number, number, boolean]> = [
      [10, 0.25, 4, false],
      [11, 3.5, 0, true],
      [20, 0.125, 7, false],
      [30, 12.75, 1, true],
      [50, 0.5, 9, false],
    ];
    const direct = new StageStats('s', 0);
    for (const [start, ms, rows, failed] of calls) call(direct, start, ms, rows, failed);

    const worker = new StageStats('s', 4);
    const main = new StageStats('s', 0);
    for (const [start, ms, rows, failed] of calls.slice(0, 2)) call(worker, start, ms, rows, failed);
    const first = takeStageDelta(worker, 0);
    expect(first).toMatchObject({ i: 4, name: 's', calls: 2, failures: 1, rows: 4, totalMs: 3.75, minMs: 0.25, maxMs: 3.5, maxAtMs: 11, firstError: { name: 'RangeError', message: 'at 11', t: 11 } });
    // Taken out: the worker's stage holds nothing but its call count (its calls' numbers go on).
    expect(worker).toMatchObject({ calls: 2, failures: 0, rows: 0, totalMs: 0, busyMs: 0, minMs: Infinity, maxMs: 0, firstError: undefined });
    expect(worker.sketch.count).toBe(0);
    addStageDelta(main, first, 3, 0);
    for (const [start, ms, rows, failed] of calls.slice(2)) call(worker, start, ms, rows, failed);
    const second = takeStageDelta(worker, 2);
    expect(second).toMatchObject({ calls: 3, failures: 1, rows: 17, firstError: { message: 'at 30' } });
    addStageDelta(main, second, 3, 0);

    expect(figures(main)).toEqual(figures(direct));
    expect(main.threads).toEqual(new Map([[3, { calls: 5, failures: 2, totalMs: direct.totalMs, selfMs: direct.selfMs, busyMs: direct.busyMs, rows: 21 }]]));
  });

  test("the worker's run times are shifted onto the main run, and its earliest failure wins whichever batch brings it", () => {
    const main = new StageStats('s', 0);
    call(main, 100, 2, 1, true); // main's own failure at 100 ms
    const worker = new StageStats('s', 0);
    call(worker, 5, 9, 1, true); // at 5 ms into the worker's run, which started 40 ms into the main run
    addStageDelta(main, takeStageDelta(worker, 0), 2, 40);
    expect(main).toMatchObject({ calls: 2, failures: 2, maxMs: 9, maxAtMs: 45, maxSyncMs: 9, maxSyncAtMs: 45, firstError: { message: 'at 5', t: 45 } });
    call(worker, 200, 1, 1, true);
    addStageDelta(main, takeStageDelta(worker, 1), 2, 40);
    expect(main.firstError).toEqual({ name: 'RangeError', message: 'at 5', t: 45 });
    expect(main.threads?.get(2)).toMatchObject({ calls: 2, failures: 2 });
  });

  test('two threads keep their parts apart, and a delta with no calls leaves the extremes alone', () => {
    const main = new StageStats('s', 0);
    const a = new StageStats('s', 0);
    const b = new StageStats('s', 1);
    call(a, 0, 1, 10);
    call(b, 0, 4, 20);
    addStageDelta(main, takeStageDelta(a, 0), 5, 0);
    addStageDelta(main, takeStageDelta(b, 0), 6, 0);
    addStageDelta(main, takeStageDelta(a, 1), 5, 0);
    expect(main).toMatchObject({ calls: 2, rows: 30, minMs: 1, maxMs: 4 });
    expect([...main.threads!].map(([id, p]) => [id, p.calls, p.rows])).toEqual([
      [5, 1, 10],
      [6, 1, 20],
    ]);
  });
});

describe('encodeRecords', () => {
  test('every field of every kept call, errors and metadata by row; the table is emptied', () => {
    const stages = [{ stride: 1, kept: 0 }];
    const table = new RecordTable(10);
    const meta = { source: 'x' };
    table.add(stages, 0, 1, -1, 100.5, 2.25, 1.5, 7, 0, 3, true, undefined, meta, undefined);
    table.add(stages, 0, 2, 1, 101, 0.5, 0.5, 0, 1, 3, false, { name: 'E', message: 'm' }, undefined, { cpuUserMs: 0.2, cpuSystemMs: 0.1, onThreadMs: 0.4, heapDeltaMb: -1.5, voluntarySwitches: 2, involuntarySwitches: 1 });
    table.omitted = 5;
    const { records, errors, metadata, omitted } = encodeRecords(table);
    expect(records.length).toBe(2 * RECORD_WIDTH);
    expect([...records.subarray(0, RECORD_WIDTH)]).toEqual([1, -1, 100.5, 2.25, 1.5, 7, 0, 0, F_SYNC, 0, 0, 0, 0, 0, 0]);
    expect([...records.subarray(RECORD_WIDTH)]).toEqual([2, 1, 101, 0.5, 0.5, 0, 0, 1, F_PROBED | F_FAILED, 0.2, 0.1, 0.4, -1.5, 2, 1]);
    expect(errors).toEqual([[1, { name: 'E', message: 'm' }]]);
    expect(metadata).toEqual([[0, meta]]);
    expect(omitted).toBe(5);
    expect(table.length).toBe(0);
    expect(table.omitted).toBe(0);
    // The emptied table takes rows again, from row 0, without the old ones' errors or metadata.
    table.add(stages, 0, 3, -1, 102, 1, 1, 1, 2, 3, true, undefined, undefined, undefined);
    expect(table.get(0)).toMatchObject({ id: 3, error: undefined, metadata: undefined });
  });

  test('an empty table encodes to nothing', () => {
    expect(encodeRecords(new RecordTable(0))).toEqual({ records: new Float64Array(0), errors: [], metadata: [], omitted: 0 });
  });
});
