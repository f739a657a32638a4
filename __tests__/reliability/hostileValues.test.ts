/**
 * Hostile values from the program: revoked proxies, proxies whose traps throw, accessors,
 * impossible row counts, `__proto__` keys, promises with own properties or odd constructors.
 * Each goes through every public entry, and the program gets exactly what it gets unmonitored
 * (the same value, the same error object, no extra call of its code); what stagemeter could not
 * use becomes a quality flag, and the report stays schema-valid with every number finite.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { types } from 'node:util';
import { createPerformanceMonitor, generatePerformanceReportJson, recordRows, withStage, type MonitorOptions, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { expectValidReport } from '../helpers/schema';
import { sleep, useTempDir } from './support';

const tmp = useTempDir('hostile');
let monitors: PerformanceMonitor[] = [];

afterEach(() => {
  for (const m of monitors) if (m.isMonitoring) m.stopMonitoring();
  monitors = [];
});

function started(options: MonitorOptions = {}): PerformanceMonitor {
  const m = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
  monitors.push(m);
  m.startMonitoring();
  return m;
}

function revokedProxy(): object {
  const r = Proxy.revocable({}, {});
  r.revoke();
  return r.proxy;
}

/** A proxy that fails on every trap a library might touch. */
function trappedProxy(): object {
  const fail = (trap: string) => () => {
    throw new Error(`${trap} trap`);
  };
  return new Proxy([1, 2, 3], { getPrototypeOf: fail('getPrototypeOf'), get: fail('get'), has: fail('has'), ownKeys: fail('ownKeys'), getOwnPropertyDescriptor: fail('getOwnPropertyDescriptor') });
}

const HOSTILE: Array<[string, () => object]> = [
  ['a revoked proxy', revokedProxy],
  ['a proxy whose traps throw (getPrototypeOf included)', trappedProxy],
];

function codes(report: PerformanceReport): string[] {
  return report.qualityFlags.map((f) => f.code ?? '');
}

/** Every number anywhere in the value is finite. */
function finiteNumbers(value: unknown, path = '$', out: string[] = []): string[] {
  if (typeof value === 'number' && !Number.isFinite(value)) out.push(`${path} = ${value}`);
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) finiteNumbers(v, `${path}.${k}`, out);
  return out;
}

/** What a call gives its caller (the value or the error, by identity), awaited when it is a promise. */
async function settledOf(call: () => unknown): Promise<{ resolved?: unknown; rejected?: unknown; threw?: unknown }> {
  let p: unknown;
  try {
    p = call();
  } catch (err) {
    return { threw: err };
  }
  // a sync result is not awaited: awaiting reads `then`, which a revoked proxy refuses
  if (!types.isPromise(p)) return { resolved: p };
  try {
    return { resolved: await p };
  } catch (err) {
    return { rejected: err };
  }
}

describe.each(HOSTILE)('%s given to or returned from the program', (_label, make) => {
  test('withStage (sync and async, every rows rule): the same value or the same error object as unmonitored, and the unread rows flagged', async () => {
    const m = started();
    const value = make();
    const boom = new Error('boom');
    const bodies = {
      identity: (x: unknown) => x,
      returns: () => value,
      throws: (_x: unknown) => {
        throw boom;
      },
      resolves: async (x: unknown) => x,
      rejects: async (_x: unknown) => {
        throw boom;
      },
      promise: (x: unknown) => Promise.resolve(x),
    };
    let plainFailures = 0;
    for (const rows of [undefined, 'input', 'output'] as const) {
      for (const [name, fn] of Object.entries(bodies)) {
        const wrapped = withStage(`${name}-${rows ?? 'default'}`, fn as (...a: unknown[]) => unknown, { monitor: m, ...(rows !== undefined ? { rows } : {}) });
        const plain = await settledOf(() => fn(value));
        const monitored = await settledOf(() => wrapped(value));
        if (!('resolved' in plain || 'returned' in plain)) plainFailures++;
        expect(Object.keys(monitored)).toEqual(Object.keys(plain));
        for (const k of Object.keys(plain) as Array<keyof typeof plain>) {
          // the program's own error is the same object; an error the engine makes each time (a
          // promise resolved with a revoked proxy reads its `then`) is the same kind and message
          if (types.isNativeError(plain[k]) && plain[k] !== boom) expect([(monitored[k] as Error).constructor, (monitored[k] as Error).message]).toEqual([(plain[k] as Error).constructor, (plain[k] as Error).message]);
          else expect(monitored[k]).toBe(plain[k]);
        }
      }
    }
    const report = expectValidReport(m.stopMonitoring());
    expect(report.summary.totalStages).toBe(18);
    expect(report.summary.failedStages).toBe(plainFailures);
    expect(codes(report)).toContain('rows_unreadable');
    expect(finiteNumbers(report)).toEqual([]);
  });

  test('a this that is hostile, through withStage: the same result', () => {
    const m = started();
    const self = make();
    function plainFn(this: unknown): unknown {
      return this;
    }
    const wrapped = withStage('this', plainFn, { monitor: m });
    expect(wrapped.call(self)).toBe(self);
    expectValidReport(m.stopMonitoring());
  });

  test('startStage, endStage, addQualityFlag and recordRows given it: nothing thrown, each misuse flagged', () => {
    const m = started();
    const value = make();
    const idOfBadName = m.startStage(value as unknown as string);
    const idOfBadMeta = m.startStage('bad-metadata', value as unknown as Record<string, unknown>);
    expect(typeof idOfBadName).toBe('string');
    expect(m.endStage(value as unknown as string)).toBeUndefined();
    expect(m.endStage(idOfBadName, value as unknown as number)?.rowsProcessed).toBe(0);
    expect(m.endStage(idOfBadMeta, 1, value as unknown as { success: boolean })?.rowsProcessed).toBe(1);
    m.addQualityFlag(value as unknown as string, 'warning');
    m.addQualityFlag('severity is hostile', value as unknown as 'info');
    const inStage = withStage('records', () => {
      recordRows(value as unknown as number);
      return 'done';
    }, { monitor: m });
    expect(inStage()).toBe('done');
    const report = expectValidReport(m.stopMonitoring());
    expect(codes(report)).toEqual(expect.arrayContaining(['invalid_stage_name', 'unknown_stage_id', 'invalid_rows', 'invalid_outcome', 'invalid_severity', 'user']));
    expect(report.summary.totalStages).toBe(3);
  });

  test('the same calls with no run active: nothing thrown, flagged in the next run', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    monitors.push(m);
    const value = make();
    expect(m.startStage(value as unknown as string)).toBe('inactive');
    expect(m.endStage(value as unknown as string)).toBeUndefined();
    m.addQualityFlag(value as unknown as string, value as unknown as 'info');
    recordRows(value as unknown as number);
    m.startMonitoring();
    const report = expectValidReport(m.stopMonitoring());
    expect(codes(report)).toEqual(expect.arrayContaining(['stage_without_run', 'user']));
  });
});

describe('an endStage outcome that is hostile', () => {
  test('getters that throw, a revoked proxy, a trapped proxy: the stage is recorded, the outcome flagged, nothing of it is called twice', () => {
    const m = started();
    let reads = 0;
    const throwing = Object.defineProperties({}, {
      success: { enumerable: true, get: () => { reads++; throw new Error('success getter'); } },
      error: { enumerable: true, get: () => { reads++; throw new Error('error getter'); } },
    });
    for (const outcome of [throwing, revokedProxy(), trappedProxy()]) {
      const id = m.startStage('outcome');
      const metrics = m.endStage(id, 2, outcome as { success: boolean });
      expect(metrics).toMatchObject({ rowsProcessed: 2 });
    }
    expect(reads).toBe(0);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries.find((s) => s.name === 'outcome')?.calls).toBe(3);
    expect(codes(report)).toContain('invalid_outcome');
  });
});

describe('row counts that are not counts', () => {
  const BAD: Array<[string, unknown]> = [
    ['NaN', NaN],
    ['-3', -3],
    ['1e308', 1e308],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['a BigInt', 10n],
    ['a fraction', 2.5],
  ];

  test.each(BAD)('%s from every source (argument property, rows function, recordRows, endStage): counted 0, flagged, every number in the report finite', (_label, bad) => {
    const out = join(tmp(), 'rows.json');
    const m = started({ outputPath: out });
    const secret = 'user-data-in-a-rows-result';
    const byArg = withStage('by-arg', (x: unknown) => x, { monitor: m });
    const byOutput = withStage('by-output', () => ({ length: bad }), { monitor: m, rows: 'output' });
    const byFn = withStage('by-fn', (x: unknown) => x, { monitor: m, rows: () => bad as number });
    const byFnArg = withStage('by-fn-arg', (x: unknown) => x, { monitor: m, rows: (_r, args) => args[0] as number });
    const fnThrows = withStage('fn-throws', (x: unknown) => x, { monitor: m, rows: () => { throw new Error(secret); } });
    const byRecord = withStage('by-record', () => {
      recordRows(bad as number);
      return 1;
    }, { monitor: m });
    const arg = { length: bad, size: bad, rowCount: bad };
    expect(byArg(arg)).toBe(arg);
    expect(byOutput()).toEqual({ length: bad });
    expect(byFn(secret)).toBe(secret);
    expect(byFnArg(secret)).toBe(secret);
    expect(fnThrows(secret)).toBe(secret);
    expect(byRecord()).toBe(1);
    m.endStage(m.startStage('by-end'), bad as number);
    const report = m.stopMonitoring();
    const onDisk = readFileSync(out, 'utf8');
    expectValidReport(report);
    expectValidReport(onDisk);
    expect(finiteNumbers(report)).toEqual([]);
    expect(report.run.rowsProcessed).toBe(0);
    for (const s of report.stageSummaries) expect([s.name, s.rowsProcessed, s.rowsPerSecond]).toEqual([s.name, 0, 0]);
    const flagged = new Set(report.qualityFlags.filter((f) => f.code === 'invalid_rows' || f.code === 'rows_function_threw').map((f) => f.stage));
    expect([...flagged].sort()).toEqual(['by-arg', 'by-end', 'by-fn', 'by-fn-arg', 'by-output', 'by-record', 'fn-throws']);
    // no flag quotes the program's data (the rows function's argument, its error, the count itself)
    for (const f of report.qualityFlags) {
      expect(f.message).not.toContain(secret);
      if (typeof bad === 'number' && Number.isFinite(bad) && bad !== 0) expect(f.message).not.toContain(String(bad));
    }
  });

  test('a rows function that returns the argument (a string, an object) never puts it into a flag', () => {
    const m = started();
    const secret = 'card 4111 1111 1111 1111';
    const echo = withStage('echo', (x: unknown) => x, { monitor: m, rows: (_r, args) => args[0] as number });
    echo(secret);
    echo({ secret });
    echo([secret]);
    const report = expectValidReport(m.stopMonitoring());
    expect(JSON.stringify(report)).not.toContain('4111');
    expect(report.qualityFlags.filter((f) => f.code === 'invalid_rows').length).toBeGreaterThanOrEqual(1);
  });
});

describe('the program\'s getters and traps are never run to count rows', () => {
  test('get length(), get size(), get rowCount(), a Proxy and a Map subclass: no call, counted 0 (or the built-in size)', async () => {
    const m = started();
    let calls = 0;
    const getters = {
      get length() {
        calls++;
        return 5;
      },
      get size() {
        calls++;
        return 5;
      },
      get rowCount() {
        calls++;
        return 5;
      },
    };
    const counting = new Proxy([1, 2, 3], {
      get: (t, k, r) => {
        calls++;
        return Reflect.get(t, k, r);
      },
      getPrototypeOf: (t) => {
        calls++;
        return Reflect.getPrototypeOf(t);
      },
      getOwnPropertyDescriptor: (t, k) => {
        calls++;
        return Reflect.getOwnPropertyDescriptor(t, k);
      },
      has: (t, k) => {
        calls++;
        return Reflect.has(t, k);
      },
    });
    class CountingMap extends Map<number, number> {
      override get size(): number {
        calls++;
        return 99;
      }
    }
    const map = new CountingMap([[1, 1], [2, 2]]);
    const inherited = Object.create({ length: 7 }) as object;
    const bodies = { input: (x: unknown) => x, output: (x: unknown) => x, asyncOutput: async (x: unknown) => x };
    const program = async (f: typeof bodies): Promise<void> => {
      for (const v of [getters, counting, map, inherited]) {
        expect(f.input(v)).toBe(v);
        expect(f.output(v)).toBe(v);
        expect(await f.asyncOutput(v)).toBe(v);
      }
    };
    // the program's own code reads some of them (an async function's `return` reads `then`)
    await program(bodies);
    const unmonitored = calls;
    calls = 0;
    await program({
      input: withStage('input', bodies.input, { monitor: m }),
      output: withStage('output', bodies.output, { monitor: m, rows: 'output' }),
      asyncOutput: withStage('async-output', bodies.asyncOutput, { monitor: m, rows: 'output' }),
    });
    const report = expectValidReport(m.stopMonitoring());
    expect(calls).toBe(unmonitored);
    const rows = Object.fromEntries(report.stageSummaries.map((s) => [s.name, s.rowsProcessed]));
    // only the Map's internal size (2) counts, read through the built-in getter
    expect(rows).toEqual({ input: 2, output: 2, 'async-output': 2 });
  });
});

describe('the promise a stage returns', () => {
  test('is the very promise the function returned: identity, own properties, WeakSet membership', async () => {
    const m = started();
    const made = new WeakSet<object>();
    let last: (Promise<number> & { cancel?: () => string }) | undefined;
    const fetchRows = withStage('fetch', () => {
      const p = Object.assign(new Promise<number>((r) => setTimeout(() => r(3), 1)), { cancel: () => 'cancelled' });
      made.add(p);
      last = p;
      return p;
    }, { monitor: m });
    const p = fetchRows();
    expect(p).toBe(last);
    expect(made.has(p)).toBe(true);
    expect(p.cancel()).toBe('cancelled');
    expect(await p).toBe(3);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries[0]).toMatchObject({ name: 'fetch', calls: 1, failures: 0 });
  });

  test('a Promise subclass whose constructor rejects then()\'s arguments: nothing thrown, the same promise, its end is timed', async () => {
    const m = started();
    let constructing = false;
    class Strict<T> extends Promise<T> {
      constructor(executor: (resolve: (v: T) => void, reject: (e: unknown) => void) => void) {
        // then() constructs the derived promise through the species constructor: refused here
        if (!constructing) throw new TypeError('Strict promises are made by Strict.make() only');
        constructing = false;
        super(executor);
      }
      static make<T>(executor: (resolve: (v: T) => void) => void): Strict<T> {
        constructing = true;
        return new Strict<T>(executor);
      }
    }
    const made: Array<Strict<number>> = [];
    const stage = withStage('strict', () => {
      const p = Strict.make<number>((r) => setTimeout(() => r(4), 1));
      made.push(p);
      return p;
    }, { monitor: m });
    const p = stage();
    expect(p).toBe(made[0]);
    expect(() => p.then(() => undefined)).toThrow('Strict promises are made by Strict.make() only');
    await sleep(20);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries[0]).toMatchObject({ name: 'strict', calls: 1, failures: 0 });
    expect(report.qualityFlags.map((f) => f.code)).toContain('promise_outcome_unknown');
  });
});

describe('stopMonitoring() called again', () => {
  test('returns the same report and leaves the file alone', async () => {
    const out = join(tmp(), 'twice.json');
    const m = started({ outputPath: out });
    withStage('s', (x: number[]) => x.length, { monitor: m })([1, 2]);
    const first = m.stopMonitoring();
    const text = readFileSync(out, 'utf8');
    const { mtimeMs, ino } = statSync(out);
    await sleep(20);
    const second = m.stopMonitoring();
    expect(second).toBe(first);
    expect(second.qualityFlags.map((f) => f.code)).not.toContain('stop_without_run');
    expect(readFileSync(out, 'utf8')).toBe(text);
    expect(statSync(out)).toMatchObject({ mtimeMs, ino });
    expect(JSON.parse(text).qualityFlags.map((f: { message: string }) => f.message).join('\n')).not.toMatch(/without startMonitoring/);
  });
});

describe('__proto__ and other prototype names as keys', () => {
  test('as a run, hook and manual metadata key and as a stage name: plain data in the returned report, the file and every per-stage map', () => {
    const out = join(tmp(), 'proto.json');
    const m = createPerformanceMonitor({ enableMemoryTracking: true, memorySamplingIntervalMs: 10, outputPath: out });
    monitors.push(m);
    const meta = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "ok": 1}') as Record<string, unknown>;
    m.startMonitoring({ metadata: meta });
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    for (const name of names) {
      const f = withStage(name, (rows: number[]) => {
        let s = 0;
        for (let i = 0; i < 200_000; i++) s += i % 7;
        return rows.length + s * 0;
      }, { monitor: m, metadata: meta });
      // 20 calls of ~1 ms each: enough probe credit (0.4 % of a stage's time) for a stage's calls
      // to be probed even when the run's pool for first probes is spent, so that every stage has
      // a stageEfficiency entry to check
      for (let k = 0; k < 20; k++) expect(f([1, 2, 3])).toBe(3);
      m.endStage(m.startStage(name, meta), 2);
    }
    const report = m.stopMonitoring();
    const fromFile = JSON.parse(readFileSync(out, 'utf8')) as PerformanceReport;
    expectValidReport(report);
    expectValidReport(readFileSync(out, 'utf8'));
    for (const r of [report, fromFile]) {
      const runMeta = r.run.metadata as Record<string, unknown>;
      expect(Object.getPrototypeOf(runMeta) === Object.prototype || Object.getPrototypeOf(runMeta) === null).toBe(true);
      expect(Object.prototype.hasOwnProperty.call(runMeta, '__proto__')).toBe(true);
      expect((runMeta as { polluted?: unknown }).polluted).toBeUndefined();
      expect(r.stageSummaries.map((s) => s.name).sort()).toEqual([...names].sort());
      for (const s of r.stageSummaries) expect(s).toMatchObject({ calls: 21, rowsProcessed: 62 });
      const eff = r.memory.stageEfficiency;
      if (eff !== undefined) {
        expect(Object.keys(eff).sort()).toEqual([...names].sort());
        for (const name of names) expect(typeof Object.getOwnPropertyDescriptor(eff, name)?.value).toBe('number');
      }
      for (const rec of r.stages) {
        if (rec.metadata === undefined) continue;
        expect(Object.prototype.hasOwnProperty.call(rec.metadata, '__proto__')).toBe(true);
        expect((rec.metadata as { polluted?: unknown }).polluted).toBeUndefined();
      }
      for (const t of r.timeShare ?? []) expect(names).toContain(t.stage);
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    // the JSON text itself round-trips
    const { output: _written, ...asReturned } = report;
    expect(JSON.parse(generatePerformanceReportJson(asReturned as PerformanceReport))).toEqual(fromFile);
    expect(existsSync(out)).toBe(true);
  });
});
