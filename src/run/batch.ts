/**
 * What a worker thread's run sends to the main thread's run: the announcement the main thread
 * publishes for new workers, and the batches a worker sends back (per-stage figures since its
 * last batch, the calls it kept as records, its quality flags). Both ends of the hand-over use
 * these functions: `takeStageDelta` in the worker, `addStageDelta` in the main thread.
 *
 * A batch is sent at most every FLUSH_MS (and when the worker ends), never per call: a worker's
 * call takes the same path as a main-thread call, and its figures stay in its own StageStats
 * until the next batch.
 */
import type { SketchJson } from '../types';
import { QuantileSketch } from '../stores/sketch';
import type { ErrorInfo, RecordTable } from '../stores/records';
import type { StageStats, ThreadPart } from './stageStats';

/**
 * Key of the worker_threads environment data that announces the main thread's active run to the
 * workers created while it is active (`setEnvironmentData`, inherited at creation).
 */
export const THREAD_RUN_KEY = 'stagemeter.run.v1';

/** A batch is sent at most this often, ms (and at the worker's end). */
export const FLUSH_MS = 100;

/** The state cells: 1 while the run is active, 0 once it stops (a notify wakes the workers). */
export const S_ACTIVE = 0;
/** Workers that sent their last batch when the run stopped (a notify wakes the main thread). */
export const S_ANSWERS = 1;
export const STATE_BYTES = 8;

/** How long stopMonitoring() waits for live workers' last batches, ms (only while one has not answered). */
export const STOP_WAIT_MS = 100;

/**
 * Records a worker keeps between two batches, at most (the main thread's budget applies again).
 * A full batch costs the worker ~0.2 ms to encode and send and the main thread about as much to
 * merge: a hot stage in a worker pays ~0.2 % of a core for its records.
 */
export const MAX_RECORDS_PER_BATCH = 1024;

/** The main thread's run as a new worker sees it (structured-cloned into the worker). */
export interface RunAnnouncement {
  v: 1;
  runId: string;
  /** BroadcastChannel the main thread listens on for this run's batches. */
  channel: string;
  /** Shared with every worker, as an Int32Array: see S_ACTIVE, S_ANSWERS. */
  state: SharedArrayBuffer;
  maxStageRecords: number;
  maxStageNames: number;
  captureStackTraces: boolean;
}

/** One stage's figures over the calls a worker ended since its previous batch. */
export interface StageDelta {
  /** The stage's index in the worker's run (records refer to it). */
  i: number;
  name: string;
  calls: number;
  failures: number;
  syncCalls: number;
  rootCalls: number;
  rootRows: number;
  nestedRows: number;
  rows: number;
  totalMs: number;
  sumSqMs: number;
  selfMs: number;
  busyMs: number;
  minMs: number;
  maxMs: number;
  /** Times are ms since the worker's run started. */
  maxAtMs: number;
  maxSyncMs: number;
  maxSyncAtMs: number;
  probedCalls: number;
  probedWallMs: number;
  probedOnThreadMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  heapDeltaSumMb: number;
  heapDeltaMaxMb: number;
  firstError?: { name: string; message: string; t: number };
  sketch: SketchJson;
}

/** A quality flag raised in the worker, with how many times since the previous batch. */
export interface FlagDelta {
  severity: 'info' | 'warning' | 'error';
  code: string;
  message: string;
  stage?: string;
  /** ms since the worker's run started. */
  t: number;
  count: number;
}

export interface ThreadBatch {
  v: 1;
  kind: 'batch';
  runId: string;
  threadId: number;
  /** 0 for the first batch (sent when the worker's run starts), then 1, 2... */
  n: number;
  /** The worker's last batch: its run has ended. */
  final: boolean;
  /** Calls the worker had started when it sent the batch (ended or not). */
  started: number;
  /** When the batch was sent, ms since the worker's run started. */
  t: number;
  /** `performance.timeOrigin` of the worker and its run's start on its clock, ms. */
  timeOrigin: number;
  runT0: number;
  stages: StageDelta[];
  /** RECORD_WIDTH numbers per kept call (see encodeRecords). */
  records: Float64Array;
  errors: Array<[number, ErrorInfo]>;
  metadata: Array<[number, Record<string, unknown>]>;
  /** Calls that got no record in the worker. */
  omitted: number;
  flags: FlagDelta[];
}

// One record: these fields in this order.
export const R_ID = 0;
export const R_PARENT = 1;
export const R_T0 = 2;
export const R_DURATION = 3;
export const R_SELF = 4;
export const R_ROWS = 5;
export const R_STAGE = 6;
export const R_SEQ = 7;
export const R_FLAGS = 8;
export const R_CPU_USER = 9;
export const R_CPU_SYSTEM = 10;
export const R_ON_THREAD = 11;
export const R_HEAP = 12;
export const R_VOLUNTARY = 13;
export const R_INVOLUNTARY = 14;
export const RECORD_WIDTH = 15;
export const F_SYNC = 1;
export const F_PROBED = 2;
export const F_FAILED = 4;

/**
 * The figures a worker's stage gathered since its last batch, taken out of it: its sums start
 * again from 0 and its sketch is replaced by an empty one. `calls` stays (a call's number in its
 * stage decides its record); `sentCalls` is its value at the previous batch.
 *
 * @example
 * const delta = takeStageDelta(stats, sent[stats.index] ?? 0);
 * sent[stats.index] = stats.calls;
 */
export function takeStageDelta(s: StageStats, sentCalls: number): StageDelta {
  const d: StageDelta = {
    i: s.index,
    name: s.name,
    calls: s.calls - sentCalls,
    failures: s.failures,
    syncCalls: s.syncCalls,
    rootCalls: s.rootCalls,
    rootRows: s.rootRows,
    nestedRows: s.nestedRows,
    rows: s.rows,
    totalMs: s.totalMs,
    sumSqMs: s.sumSqMs,
    selfMs: s.selfMs,
    busyMs: s.busyMs,
    minMs: s.minMs,
    maxMs: s.maxMs,
    maxAtMs: s.maxAtMs,
    maxSyncMs: s.maxSyncMs,
    maxSyncAtMs: s.maxSyncAtMs,
    probedCalls: s.probedCalls,
    probedWallMs: s.probedWallMs,
    probedOnThreadMs: s.probedOnThreadMs,
    cpuUserUs: s.cpuUserUs,
    cpuSystemUs: s.cpuSystemUs,
    voluntarySwitches: s.voluntarySwitches,
    involuntarySwitches: s.involuntarySwitches,
    heapDeltaSumMb: s.heapDeltaSumMb,
    heapDeltaMaxMb: s.heapDeltaMaxMb,
    sketch: s.sketch.encode(),
  };
  if (s.firstError !== undefined) d.firstError = s.firstError;
  s.failures = s.syncCalls = s.rootCalls = s.rootRows = s.nestedRows = s.rows = 0;
  s.totalMs = s.sumSqMs = s.selfMs = s.busyMs = 0;
  s.minMs = Infinity;
  s.maxMs = s.maxAtMs = s.maxSyncMs = s.maxSyncAtMs = 0;
  s.probedCalls = s.probedWallMs = s.probedOnThreadMs = s.cpuUserUs = s.cpuSystemUs = 0;
  s.voluntarySwitches = s.involuntarySwitches = s.heapDeltaSumMb = 0;
  s.heapDeltaMaxMb = -Infinity;
  s.firstError = undefined;
  s.sketch = new QuantileSketch();
  return d;
}

/**
 * Adds a worker's stage delta to the main run's figures of that stage, and to its part for the
 * thread. `shiftMs` turns the worker's run times into the main run's.
 *
 * @example
 * addStageDelta(run.statsFor(delta.name), delta, 3, 12.5);
 */
export function addStageDelta(s: StageStats, d: StageDelta, threadId: number, shiftMs: number): void {
  s.calls += d.calls;
  s.failures += d.failures;
  s.syncCalls += d.syncCalls;
  s.rootCalls += d.rootCalls;
  s.rootRows += d.rootRows;
  s.nestedRows += Number.isFinite(d.nestedRows) ? d.nestedRows : 0;
  s.rows += d.rows;
  s.totalMs += d.totalMs;
  s.sumSqMs += d.sumSqMs;
  s.selfMs += d.selfMs;
  // Busy wall time adds up per thread: the worker's calls held its own thread, not this one.
  s.busyMs += d.busyMs;
  if (d.calls > 0) {
    if (d.minMs < s.minMs) s.minMs = d.minMs;
    if (d.maxMs > s.maxMs) {
      s.maxMs = d.maxMs;
      s.maxAtMs = d.maxAtMs + shiftMs;
    }
    if (d.maxSyncMs > s.maxSyncMs) {
      s.maxSyncMs = d.maxSyncMs;
      s.maxSyncAtMs = d.maxSyncAtMs + shiftMs;
    }
  }
  s.probedCalls += d.probedCalls;
  s.probedWallMs += d.probedWallMs;
  s.probedOnThreadMs += d.probedOnThreadMs;
  s.cpuUserUs += d.cpuUserUs;
  s.cpuSystemUs += d.cpuSystemUs;
  s.voluntarySwitches += d.voluntarySwitches;
  s.involuntarySwitches += d.involuntarySwitches;
  s.heapDeltaSumMb += d.heapDeltaSumMb;
  if (d.heapDeltaMaxMb > s.heapDeltaMaxMb) s.heapDeltaMaxMb = d.heapDeltaMaxMb;
  const e = d.firstError;
  if (e !== undefined) {
    const t = Math.round((e.t + shiftMs) * 1000) / 1000;
    if (s.firstError === undefined || t < s.firstError.t) s.firstError = { name: e.name, message: e.message, t };
  }
  s.sketch.merge(QuantileSketch.decode(d.sketch));
  const parts = (s.threads ??= new Map<number, ThreadPart>());
  let part = parts.get(threadId);
  if (part === undefined) {
    part = { calls: 0, failures: 0, totalMs: 0, selfMs: 0, busyMs: 0, rows: 0 };
    parts.set(threadId, part);
  }
  part.calls += d.calls;
  part.failures += d.failures;
  part.totalMs += d.totalMs;
  part.selfMs += d.selfMs;
  part.busyMs += d.busyMs;
  part.rows += d.rows;
}

/**
 * The records a worker kept since its last batch, as one array of numbers (cloned between threads
 * in one copy) plus the rare errors and metadata; the table is emptied.
 *
 * @example
 * const { records, errors, metadata, omitted } = encodeRecords(run.records);
 */
export function encodeRecords(table: RecordTable): Pick<ThreadBatch, 'records' | 'errors' | 'metadata' | 'omitted'> {
  const n = table.length;
  const records = new Float64Array(n * RECORD_WIDTH);
  const errors: ThreadBatch['errors'] = [];
  const metadata: ThreadBatch['metadata'] = [];
  for (let i = 0; i < n; i++) {
    const r = table.get(i);
    const o = i * RECORD_WIDTH;
    records[o + R_ID] = r.id;
    records[o + R_PARENT] = r.parentId;
    records[o + R_T0] = r.t0;
    records[o + R_DURATION] = r.durationMs;
    records[o + R_SELF] = r.selfMs;
    records[o + R_ROWS] = r.rows;
    records[o + R_STAGE] = r.stage;
    records[o + R_SEQ] = r.seq;
    records[o + R_FLAGS] = (r.sync ? F_SYNC : 0) | (r.probed ? F_PROBED : 0) | (r.failed ? F_FAILED : 0);
    records[o + R_CPU_USER] = r.cpuUserMs;
    records[o + R_CPU_SYSTEM] = r.cpuSystemMs;
    records[o + R_ON_THREAD] = r.onThreadMs;
    records[o + R_HEAP] = r.heapDeltaMb;
    records[o + R_VOLUNTARY] = r.voluntarySwitches;
    records[o + R_INVOLUNTARY] = r.involuntarySwitches;
    if (r.error !== undefined) errors.push([i, r.error]);
    if (r.metadata !== undefined) metadata.push([i, r.metadata]);
  }
  const omitted = table.omitted;
  table.clear();
  return { records, errors, metadata, omitted };
}
