/**
 * Stages started and ended by hand (`startStage`/`endStage`), for code that cannot be wrapped.
 * A manual stage's parent is the stage active where it starts; it does not become the parent of
 * stages started later (only the hooks set the context). Misuse is flagged, never thrown.
 */
import { describeValue } from '../errors';
import { Probe, ProbeBudget } from '../run/probes';
import type { RunState } from '../run/state';
import { sanitizeMetadata } from '../sanitize';
import { MAX_STAGE_NAME } from '../validate';
import type { StageOutcome } from '../types';
import { beginCall, describeKind, endCall, logStart, NO_ERROR } from './accounting';
import { now } from './clock';
import { currentFrame } from './context';
import type { Frame } from './frame';
import { isValidRowCount } from './rows';
import { types } from 'node:util';

/** A usable stage name for startStage(): the name, cut to MAX_STAGE_NAME, or a stand-in. */
export function manualStageName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') return `(invalid stage name: ${describeValue(name)})`;
  return name.length > MAX_STAGE_NAME ? `${name.slice(0, MAX_STAGE_NAME)}...` : name;
}

/** Starts a stage by hand; returns its id. */
export function startManualStage(run: RunState, name: unknown, metadata: unknown): string {
  const stageName = manualStageName(name);
  if (stageName !== name) run.flag('warning', 'invalid_stage_name', `startStage() needs a non-empty string name of at most ${MAX_STAGE_NAME} characters; recorded as ${stageName}`);
  const stats = run.statsFor(stageName);
  const notes = new Set<string>();
  const frame = run.frame(stats, currentFrame(), sanitizeMetadata(metadata, run.config.redact, notes));
  run.flagMetadata(`stage ${stageName}`, notes, stageName);
  frame.sync = false;
  if (run.logStages && stats.calls < run.config.maxStageRecords) logStart(run, frame);
  if (ProbeBudget.due(stats)) {
    // A manual stage runs across turns: its CPU is the process's between start and end.
    frame.probe = new Probe();
    frame.probe.open();
  }
  frame.t0 = now();
  beginCall(frame, frame.t0);
  const id = String(frame.id);
  run.manual.set(id, frame);
  return id;
}

/**
 * The outcome's error, read from own data properties only: an accessor or a Proxy trap is the
 * program's code, which endStage() never runs. `unreadable`: the outcome could not be read so
 * (recorded as a success, and flagged).
 */
function outcomeError(outcome: unknown): { error: unknown; unreadable: boolean } {
  if (outcome === undefined || outcome === null || typeof outcome !== 'object') return { error: NO_ERROR, unreadable: false };
  if (types.isProxy(outcome)) return { error: NO_ERROR, unreadable: true };
  try {
    const successDesc = Object.getOwnPropertyDescriptor(outcome, 'success');
    const errorDesc = Object.getOwnPropertyDescriptor(outcome, 'error');
    if ((successDesc !== undefined && !('value' in successDesc)) || (errorDesc !== undefined && !('value' in errorDesc))) return { error: NO_ERROR, unreadable: true };
    const success: unknown = successDesc?.value;
    const error: unknown = errorDesc?.value;
    const failed = success === false || (error !== undefined && success !== true);
    return { error: failed ? (error ?? new Error('stage reported failure')) : NO_ERROR, unreadable: false };
  } catch {
    return { error: NO_ERROR, unreadable: true };
  }
}

/** Ends a manual stage; returns its frame, end and self time, or undefined when the id is unknown (flagged). */
export function endManualStage(run: RunState, stageId: unknown, rowsProcessed: unknown, outcome: unknown): { frame: Frame; t1: number; selfMs: number } | undefined {
  const t1 = now();
  const frame = typeof stageId === 'string' ? run.manual.get(stageId) : undefined;
  if (frame === undefined) {
    const known = typeof stageId === 'string' && /^\d+$/.test(stageId) && Number(stageId) <= run.lastId;
    // only an id of the form stagemeter makes is shown: anything else may be the program's data
    const shown = typeof stageId === 'string' && /^\d{1,16}$/.test(stageId) ? JSON.stringify(stageId) : `a ${typeof stageId}`;
    run.flag('warning', known ? 'stage_already_ended' : 'unknown_stage_id', known ? `endStage(${shown}): that stage has already ended` : `endStage(${shown}): no stage with that id in this run`);
    return undefined;
  }
  run.manual.delete(stageId as string);
  let rows = 0;
  if (rowsProcessed !== undefined) {
    if (isValidRowCount(rowsProcessed)) rows = rowsProcessed;
    else run.flag('warning', 'invalid_rows', `endStage(): ${describeKind(rowsProcessed)} is not a row count (an integer >= 0) for ${frame.stats.name}; counted as 0`, frame.stats.name);
  } else if (frame.rowsRecorded) {
    rows = frame.rows;
  }
  frame.probe?.close();
  const { error, unreadable } = outcomeError(outcome);
  if (unreadable) run.flag('warning', 'invalid_outcome', `endStage(): the outcome for ${frame.stats.name} has accessors or is a Proxy; only own data properties success and error are read; recorded as a success`, frame.stats.name);
  const selfMs = endCall(run, frame, frame.t0, t1, rows, error);
  return { frame, t1, selfMs };
}
