/**
 * Generator functions as stages. Calling one only creates the iterator; its work runs in `next()`.
 * So the stage call spans from the first `next()` (or `return()`/`throw()`) to completion: the
 * iterator is done, `return()` ended it, or it threw. The call is made at that first step, and its
 * parent is the stage innermost there (the consumer), not where the iterator was created; when no
 * stage is innermost there (a stream's `Readable.from(iterator)` steps it from its own callbacks),
 * the stage innermost where it was created. While
 * each step runs, the call is the innermost stage (stages called inside the generator nest under
 * it); its rows default to the number of items yielded. An iterator that is never stepped
 * records nothing.
 *
 * The iterator returned is the very object the function returned: its `next`, `return` and
 * `throw` are shadowed by own, non-enumerable methods (so `util.inspect` shows nothing new), which
 * `for...of`, `for await...of`, spread and `yield*` all look up on the object.
 */
import { types } from 'node:util';
import type { RunState } from '../run/state';
import { beginCall, endCall, logStart, NO_ERROR, rowsOfCall } from './accounting';
import { now } from './clock';
import { currentFrame } from './context';
import type { Frame, RunLink } from './frame';
import { slot, type ContextFrame } from './global';
import { observeSettlement } from './promises';
import { FnKind, RowsRule, type StageDefinition } from './stage';

type Method = (value?: unknown) => unknown;

const METHODS = ['next', 'return', 'throw'] as const;

/** The frame of a new call of `def` in `run`, nested under `outer`. */
function openFrame(run: RunState, def: StageDefinition, thisArg: unknown, outer: ContextFrame | undefined): Frame {
  let stats = def.boundStats;
  if (def.boundRun !== run || stats === undefined) stats = run.bind(def, thisArg);
  const frame = run.frame(stats, outer, def.metadata);
  if (run.logStages && stats.calls < run.config.maxStageRecords) logStart(run, frame);
  return frame;
}

/** The iteration of one generator object as one stage call. */
class Iteration {
  /**
   * The run's link, not the run: a generator object the program keeps (iterated or not) must not
   * keep a stopped run's records alive. The run clears the link's state when it stops.
   */
  readonly #link: RunLink;
  readonly #def: StageDefinition;
  readonly #async: boolean;
  #thisArg: unknown;
  #args: unknown[] | undefined;
  /** The stage innermost where the iterator was made: the parent when none is at the first step. */
  #creator: ContextFrame | undefined;
  #frame: Frame | undefined = undefined;
  #done = false;

  constructor(run: RunState, def: StageDefinition, thisArg: unknown, args: unknown[], creator: ContextFrame | undefined) {
    this.#link = run.link;
    this.#creator = creator;
    this.#def = def;
    this.#thisArg = thisArg;
    this.#args = args;
    this.#async = def.kind === FnKind.AsyncGenerator;
  }

  /** One step of the iterator: `original` is the prototype's next, return or throw. */
  step(gen: object, original: Method, value: unknown): unknown {
    if (this.#done) return Reflect.apply(original, gen, [value]);
    const run = this.#link.state;
    let frame = this.#frame;
    if (run === undefined || run.ended || (frame !== undefined && frame.ended)) {
      this.#drop();
      return Reflect.apply(original, gen, [value]);
    }
    if (frame === undefined) {
      // The first step: the call starts here, under the stage innermost here.
      frame = openFrame(run, this.#def, this.#thisArg, currentFrame() ?? this.#creator);
      this.#thisArg = undefined;
      this.#creator = undefined;
      this.#frame = frame;
      const t0 = now();
      frame.t0 = t0;
      frame.sync = false;
      beginCall(frame, t0);
      run.linkOpen(frame);
    }
    const prev = slot.current;
    slot.current = frame;
    // Under an AsyncLocalStorage the generator's own awaits resume in the store set here.
    const als = slot.alsUsers > 0 && run.config.asyncContext === 'asyncLocalStorage' ? slot.als : undefined;
    const outerStore = als?.getStore();
    if (als !== undefined) als.enterWith(frame);
    let result: unknown;
    try {
      result = Reflect.apply(original, gen, [value]);
    } catch (error) {
      this.#end(now(), undefined, error);
      throw error;
    } finally {
      slot.current = prev;
      if (als !== undefined) als.enterWith(outerStore as ContextFrame);
    }
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
    const frame = this.#frame;
    if (this.#done || frame === undefined || typeof result !== 'object' || result === null) return;
    const r = result as { done?: unknown; value?: unknown };
    if (r.done === true) this.#end(t1, r.value, NO_ERROR);
    else if (this.#def.rowsRule === RowsRule.Yielded && !frame.rowsRecorded) frame.rows++;
  }

  #end(t1: number, value: unknown, error: unknown): void {
    const frame = this.#frame;
    const args = this.#args;
    const run = this.#link.state;
    this.#drop();
    if (frame === undefined || args === undefined || frame.ended || run === undefined || run.ended) return;
    run.unlinkOpen(frame);
    endCall(run, frame, frame.t0, t1, rowsOfCall(run, frame, this.#def, value, args), error);
  }

  /** Done: later steps go straight to the iterator, and nothing of the call is kept. */
  #drop(): void {
    this.#done = true;
    this.#frame = undefined;
    this.#args = undefined;
    this.#thisArg = undefined;
    this.#creator = undefined;
  }
}

/**
 * Calls a generator function and follows the iterator it returns (see the module comment).
 * Creating the iterator runs no program code but its parameters' defaults; what throws there is
 * a failed call, rethrown unchanged.
 */
export function followGenerator(run: RunState, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
  let gen: unknown;
  const t0 = now();
  try {
    gen = Reflect.apply(def.fn, thisArg, args);
  } catch (error) {
    const t1 = now();
    const frame = openFrame(run, def, thisArg, currentFrame());
    beginCall(frame, t0);
    endCall(run, frame, t0, t1, 0, error);
    throw error;
  }
  if (typeof gen !== 'object' || gen === null || !types.isGeneratorObject(gen)) {
    // A generator function as V8 sees it always returns a generator object; this is a bound or
    // proxied function that did not: its call was the work.
    const t1 = now();
    const frame = openFrame(run, def, thisArg, currentFrame());
    beginCall(frame, t0);
    endCall(run, frame, t0, t1, rowsOfCall(run, frame, def, gen, args), NO_ERROR);
    return gen;
  }
  const iteration = new Iteration(run, def, thisArg, args, currentFrame());
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
    run.flag('info', 'generator_not_followed', `an iterator of ${def.name} could not be followed; its iteration is not recorded`, def.name);
  }
  return gen;
}
