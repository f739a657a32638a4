/**
 * stageTransform against the truth: rows passed vs rows reported, per-chunk durations vs a clock
 * inside fn, nesting under the stage that built the pipeline, and Node's own stream behaviour
 * (backpressure, errors, destroy, end) compared with a plain Transform calling the same function.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { types } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ConfigError, createPerformanceMonitor, recordRows, stageTransform, withStage, type PerformanceReport } from '../../../src/index';
import { expectValidReport } from '../../helpers/schema';
import { useSingletonRun } from '../../helpers/singletonRun';
import { configErrorOf } from '../../helpers/thrown';
import { REGISTER } from '../../helpers/child';

jest.setTimeout(30_000);

const run = useSingletonRun();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const callsOf = (report: PerformanceReport, name: string) => report.stages.filter((s) => s.name === name);
const summaryOf = (report: PerformanceReport, name: string) => report.stageSummaries.find((s) => s.name === name);

/** The same stream written by hand: what stageTransform must behave like. */
function plainTransform(fn: (chunk: any) => any): Transform {
  return new Transform({
    objectMode: true,
    transform(chunk, _encoding, callback) {
      let result: unknown;
      try {
        result = fn(chunk);
      } catch (error) {
        callback(error as Error);
        return;
      }
      const deliver = (value: unknown): void => (value === undefined || value === null ? callback() : callback(null, value));
      if (types.isPromise(result)) result.then(deliver, (e: unknown) => callback(e as Error));
      else deliver(result);
    },
  });
}

/** A sink that keeps what reaches it. */
function collect(into: unknown[], delayMs = 0): Writable {
  return new Writable({
    objectMode: true,
    write(chunk, _encoding, callback) {
      into.push(chunk);
      if (delayMs > 0) setTimeout(callback, delayMs);
      else callback();
    },
  });
}

/** A source that pushes the chunks as they are (Readable.from reads `then` of each, to await promises). */
function sourceOf(chunks: readonly unknown[]): Readable {
  let i = 0;
  return new Readable({
    objectMode: true,
    read() {
      this.push(i < chunks.length ? chunks[i++] : null);
    },
  });
}

type Make = (fn: (chunk: any) => any) => Transform;
const monitored = (name: string): Make => (fn) => stageTransform(name, fn);

describe('chunks are stage calls', () => {
  test('rows passed are rows reported: the chunk\'s size by default, strings and single records counting 0', async () => {
    const chunks: unknown[] = [[1, 2, 3], [], new Set(['a', 'b']), 'a string', { id: 1 }, new Uint8Array(4), [4, 5]];
    const out: unknown[] = [];
    await pipeline(Readable.from(chunks), stageTransform('pass', (c: unknown) => c), collect(out));
    expect(out).toEqual(chunks);
    const report = run.stop();
    expect(summaryOf(report, 'pass')).toMatchObject({ calls: 7, failures: 0, rowsProcessed: 3 + 0 + 2 + 0 + 0 + 4 + 2 });
    expect(callsOf(report, 'pass').map((s) => s.rowsProcessed)).toEqual([3, 0, 2, 0, 0, 4, 2]);
  });

  test('rows: 1 per record, "output", a function, and recordRows() inside fn', async () => {
    const records = Array.from({ length: 25 }, (_, i) => ({ id: i }));
    await pipeline(
      Readable.from(records),
      stageTransform('one', (r: { id: number }) => r, { rows: 1 }),
      stageTransform('expand', (r: { id: number }) => (r.id % 5 === 0 ? [r, r, r] : undefined), { rows: 'output' }),
      stageTransform('counted', (rs: unknown[]) => rs.length, { rows: (result) => (result as number) * 10 }),
      stageTransform('recorded', (n: number) => {
        recordRows(n);
        return n;
      }),
      collect([]),
    );
    const report = run.stop();
    expect(summaryOf(report, 'one')).toMatchObject({ calls: 25, rowsProcessed: 25 });
    // 5 of the 25 records give 3 rows each; the other 20 calls give none and push nothing
    expect(summaryOf(report, 'expand')).toMatchObject({ calls: 25, rowsProcessed: 15 });
    expect(summaryOf(report, 'counted')).toMatchObject({ calls: 5, rowsProcessed: 150 });
    expect(summaryOf(report, 'recorded')).toMatchObject({ calls: 5, rowsProcessed: 15 });
  });

  test('each chunk\'s recorded duration matches a clock read inside fn', async () => {
    const measured: number[] = [];
    const delays = [2, 6, 3, 9, 1, 4, 12, 2];
    await pipeline(
      Readable.from(delays.map((d) => [d])),
      stageTransform('timed', async ([d]: number[]) => {
        const t0 = performance.now();
        await sleep(d!);
        measured.push(performance.now() - t0);
        return d;
      }),
      collect([]),
    );
    const calls = callsOf(run.stop(), 'timed');
    expect(calls).toHaveLength(delays.length);
    calls.forEach((call, i) => {
      expect(call.success).toBe(true);
      expect(call.durationMs).toBeGreaterThanOrEqual(measured[i]!);
      expect(call.durationMs).toBeLessThan(measured[i]! + 3);
    });
  });

  test('results are pushed in order, one chunk at a time; undefined and null drop the chunk, 0, false and "" do not', async () => {
    let open = 0;
    let maxOpen = 0;
    const out: unknown[] = [];
    await pipeline(
      Readable.from([1, 2, 3, 4, 5, 6, 7]),
      stageTransform('pick', async (n: number) => {
        maxOpen = Math.max(maxOpen, ++open);
        await sleep(8 - n);
        open--;
        return [undefined, 0, null, false, '', 'six', 7][n - 1];
      }),
      collect(out),
    );
    expect(out).toEqual([0, false, '', 'six', 7]);
    expect(maxOpen).toBe(1);
    expect(summaryOf(run.stop(), 'pick')).toMatchObject({ calls: 7, failures: 0 });
  });

  test('the end waits for the last chunk\'s pending result (nothing is lost at flush)', async () => {
    const out: unknown[] = [];
    const t = stageTransform('last', async (n: number) => {
      await sleep(n === 3 ? 25 : 1);
      return n * 10;
    });
    let endedAfterLast = false;
    t.on('end', () => (endedAfterLast = out.length === 3));
    await pipeline(Readable.from([1, 2, 3]), t, collect(out));
    expect(out).toEqual([10, 20, 30]);
    expect(endedAfterLast).toBe(true);
    const calls = callsOf(run.stop(), 'last');
    expect(calls.map((s) => s.success)).toEqual([true, true, true]);
    expect(calls[2]!.durationMs).toBeGreaterThanOrEqual(24);
  });

  test('hostile chunks and results pass through as the same objects, no getter or trap of theirs runs, and they count 0 rows', async () => {
    const trapped: string[] = [];
    const traps: ProxyHandler<object> = {
      get: (t, k, r) => (trapped.push(`get ${String(k)}`), Reflect.get(t, k, r)),
      getPrototypeOf: (t) => (trapped.push('getPrototypeOf'), Reflect.getPrototypeOf(t)),
      getOwnPropertyDescriptor: (t, k) => (trapped.push(`descriptor ${String(k)}`), Reflect.getOwnPropertyDescriptor(t, k)),
    };
    const { proxy: revoked, revoke } = Proxy.revocable([1, 2, 3], {});
    revoke();
    const getterLength = Object.defineProperty({}, 'length', {
      get: () => {
        trapped.push('length getter');
        throw new Error('getter ran');
      },
    });
    const thenable = {
      then: () => {
        trapped.push('then');
      },
    };
    const chunks: unknown[] = [revoked, new Proxy([1, 2], traps), getterLength, { length: NaN }, { length: -3 }, { size: 1e308 }, { rowCount: 2 ** 53 }, thenable];
    const out: unknown[] = [];
    await pipeline(sourceOf(chunks), stageTransform('hostile', (c: unknown) => c), collect(out));
    const outputs: unknown[] = [];
    await pipeline(sourceOf(chunks), stageTransform('hostile_output', (c: unknown) => c, { rows: 'output' }), collect(outputs));
    expect(out).toHaveLength(chunks.length);
    out.forEach((c, i) => expect(c).toBe(chunks[i]));
    outputs.forEach((c, i) => expect(c).toBe(chunks[i]));
    expect(trapped).toEqual([]);
    const report = run.stop();
    expect(summaryOf(report, 'hostile')).toMatchObject({ calls: chunks.length, failures: 0, rowsProcessed: 0 });
    expect(summaryOf(report, 'hostile_output')).toMatchObject({ calls: chunks.length, failures: 0, rowsProcessed: 0 });
  });

  test('hostile stage names are kept as plain data', async () => {
    const names = ['__proto__', 'constructor', '</script><script>alert(1)</script>', '\u001b[31mred\u001b[0m\r\nline'];
    const sinks = names.map((name) => stageTransform(name, (c: number[]) => c));
    await pipeline(Readable.from([[1, 2]]), ...(sinks as [Transform, ...Transform[]]), collect([]));
    const report = run.stop();
    for (const name of names) expect(summaryOf(report, name)).toMatchObject({ name, calls: 1, rowsProcessed: 2 });
  });
});

describe('nesting', () => {
  test('chunk calls nest under the stage that built the pipeline, and stages inside fn under the chunk\'s call', async () => {
    const validate = withStage('validate', (rows: number[]) => rows.every((r) => r >= 0));
    const etl = withStage('etl', async (batches: number[][]) => {
      const out: unknown[] = [];
      await pipeline(
        Readable.from(batches),
        stageTransform('parse', (rows: number[]) => (validate(rows) ? rows.map((r) => r * 2) : undefined)),
        stageTransform('save', async (rows: number[]) => {
          await sleep(1);
          return validate(rows) ? rows.length : undefined;
        }),
        collect(out),
      );
      return out;
    });
    await expect(etl([[1, 2], [3], [4, 5, 6]])).resolves.toEqual([2, 1, 3]);
    const report = run.stop();
    const top = callsOf(report, 'etl')[0]!;
    const parse = callsOf(report, 'parse');
    const save = callsOf(report, 'save');
    expect(parse.map((s) => s.parentId)).toEqual([top.id, top.id, top.id]);
    expect(save.map((s) => s.parentId)).toEqual([top.id, top.id, top.id]);
    const chunkIds = new Set([...parse, ...save].map((s) => s.id));
    const validations = callsOf(report, 'validate');
    expect(validations).toHaveLength(6);
    for (const v of validations) expect(chunkIds.has(v.parentId!)).toBe(true);
    expect(report.run.rowsFrom).toEqual({ rule: 'largest-top-level', stage: 'etl' });
    expect(report.run.rowsProcessed).toBe(3); // etl's input, 3 batches: the chunks' rows are not counted again
  });

  test('with chunks nested under a builder that holds no rows, startMonitoring({ rowsFrom }) names the stream stage as the run\'s rows', async () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
    const etl = withStage('etl', () => pipeline(Readable.from([[1, 2, 3], [4, 5]]), stageTransform('parse', (r: number[]) => r, { monitor }), collect([])), { monitor });
    monitor.startMonitoring({ rowsFrom: 'parse' });
    await etl();
    const report = expectValidReport(monitor.stopMonitoring());
    expect(report.run.rowsFrom).toEqual({ rule: 'option', stage: 'parse' });
    expect(report.run.rowsProcessed).toBe(5);
  });

  test('two pipelines built by two concurrent stages: each one\'s chunks nest under their own builder', async () => {
    const job = withStage('job', async (rows: number[][]) => {
      const out: unknown[] = [];
      await pipeline(
        Readable.from(rows),
        stageTransform('step', async (r: number[]) => {
          await sleep(r.length);
          return r;
        }),
        collect(out),
      );
      return out.length;
    });
    await expect(Promise.all([job([[1], [2, 2], [3, 3, 3]]), job([[4, 4], [5]])])).resolves.toEqual([3, 2]);
    const report = run.stop();
    const jobs = callsOf(report, 'job');
    const steps = callsOf(report, 'step');
    expect(jobs).toHaveLength(2);
    const rowsUnder = jobs.map((j) => steps.filter((s) => s.parentId === j.id).reduce((sum, s) => sum + s.rowsProcessed, 0));
    expect(rowsUnder.sort()).toEqual([3, 6]);
  });

  test('the builder wins over whatever stage is innermost where a chunk is written; built outside any stage, chunks are top-level', async () => {
    const built = withStage('build', () => stageTransform('chunk', (c: number[]) => c))();
    const loose = stageTransform('loose', (c: number[]) => c);
    const produce = withStage('produce', () => {
      built.write([1]);
      loose.write([2]);
    });
    produce();
    built.end();
    loose.end();
    built.resume();
    loose.resume();
    await Promise.all([new Promise((r) => built.on('end', r)), new Promise((r) => loose.on('end', r))]);
    const report = run.stop();
    expect(callsOf(report, 'chunk')[0]!.parentId).toBe(callsOf(report, 'build')[0]!.id);
    expect(callsOf(report, 'loose')[0]!.parentId).toBeUndefined();
  });

  test('under asyncContext "asyncLocalStorage", a stream built outside any stage is not adopted by the stage whose context writes to it', async () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false, asyncContext: 'asyncLocalStorage' });
    const loose = stageTransform('loose', (c: number[]) => c, { monitor });
    loose.resume();
    const produce = withStage('produce', async () => {
      await sleep(1);
      loose.write([1, 2]); // after the await, only the AsyncLocalStorage knows `produce` is active
    }, { monitor });
    monitor.startMonitoring();
    await produce();
    loose.end();
    await new Promise((r) => loose.on('end', r));
    const report = expectValidReport(monitor.stopMonitoring());
    expect(callsOf(report, 'loose')).toMatchObject([{ rowsProcessed: 2 }]);
    expect(callsOf(report, 'loose')[0]!.parentId).toBeUndefined();
  });

  test.each(['promise', 'asyncLocalStorage'] as const)('under asyncContext %s, chunks from file I/O callbacks nest under the builder', async (asyncContext) => {
    const dir = mkdtempSync(join(tmpdir(), 'stagemeter-streams-'));
    try {
      const path = join(dir, 'in.txt');
      writeFileSync(path, 'x'.repeat(64 * 1024));
      const monitor = createPerformanceMonitor({ enableMemoryTracking: false, asyncContext });
      const inner = withStage('inner', (n: number) => n, { monitor });
      const etl = withStage('etl', async () => {
        let bytes = 0;
        await pipeline(
          createReadStream(path, { highWaterMark: 8 * 1024 }),
          stageTransform('bytes', async (b: Buffer) => {
            await null;
            bytes += inner(b.length);
          }, { monitor }),
        );
        return bytes;
      }, { monitor });
      // a stage still open elsewhere must not adopt the chunks in the AsyncLocalStorage mode
      const elsewhere = withStage('elsewhere', () => sleep(30), { monitor });
      monitor.startMonitoring();
      const [bytes] = await Promise.all([etl(), elsewhere()]);
      expect(bytes).toBe(64 * 1024);
      const report = expectValidReport(monitor.stopMonitoring());
      const top = callsOf(report, 'etl')[0]!;
      const chunks = callsOf(report, 'bytes');
      expect(chunks).toHaveLength(8);
      expect(chunks.every((c) => c.parentId === top.id && c.rowsProcessed === 8 * 1024)).toBe(true);
      const ids = new Set(chunks.map((c) => c.id));
      expect(callsOf(report, 'inner').every((s) => ids.has(s.parentId!))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stream.pipeline behaves as without it', () => {
  /** A fast producer into `make(fn)` into a slow consumer; counts chunks produced but not yet consumed. */
  async function flow(make: Make, fn: (chunk: any) => any): Promise<{ produced: number; consumed: number; maxInFlight: number }> {
    const total = 200;
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    const source = new Readable({
      objectMode: true,
      highWaterMark: 4,
      read() {
        if (produced === total) {
          this.push(null);
          return;
        }
        produced++;
        maxInFlight = Math.max(maxInFlight, produced - consumed);
        this.push([produced]);
      },
    });
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 2,
      write(_chunk, _encoding, callback) {
        consumed++;
        setTimeout(callback, 1);
      },
    });
    await pipeline(source, make(fn), sink);
    return { produced, consumed, maxInFlight };
  }

  test.each([
    ['sync', (c: number[]) => c],
    ['async', async (c: number[]) => c],
  ])('backpressure: a slow consumer stops the producer, with as many chunks in flight as a plain Transform (%s fn)', async (_kind, fn) => {
    const plain = await flow(plainTransform, fn);
    const staged = await flow(monitored('relay'), fn);
    if (process.env.SHOW_FLOW) console.log(plain, staged);
    expect(staged).toEqual(plain);
    expect(staged.consumed).toBe(200);
    // the producer's 4, the transform's 16 + 16 and the consumer's 2, and the chunk each holds
    expect(staged.maxInFlight).toBeLessThanOrEqual(4 + 16 + 16 + 2 + 3);
    expect(summaryOf(run.stop(), 'relay')).toMatchObject({ calls: 200, rowsProcessed: 200, failures: 0 });
  });

  test.each([
    ['a throw', (boom: Error) => (n: number) => {
      if (n === 3) throw boom;
      return n;
    }],
    ['a rejection', (boom: Error) => async (n: number) => {
      await sleep(1);
      if (n === 3) throw boom;
      return n;
    }],
  ])('%s in fn destroys the pipeline with that very error, as a plain Transform does', async (_kind, makeFn) => {
    for (const make of [plainTransform, monitored('fails')]) {
      const boom = new RangeError('row 3 is corrupt');
      const source = Readable.from([1, 2, 3, 4, 5, 6]);
      const out: unknown[] = [];
      const t = make(makeFn(boom));
      await expect(pipeline(source, t, collect(out))).rejects.toBe(boom);
      expect(out).toEqual([1, 2]);
      expect(source.destroyed).toBe(true);
      expect(t.destroyed).toBe(true);
    }
    const report = run.stop();
    expect(summaryOf(report, 'fails')).toMatchObject({ calls: 3, failures: 1 });
    expect(callsOf(report, 'fails')[2]).toMatchObject({ success: false, error: { name: 'RangeError', message: 'row 3 is corrupt' } });
  });

  test('a falsy throw or rejection still destroys the pipeline, with an Error whose cause it is', async () => {
    for (const fn of [
      () => {
        throw undefined;
      },
      () => Promise.reject(null),
    ]) {
      const error = await pipeline(Readable.from([1]), stageTransform('falsy', fn), collect([])).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/threw or rejected with (undefined|null)/);
      expect('cause' in (error as Error)).toBe(true);
    }
    expect(summaryOf(run.stop(), 'falsy')).toMatchObject({ calls: 2, failures: 2 });
  });

  test('destroy() mid-stream ends the pipeline as for a plain Transform; the pending chunk\'s call still ends when it settles', async () => {
    const outcomes: unknown[] = [];
    for (const make of [plainTransform, monitored('slow')]) {
      const out: unknown[] = [];
      const t = make(async (n: number) => {
        await sleep(20);
        return n;
      });
      const done = pipeline(Readable.from([1, 2, 3]), t, collect(out));
      await sleep(5);
      t.destroy();
      outcomes.push(await done.then(() => 'resolved', (e: { code?: string }) => e.code));
      await sleep(30);
      expect(out).toEqual([]);
    }
    expect(outcomes).toEqual(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_PREMATURE_CLOSE']);
    expect(callsOf(run.stop(), 'slow').map((s) => s.success)).toEqual([true]);
  });

  test('destroy(error) mid-stream rejects the pipeline with that error', async () => {
    const reason = new Error('operator cancelled');
    const t = stageTransform('cancelled', async (n: number) => {
      await sleep(5);
      return n;
    });
    const done = pipeline(Readable.from([1, 2, 3, 4]), t, collect([]));
    await sleep(8);
    t.destroy(reason);
    await expect(done).rejects.toBe(reason);
  });
});

describe('outside a run, and configuration', () => {
  test('with no active run it is a plain Transform calling fn, and records nothing', async () => {
    const monitor = run.monitor();
    run.stop();
    const out: unknown[] = [];
    const seenThis: unknown[] = [];
    await pipeline(
      Readable.from([[1], [2, 3]]),
      stageTransform('idle', function (this: unknown, c: number[]) {
        seenThis.push(this);
        return c.length;
      }),
      collect(out),
    );
    expect(out).toEqual([1, 2]);
    expect(seenThis).toEqual([undefined, undefined]);
    monitor.startMonitoring();
    expect(summaryOf(monitor.stopMonitoring(), 'idle')).toBeUndefined();
  });

  test('options.monitor records into that monitor, looked up per chunk', async () => {
    const other = createPerformanceMonitor({ enableMemoryTracking: false });
    const t = stageTransform('mine', (c: number[]) => c, { monitor: other });
    t.resume();
    t.write([1]); // before the run: not recorded
    other.startMonitoring();
    t.write([1, 2]);
    t.end();
    await new Promise((r) => t.on('end', r));
    const report = expectValidReport(other.stopMonitoring());
    expect(summaryOf(report, 'mine')).toMatchObject({ calls: 1, rowsProcessed: 2 });
    expect(summaryOf(run.stop(), 'mine')).toBeUndefined();
  });

  test('bad arguments throw one ConfigError listing each of them, when the stream is made', () => {
    const error = configErrorOf(() => stageTransform(42 as unknown as string, 'nope' as unknown as () => void, { rows: -1, bogus: true } as never));
    expect(error.issues.map((i) => i.field)).toEqual(['name', 'fn', 'options.bogus', 'options.rows']);
    expect(configErrorOf(() => stageTransform('  ', (c: unknown) => c)).issues[0]!.field).toBe('name');
    expect(configErrorOf(() => stageTransform('gen', function* (c: unknown) {
      yield c;
    })).issues[0]!.message).toMatch(/generator/);
    expect(configErrorOf(() => stageTransform('x', (c: unknown) => c, { metadata: [] } as never)).issues[0]!.field).toBe('options.metadata');
    expect(() => stageTransform('ok', (c: unknown) => c, { rows: 'output', metadata: { step: 1 } })).not.toThrow(ConfigError);
  });
});

describe('a real file pipeline', () => {
  /** Splits a byte stream into arrays of complete lines (multi-byte characters cut by a read are decoded whole). */
  function lineSplitter(counter: { chunks: number; lines: number }): Transform {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    const emit = (t: Transform, lines: string[]): void => {
      if (lines.length === 0) return;
      counter.chunks++;
      counter.lines += lines.length;
      t.push(lines);
    };
    return new Transform({
      readableObjectMode: true,
      transform(chunk: Buffer, _encoding, callback) {
        const parts = (rest + decoder.write(chunk)).split('\n');
        rest = parts.pop()!;
        emit(this, parts);
        callback();
      },
      flush(callback) {
        const last = rest + decoder.end();
        emit(this, last === '' ? [] : [last]);
        callback();
      },
    });
  }

  interface Row {
    id: number;
    name: string;
    score: number;
  }
  const parse = (lines: string[]): Row[] =>
    lines.map((line) => {
      const [id, name, score] = line.split('\t');
      return { id: Number(id), name: name!, score: Number(score) };
    });
  const format = async (rows: Row[]): Promise<string | undefined> => {
    await null;
    const kept = rows.filter((r) => r.score % 7 !== 0);
    return kept.length === 0 ? undefined : kept.map((r) => `${JSON.stringify(r)}\n`).join('');
  };

  test('fs → line splitter → parse → format → fs writes a file byte-identical to the same pipeline unmonitored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagemeter-streams-'));
    try {
      const input = join(dir, 'in.tsv');
      const names = ['plain', 'ünïcödé ✓ 数据', 'tab\\tesc', '</script>', '\u001b[1mbold', '"quoted"', 'emoji 🧪🧪'];
      const lineCount = 20_000;
      writeFileSync(input, Array.from({ length: lineCount }, (_, i) => `${i}\t${names[i % names.length]}-${i}\t${(i * 37) % 1000}`).join('\n'));

      const baselineCounter = { chunks: 0, lines: 0 };
      const baselinePath = join(dir, 'plain.jsonl');
      await pipeline(createReadStream(input, { highWaterMark: 4096 }), lineSplitter(baselineCounter), plainTransform(parse), plainTransform(format), createWriteStream(baselinePath));

      const counter = { chunks: 0, lines: 0 };
      const outputPath = join(dir, 'monitored.jsonl');
      const etl = withStage('etl', () =>
        pipeline(
          createReadStream(input, { highWaterMark: 4096 }),
          lineSplitter(counter),
          stageTransform('parse', parse),
          stageTransform('format', format, { rows: (_r, args) => (args[0] as Row[]).length }),
          createWriteStream(outputPath),
        ),
      );
      await etl();

      const expected = readFileSync(baselinePath);
      const actual = readFileSync(outputPath);
      expect(actual.length).toBeGreaterThan(500_000);
      expect(actual.equals(expected)).toBe(true);
      expect(counter).toEqual(baselineCounter);
      expect(counter.lines).toBe(lineCount);

      const report = run.stop();
      const top = callsOf(report, 'etl')[0]!;
      expect(summaryOf(report, 'parse')).toMatchObject({ calls: counter.chunks, failures: 0, rowsProcessed: lineCount });
      expect(summaryOf(report, 'format')).toMatchObject({ calls: counter.chunks, failures: 0, rowsProcessed: lineCount });
      expect(callsOf(report, 'parse').every((s) => s.parentId === top.id)).toBe(true);
      expect(summaryOf(report, 'etl')!.busyMs).toBeGreaterThanOrEqual(summaryOf(report, 'parse')!.busyMs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('worker threads', () => {
  test('a stream and a generator in a worker record into the main thread\'s run, under the worker\'s thread id', async () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
    monitor.startMonitoring();
    const worker = new Worker(join(__dirname, '..', '..', 'fixtures', 'streamWorker.ts'), { execArgv: ['-r', REGISTER], workerData: { batches: 6, size: 50 }, stdout: false, stderr: false });
    const tid = worker.threadId; // -1 once the worker has exited
    const message = new Promise((resolve) => worker.once('message', resolve));
    const exitCode = await new Promise((resolve) => worker.once('exit', resolve));
    expect(exitCode).toBe(0);
    // 0 + 1 + ... + 299, doubled
    expect(await message).toEqual({ threadId: tid, sum: 299 * 300 });
    const report = expectValidReport(monitor.stopMonitoring());
    const top = callsOf(report, 'worker_etl');
    expect(top).toMatchObject([{ threadId: tid, success: true }]);
    const chunks = callsOf(report, 'worker_double');
    expect(chunks).toHaveLength(6);
    expect(chunks.every((c) => c.threadId === tid && c.parentId === top[0]!.id && c.rowsProcessed === 50)).toBe(true);
    // stepped by Readable.from from stream callbacks: it nests where it was made
    expect(callsOf(report, 'worker_produce')).toMatchObject([{ threadId: tid, parentId: top[0]!.id, rowsProcessed: 6, success: true }]);
  }, 120_000);
});
