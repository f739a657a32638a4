/**
 * What a call adds to its run when it starts and when it ends: the stage's busy wall time, the
 * parent's union of child intervals (for self time), counts, rows, outcome, the probe readings,
 * the record. Shared by every kind of call (sync, async, generator, manual); never throws.
 */
import { describeValue } from '../errors';
import { describeError } from '../sanitize';
import { safeLog } from '../logger';
import { asyncProbeClosed, creditOf, ProbeBudget } from '../run/probes';
import type { RunState } from '../run/state';
import { RecordTable } from '../stores/records';
import { currentFrame } from './context';
import type { Frame } from './frame';
import { isValidRowCount, rowsHeldBy, rowsOfArgs, RowsAnswer } from './rows';
import { types } from 'node:util';
import { RowsRule, type StageDefinition } from './stage';

const MB = 1024 * 1024;

/** Passed as `error` for a call that succeeded (any value, `undefined` included, can be thrown). */
export const NO_ERROR: unique symbol = Symbol('stagemeter.noError');


/** A call starts at `t0` (clock ms). */
export function beginCall(frame: Frame, t0: number): void {
  frame.stats.begin(t0);
  const p = frame.parent;
  if (p !== undefined && p.openChildren++ === 0) p.childFrom = t0;
}

/**
 * The rows of an ended hook call: a number or a function wins, then rows given with recordRows(),
 * then the rule (`'input'`: the first argument that holds rows; `'output'`: the result).
 */
export function rowsOfCall(run: RunState, frame: Frame, def: StageDefinition, result: unknown, args: readonly unknown[]): number {
  const rule = def.rowsRule;
  if (rule === RowsRule.Fixed) return def.rowsFixed;
  if (rule === RowsRule.Function) return rowsFromFunction(run, frame, def, result, args);
  if (frame.rowsRecorded) return frame.rows;
  if (rule === RowsRule.Input) {
    const n = rowsOfArgs(args);
    return n >= 0 ? n : unreadRows(run, frame, n, 'arguments');
  }
  if (rule === RowsRule.Output) {
    const n = rowsHeldBy(result);
    return n >= 0 ? n : unreadRows(run, frame, n, 'result');
  }
  return frame.rows; // Yielded: counted as items come
}

/** 0 rows for a call whose rows could not be read; a proxy or an impossible count is flagged. */
function unreadRows(run: RunState, frame: Frame, answer: number, where: 'arguments' | 'result'): number {
  const name = frame.stats.name;
  if (answer === RowsAnswer.Proxy) {
    run.flag('info', 'rows_unreadable', `${name}: the ${where === 'result' ? 'result is' : 'arguments hold'} a Proxy, whose size is never read (that would run its traps); use the rows option or recordRows(); counted as 0`, name);
  } else if (answer === RowsAnswer.Invalid) {
    run.flag('warning', 'invalid_rows', `${name}: the ${where === 'result' ? 'result has' : 'arguments have'} a length, size or rowCount that is not a count (an integer >= 0); counted as 0`, name);
  }
  return 0;
}

function rowsFromFunction(run: RunState, frame: Frame, def: StageDefinition, result: unknown, args: readonly unknown[]): number {
  let n: unknown;
  try {
    n = def.rowsFn!(result, args as unknown[]);
  } catch (err) {
    run.flag('warning', 'rows_function_threw', `the rows function of ${frame.stats.name} threw (${describeError(err).name}); counted as 0`, frame.stats.name);
    return 0;
  }
  if (isValidRowCount(n)) return n;
  // The value is described by its type only: a row count is no place for the program's data.
  run.flag('warning', 'invalid_rows', `the rows function of ${frame.stats.name} returned ${describeKind(n)}, not a count (an integer >= 0); counted as 0`, frame.stats.name);
  return 0;
}

/** What a bad count was, without quoting it. */
export function describeKind(n: unknown): string {
  // a revoked proxy throws even from Array.isArray
  if (typeof n === 'object' && n !== null && types.isProxy(n)) return 'a proxy';
  if (typeof n === 'number') return Number.isNaN(n) ? 'NaN' : !Number.isFinite(n) ? 'an infinite number' : n < 0 ? 'a negative number' : Number.isInteger(n) ? 'a number over 2^53' : 'a fraction';
  return n === null ? 'null' : Array.isArray(n) ? 'an array' : `a ${typeof n}`;
}

/**
 * The end of most calls: synchronous, successful, with no probe, no child still open and no log
 * line; the rest goes to endCall. The same figures, with fewer branches on the path every hot
 * call takes.
 */
export function endSync(run: RunState, frame: Frame, t0: number, t1: number, rows: number): void {
  if (frame.ended) return;
  if (frame.probe !== undefined || frame.openChildren !== 0 || run.logStages) {
    endCall(run, frame, t0, t1, rows, NO_ERROR);
    return;
  }
  frame.ended = true;
  frame.rows = rows;
  const durationMs = t1 > t0 ? t1 - t0 : 0;
  const covered = frame.coveredMs;
  const selfMs = covered === undefined ? durationMs : durationMs > covered ? durationMs - covered : 0;
  const stats = frame.stats;
  const parent = frame.parent;
  if (parent === undefined) {
    stats.rootCalls++;
    stats.rootRows += rows;
  } else {
    if (parent.stats === stats) stats.nestedRows += rows;
    if (!parent.ended && --parent.openChildren === 0) parent.coveredMs = (parent.coveredMs === undefined ? 0 : parent.coveredMs) + (t1 - parent.childFrom);
  }
  const seq = stats.calls;
  const longest = durationMs > stats.maxMs;
  stats.end(durationMs, selfMs, t1, t0 - run.t0, true);
  stats.rows += rows;
  const credit = stats.probeCreditNs + creditOf(durationMs);
  stats.probeCreditNs = credit < stats.probeCreditCapNs ? credit : stats.probeCreditCapNs;
  const records = run.records;
  if (((seq & (stats.stride - 1)) === 0 || longest) && records.budget > 0) {
    records.add(run.statsList, stats.index, frame.id, parent === undefined ? -1 : parent.id, t0, durationMs, selfMs, rows, seq, run.threadId, true, undefined, frame.metadata, undefined, longest);
  } else {
    records.omitted++;
  }
}

/**
 * Ends a call at `t1` with `rows` and `error` (NO_ERROR when it succeeded); returns its self time,
 * ms. A call already ended (closed when its run stopped) is left alone.
 */
export function endCall(run: RunState, frame: Frame, t0: number, t1: number, rows: number, error: unknown): number {
  if (frame.ended) return 0;
  frame.ended = true;
  frame.rows = rows;
  const durationMs = t1 > t0 ? t1 - t0 : 0;
  // The union of the children's intervals; children still open (not awaited) are cut here.
  let coveredMs = frame.coveredMs === undefined ? 0 : frame.coveredMs;
  if (frame.openChildren > 0) {
    coveredMs += t1 - frame.childFrom;
    frame.openChildren = 0;
  }
  const selfMs = durationMs > coveredMs ? durationMs - coveredMs : 0;
  const parent = frame.parent;
  if (parent !== undefined && !parent.ended && --parent.openChildren === 0) {
    parent.coveredMs = (parent.coveredMs === undefined ? 0 : parent.coveredMs) + (t1 - parent.childFrom);
  }
  const stats = frame.stats;
  const seq = stats.calls;
  const longest = durationMs > stats.maxMs;
  stats.end(durationMs, selfMs, t1, t0 - run.t0, frame.sync);
  stats.rows += rows;
  if (parent === undefined) {
    stats.rootCalls++;
    stats.rootRows += rows;
  } else if (parent.stats === stats) {
    stats.nestedRows += rows;
  }
  const failed = error !== NO_ERROR;
  if (failed) recordError(run, frame, error);
  const probe = frame.probe;
  let figures;
  if (probe !== undefined) {
    if (probe.async) asyncProbeClosed();
    if (probe.ok) {
      const cpu = probe.cpuMs();
      const heapMb = probe.heapDeltaBytes / MB;
      figures = { cpuUserMs: cpu.userMs, cpuSystemMs: cpu.systemMs, onThreadMs: probe.onThreadMs, heapDeltaMb: heapMb, voluntarySwitches: probe.voluntarySwitches, involuntarySwitches: probe.involuntarySwitches };
      stats.probedCalls++;
      stats.probedWallMs += durationMs;
      stats.probedOnThreadMs += probe.onThreadMs;
      stats.cpuUserUs += cpu.userMs * 1000;
      stats.cpuSystemUs += cpu.systemMs * 1000;
      stats.voluntarySwitches += probe.voluntarySwitches;
      stats.involuntarySwitches += probe.involuntarySwitches;
      stats.heapDeltaSumMb += heapMb;
      if (heapMb > stats.heapDeltaMaxMb) stats.heapDeltaMaxMb = heapMb;
    } else {
      run.flag('warning', 'probe_failed', 'process.resourceUsage() or v8.getHeapStatistics() failed: some calls have no CPU or heap figures', undefined, true);
    }
  }
  const records = run.records;
  if (records.budget > 0 && RecordTable.wanted(stats, seq, failed || longest)) {
    records.add(run.statsList, stats.index, frame.id, parent === undefined ? -1 : parent.id, t0, durationMs, selfMs, rows, seq, run.threadId, frame.sync, frame.error, frame.metadata, figures, longest);
  } else {
    records.omitted++;
  }
  // per-call lines for a stage's first maxStageRecords calls: a hot stage must not flood the log
  if (run.logStages && seq < run.config.maxStageRecords) logEnd(run, frame, durationMs);
  if (probe !== undefined) {
    const settled = seq > 0;
    if (settled) probe.settled(t1);
    ProbeBudget.price(stats, probe, settled);
  }
  // earned after the price is known: the cap is a number of probes at that price
  const credit = stats.probeCreditNs + creditOf(durationMs);
  stats.probeCreditNs = credit < stats.probeCreditCapNs ? credit : stats.probeCreditCapNs;
  return selfMs;
}

function recordError(run: RunState, frame: Frame, error: unknown): void {
  const described = describeError(error, run.config.captureStackTraces);
  frame.error = described;
  const stats = frame.stats;
  stats.failures++;
  stats.firstError ??= { name: described.name, message: described.message, t: Math.round(run.t() * 1000) / 1000 };
}

/** recordRows(n) inside a call of this frame. */
export function addRows(frame: Frame, n: unknown): void {
  const run = frame.run.state;
  if (run === undefined || frame.ended) return;
  if (!isValidRowCount(n)) {
    run.flag('warning', 'invalid_rows', `recordRows(${typeof n === 'number' ? describeKind(n) : describeValue(typeof n)}) in ${frame.stats.name}: not a count (an integer >= 0); ignored`, frame.stats.name);
    return;
  }
  const sum = frame.rowsRecorded ? frame.rows + n : n;
  frame.rows = isValidRowCount(sum) ? sum : frame.rows;
  frame.rowsRecorded = true;
}

export function logStart(run: RunState, frame: Frame): void {
  safeLog(run.log, 'info', { event: 'stage_start', stage: frame.stats.name, id: String(frame.id), parentId: frame.parent?.id }, 'stage start');
}

function logEnd(run: RunState, frame: Frame, durationMs: number): void {
  safeLog(
    run.log,
    frame.error === undefined ? 'info' : 'warn',
    { event: 'stage_end', stage: frame.stats.name, id: String(frame.id), durationMs, rows: frame.rows, success: frame.error === undefined, error: frame.error?.message },
    'stage end',
  );
}

/** recordRows() for the hooks: rows for the innermost open call, whichever monitor owns it. Never throws. */
export function addRowsInContext(n: unknown): void {
  try {
    const frame = currentFrame() as Frame | undefined;
    if (frame !== undefined) addRows(frame, n);
  } catch {
    // never into the pipeline
  }
}
