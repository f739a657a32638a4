/**
 * The stage context: which stage call is innermost right now, and the promise hooks that carry it
 * across `await`.
 *
 * Synchronous nesting uses a plain pointer (`slot.current`) set on entry and restored on return:
 * no allocation and no async_hooks. Async continuations get the pointer back in one of two ways,
 * chosen by the `asyncContext` option; either is switched on only when a run meets its first
 * async stage, and off again when the last run that used it stops:
 *
 * - `'promise'` (default): V8 promise hooks (`v8.promiseHooks`). A promise made by `then()` or
 *   `await` while a stage is innermost carries that stage; when its reaction (the `.then`
 *   callback, the code after the `await`) runs, `before` makes the stage innermost again and
 *   `after` restores what was there. This covers async/await and promise chains at about half
 *   what an AsyncLocalStorage costs every promise of the process (tens of ns per awaited call
 *   against about a hundred). Callback APIs (timers, event emitters, stream events) are not
 *   followed: a stage called from such a callback has no parent.
 * - `'asyncLocalStorage'`: an AsyncLocalStorage, which follows every async resource, callbacks
 *   included, at the higher price. The promise hooks still run, for the two jobs below.
 *
 * The hooks also (in both modes) see who chains on a promise a stage returned (see promises.ts),
 * and open and close the thread segments of probed async calls (see run/probes.ts).
 *
 * What a promise carries is held in a private class field, stamped on the promise: unlike a
 * property, it is invisible to `util.inspect`, `Reflect.ownKeys` and proxies, so printing a
 * program's promise shows nothing of stagemeter.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { promiseHooks } from 'node:v8';
import { now } from './clock';
import { slot, type ContextFrame } from './global';

export type AsyncContextMode = 'promise' | 'asyncLocalStorage';

/** Returns its argument from `super()`, so a subclass's fields are stamped on any object. */
class Stamp {
  constructor(target: object) {
    return target;
  }
}

/** What a promise returned by a stage tells the hooks: who else chains on it. */
export interface PromiseWatch {
  /** Called by the hooks when a promise is made from the watched one by anyone but stagemeter. */
  chained(): void;
  /** True while stagemeter itself chains on the watched promise (its own child is not counted). */
  ownChain: boolean;
}

/**
 * The stamps on promises: the stage a promise made inside it carries to its reaction, and the
 * watch on a promise a stage returned. Made once per process and shared by every copy of the
 * package through the slot, since one copy's hooks read what another copy stamped.
 */
interface Marks {
  carry(promise: object, frame: ContextFrame): void;
  carried(promise: object): ContextFrame | undefined;
  /** Watches a promise; false if it is already watched. */
  watch(promise: object, watch: PromiseWatch): boolean;
  watchOf(promise: object): PromiseWatch | undefined;
  rewatch(promise: object, watch: PromiseWatch): void;
}

function makeMarks(): Marks {
  class CarriedFrame extends Stamp {
    #frame: ContextFrame;

    constructor(promise: object, frame: ContextFrame) {
      super(promise);
      this.#frame = frame;
    }

    static of(promise: object): ContextFrame | undefined {
      return #frame in promise ? (promise as unknown as CarriedFrame).#frame : undefined;
    }
  }
  class WatchedPromise extends Stamp {
    #watch: PromiseWatch;

    constructor(promise: object, watch: PromiseWatch) {
      super(promise);
      this.#watch = watch;
    }

    static has(promise: object): boolean {
      return #watch in promise;
    }

    static of(promise: object): PromiseWatch | undefined {
      return #watch in promise ? (promise as unknown as WatchedPromise).#watch : undefined;
    }

    static replace(promise: object, watch: PromiseWatch): void {
      if (#watch in promise) (promise as unknown as WatchedPromise).#watch = watch;
    }
  }
  return {
    carry: (promise, frame) => void new CarriedFrame(promise, frame),
    carried: CarriedFrame.of,
    watch: (promise, watch) => {
      if (WatchedPromise.has(promise)) return false;
      new WatchedPromise(promise, watch);
      return true;
    },
    watchOf: WatchedPromise.of,
    rewatch: WatchedPromise.replace,
  };
}

const marks = (slot.marks ??= makeMarks()) as Marks;
export const watchPromise = marks.watch;
export const watchOf = marks.watchOf;
export const rewatchPromise = marks.rewatch;

/** The slot, read once: the hooks run for every promise of the process. */
const theSlot = slot;

/**
 * What `before` replaced, restored by the matching `after`: the outermost in `saved0`, deeper
 * ones (reactions nest only in a vm's own microtask queue) in `saved`.
 */
let saved0: ContextFrame | undefined;
const saved: Array<ContextFrame | undefined> = [];
let depth = 0;

/**
 * The promises most recently chained on (made the parent of another by then(), catch(), await)
 * while a stage call is innermost: a promise a stage returns may have been chained on, and so
 * handled, before the stage returned it (`p.catch(log); return p;`), and stagemeter must not then
 * take its rejection for unhandled. A small ring of references (an array store per such chain):
 * it keeps at most that many promises alive, until overwritten or until the hooks are removed.
 */
const RECENT_CHAINS = 32;
const recentChains: Array<object | undefined> = new Array<object | undefined>(RECENT_CHAINS).fill(undefined);
let recentAt = 0;

function onInit(promise: Promise<unknown>, parent: Promise<unknown> | undefined): void {
  // Only a promise made from another one (by then(), await, finally()) has reactions that run
  // code between `before` and `after`; a root promise (an async function's own, new Promise(),
  // Promise.resolve()) is left alone, so it keeps V8's fast paths for then() and await.
  if (parent === undefined) return;
  if (theSlot.current !== undefined) {
    recentChains[recentAt] = parent;
    recentAt = (recentAt + 1) & (RECENT_CHAINS - 1);
  }
  const watch = marks.watchOf(parent);
  if (watch !== undefined) {
    if (watch.ownChain) watch.ownChain = false;
    else watch.chained();
  }
  if (theSlot.carriers === 0) return;
  const current = theSlot.current;
  if (current !== undefined) marks.carry(promise, current);
}

function onBefore(promise: Promise<unknown>): void {
  const carry = theSlot.carriers > 0;
  if (carry) {
    if (depth === 0) saved0 = theSlot.current;
    else saved[depth] = theSlot.current;
    depth++;
    theSlot.current = marks.carried(promise);
  }
  const segments = theSlot.segments;
  if (segments !== undefined) segments.open(carry ? theSlot.current : theSlot.als?.getStore());
}

function onAfter(): void {
  const segments = theSlot.segments;
  if (segments !== undefined) segments.close();
  // Hooks switched on inside a reaction see its `after` without its `before`.
  if (depth === 0) return;
  if (--depth === 0) {
    theSlot.current = saved0;
    saved0 = undefined;
  } else {
    theSlot.current = saved[depth];
    saved[depth] = undefined;
  }
}

/** The innermost open stage call in this synchronous stack or async context. */
export function currentFrame(): ContextFrame | undefined {
  return slot.current ?? (slot.alsUsers > 0 ? slot.als?.getStore() : undefined);
}

/**
 * Which installation of the promise hooks is in place (0: none). A watched promise can tell from
 * it whether the hooks saw every chain made on it since it was watched.
 */
let hookEpoch = 0;
let epochs = 0;
/** When (clock ms) the hooks in place were installed. */
let hooksSinceMs = 0;

export function hooksEpoch(): number {
  return hookEpoch;
}

/**
 * Whether `promise` may have been chained on by the program before a call that started at
 * `sinceMs` returned it: it was among the last chains the hooks saw, or the hooks were not on
 * for the whole call (then nobody knows, and the answer is yes).
 */
export function maybeChainedBefore(promise: object, sinceMs: number): boolean {
  if (hookEpoch === 0 || hooksSinceMs > sinceMs) return true;
  return recentChains.includes(promise);
}

/** One more run uses the promise hooks. */
function retainHooks(): void {
  if (slot.hookUsers === 0 || slot.stopHooks === undefined) {
    depth = 0;
    saved0 = undefined;
    slot.stopHooks = promiseHooks.createHook({ init: onInit, before: onBefore, after: onAfter }) as () => void;
    hookEpoch = ++epochs;
    hooksSinceMs = now();
  }
  slot.hookUsers++;
}

/** One run fewer; the last one out removes the hooks. */
function releaseHooks(): void {
  if (slot.hookUsers <= 0) return;
  if (--slot.hookUsers === 0) {
    const stop = slot.stopHooks;
    slot.stopHooks = undefined;
    hookEpoch = 0;
    stop?.();
    recentChains.fill(undefined);
  }
}

/** Starts the async context for one more run: promise hooks, and the AsyncLocalStorage in that mode. */
export function acquireAsyncContext(mode: AsyncContextMode): void {
  if (mode === 'asyncLocalStorage') {
    slot.als ??= new AsyncLocalStorage<ContextFrame>();
    slot.alsUsers++;
  } else {
    slot.carriers++;
  }
  retainHooks();
}

/** One run stops using the async context; the last one out switches it off. */
export function releaseAsyncContext(mode: AsyncContextMode): void {
  if (mode === 'asyncLocalStorage') {
    if (slot.alsUsers > 0 && --slot.alsUsers === 0) slot.als?.disable();
  } else if (slot.carriers > 0) {
    slot.carriers--;
  }
  releaseHooks();
}
