/**
 * Node streams as stages: `stageTransform()` returns an object-mode Transform in which each chunk
 * is one call of a stage. The chunk's call goes through the same wrapper as `withStage` (so it is
 * timed, counted and recorded in the same way, and costs nothing but a pointer swap with no run),
 * with the stage that built the stream made innermost around it: stream callbacks run from I/O
 * events, where no stage is active, and would otherwise make every chunk a top-level call.
 *
 * Everything else is Node's own Transform: one chunk at a time, backpressure through the
 * callback, end and flush passed through, `destroy()` as usual.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { types } from 'node:util';
import { ConfigError, describeValue, type ConfigIssue } from '../errors';
import { isMonitor } from '../monitor';
import type { StageOptions } from '../types';
import { checkHookOptions, checkStageName } from '../validate';
import { currentFrame } from './context';
import { slot, type ContextFrame } from './global';
import { hookFunction } from './wrapper';

const STAGE_OPTION_KEYS = ['rows', 'metadata', 'monitor'] as const;

const then = Promise.prototype.then;

/**
 * What a chunk's failure destroys the stream with: the thrown value itself, unless it is falsy
 * (`throw undefined`, `Promise.reject(null)`), which Node would take for "no error" and go on.
 */
function streamError(thrown: unknown): unknown {
  if (thrown) return thrown;
  return new Error(`stageTransform(): the chunk function threw or rejected with ${describeValue(thrown)}`, { cause: thrown });
}

/** Delivers a chunk's result: pushed unless it is undefined or null (null cannot be a chunk). */
function deliver(callback: TransformCallback, result: unknown): void {
  if (result === undefined || result === null) callback();
  else callback(null, result);
}

class StageTransform extends Transform {
  readonly #call: (chunk: unknown) => unknown;
  /** The stage innermost where the stream was made: each chunk's call nests under it. */
  readonly #builder: ContextFrame | undefined;

  constructor(call: (chunk: unknown) => unknown, builder: ContextFrame | undefined) {
    super({ objectMode: true });
    this.#call = call;
    this.#builder = builder;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    let result: unknown;
    try {
      result = this.#callNested(chunk);
    } catch (error) {
      // A throw out of _transform would escape through write() into whoever wrote the chunk.
      callback(streamError(error) as Error);
      return;
    }
    if (typeof result === 'object' && result !== null && types.isPromise(result)) {
      try {
        then.call(
          result,
          (value: unknown) => deliver(callback, value),
          (reason: unknown) => callback(streamError(reason) as Error),
        );
      } catch (error) {
        // a Promise subclass whose constructor refuses then()'s executor
        callback(streamError(error) as Error);
      }
      return;
    }
    deliver(callback, result);
  }

  /** Calls the hooked function with the builder innermost, whatever was innermost here. */
  #callNested(chunk: unknown): unknown {
    const call = this.#call;
    const prev = slot.current;
    const builder = this.#builder;
    slot.current = builder;
    try {
      // Under an AsyncLocalStorage the store would stand in for a missing builder: leave it.
      const als = builder === undefined && slot.alsUsers > 0 ? slot.als : undefined;
      if (als !== undefined && als.getStore() !== undefined) return als.exit(() => call(chunk));
      return call(chunk); // `this` undefined, as for a plain function
    } finally {
      slot.current = prev;
    }
  }
}

/**
 * Returns an object-mode `Transform` in which each chunk is one call of the stage `name`:
 * `fn(chunk)` runs, and its result (awaited when it is a promise) is pushed on, unless it is
 * `undefined` or `null`, which drops the chunk (filtering). Rows per call follow the `rows` option
 * as in {@link withStage}: by default the size of the chunk (an array's length; a single record
 * counts 0, so give `rows: 1` for one record per chunk), `'output'` for the result's size, or a
 * number or function. Each call nests under the stage that was active where `stageTransform` was
 * called, and stages called inside `fn` nest under the chunk's call.
 *
 * The stream behaves as a plain Transform calling `fn`, in a run or not: one chunk at a time,
 * backpressure, end and `destroy()` as Node does them. A throw or rejection in `fn` destroys the
 * stream (and a `pipeline()`) with that very error; a falsy one (`throw undefined`) with an Error
 * whose `cause` it is. Bad arguments throw a {@link ConfigError} here, never later.
 *
 * @example
 * await pipeline(
 *   createReadStream('rows.csv'),
 *   splitLines,                                           // emits arrays of lines
 *   stageTransform('parse', (lines: string[]) => lines.map(parseRow)),
 *   stageTransform('enrich', async (rows: Row[]) => enrich(rows), { rows: 'output' }),
 *   stageTransform('format', (rows: Row[]) => rows.map(toCsvLine).join('')),
 *   createWriteStream('out.csv'),
 * );
 */
export function stageTransform(name: string, fn: (chunk: any) => any | Promise<any>, options?: StageOptions): Transform {
  const issues: ConfigIssue[] = [
    ...checkStageName(name, 'name'),
    ...(typeof fn !== 'function'
      ? [{ field: 'fn', message: `must be a function (got ${describeValue(fn)})` }]
      : types.isGeneratorFunction(fn)
        ? [{ field: 'fn', message: 'must return the chunk\'s result, not be a generator function (pass a generator to pipeline() itself, or wrap it with withStage)' }]
        : []),
    ...checkHookOptions(options, STAGE_OPTION_KEYS, 'options.', isMonitor),
  ];
  if (issues.length > 0) throw new ConfigError(issues, 'invalid stageTransform() arguments');
  const { wrapped } = hookFunction({ name, fn: fn as (chunk: unknown) => unknown, rows: options?.rows, metadata: options?.metadata, monitor: options?.monitor });
  return new StageTransform(wrapped, currentFrame());
}
