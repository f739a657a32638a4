/**
 * Process-wide state shared by every copy of the package loaded in the process: the singleton
 * monitor and the stage context. Kept on globalThis under a versioned Symbol.for key, so two
 * copies that speak the same internal protocol share one collector and one nesting context.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';

/** What the context needs to know about an open stage call. */
export interface ContextFrame {
  /** The run the frame belongs to (compared by identity). */
  readonly run: object;
  /** The frame that was innermost when this one started, whichever monitor owns it. */
  readonly outer: ContextFrame | undefined;
}

export interface StagemeterGlobal {
  readonly protocol: 3;
  /** The singleton returned by getMonitor(). */
  monitor: unknown;
  /** Whether a hook may start the singleton: undefined until the environment has been read. */
  autoStart: boolean | undefined;
  /** A bad environment met through a hook is reported once. */
  envErrorReported: boolean;
  /** The innermost stage of the synchronous call stack (restored when each call returns). */
  current: ContextFrame | undefined;
  /** Carries the innermost stage into async continuations; created on first async stage. */
  als: AsyncLocalStorage<ContextFrame> | undefined;
  /** Runs that use the AsyncLocalStorage; it is disabled when the count drops to 0. */
  alsUsers: number;
  /** Runs that use the promise hooks (the default async context); removed when the count drops to 0. */
  promiseHookUsers: number;
  /** Removes the promise hooks (set while they are installed, by whichever copy installed them). */
  stopPromiseHooks: (() => void) | undefined;
}

// v3: the wrapper makes some untimed calls by itself and keeps their count on the stage
// definition for the monitor to take in (StageDefinition.fastLeft); v2: hooks call
// `monitor._invoke(def, thisArg, ...args)` with the arguments spread (v1: as an array).
const KEY = Symbol.for('stagemeter.global.v3');

function create(): StagemeterGlobal {
  return { protocol: 3, monitor: undefined, autoStart: undefined, envErrorReported: false, current: undefined, als: undefined, alsUsers: 0, promiseHookUsers: 0, stopPromiseHooks: undefined };
}

export const slot: StagemeterGlobal = ((globalThis as Record<symbol, StagemeterGlobal | undefined>)[KEY] ??= create());

/** @internal Test helper: forget the singleton, the environment decision and the context. */
export function resetGlobalStateForTests(): void {
  slot.monitor = undefined;
  slot.autoStart = undefined;
  slot.envErrorReported = false;
  slot.current = undefined;
}
