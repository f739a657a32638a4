/**
 * Generator functions as stages. Calling one only creates the iterator; its work runs in `next()`.
 * So the stage call spans from the first `next()` (or `return()`/`throw()`) to completion: the
 * iterator is done, `return()` ended it, or it threw. While each step runs, the call is the
 * innermost stage (stages called inside the generator nest under it); its rows default to the
 * number of items yielded.
 *
 * The iterator returned is the very object the function returned: its `next`, `return` and
 * `throw` are shadowed by own, non-enumerable methods (so `util.inspect` shows nothing new), which
 * `for...of`, `for await...of`, spread and `yield*` all look up on the object.
 */
import { types } from 'node:util';
import type { RunState } from '../run/state';
import { beginCall, endCall, NO_ERROR, rowsOfCall } from './accounting';
import { now } from './clock';
import type { Frame } from './frame';
import { slot, type ContextFrame } from './global';
import { observeSettlement } from './promises';
import { FnKind, RowsRule, type StageDefinition } from './stage';

type Method = (value?: unknown) => unknown;

const METHODS = ['next', 'return', 'throw'] as const;

/** The iteration of one generator object as one stage call. */
class Iteration {
  readonly #run: RunState;
  readonly #frame: Frame;
  readonly #def: StageDefinition;
  readonly #args: unknown[];
  readonly #async: boolean;
  #t0 = 0;
  #started = false;
  #done = false;

  constructor(run: RunState, frame: Frame, def: StageDefinition, args: unknown[], isAsync: boolean) {
    this.#run = run;
    this.#frame = frame;
    this.#def = def;
    this.#args = args;
    this.#async = isAsync;
  }

  /** One step of the iterator: `original` is the prototype's next, return or throw. */
  step(gen: object, original: Method, value: unknown): unknown {
    const run = this.#run;
    const frame = this.#frame;
    if (this.#done || run.ended || frame.ended) return Reflect.apply(original, gen, [value]);
    if (!this.#started) {
      this.#started = true;
      this.#t0 = now();
      frame.t0 = this.#t0;
      frame.sync = false;
      beginCall(frame, this.#t0);
      run.linkOpen(frame);
    }
    const prev = slot.current;
    slot.current = frame;
    let result: unknown;
    try {
      result = Reflect.apply(original, gen, [value]);
    } catch (error) {
      slot.current = prev;
      this.#end(now(), undefined, error);
      throw error;
    }
    slot.current = prev;
    if (this.#async) {
      if (types.isPromise(result)) {
        observeSettlement(result, {
          fulfilled: (r, t1) => this.#item(r, t1),
          rejected: (reason, t1) => this.#end(t1, undefined, reason),
          settled: () => undefined,
        });
      }
    } else {
      this.#item(result, now());
    }
    return result;
  }

  /** A step's result (an iterator result object made by the engine): an item, or the end. */
  #item(result: unknown, t1: number): void {
    if (this.#done || typeof result !== 'object' || result === null) return;
    const r = result as { done?: unknown; value?: unknown };
    if (r.done === true) this.#end(t1, r.value, NO_ERROR);
    else if (this.#def.rowsRule === RowsRule.Yielded && !this.#frame.rowsRecorded) this.#frame.rows++;
  }

  #end(t1: number, value: unknown, error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    const run = this.#run;
    const frame = this.#frame;
    if (frame.ended || run.ended) return;
    run.unlinkOpen(frame);
    endCall(run, frame, this.#t0, t1, rowsOfCall(run, frame, this.#def, value, this.#args), error);
  }
}

/**
 * Calls a generator function and follows the iterator it returns (see the module comment).
 * Creating the iterator runs no program code but its parameters' defaults; what throws there is
 * a failed call, rethrown unchanged.
 */
export function followGenerator(run: RunState, frame: Frame, prev: ContextFrame | undefined, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
  let gen: unknown;
  const t0 = now();
  try {
    gen = Reflect.apply(def.fn, thisArg, args);
  } catch (error) {
    slot.current = prev;
    beginCall(frame, t0);
    endCall(run, frame, t0, now(), 0, error);
    throw error;
  }
  if (typeof gen !== 'object' || gen === null || !types.isGeneratorObject(gen)) {
    beginCall(frame, t0);
    endCall(run, frame, t0, now(), rowsOfCall(run, frame, def, gen, args), NO_ERROR);
    return gen;
  }
  const iteration = new Iteration(run, frame, def, args, def.kind === FnKind.AsyncGenerator);
  try {
    for (const name of METHODS) {
      const original = (gen as unknown as Record<string, unknown>)[name] as Method;
      Object.defineProperty(gen, name, {
        value: function (this: unknown, value?: unknown): unknown {
          // Called on another object (`gen.next.call(other)`): behave as the original would.
          return this === gen ? iteration.step(gen, original, value) : Reflect.apply(original, this, [value]);
        },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  } catch {
    // A frozen prototype chain cannot stop an own property, but a program may have made the
    // iterator non-extensible in a subclass hook: it is then returned untouched, unmeasured.
    run.flag('info', 'generator_not_followed', `the iterator of ${frame.stats.name} could not be followed; the stage's calls are not recorded`, frame.stats.name);
  }
  return gen;
}
