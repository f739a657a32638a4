/**
 * The per-call path of every hook: `withStage`, `@MonitoredStage`, generators and stream chunks
 * all come through `callStage`. Same result, same error (rethrown unchanged), same `this`; a sync
 * function stays sync. Every call is timed (two clock reads, ~50 ns each); per call it allocates
 * a frame (and the arguments' array when one of them may hold rows); CPU and heap probes run on
 * the budget of run/probes.ts.
 */
import { Probe, ProbeBudget } from '../run/probes';
import { MAX_STACK_STARTS, type RunState } from '../run/state';
import { beginCall, endCall, endSync, logStart, NO_ERROR, rowsOfCall } from './accounting';
import { acquireAsyncContext } from './context';
import { now } from './clock';
import type { Frame } from './frame';
import { followGenerator } from './generators';
import { slot, type ContextFrame } from './global';
import { followPromise, isPromise } from './promises';
import { FnKind, RowsRule, type StageDefinition } from './stage';

/** The run switches the async context on for its first call that is or turns async. */
export function useAsyncContext(run: RunState): void {
  if (run.usesAsyncContext) return;
  run.usesAsyncContext = true;
  acquireAsyncContext(run.config.asyncContext);
}

/** The innermost open call, in the sync stack or (under an AsyncLocalStorage) the async context. */
function outerFrame(): ContextFrame | undefined {
  return slot.current ?? (slot.alsUsers > 0 ? slot.als?.getStore() : undefined);
}

/** Runs `fn` with `frame` as the async context's store (only under `asyncContext: 'asyncLocalStorage'`). */
function applyInAls(frame: Frame, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
  const als = slot.als!;
  const outer = als.getStore();
  // enterWith + restore is what als.run() does, without its rest-arguments copy and extra apply.
  als.enterWith(frame);
  try {
    return Reflect.apply(def.fn, thisArg, args);
  } finally {
    als.enterWith(outer as ContextFrame);
  }
}

/**
 * One call of a stage in an active run. The arguments arrive spread, so that the wrapper, which
 * also passes them straight to the original when no run is active, never has to allocate them.
 */
export function callStage(run: RunState, def: StageDefinition, thisArg: unknown, ...args: unknown[]): unknown {
  if (def.kind >= FnKind.Generator) {
    // The call starts at the iterator's first step, under the stage innermost there.
    useAsyncContext(run);
    return followGenerator(run, def, thisArg, args);
  }
  let stats = def.boundStats;
  if (def.boundRun !== run || stats === undefined) stats = run.bind(def, thisArg);
  const prev = slot.current;
  const frame = run.frame(stats, prev ?? outerFrame(), def.metadata);
  if (def.kind !== FnKind.Plain) return callAsync(run, frame, prev, def, thisArg, args);
  if (run.logStages && stats.calls < run.config.maxStageRecords) logStart(run, frame);
  if (ProbeBudget.due(stats)) {
    frame.probe = new Probe();
    frame.probe.open();
  }
  slot.current = frame;
  const depth = run.depth;
  frame.depth = depth;
  run.depth = depth + 1;
  const t0 = now();
  if (depth < MAX_STACK_STARTS) run.starts[depth] = t0;
  beginCall(frame, t0);
  let result: unknown;
  try {
    result = slot.alsUsers > 0 && run.usesAsyncContext && run.config.asyncContext === 'asyncLocalStorage' ? applyInAls(frame, def, thisArg, args) : Reflect.apply(def.fn, thisArg, args);
  } catch (error) {
    // Rethrown unchanged: the same object and stack. (Node's fatal-error excerpt, the source line
    // above the stack, shows this rethrow; JavaScript gives no way to see a thrown value and let
    // it go on untouched.)
    const t1 = now();
    slot.current = prev;
    run.depth = depth;
    frame.probe?.close();
    endCall(run, frame, t0, t1, rowsOfCall(run, frame, def, undefined, args), error);
    throw error;
  }
  const t1 = now();
  slot.current = prev;
  run.depth = depth;
  frame.probe?.close();
  if (isPromise(result)) {
    // A plain function returned a promise: it is followed, and the context is carried into
    // continuations from now on (this call's own promises were made before: see useAsyncContext).
    useAsyncContext(run);
    return followPromise(run, frame, t0, result, args, def);
  }
  if (run.ended) {
    frame.ended = true;
    return result;
  }
  // Rows from the arguments when none is an object (so none holds rows): 0, read here in place.
  // Handed to a function V8 does not inline, the arguments' array would be allocated on every
  // call (~50 B, and ~15 % of a trivial call's overhead).
  let rows = 0;
  if (def.rowsRule !== RowsRule.Input || frame.rowsRecorded) rows = rowsOfCall(run, frame, def, result, args);
  else {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (typeof a === 'object' && a !== null) {
        rows = rowsOfCall(run, frame, def, result, args);
        break;
      }
    }
  }
  endSync(run, frame, t0, t1, rows);
  return result;
}

/** Async functions: the context is on, the end comes later. */
function callAsync(run: RunState, frame: Frame, prev: ContextFrame | undefined, def: StageDefinition, thisArg: unknown, args: unknown[]): unknown {
  useAsyncContext(run);
  if (run.logStages && frame.stats.calls < run.config.maxStageRecords) logStart(run, frame);
  if (ProbeBudget.due(frame.stats)) {
    frame.probe = new Probe();
    frame.probe.open();
  }
  slot.current = frame;
  const t0 = now();
  beginCall(frame, t0);
  let result: unknown;
  try {
    result = run.config.asyncContext === 'asyncLocalStorage' ? applyInAls(frame, def, thisArg, args) : Reflect.apply(def.fn, thisArg, args);
  } catch (error) {
    // An async function throws only if it is not really one (a bound or proxied function).
    const t1 = now();
    slot.current = prev;
    frame.probe?.close();
    endCall(run, frame, t0, t1, rowsOfCall(run, frame, def, undefined, args), error);
    throw error;
  }
  slot.current = prev;
  frame.probe?.close();
  if (isPromise(result)) return followPromise(run, frame, t0, result, args, def);
  const t1 = now();
  if (!run.ended) endCall(run, frame, t0, t1, rowsOfCall(run, frame, def, result, args), NO_ERROR);
  else frame.ended = true;
  return result;
}
