import 'reflect-metadata';
import { ConfigError, createPerformanceMonitor, recordRows, withStage } from '../../src/index';
import { join } from 'node:path';
import vm from 'node:vm';
import { inspect } from 'node:util';
import { runChild } from '../helpers/child';
import { useSingletonRun } from '../helpers/singletonRun';
import { decoratorMode } from './mode';
import { configErrorOf, thrownBy } from '../helpers/thrown';
import { slot } from '../../src/callpath/global';

// Some tests here start child processes, which load the TypeScript compiler (~2 s each on a busy machine).
jest.setTimeout(60_000);

const run = useSingletonRun();
const stop = run.stop;

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe(`withStage (${decoratorMode} decorators build)`, () => {
  test('returns the same result and keeps this', () => {
    const obj = {
      factor: 3,
      triple: withStage('triple', function (this: { factor: number }, x: number) {
        return x * this.factor;
      }),
    };
    expect(obj.triple(5)).toBe(15);
    expect(stop().stages[0]).toMatchObject({ name: 'triple', success: true, sync: true });
  });

  test('a thrown error is rethrown as the same object and marks the stage failed', () => {
    const boom = new TypeError('bad input');
    const f = withStage('explode', () => {
      throw boom;
    });
    expect(thrownBy(f)).toBe(boom);
    expect(stop().stages[0]).toMatchObject({ success: false, error: { name: 'TypeError', message: 'bad input' } });
  });

  test('throwing a non-Error value is passed through unchanged', () => {
    const f = withStage('throws-string', () => {
      throw 'plain string';
    });
    expect(f).toThrow('plain string');
    const undef = withStage('throws-undefined', () => {
      throw undefined;
    });
    expect(thrownBy(undef)).toBeUndefined();
    const report = stop();
    expect(report.stages.map((s) => s.success)).toEqual([false, false]);
    expect(report.stages[0]?.error).toEqual({ name: 'string', message: 'plain string' });
  });

  test('a sync function stays sync', () => {
    const f = withStage('sync', () => 42);
    const result = f();
    expect(result).toBe(42);
    expect(result).not.toBeInstanceOf(Promise);
  });

  test('passes the arguments on as given: their number, the same objects, trailing undefineds, 10,000 of them, in a run or not', () => {
    const seen: unknown[][] = [];
    const f = withStage('args', function (...args: unknown[]) {
      seen.push(args);
      return arguments.length;
    });
    const row = { id: 1 };
    const many = Array.from({ length: 10_000 }, (_, i) => i);
    const calls = (): number[] => [f(), f(undefined), f(row, undefined, undefined), f(...many)];
    expect(calls()).toEqual([0, 1, 3, 10_000]);
    expect(stop().stageSummaries[0]).toMatchObject({ name: 'args', calls: 4 });
    expect(calls()).toEqual([0, 1, 3, 10_000]); // no active run
    for (const args of [seen.slice(0, 4), seen.slice(4)]) {
      expect(args[2]![0]).toBe(row);
      expect(args[2]).toHaveLength(3);
      expect(args[3]).toEqual(many);
    }
  });

  test('an async function returns a promise that resolves to the same value', async () => {
    const value = { rows: [1, 2, 3] };
    let startedAt = 0;
    let returnedAt = 0;
    const f = withStage('async', async () => {
      startedAt = performance.now();
      await tick();
      returnedAt = performance.now();
      return value;
    });
    const p = f();
    expect(p).toBeInstanceOf(Promise);
    await expect(p).resolves.toBe(value);
    const s = stop().stages[0]!;
    expect(s).toMatchObject({ name: 'async', success: true, sync: false });
    // the stage ends when the promise settles, not when the function returns its promise
    expect(s.durationMs).toBeGreaterThanOrEqual(returnedAt - startedAt);
  });

  test('a rejected promise marks the stage failed and rejects with the same error', async () => {
    const err = new Error('remote failed');
    const f = withStage('reject', async () => {
      await tick();
      throw err;
    });
    await expect(f()).rejects.toBe(err);
    expect(stop().stages[0]).toMatchObject({ success: false, error: { name: 'Error', message: 'remote failed' } });
  });

  test('a rejection the caller ignores still crashes the process exactly as without monitoring', async () => {
    const script = join(__dirname, '..', 'fixtures', 'unhandledRejection.ts');
    const env = { STAGEMETER_TEST_LEGACY_DECORATORS: decoratorMode === 'standard' ? '0' : '1' };
    const [plain, monitored] = await Promise.all([runChild(script, ['plain'], { env }), runChild(script, ['monitored'], { env })]);
    expect(plain.code).toBe(1);
    expect(monitored.code).toBe(plain.code);
    expect(monitored.stdout).toBe(plain.stdout);
    expect(plain.stderr).toContain('Error: nobody handles this');
    expect(monitored.stderr).toContain('Error: nobody handles this');
  });

  test('a plain function returning a promise is tracked until it settles', async () => {
    let calledAt = 0;
    let resolvedAt = 0;
    const f = withStage('promise-returning', (ms: number) => {
      calledAt = performance.now();
      return new Promise<string>((r) =>
        setTimeout(() => {
          resolvedAt = performance.now();
          r('done');
        }, ms),
      );
    });
    await expect(f(5)).resolves.toBe('done');
    const s = stop().stages[0]!;
    expect(s.sync).toBe(false);
    expect(s.durationMs).toBeGreaterThanOrEqual(resolvedAt - calledAt);
  });

  test('a non-native thenable is returned untouched and never called', () => {
    const thenable = { then: jest.fn(), extra: 'query builder' };
    const f = withStage('lazy', () => thenable);
    expect(f()).toBe(thenable);
    expect(thenable.then).not.toHaveBeenCalled();
    expect(stop().stages[0]).toMatchObject({ sync: true, success: true });
  });

  test('keeps the name, length and own properties of the wrapped function', () => {
    function scoreRows(_rows: number[], _weights: number[]): number {
      return 0;
    }
    (scoreRows as unknown as { version: number }).version = 3;
    const f = withStage('score', scoreRows);
    expect(f.name).toBe('scoreRows');
    expect(f.length).toBe(2);
    expect((f as unknown as { version: number }).version).toBe(3);
  });

  test('keeps reflect-metadata defined on the wrapped function', () => {
    const fn = (): number => 1;
    Reflect.defineMetadata('custom:role', 'labeler', fn);
    expect(Reflect.getMetadata('custom:role', withStage('meta', fn))).toBe('labeler');
  });

  test('calling the wrapper with new constructs like the original', () => {
    function Point(this: { x: number }, x: number): void {
      this.x = x;
    }
    const Wrapped = withStage('ctor', Point as unknown as (x: number) => void) as unknown as new (x: number) => { x: number };
    const p = new Wrapped(4);
    expect(p.x).toBe(4);
    expect(p).toBeInstanceOf(Point);
  });

  describe('rows', () => {
    test("'input' (default) counts the first argument that holds rows; strings never count", () => {
      withStage('arr', (_label: string, rows: number[]) => rows.length)('abc', [1, 2, 3]);
      withStage('typed', (rows: Float64Array) => rows.length)(new Float64Array(7));
      withStage('set', (rows: Set<number>) => rows.size)(new Set([1, 2]));
      withStage('rowCount', (rows: { rowCount: number }) => rows.rowCount)({ rowCount: 11 });
      withStage('str', (s: string) => s.length)('a long string');
      withStage('none', () => 0)();
      const rows = Object.fromEntries(stop().stages.map((s) => [s.name, s.rowsProcessed]));
      expect(rows).toEqual({ arr: 3, typed: 7, set: 2, rowCount: 11, str: 0, none: 0 });
    });

    test("'output' counts the result, also for async functions", async () => {
      withStage('out', () => [1, 2, 3, 4], { rows: 'output' })();
      await withStage('aout', async () => new Map([[1, 1]]), { rows: 'output' })();
      const rows = Object.fromEntries(stop().stages.map((s) => [s.name, s.rowsProcessed]));
      expect(rows).toEqual({ out: 4, aout: 1 });
    });

    test('a number or a function wins over everything, recordRows wins over input/output', () => {
      withStage('fixed', (rows: number[]) => {
        recordRows(99);
        return rows;
      }, { rows: 5 })([1, 2]);
      withStage('fn', (rows: number[]) => rows.concat(rows), { rows: (result, args) => (result as number[]).length + (args[0] as number[]).length })([1]);
      withStage('recorded', (rows: number[]) => {
        recordRows(10);
        recordRows(2);
        return rows;
      })([1, 2, 3]);
      const rows = Object.fromEntries(stop().stages.map((s) => [s.name, s.rowsProcessed]));
      expect(rows).toEqual({ fixed: 5, fn: 3, recorded: 12 });
    });

    test('recordRows outside any stage is a no-op; bad counts are ignored and flagged', () => {
      recordRows(5);
      withStage('bad', () => {
        recordRows(-1);
        recordRows(Number.NaN);
        recordRows('7' as unknown as number);
      })();
      const report = stop();
      expect(report.stages[0]?.rowsProcessed).toBe(0);
      expect(report.qualityFlags.filter((f) => f.code === 'invalid_rows')).toHaveLength(3);
    });

    test('a rows function that throws or returns junk counts 0 and is flagged, the call still succeeds', () => {
      expect(withStage('throwing-rows', () => 1, { rows: () => { throw new Error('oops'); } })()).toBe(1);
      expect(withStage('junk-rows', () => 1, { rows: () => Number.NaN })()).toBe(1);
      const report = stop();
      expect(report.stages.map((s) => [s.rowsProcessed, s.success])).toEqual([[0, true], [0, true]]);
      expect(report.qualityFlags.map((f) => f.code).sort()).toEqual(['invalid_rows', 'rows_function_threw']);
    });

    test('a getter that throws while counting rows does not break the call', () => {
      const hostile = {
        get length(): number {
          throw new Error('no length for you');
        },
      };
      expect(withStage('hostile', (x: unknown) => x)(hostile)).toBe(hostile);
      expect(stop().stages[0]?.rowsProcessed).toBe(0);
    });
  });

  describe('nesting', () => {
    test('synchronous stages nest through the call stack', () => {
      const leaf = withStage('leaf', () => 1);
      const mid = withStage('mid', () => leaf() + leaf());
      const root = withStage('root', () => mid());
      root();
      const report = stop();
      const byName = (n: string) => report.stages.filter((s) => s.name === n);
      const rootId = byName('root')[0]!.id;
      const midId = byName('mid')[0]!.id;
      expect(byName('root')[0]!.parentId).toBeUndefined();
      expect(byName('mid')[0]!.parentId).toBe(rootId);
      expect(byName('leaf').map((s) => s.parentId)).toEqual([midId, midId]);
    });

    test('stages started after an await still nest under their async parent', async () => {
      const child = withStage('child', () => 1);
      const parent = withStage('parent', async () => {
        await tick();
        child();
        await tick();
        await withStage('async-child', async () => tick())();
      });
      await parent();
      const report = stop();
      const parentId = report.stages.find((s) => s.name === 'parent')!.id;
      expect(report.stages.find((s) => s.name === 'child')!.parentId).toBe(parentId);
      expect(report.stages.find((s) => s.name === 'async-child')!.parentId).toBe(parentId);
    });

    test('concurrent async stages never get mixed up', async () => {
      const inner = withStage('inner', async (tag: string) => {
        await tick(Math.floor(Math.random() * 5));
        return tag;
      }, { metadata: { kind: 'inner' } });
      const job = withStage('job', async (tag: string) => {
        await tick(Math.floor(Math.random() * 5));
        const a = await inner(`${tag}-a`);
        const b = await inner(`${tag}-b`);
        return [a, b];
      });
      const results = await Promise.all(['x', 'y', 'z', 'w'].map((t) => job(t)));
      expect(results).toEqual([['x-a', 'x-b'], ['y-a', 'y-b'], ['z-a', 'z-b'], ['w-a', 'w-b']]);
      const report = stop();
      const jobs = report.stages.filter((s) => s.name === 'job');
      const inners = report.stages.filter((s) => s.name === 'inner');
      expect(jobs).toHaveLength(4);
      expect(inners).toHaveLength(8);
      for (const j of jobs) {
        const children = inners.filter((i) => i.parentId === j.id);
        expect(children).toHaveLength(2);
        for (const c of children) {
          expect(c.t).toBeGreaterThanOrEqual(j.t);
          // t and durationMs are rounded to the nanosecond: allow a few of them
          expect(c.t + c.durationMs).toBeLessThanOrEqual(j.t + j.durationMs + 1e-5);
        }
      }
    });

    test('a promise-returning plain function carries its context into continuations from its second call on', async () => {
      const child = withStage('child', () => 1);
      const parent = withStage('parent', () => tick().then(() => child()));
      await parent();
      await parent();
      const report = stop();
      const parents = report.stages.filter((s) => s.name === 'parent');
      const children = report.stages.filter((s) => s.name === 'child');
      expect(children[1]!.parentId).toBe(parents[1]!.id);
    });
  });

  describe.each(['promise', 'asyncLocalStorage'] as const)('async context %s', (asyncContext) => {
    const monitorOf = (options: Parameters<typeof createPerformanceMonitor>[0] = {}) => createPerformanceMonitor({ enableMemoryTracking: false, asyncContext, ...options });

    test('stages after awaits and in .then callbacks nest under their async parent; concurrent calls never mix', async () => {
      const monitor = monitorOf();
      const leaf = withStage('leaf', (tag: string) => tag, { monitor });
      const inner = withStage('inner', async (tag: string) => {
        await tick(Math.floor(Math.random() * 4));
        return Promise.resolve(tag).then((t) => leaf(t));
      }, { monitor });
      const job = withStage('job', async (tag: string) => {
        await tick(Math.floor(Math.random() * 4));
        return [await inner(`${tag}-a`), await inner(`${tag}-b`)];
      }, { monitor });
      monitor.startMonitoring();
      expect(await Promise.all(['x', 'y', 'z'].map((t) => job(t)))).toEqual([['x-a', 'x-b'], ['y-a', 'y-b'], ['z-a', 'z-b']]);
      const report = monitor.stopMonitoring();
      const byId = new Map(report.stages.map((st) => [st.id, st]));
      const jobs = report.stages.filter((st) => st.name === 'job');
      expect(jobs).toHaveLength(3);
      for (const j of jobs) {
        const inners = report.stages.filter((st) => st.name === 'inner' && st.parentId === j.id);
        expect(inners).toHaveLength(2);
        for (const i of inners) expect(report.stages.filter((st) => st.name === 'leaf' && st.parentId === i.id)).toHaveLength(1);
      }
      for (const st of report.stages) if (st.name !== 'job') expect(byId.get(st.parentId!)).toBeDefined();
    });

    test(asyncContext === 'promise' ? 'a stage called from a timer callback has no parent (callbacks are not followed)' : 'a stage called from a timer callback nests under the async stage that set the timer', async () => {
      const monitor = monitorOf();
      const fromTimer = withStage('from-timer', () => 1, { monitor });
      const parent = withStage('parent', async () => {
        await tick();
        await new Promise<void>((resolve) => setTimeout(() => {
          fromTimer();
          resolve();
        }, 1));
      }, { monitor });
      monitor.startMonitoring();
      await parent();
      const report = monitor.stopMonitoring();
      const parentId = report.stages.find((st) => st.name === 'parent')!.id;
      expect(report.stages.find((st) => st.name === 'from-timer')!.parentId).toBe(asyncContext === 'promise' ? undefined : parentId);
    });

    test('reactions nested in a vm context\'s own microtask queue keep the stage, and give it back when they end', async () => {
      // A vm context with microtaskMode 'afterEvaluate' drains its queue inside runInContext: its
      // reactions run inside the reaction that called it (the promise hooks' before/after nest).
      const monitor = monitorOf();
      const sandbox = vm.createContext({ inner: withStage('vm-inner', () => 1, { monitor }) }, { microtaskMode: 'afterEvaluate' });
      const after = withStage('after-vm', () => 2, { monitor });
      const outer = withStage('outer', async () => {
        await tick();
        vm.runInContext('Promise.resolve().then(() => Promise.resolve().then(() => inner())).then(() => inner())', sandbox);
        after();
        await tick();
        after();
      }, { monitor });
      // The same from a synchronous stage called from a timer (not from a reaction): the vm's
      // reactions are then the outermost ones.
      const host = withStage('sync-host', () => {
        vm.runInContext('Promise.resolve().then(() => inner())', sandbox);
        return after();
      }, { monitor });
      monitor.startMonitoring();
      await outer();
      expect(await new Promise((resolve) => setTimeout(() => resolve(host()), 0))).toBe(2);
      withStage('top', () => 3, { monitor })();
      const report = monitor.stopMonitoring();
      const idOf = (name: string): string => report.stages.find((st) => st.name === name)!.id;
      const parentsOf = (name: string): Array<string | undefined> => report.stages.filter((st) => st.name === name).map((st) => st.parentId);
      expect(parentsOf('vm-inner')).toEqual([idOf('outer'), idOf('outer'), idOf('sync-host')]);
      expect(parentsOf('after-vm')).toEqual([idOf('outer'), idOf('outer'), idOf('sync-host')]);
      expect(parentsOf('top')).toEqual([undefined]);
    });

    test("the program's promises show nothing of stagemeter: no own keys, and util.inspect prints what it would unmonitored", async () => {
      const result = await runChild(join(__dirname, '..', 'fixtures', 'inspectPromises.ts'), [asyncContext]);
      expect(result.stderr).toBe('');
      const out = JSON.parse(result.stdout.trim()) as { value: number; shown: Array<{ keys: string[]; text: string }>; plain: string };
      expect(out.value).toBe(2);
      expect(out.shown).toHaveLength(4);
      for (const { keys, text } of out.shown) {
        expect(keys).toEqual([]);
        // Under an AsyncLocalStorage Node keeps the store on the promise: it prints as an opaque token.
        expect(text).not.toMatch(/RunState|StageStats|hunter2|records|makes-promises/);
      }
      // An AsyncLocalStorage makes Node print its own async ids and store on every promise.
      if (asyncContext === 'promise') expect(out.plain).toBe('Promise { 2 }');
      else expect(out.plain).toMatch(/^Promise \{\s+2,[^]*\[Symbol\(kResourceStore\)\]: \[stage context\]\s+\}$/);
    });

    test('the context is switched on by the first async stage of a run and off when the run stops', async () => {
      const monitor = monitorOf();
      const users = (): number => (asyncContext === 'promise' ? slot.hookUsers : slot.alsUsers);
      const before = users();
      monitor.startMonitoring();
      withStage('sync-only', () => 1, { monitor })();
      expect(users()).toBe(before);
      await withStage('async', async () => 1, { monitor })();
      expect(users()).toBe(before + 1);
      monitor.stopMonitoring();
      expect(users()).toBe(before);
    });

    test('a call still pending at stop settles as it would unmonitored, after the context is switched off', async () => {
      const monitor = monitorOf();
      const boom = new RangeError('late');
      const late = withStage('late', async (fail: boolean) => {
        await tick(5);
        if (fail) throw boom;
        return 'done';
      }, { monitor });
      monitor.startMonitoring();
      const ok = late(false);
      const bad = late(true);
      const report = monitor.stopMonitoring();
      expect(report.stages.map((st) => [st.name, st.success, st.error?.name])).toEqual([['late', false, 'StageNotEnded'], ['late', false, 'StageNotEnded']]);
      await expect(ok).resolves.toBe('done');
      await expect(bad).rejects.toBe(boom);
    });
  });

  describe('no active run', () => {
    test('passes straight through and records nothing', () => {
      run.monitor().stopMonitoring();
      const f = withStage('idle', (x: number) => x + 1);
      expect(f(1)).toBe(2);
      run.monitor().startMonitoring();
      expect(stop().stages).toHaveLength(0);
    });

    test('an explicit monitor option records into that monitor only', () => {
      const other = createPerformanceMonitor({ enableMemoryTracking: false });
      other.startMonitoring();
      withStage('mine', () => 1, { monitor: other })();
      const otherReport = other.stopMonitoring();
      expect(otherReport.stages.map((s) => s.name)).toEqual(['mine']);
      expect(stop().stages).toHaveLength(0);
    });

    test('stages of two monitors nest only within their own monitor', () => {
      const other = createPerformanceMonitor({ enableMemoryTracking: false });
      other.startMonitoring();
      const innerSingleton = withStage('inner-singleton', () => 1);
      const middleOther = withStage('middle-other', () => innerSingleton(), { monitor: other });
      withStage('outer-singleton', () => middleOther())();
      const otherReport = other.stopMonitoring();
      const report = stop();
      const outer = report.stages.find((s) => s.name === 'outer-singleton')!;
      expect(report.stages.find((s) => s.name === 'inner-singleton')!.parentId).toBe(outer.id);
      expect(otherReport.stages[0]!.parentId).toBeUndefined();
    });
  });

  describe('bad arguments fail at wrap time with a ConfigError', () => {
    test.each([
      ['an empty name', () => withStage('', () => 1), ['name']],
      ['a non-string name', () => withStage(7 as unknown as string, () => 1), ['name']],
      ['a 201-character name', () => withStage('x'.repeat(201), () => 1), ['name']],
      ['a non-function', () => withStage('n', 'nope' as unknown as () => void), ['fn']],
      ['options that are not an object', () => withStage('n', () => 1, 5 as never), ['options']],
      ['an unknown option', () => withStage('n', () => 1, { row: 'input' } as never), ['options.row']],
      ['a bad rows option', () => withStage('n', () => 1, { rows: 'inputs' as never }), ['options.rows']],
      ['a negative fixed row count', () => withStage('n', () => 1, { rows: -3 }), ['options.rows']],
      ['metadata that is an array', () => withStage('n', () => 1, { metadata: [] as never }), ['options.metadata']],
      ['a monitor that is not one', () => withStage('n', () => 1, { monitor: {} as never }), ['options.monitor']],
      ['everything wrong at once', () => withStage('', null as never, { rows: NaN, bogus: 1 } as never), ['name', 'fn', 'options.bogus', 'options.rows']],
    ])('%s', (_label, make, fields) => {
      const error = configErrorOf(make);
      expect(error.issues.map((i) => i.field).sort()).toEqual([...fields].sort());
      expect(error.message).toContain('invalid withStage() arguments');
    });
  });
});
