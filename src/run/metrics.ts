/**
 * The report's view of what a run recorded: a stage's summary over every call, and one call's
 * record, with their units and rounding.
 */
import type { Frame } from '../callpath/frame';
import { sanitizeMetadata } from '../sanitize';
import type { CallRecord } from '../stores/records';
import type { StageMetrics, StageSummary, StageThreadPart } from '../types';
import type { RunState } from './state';
import type { StageStats } from './stageStats';

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Durations keep nanosecond precision: hot stages run in well under a microsecond. */
export function roundMs(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function exactQuantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** 1, or what brings `cpuUs` of CPU over `wallMs` of wall time down to one core. */
function atMostOneCore(cpuUs: number, wallMs: number): number {
  const ratio = cpuUs / 1000 / wallMs;
  return ratio > 1 ? 1 / ratio : 1;
}

/** One stage's summary over every call; quantiles exact when every call has a record, else from the sketch. */
export function summarize(s: StageStats, keptDurations: number[]): StageSummary {
  const exact = s.kept === s.calls;
  let q: (p: number) => number;
  if (exact) {
    const durations = keptDurations.sort((a, b) => a - b);
    q = (p) => exactQuantile(durations, p);
  } else {
    q = (p) => s.sketch.quantile(p);
  }
  const calls = s.calls;
  const mean = calls > 0 ? s.totalMs / calls : 0;
  const variance = calls > 1 ? Math.max(0, (s.sumSqMs - calls * mean * mean) / (calls - 1)) : 0;
  const wall = s.probedWallMs;
  const sampled = s.probedCalls < calls;
  // The probed calls' CPU per ms of call time, applied to every call's time when not all were
  // probed; at most one core, as `percent` is. Probed calls of a few µs read more CPU than wall
  // time (the CPU readings bracket the clock's, ~1 µs each): scaled up over thousands of calls,
  // that ratio would give the stage more CPU than its calls had wall time.
  const scale = sampled ? (wall > 0 ? (s.totalMs / wall) * atMostOneCore(s.cpuUserUs + s.cpuSystemUs, wall) : 0) : 1;
  const cpuUserMs = (s.cpuUserUs / 1000) * scale;
  const cpuSystemMs = (s.cpuSystemUs / 1000) * scale;
  const summary: StageSummary = {
    name: s.name,
    calls,
    failures: s.failures,
    totalMs: roundMs(s.totalMs),
    busyMs: roundMs(s.busyMs),
    selfMs: roundMs(s.selfMs),
    meanMs: roundMs(mean),
    stdDevMs: roundMs(Math.sqrt(variance)),
    p50Ms: roundMs(q(0.5)),
    p95Ms: roundMs(q(0.95)),
    p99Ms: roundMs(q(0.99)),
    maxMs: roundMs(s.maxMs),
    minMs: calls > 0 ? roundMs(s.minMs) : 0,
    quantiles: exact ? 'exact' : 'sketch',
    rowsProcessed: s.rows,
    rowsPerSecond: s.busyMs > 0 ? round3((s.rows / s.busyMs) * 1000) : 0,
    rowsPerCallSecond: s.totalMs > 0 ? round3((s.rows / s.totalMs) * 1000) : 0,
    cpu: {
      userMs: round3(cpuUserMs),
      systemMs: round3(cpuSystemMs),
      percent: wall > 0 ? round3(Math.min(100, ((s.cpuUserUs + s.cpuSystemUs) / 1000 / wall) * 100)) : 0,
      onThreadPercent: wall > 0 ? round3(Math.min(100, (s.probedOnThreadMs / wall) * 100)) : 0,
      estimated: sampled,
      probedWallMs: roundMs(wall),
      voluntarySwitches: s.voluntarySwitches,
      involuntarySwitches: s.involuntarySwitches,
    },
    meanHeapUsedDeltaMb: s.probedCalls > 0 ? round3(s.heapDeltaSumMb / s.probedCalls) : 0,
    maxHeapUsedDeltaMb: s.probedCalls > 0 ? round3(s.heapDeltaMaxMb) : 0,
    syncCalls: s.syncCalls,
    maxSyncMs: roundMs(s.maxSyncMs),
    maxSyncAtMs: round3(s.maxSyncAtMs),
    rootCalls: s.rootCalls,
    fidelity: { mode: sampled ? 'sampled' : 'full', probedCalls: s.probedCalls, timedCalls: calls, recordEvery: s.stride },
    recordsKept: s.kept,
    recordsOmitted: calls - s.kept,
  };
  if (s.firstError !== undefined) summary.firstError = { ...s.firstError };
  if (s.threads !== undefined) summary.threads = threadParts(s);
  // Every call's duration, mergeable across processes (`stagemeter merge`).
  summary.sketch = s.sketch.encode();
  return summary;
}

/** The stage's figures by thread: each worker's as it sent them, the main thread's the rest. */
function threadParts(s: StageStats): StageThreadPart[] {
  const main = { calls: s.calls, failures: s.failures, totalMs: s.totalMs, selfMs: s.selfMs, busyMs: s.busyMs, rows: s.rows };
  const workers: StageThreadPart[] = [];
  for (const [threadId, p] of s.threads!) {
    main.calls -= p.calls;
    main.failures -= p.failures;
    main.totalMs -= p.totalMs;
    main.selfMs -= p.selfMs;
    main.busyMs -= p.busyMs;
    main.rows -= p.rows;
    if (p.calls > 0) workers.push({ threadId, calls: p.calls, failures: p.failures, totalMs: roundMs(p.totalMs), selfMs: roundMs(p.selfMs), busyMs: roundMs(p.busyMs), rowsProcessed: p.rows });
  }
  workers.sort((a, b) => a.threadId - b.threadId);
  if (main.calls <= 0) return workers;
  const ms = (x: number): number => roundMs(Math.max(0, x));
  return [{ threadId: 0, calls: main.calls, failures: main.failures, totalMs: ms(main.totalMs), selfMs: ms(main.selfMs), busyMs: ms(main.busyMs), rowsProcessed: main.rows }, ...workers];
}

/** A record's id in the report: `17` on the main thread, `t3:17` in worker thread 3 (each thread numbers its own calls). */
function recordId(threadId: number, id: number): string {
  return threadId === 0 ? String(id) : `t${threadId}:${id}`;
}

/** A record as the report lists it; calls without probes get their stage's CPU and heap rates, marked estimated. */
export function toMetrics(run: RunState, r: CallRecord, redacted: Map<Record<string, unknown>, Record<string, unknown> | undefined>): StageMetrics {
  const stats = run.statsList[r.stage]!;
  let cpu: StageMetrics['cpu'];
  let memory: StageMetrics['memory'];
  if (r.probed) {
    const cpuMs = r.cpuUserMs + r.cpuSystemMs;
    cpu = {
      userMs: round3(r.cpuUserMs),
      systemMs: round3(r.cpuSystemMs),
      percent: r.durationMs > 0 ? round3(Math.min(100, (cpuMs / r.durationMs) * 100)) : 0,
      onThreadMs: roundMs(r.onThreadMs),
      voluntarySwitches: r.voluntarySwitches,
      involuntarySwitches: r.involuntarySwitches,
    };
    memory = { heapUsedDeltaMb: round3(r.heapDeltaMb) };
  } else {
    const wall = stats.probedWallMs;
    const cap = wall > 0 ? atMostOneCore(stats.cpuUserUs + stats.cpuSystemUs, wall) : 0;
    const userShare = wall > 0 ? (stats.cpuUserUs / 1000 / wall) * cap : 0;
    const sysShare = wall > 0 ? (stats.cpuSystemUs / 1000 / wall) * cap : 0;
    cpu = { userMs: round3(userShare * r.durationMs), systemMs: round3(sysShare * r.durationMs), percent: round3(Math.min(100, (userShare + sysShare) * 100)), estimated: true };
    memory = { heapUsedDeltaMb: stats.probedCalls > 0 ? round3(stats.heapDeltaSumMb / stats.probedCalls) : 0, estimated: true };
  }
  const m: StageMetrics = {
    id: recordId(r.threadId, r.id),
    name: stats.name,
    t: roundMs(r.t0 - run.t0),
    durationMs: roundMs(r.durationMs),
    selfMs: roundMs(r.selfMs),
    rowsProcessed: r.rows,
    rowsPerSecond: r.durationMs > 0 ? round3((r.rows / r.durationMs) * 1000) : 0,
    success: !r.failed,
    cpu,
    memory,
    fidelity: r.probed ? 'full' : 'timing',
    sync: r.sync,
    threadId: r.threadId,
  };
  if (r.parentId >= 0) m.parentId = recordId(r.threadId, r.parentId);
  if (r.error !== undefined) m.error = r.error;
  if (r.metadata !== undefined) {
    let meta = redacted.get(r.metadata);
    if (meta === undefined && !redacted.has(r.metadata)) {
      meta = run.config.redact === undefined ? r.metadata : sanitizeMetadata(r.metadata, run.config.redact);
      redacted.set(r.metadata, meta);
    }
    if (meta !== undefined) m.metadata = meta;
  }
  return m;
}


/** The record of a manual stage that just ended, whether or not the run kept one (endStage returns it). */
export function recordOf(run: RunState, frame: Frame, t1: number, selfMs: number): StageMetrics {
  const probe = frame.probe !== undefined && frame.probe.ok ? frame.probe : undefined;
  const cpu = probe?.cpuMs();
  const record: CallRecord = {
    id: frame.id,
    parentId: frame.parent === undefined ? -1 : frame.parent.id,
    t0: frame.t0,
    durationMs: Math.max(0, t1 - frame.t0),
    selfMs,
    rows: frame.rows,
    stage: frame.stats.index,
    seq: frame.stats.calls - 1,
    threadId: run.threadId,
    sync: frame.sync,
    failed: frame.error !== undefined,
    probed: probe !== undefined,
    cpuUserMs: cpu?.userMs ?? 0,
    cpuSystemMs: cpu?.systemMs ?? 0,
    onThreadMs: probe?.onThreadMs ?? 0,
    heapDeltaMb: (probe?.heapDeltaBytes ?? 0) / (1024 * 1024),
    voluntarySwitches: probe?.voluntarySwitches ?? 0,
    involuntarySwitches: probe?.involuntarySwitches ?? 0,
    error: frame.error,
    metadata: frame.metadata,
  };
  return toMetrics(run, record, new Map());
}
