/**
 * V8's optimisation state of stagemeter's call path, asked with `%GetOptimizationStatus` (the
 * bench runs with --allow-natives-syntax). A hot figure is only meaningful once V8 has compiled
 * the path with TurboFan: interpreted or baseline code costs several times as much, so a
 * deoptimised function explains an outlier.
 */
import { callStage } from '../src/callpath/invoke';
import { beginCall, endSync, rowsOfCall } from '../src/callpath/accounting';
import { followPromise, isPromise } from '../src/callpath/promises';
import { rowsOfArgs } from '../src/callpath/rows';
import { RunState } from '../src/run/state';
import { StageStats } from '../src/run/stageStats';
import { ProbeBudget, creditOf } from '../src/run/probes';

/** `%GetOptimizationStatus(f)`, or undefined without --allow-natives-syntax (built at run time: TypeScript cannot parse `%`). */
const status: ((f: unknown) => number) | undefined = (() => {
  try {
    return new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  } catch {
    return undefined;
  }
})();

/** Whether the natives syntax is on, so that states can be read. */
export const canReadJitState = status !== undefined;

// Bits of V8 11's OptimizationStatus (src/runtime/runtime.h).
const TURBOFANNED = 1 << 6;
const MAGLEVVED = 1 << 5;
const INTERPRETED = 1 << 7;
const BASELINE = 1 << 15;
const MARKED_FOR_DEOPT = 1 << 14;
const IS_LAZY = 1 << 18;

/**
 * The tier a function's own code runs at: 'turbofan', 'maglev', 'baseline', 'interpreted', 'no
 * code' (never run, or its bytecode flushed by a GC because it only ran inlined in its callers),
 * or 'unknown'.
 *
 * @example
 * tierOf(callStage); // 'turbofan' once the path is hot
 */
export function tierOf(f: unknown): string {
  if (status === undefined) return 'unknown';
  const s = status(f);
  if ((s & MARKED_FOR_DEOPT) !== 0) return 'marked for deopt';
  if ((s & TURBOFANNED) !== 0) return 'turbofan';
  if ((s & MAGLEVVED) !== 0) return 'maglev';
  if ((s & BASELINE) !== 0) return 'baseline';
  if ((s & INTERPRETED) !== 0) return 'interpreted';
  return (s & IS_LAZY) !== 0 ? 'no code (runs inlined, or never ran)' : 'no code';
}

/**
 * Are all of `fs` TurboFan code now? undefined when the state cannot be read.
 *
 * @example
 * areOptimized(wrapped, CALL_PATH); // true in the steady state
 */
export function areOptimized(...fs: unknown[]): boolean | undefined {
  return status === undefined ? undefined : fs.every((f) => (status(f) & TURBOFANNED) !== 0);
}

/** The call path's entry inside stagemeter (the wrapper calls it, not inlined). */
export const CALL_PATH = callStage;

/**
 * The internals a hot call runs, by name. The entry points must be TurboFan code: the stage's
 * wrapper, which the program calls (or the caller it is inlined into: then its own copy stays at
 * baseline), and `callStage`, which the wrapper calls (too big to be inlined into it). The small callees are inlined into `callStage` (`endSync` and
 * `followPromise` are called), and a function that only runs inlined reports the tier of its own
 * stand-alone copy (baseline, or no code at all once a GC has flushed its unused bytecode), which
 * says nothing about the inlined one.
 *
 * @example
 * callPathFunctions({ hot: { f: wrapped, caller: loop } }).map((x) => `${x.name}: ${tierOf(x.f)}`);
 */
export function callPathFunctions(wrappers: Record<string, { f: unknown; caller: unknown }>): Array<{ name: string; f: unknown; caller?: unknown; entry: boolean }> {
  const proto = RunState.prototype as unknown as Record<string, unknown>;
  const statsProto = StageStats.prototype as unknown as Record<string, unknown>;
  return [
    ...Object.entries(wrappers).map(([name, { f, caller }]) => ({ name, f, caller, entry: true })),
    { name: 'callStage (src/callpath/invoke.ts)', f: callStage, entry: true },
    { name: 'RunState.frame', f: proto.frame, entry: false },
    { name: 'beginCall', f: beginCall, entry: false },
    { name: 'StageStats.begin', f: statsProto.begin, entry: false },
    { name: 'endSync', f: endSync, entry: true },
    { name: 'StageStats.end', f: statsProto.end, entry: false },
    { name: 'rowsOfCall', f: rowsOfCall, entry: false },
    { name: 'rowsOfArgs', f: rowsOfArgs, entry: false },
    { name: 'ProbeBudget.due', f: ProbeBudget.due, entry: false },
    { name: 'creditOf', f: creditOf, entry: false },
    { name: 'isPromise', f: isPromise, entry: false },
    { name: 'followPromise (async stages)', f: followPromise, entry: false },
  ];
}
