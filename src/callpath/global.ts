/**
 * Process-wide state shared by every copy of the package loaded in the process: the singleton
 * monitor and the stage context. Kept on globalThis under a versioned `Symbol.for` key, so two
 * copies that speak the same internal protocol share one collector and one nesting context; a
 * copy of another protocol version keeps its own (its stages then do not nest under ours).
 */
import type { AsyncLocalStorage } from 'node:async_hooks';

/** What the context needs to know about an open stage call (the call path's `Frame`). */
export interface ContextFrame {
  /** The run the frame belongs to (compared by identity). */
  readonly run: object;
  /** The frame that was innermost when this one started, whichever monitor owns it. */
  readonly outer: ContextFrame | undefined;
}

export interface StagemeterGlobal {
  readonly protocol: 4;
  /** The singleton returned by getMonitor(). */
  monitor: unknown;
  /** Whether a hook may start the singleton: undefined until the environment has been read. */
  autoStart: boolean | undefined;
  /** A bad environment met through a hook is reported once. */
  envErrorReported: boolean;
  /** The innermost stage call of the synchronous call stack (restored when each call returns). */
  current: ContextFrame | undefined;
  /** Carries the innermost stage into async continuations under `asyncContext: 'asyncLocalStorage'`. */
  als: AsyncLocalStorage<ContextFrame> | undefined;
  /** Runs that use the AsyncLocalStorage; it is disabled when the count drops to 0. */
  alsUsers: number;
  /** Runs that use the promise hooks; they are removed when the count drops to 0. */
  hookUsers: number;
  /** Removes the promise hooks (set while they are installed, by whichever copy installed them). */
  stopHooks: (() => void) | undefined;
  /** Runs under `asyncContext: 'promise'`: while any is active, promises carry their stage. */
  carriers: number;
  /** Opens and closes probed async calls' thread segments (see context.ts), while any is open. */
  segments: { open(frame: ContextFrame | undefined): void; close(): void } | undefined;
  /** The private-field stamps on promises, made by the first copy of the package and shared. */
  marks: unknown;
  /**
   * Hook calls without an explicit monitor that found no run and passed straight through (for
   * the hint when a started monitor was never made the singleton). Absent in a slot made by an
   * older copy of the package until this copy loads.
   */
  unrouted: number;
}

// v4: every call is timed; the wrapper reads the monitor's run through RUN_KEY and calls the
// call path of its own copy. (v3 handed untimed calls to the wrapper.)
const KEY = Symbol.for('stagemeter.global.v4');

function create(): StagemeterGlobal {
  return { protocol: 4, monitor: undefined, autoStart: undefined, envErrorReported: false, current: undefined, als: undefined, alsUsers: 0, hookUsers: 0, stopHooks: undefined, carriers: 0, segments: undefined, marks: undefined, unrouted: 0 };
}

export const slot: StagemeterGlobal = ((globalThis as Record<symbol, StagemeterGlobal | undefined>)[KEY] ??= create());
slot.unrouted ??= 0;

/**
 * The property under which a monitor holds its run box: `{ run }`, the active run or undefined.
 * A symbol, so it stays out of the public type and of a monitor's enumerable keys; `Symbol.for`,
 * so the wrapper of another copy of the package of the same protocol finds it. A wrapper given a
 * monitor explicitly holds its box, not the monitor: a monitor the program let go of is collected
 * with its last report, and its box says it has no run.
 */
export const RUN_KEY: unique symbol = Symbol.for('stagemeter.run.v4') as typeof RUN_KEY;

/** A monitor's run, as the wrappers read it. */
export interface RunBox<R = unknown> {
  run: R | undefined;
}

/** @internal Test helper: forget the singleton, the environment decision and the context. */
export function resetGlobalStateForTests(): void {
  slot.monitor = undefined;
  slot.autoStart = undefined;
  slot.envErrorReported = false;
  slot.current = undefined;
}
