/**
 * Generator functions as stages, against a clock at the call site: one call from the first
 * `next()` to completion (done, `return()`, a throw), rows = items yielded, nested under the stage
 * innermost at the first `next()`, and the iterator itself untouched as far as the program sees.
 */
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { createPerformanceMonitor, recordRows, withStage, type PerformanceReport } from '../../../src/index';
import { expectValidReport } from '../../helpers/schema';
import { useSingletonRun } from '../../helpers/singletonRun';
import { warmGeneratorStages } from '../../helpers/warmGenerators';

const run = useSingletonRun();

// The call path compiled before any clock compared below starts.
beforeAll(warmGeneratorStages);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Holds the thread for `ms` (a sync generator's work is CPU). */
const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const callsOf = (report: PerformanceReport, name: string) => report.stages.filter((s) => s.name === name);
function onlyCall(report: PerformanceReport, name: string) {
  const calls = callsOf(report, name);
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

/** Recorded and measured spans agree to this many ms (the end is seen a few microtasks before the loop exits; 2 shared cores). */
const SLACK_MS = 3;

describe('async generators', () => {
  test('20 items yielded 5 ms apart are one call spanning the iteration, not the creation, with 20 rows', async () => {
    const items = withStage('items', async function* () {
      for (let i = 0; i < 20; i++) {
        await sleep(5);
        yield i;
      }
    });
    const it = items();
    await sleep(30); // created long before it is iterated: this wait is no part of the call
    const seen: number[] = [];
    const t0 = performance.now();
    for await (const x of it) seen.push(x);
    const measuredMs = performance.now() - t0;
    expect(seen).toEqual([...Array(20).keys()]);
    expect(measuredMs).toBeGreaterThanOrEqual(100);
    const call = onlyCall(run.stop(), 'items');
    expect(call).toMatchObject({ success: true, rowsProcessed: 20, sync: false });
    expect(call.durationMs).toBeLessThanOrEqual(measuredMs + 0.1);
    expect(call.durationMs).toBeGreaterThan(measuredMs - SLACK_MS);
  });

  test('a consumer that breaks early ends the call at return(): rows are the items taken, the generator\'s finally has run', async () => {
    let cleanedUp = false;
    const items = withStage('items', async function* () {
      try {
        for (let i = 0; ; i++) {
          await sleep(2);
          yield i;
        }
      } finally {
        cleanedUp = true;
      }
    });
    const it = items();
    const t0 = performance.now();
    let taken = 0;
    for await (const x of it) {
      if (x === 4) break;
      taken++;
    }
    const measuredMs = performance.now() - t0;
    await sleep(20); // a call still open would be closed as StageNotEnded at stop
    expect(cleanedUp).toBe(true);
    const call = onlyCall(run.stop(), 'items');
    expect(call).toMatchObject({ success: true, rowsProcessed: taken + 1 });
    expect(call.durationMs).toBeLessThanOrEqual(measuredMs + 0.1);
    expect(call.durationMs).toBeGreaterThan(measuredMs - SLACK_MS);
  });

  test('a generator that throws marks the call failed and the same error object reaches the consumer', async () => {
    const boom = new RangeError('row 3 is corrupt');
    const items = withStage('items', async function* () {
      yield 1;
      await sleep(5);
      yield 2;
      throw boom;
    });
    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const x of items()) seen.push(x);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(boom);
    expect(seen).toEqual([1, 2]);
    const call = onlyCall(run.stop(), 'items');
    expect(call).toMatchObject({ success: false, rowsProcessed: 2, error: { name: 'RangeError', message: 'row 3 is corrupt' } });
    expect(call.durationMs).toBeGreaterThanOrEqual(4);
  });

  test('a stage called in the generator after an await nests under it; one called in the consumer\'s loop body does not', async () => {
    const inner = withStage('inner', (x: number) => x * 2);
    const perItem = withStage('per_item', (x: number) => x + 1);
    const items = withStage('items', async function* () {
      for (let i = 0; i < 3; i++) {
        await sleep(1);
        yield inner(i);
      }
    });
    const consume = withStage('consume', async () => {
      const out: number[] = [];
      for await (const x of items()) {
        await null;
        out.push(perItem(x));
      }
      return out;
    });
    await expect(consume()).resolves.toEqual([1, 3, 5]);
    const report = run.stop();
    const gen = onlyCall(report, 'items');
    const top = onlyCall(report, 'consume');
    expect(gen.parentId).toBe(top.id);
    expect(callsOf(report, 'inner').map((s) => s.parentId)).toEqual([gen.id, gen.id, gen.id]);
    expect(callsOf(report, 'per_item').map((s) => s.parentId)).toEqual([top.id, top.id, top.id]);
  });

  test('under asyncContext "asyncLocalStorage" too, a stage after an await in the generator nests under it', async () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false, asyncContext: 'asyncLocalStorage' });
    const inner = withStage('inner', (x: number) => x, { monitor });
    const items = withStage('items', async function* () {
      for (let i = 0; i < 3; i++) {
        await sleep(1);
        yield inner(i);
      }
    }, { monitor });
    const consume = withStage('consume', async () => {
      let n = 0;
      for await (const _ of items()) n++;
      return n;
    }, { monitor });
    monitor.startMonitoring();
    await expect(consume()).resolves.toBe(3);
    const report = expectValidReport(monitor.stopMonitoring());
    const gen = onlyCall(report, 'items');
    expect(gen.parentId).toBe(onlyCall(report, 'consume').id);
    expect(callsOf(report, 'inner').map((s) => s.parentId)).toEqual([gen.id, gen.id, gen.id]);
  });

  test('two iterators consumed at once are two calls, each with its own items and its own children', async () => {
    const inner = withStage('inner', (tag: string) => tag);
    const items = withStage('items', async function* (tag: string, n: number) {
      for (let i = 0; i < n; i++) {
        await sleep(2 + (i % 3));
        yield inner(`${tag}${i}`);
      }
    });
    const drain = async (it: AsyncIterable<string>): Promise<string[]> => {
      const out: string[] = [];
      for await (const x of it) out.push(x);
      return out;
    };
    const [a, b] = await Promise.all([drain(items('a', 5)), drain(items('b', 8))]);
    expect(a).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(b).toHaveLength(8);
    const report = run.stop();
    const gens = callsOf(report, 'items');
    expect(gens.map((g) => g.rowsProcessed).sort()).toEqual([5, 8]);
    const inners = callsOf(report, 'inner');
    for (const g of gens) expect(inners.filter((s) => s.parentId === g.id)).toHaveLength(g.rowsProcessed);
  });

  test('an iterator stepped by hand: next() calls queued before the first settles are one call, ended by the done result', async () => {
    const items = withStage('items', async function* () {
      await sleep(3);
      yield 'a';
      yield 'b';
    });
    const it = items();
    const results = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
    expect(results).toEqual([{ value: 'a', done: false }, { value: 'b', done: false }, { value: undefined, done: true }, { value: undefined, done: true }]);
    expect(onlyCall(run.stop(), 'items')).toMatchObject({ success: true, rowsProcessed: 2 });
  });
});

describe('sync generators', () => {
  test('the call spans first next() to done, the consumer\'s time between items included; a stage inside nests and is not self time', () => {
    const inner = withStage('inner', (ms: number) => spin(ms));
    const items = withStage('items', function* () {
      for (let i = 0; i < 5; i++) {
        spin(3);
        inner(1);
        yield i;
      }
    });
    const it = items();
    spin(10); // no part of the call
    const t0 = performance.now();
    let sum = 0;
    for (const x of it) {
      spin(2);
      sum += x;
    }
    const measuredMs = performance.now() - t0;
    expect(sum).toBe(10);
    const report = run.stop();
    const call = onlyCall(report, 'items');
    expect(call).toMatchObject({ success: true, rowsProcessed: 5, sync: false });
    expect(call.durationMs).toBeLessThanOrEqual(measuredMs + 0.1);
    expect(call.durationMs).toBeGreaterThan(measuredMs - SLACK_MS);
    expect(call.durationMs).toBeGreaterThanOrEqual(5 * (3 + 1 + 2) - 2);
    const innerCalls = callsOf(report, 'inner');
    expect(innerCalls.map((s) => s.parentId)).toEqual(Array(5).fill(call.id));
    const innerMs = innerCalls.reduce((a, s) => a + s.durationMs, 0);
    expect(call.selfMs).toBeCloseTo(call.durationMs - innerMs, 3);
  });

  test('the parent is the stage innermost at the first next(); with none there, the stage where the iterator was made', () => {
    const items = withStage('items', function* () {
      yield 1;
      yield 2;
    });
    const make = withStage('make', () => items());
    const made = make();
    const total = withStage('consume', () => {
      let n = 0;
      for (const x of made) n += x;
      return n;
    })();
    expect(total).toBe(3);
    // made inside a stage, iterated inside none
    expect([...make()]).toEqual([1, 2]);
    // made inside nothing, iterated inside nothing: a top-level call
    expect([...items()]).toEqual([1, 2]);
    const report = run.stop();
    const gens = callsOf(report, 'items');
    expect(gens).toHaveLength(3);
    expect(gens[0]!.parentId).toBe(onlyCall(report, 'consume').id);
    expect(gens[1]!.parentId).toBe(callsOf(report, 'make')[1]!.id);
    expect(gens[2]!.parentId).toBeUndefined();
    // items has a top-level call, and the most rows: its whole total, 2 items in each of 3 calls
    expect(report.run.rowsFrom).toEqual({ rule: 'largest-top-level', stage: 'items' });
    expect(report.run.rowsProcessed).toBe(6);
  });

  test('a generator stepped by Readable.from in a pipeline (from stream callbacks) nests under the stage that made it', async () => {
    const items = withStage('items', function* () {
      for (let i = 0; i < 4; i++) yield [i, i];
    });
    const seen: unknown[] = [];
    const etl = withStage('etl', () =>
      pipeline(
        Readable.from(items()),
        new Writable({
          objectMode: true,
          write(chunk, _encoding, callback) {
            seen.push(chunk);
            callback();
          },
        }),
      ),
    );
    await etl();
    expect(seen).toEqual([[0, 0], [1, 1], [2, 2], [3, 3]]);
    const report = run.stop();
    expect(onlyCall(report, 'items')).toMatchObject({ parentId: onlyCall(report, 'etl').id, rowsProcessed: 4, success: true });
  });

  test('break ends the call at return(); destructuring ends it too', () => {
    let finished = 0;
    const items = withStage('items', function* () {
      try {
        for (let i = 0; i < 100; i++) yield i;
      } finally {
        finished++;
      }
    });
    for (const x of items()) if (x === 2) break;
    const [a, b] = items();
    expect([a, b]).toEqual([0, 1]);
    expect(finished).toBe(2);
    const calls = callsOf(run.stop(), 'items');
    expect(calls.map((s) => [s.success, s.rowsProcessed])).toEqual([[true, 3], [true, 2]]);
  });

  test('a throw inside is a failed call and reaches the consumer as the same object; throw() caught inside goes on', () => {
    const boom = new TypeError('bad row');
    const failing = withStage('failing', function* () {
      yield 1;
      throw boom;
    });
    let caught: unknown;
    const seen: number[] = [];
    try {
      for (const x of failing()) seen.push(x);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(boom);
    expect(seen).toEqual([1]);
    const resilient = withStage('resilient', function* () {
      for (let i = 0; i < 3; i++) {
        try {
          yield i;
        } catch {
          // the consumer's throw() is handled here: the iteration goes on
        }
      }
    });
    const it = resilient();
    expect(it.next()).toEqual({ value: 0, done: false });
    expect(it.throw(new Error('skip'))).toEqual({ value: 1, done: false });
    expect([...it]).toEqual([2]);
    const report = run.stop();
    expect(onlyCall(report, 'failing')).toMatchObject({ success: false, rowsProcessed: 1, error: { name: 'TypeError', message: 'bad row' } });
    expect(onlyCall(report, 'resilient')).toMatchObject({ success: true, rowsProcessed: 3 });
  });

  test('yield* into another generator stage nests it under the delegating one', () => {
    const inner = withStage('inner', function* () {
      yield 'x';
      yield 'y';
    });
    const outer = withStage('outer', function* () {
      yield 'a';
      yield* inner();
    });
    expect([...outer()]).toEqual(['a', 'x', 'y']);
    const report = run.stop();
    const o = onlyCall(report, 'outer');
    expect(o.rowsProcessed).toBe(3);
    expect(onlyCall(report, 'inner')).toMatchObject({ parentId: o.id, rowsProcessed: 2 });
  });
});

describe('rows, outcomes and the iterator itself', () => {
  test('rows: a number, "output" (the return value), and recordRows() inside win over the items yielded', async () => {
    const fixed = withStage('fixed', function* () {
      yield 1;
    }, { rows: 7 });
    const output = withStage('output', function* () {
      yield 1;
      return [1, 2, 3, 4];
    }, { rows: 'output' });
    const recorded = withStage('recorded', async function* () {
      for (const batch of [[1, 2], [3, 4, 5]]) {
        recordRows(batch.length);
        yield batch;
      }
    });
    const input = withStage('input', function* (rows: number[]) {
      yield* rows;
    }, { rows: 'input' });
    expect([...fixed()]).toEqual([1]);
    expect([...output()]).toEqual([1]);
    const batches: number[][] = [];
    for await (const b of recorded()) batches.push(b);
    expect([...input([9, 8])]).toEqual([9, 8]);
    const report = run.stop();
    expect(onlyCall(report, 'fixed').rowsProcessed).toBe(7);
    expect(onlyCall(report, 'output').rowsProcessed).toBe(4);
    expect(onlyCall(report, 'recorded').rowsProcessed).toBe(5);
    expect(onlyCall(report, 'input').rowsProcessed).toBe(2);
  });

  test('an iterator never iterated records nothing: no call, no summary', () => {
    const idle = withStage('idle', function* () {
      yield 1;
    });
    const it = idle();
    const report = run.stop();
    expect(callsOf(report, 'idle')).toEqual([]);
    expect(report.stageSummaries.map((s) => s.name)).not.toContain('idle');
    // iterated after its run stopped: it works as unmonitored
    expect([...it]).toEqual([1]);
  });

  test('a throw while the iterator is made (a parameter default) is a failed call, rethrown unchanged', () => {
    const boom = new Error('no default');
    const fail = (): number => {
      throw boom;
    };
    const items = withStage('items', function* (n: number = fail()) {
      yield n;
    });
    let caught: unknown;
    try {
      items();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(boom);
    expect(onlyCall(run.stop(), 'items')).toMatchObject({ success: false, rowsProcessed: 0, error: { message: 'no default' } });
  });

  test('the iterator is the very object made, prints as before, and is its own iterator', () => {
    const plain = function* (): Generator<number> {
      yield 1;
    };
    const items = withStage('items', plain);
    const it = items();
    expect(inspect(it)).toBe(inspect(plain()));
    expect(Object.keys(it)).toEqual([]);
    expect(it[Symbol.iterator]()).toBe(it);
    expect(Object.getPrototypeOf(it)).toBe(items.prototype);
    // next() called on another generator object behaves as the original would
    const other = plain();
    expect(it.next.call(other)).toEqual({ value: 1, done: false });
    expect([...it]).toEqual([1]);
    expect(onlyCall(run.stop(), 'items').rowsProcessed).toBe(1);
  });

  test('a generator still open when the run stops is closed as StageNotEnded; later steps pass straight through', () => {
    const items = withStage('items', function* () {
      yield 1;
      yield 2;
      yield 3;
    });
    const it = items();
    expect(it.next().value).toBe(1);
    const report = run.stop();
    expect(onlyCall(report, 'items')).toMatchObject({ success: false, error: { name: 'StageNotEnded' } });
    expect([...it]).toEqual([2, 3]);
  });

  test('with no active run a generator stage is the plain generator', () => {
    run.stop();
    const items = withStage('items', function* (n: number) {
      for (let i = 0; i < n; i++) yield i;
    });
    const it = items(3);
    expect(Object.getOwnPropertyNames(it)).toEqual([]);
    expect([...it]).toEqual([0, 1, 2]);
  });
});
