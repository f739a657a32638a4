/**
 * The stage context: which stage is innermost right now.
 *
 * Synchronous nesting uses a plain pointer (`slot.current`) set on entry and restored on return:
 * no allocation and no async_hooks. Microtasks only run on an empty JS stack, so an async
 * continuation always sees `current === undefined` and falls back to the AsyncLocalStorage.
 * The AsyncLocalStorage is created only when a run meets its first async stage, because on
 * Node 20 an enabled AsyncLocalStorage slows every promise in the process; it is disabled again
 * when the last run that used it stops.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { slot, type ContextFrame } from './global';

/** The innermost open stage call in this synchronous stack or async context. */
export function currentFrame(): ContextFrame | undefined {
  return slot.current ?? (slot.alsUsers > 0 ? slot.als?.getStore() : undefined);
}

/** Starts carrying frames into async continuations for one more run. */
export function acquireAsyncContext(): AsyncLocalStorage<ContextFrame> {
  slot.als ??= new AsyncLocalStorage<ContextFrame>();
  slot.alsUsers++;
  return slot.als;
}

/** One run stops using the async context; the last one out disables it. */
export function releaseAsyncContext(): void {
  if (slot.alsUsers <= 0) return;
  slot.alsUsers--;
  if (slot.alsUsers === 0) slot.als?.disable();
}
