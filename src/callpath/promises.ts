/**
 * Following a promise a stage returned, without changing it: the wrapper returns the very
 * promise the function returned (same object, own properties kept, identity in a WeakSet kept).
 *
 * A native promise is observed with a reaction of our own (`Promise.prototype.then`, so no
 * program code runs). That reaction marks the promise handled, which would swallow a rejection
 * the program ignores; so the promise hooks watch who else chains on it, and when it rejects and
 * nobody else has chained on it by the end of the current tick's microtasks (when Node itself
 * decides a rejection is unhandled), a promise rejected with the same reason is left unhandled in
 * its place: Node reports it as it would have reported the original (the same reason, so the
 * same crash and exit code, or the same `unhandledRejection` event, whose `promise` argument is
 * then that stand-in). If the program chains on the original later, the stand-in is handled too.
 * A promise the program chained on before the stage returned it (`p.catch(log); return p;`) is
 * taken for handled: the hooks keep the last 32 promises chained on while a stage call was
 * innermost, and a promise among them, or returned by a call during which the hooks were switched
 * on, never gets a stand-in. Two limits: a promise chained on elsewhere or longer ago than that,
 * then returned by a stage and ignored, is taken for unhandled; and a promise that rejects after
 * its run stopped (the hooks are gone) is taken for handled.
 *
 * A promise of a Promise subclass is not chained on at all (that would run the subclass's
 * constructor): its end is seen by the hooks' `settled` event, with its outcome unknown (flagged).
 */
import { types } from 'node:util';
import { promiseHooks } from 'node:v8';
import type { RunState } from '../run/state';
import { asyncProbeOpened } from '../run/probes';
import { endCall, NO_ERROR, rowsOfCall } from './accounting';
import { now } from './clock';
import { hooksEpoch, maybeChainedBefore, rewatchPromise, watchOf, watchPromise, type PromiseWatch } from './context';
import type { Frame } from './frame';
import { FnKind, type StageDefinition } from './stage';

const then = Promise.prototype.then;
const PromiseProto = Promise.prototype;

const { isPromise: isNativePromise } = types;

/**
 * Is this value a native promise? Asked of every object a plain function returns, so it must not
 * run program code: `instanceof` would call a proxy's getPrototypeOf trap (and throw for a revoked
 * proxy); `util.types.isPromise` reads the object's internal type (~20 ns).
 */
export function isPromise(value: unknown): value is Promise<unknown> {
  return typeof value === 'object' && value !== null && isNativePromise(value);
}

/** What happens when an observed promise settles. */
export interface Settlement {
  fulfilled(value: unknown, t1: number): void;
  rejected(reason: unknown, t1: number): void;
  /** A subclass promise settled: its outcome is unknown. */
  settled(t1: number): void;
}

/** The watch on one observed promise (a promise observed twice gets a second one). */
class Watch implements PromiseWatch {
  ownChain = false;
  isChained = false;
  /** A stand-in left unhandled for a rejection nobody else handles. */
  standIn: Promise<never> | undefined = undefined;
  /** The watch of an earlier observation of the same promise: it hears of chains too. */
  previous: Watch | undefined = undefined;
  /** Cleared when the promise settles: a promise the program keeps must not keep the run. */
  #sink: Settlement | undefined;
  /** The hooks' installation when the watch began (0: none). */
  readonly #epoch: number;

  constructor(sink: Settlement, epoch: number) {
    this.#sink = sink;
    this.#epoch = epoch;
  }

  /** The hooks have seen every chain made on the promise since the watch began. */
  get sawAllChains(): boolean {
    return this.#epoch !== 0 && hooksEpoch() === this.#epoch;
  }

  /** Still worth telling of chains: not settled yet, or it left a stand-in. */
  get listening(): boolean {
    return this.#sink !== undefined || this.standIn !== undefined;
  }

  chained(): void {
    this.previous?.chained();
    this.isChained = true;
    const standIn = this.standIn;
    if (standIn !== undefined) {
      this.standIn = undefined;
      then.call(standIn, undefined, ignore);
    }
  }

  #take(): Settlement | undefined {
    const sink = this.#sink;
    this.#sink = undefined;
    return sink;
  }

  fulfilled(value: unknown): void {
    this.#take()?.fulfilled(value, now());
  }

  rejected(reason: unknown): void {
    this.#take()?.rejected(reason, now());
    // Without the hooks throughout (its run stopped and released them), who chained is unknown:
    // the rejection is then left handled, rather than risk a crash the program would not have had.
    if (!this.isChained && this.sawAllChains) process.nextTick(leaveUnhandled, this, reason);
  }

  settled(): void {
    this.#take()?.settled(now());
  }
}

function ignore(): void {}

function leaveUnhandled(watch: Watch, reason: unknown): void {
  if (watch.isChained || !watch.sawAllChains) return;
  const standIn = Promise.reject(reason);
  watch.standIn = standIn;
}

/** Subclass promises being observed through the `settled` hook, and the hook while any is. */
let settledHook: (() => void) | undefined;
let subclassOpen = 0;

function onSettled(promise: Promise<unknown>): void {
  const watch = watchOf(promise);
  if (watch instanceof Watch && watch.listening) {
    subclassOpen--;
    watch.settled();
    if (subclassOpen === 0 && settledHook !== undefined) {
      settledHook();
      settledHook = undefined;
    }
  }
}

/**
 * Observes a native promise without changing what the program sees of it (see the module's
 * comment): `sink` hears when it settles and how.
 */
export function observeSettlement(promise: Promise<unknown>, sink: Settlement, sinceMs?: number): void {
  const watch = new Watch(sink, hooksEpoch());
  // Chained on before we saw it (`p.catch(log); return p;`), or maybe: its rejection is handled
  // as far as we know, and is never left unhandled in its place.
  if (sinceMs !== undefined && maybeChainedBefore(promise, sinceMs)) watch.isChained = true;
  if (!watchPromise(promise, watch)) {
    const earlier = watchOf(promise);
    if (earlier instanceof Watch && earlier.listening) watch.previous = earlier;
    rewatchPromise(promise, watch);
  }
  if (Object.getPrototypeOf(promise) !== PromiseProto) {
    subclassOpen++;
    settledHook ??= promiseHooks.onSettled(onSettled) as () => void;
    return;
  }
  watch.ownChain = true;
  then.call(
    promise,
    (value: unknown) => watch.fulfilled(value),
    (reason: unknown) => watch.rejected(reason),
  );
  watch.ownChain = false;
}

/** Ends an async call when its promise settles. */
class CallEnd implements Settlement {
  #run: RunState | undefined;
  #frame: Frame | undefined;
  #args: unknown[] | undefined;
  readonly #def: StageDefinition;

  constructor(run: RunState, frame: Frame, args: unknown[], def: StageDefinition) {
    this.#run = run;
    this.#frame = frame;
    this.#args = args;
    this.#def = def;
  }

  #end(t1: number, value: unknown, error: unknown): void {
    const run = this.#run;
    const frame = this.#frame;
    const args = this.#args;
    this.#run = undefined;
    this.#frame = undefined;
    this.#args = undefined;
    if (run === undefined || frame === undefined || args === undefined || frame.ended) return;
    run.unlinkOpen(frame);
    if (run.ended) return;
    endCall(run, frame, frame.t0, t1, rowsOfCall(run, frame, this.#def, value, args), error);
  }

  fulfilled(value: unknown, t1: number): void {
    this.#end(t1, value, NO_ERROR);
  }

  rejected(reason: unknown, t1: number): void {
    this.#end(t1, undefined, reason);
  }

  settled(t1: number): void {
    const frame = this.#frame;
    if (frame !== undefined) {
      this.#run?.flag('info', 'promise_outcome_unknown', `${frame.stats.name} returned a promise of a Promise subclass: its end is timed, its outcome and result are not observed (counted as a success)`, frame.stats.name);
    }
    this.#end(t1, undefined, NO_ERROR);
  }
}

/**
 * Follows `promise`, which a call of `frame` returned; returns it unchanged. The call ends when it
 * settles (with the resolved value's rows for `rows: 'output'`), or when the run stops.
 */
export function followPromise(run: RunState, frame: Frame, t0: number, promise: Promise<unknown>, args: unknown[], def: StageDefinition): Promise<unknown> {
  frame.sync = false;
  frame.t0 = t0;
  if (frame.probe !== undefined) {
    frame.probe.async = true;
    asyncProbeOpened();
  }
  run.linkOpen(frame);
  // An async function's own promise cannot have been chained on before it returns it (its body
  // has no hold of it): the look at the recent chains (~256 comparisons) is for the rest.
  observeSettlement(promise, new CallEnd(run, frame, args, def), def.kind === FnKind.Async ? undefined : t0);
  return promise;
}
