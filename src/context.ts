/**
 * The stage context: which stage is innermost right now.
 *
 * Synchronous nesting uses a plain pointer (`slot.current`) set on entry and restored on return:
 * no allocation and no async_hooks. Async continuations get the pointer back in one of two ways,
 * chosen by the `asyncContext` option; either is switched on only when a run meets its first
 * async stage, and off again when the last run that used it stops:
 *
 * - `'promise'` (default): V8 promise hooks (`v8.promiseHooks`). A promise made by `then()` or
 *   `await` while a stage is innermost carries that stage (one property on the promise); when its
 *   reaction (the `.then` callback, the code after the `await`) runs, `before` makes the stage
 *   innermost again and `after` restores what was there. This covers async/await and promise chains, which is how pipelines
 *   are written, at about half what an AsyncLocalStorage costs every promise of the process
 *   (measured on Node 20: +40 ns per awaited call against +100 ns; `npm run bench`). Callback APIs
 *   (timers, event emitters, stream events) are not followed: a stage called from such a callback
 *   has no parent. Nor is the then() method of a hand-made thenable that V8 calls to resolve a
 *   promise with it.
 * - `'asyncLocalStorage'`: an AsyncLocalStorage, which follows every async resource, callbacks
 *   included, at the higher price.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { promiseHooks } from 'node:v8';
import { slot, type ContextFrame } from './global';

export type AsyncContextMode = 'promise' | 'asyncLocalStorage';

/** The property a promise carries its stage in; shared by every copy of the package. */
const FRAME = Symbol.for('stagemeter.promiseFrame.v1');

type Carrier = Promise<unknown> & { [FRAME]?: ContextFrame };

/** The slot, read once: the hooks run for every promise of the process. */
const theSlot = slot;

/**
 * What `before` replaced, restored by the matching `after`: the outermost in `saved0`, deeper
 * ones (reactions nest only in a vm's own microtask queue) in `saved`.
 */
let saved0: ContextFrame | undefined;
const saved: Array<ContextFrame | undefined> = [];
let depth = 0;

function onInit(promise: Promise<unknown>, parent: Promise<unknown> | undefined): void {
  // Only a promise made from another one (by then(), await, finally()) has reactions that run
  // user code between `before` and `after`; a root promise (an async function's own, new
  // Promise(), Promise.resolve()) is left alone, so it keeps V8's fast paths for then() and
  // await (an added property would change its map and send both down the slow path).
  if (parent === undefined) return;
  const current = theSlot.current;
  if (current !== undefined) (promise as Carrier)[FRAME] = current;
}

function onBefore(promise: Promise<unknown>): void {
  if (depth === 0) saved0 = theSlot.current;
  else saved[depth] = theSlot.current;
  depth++;
  theSlot.current = (promise as Carrier)[FRAME];
}

function onAfter(): void {
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

/** Starts carrying frames into async continuations for one more run. */
export function acquireAsyncContext(mode: AsyncContextMode): void {
  if (mode === 'asyncLocalStorage') {
    slot.als ??= new AsyncLocalStorage<ContextFrame>();
    slot.alsUsers++;
    return;
  }
  if (slot.promiseHookUsers === 0 || slot.stopPromiseHooks === undefined) {
    depth = 0;
    saved0 = undefined;
    slot.stopPromiseHooks = promiseHooks.createHook({ init: onInit, before: onBefore, after: onAfter }) as () => void;
  }
  slot.promiseHookUsers++;
}

/** One run stops using the async context; the last one out switches it off. */
export function releaseAsyncContext(mode: AsyncContextMode): void {
  if (mode === 'asyncLocalStorage') {
    if (slot.alsUsers <= 0) return;
    slot.alsUsers--;
    if (slot.alsUsers === 0) slot.als?.disable();
    return;
  }
  if (slot.promiseHookUsers <= 0) return;
  slot.promiseHookUsers--;
  if (slot.promiseHookUsers === 0) {
    const stop = slot.stopPromiseHooks;
    slot.stopPromiseHooks = undefined;
    stop?.();
  }
}
