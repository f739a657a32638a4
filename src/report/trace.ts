/**
 * The report as Chrome Trace Event JSON (the "JSON Object Format"), which Perfetto and
 * chrome://tracing open: stage calls as complete (`X`) events, well nested per track, with
 * concurrent calls on tracks of their own; memory, CPU, event-loop delay and GC pauses as
 * counter (`C`) events; findings, memory spikes and quality flags as instant (`i`) events.
 * Timestamps are µs since the run started. Pure.
 */
import type { PerformanceReport, StageMetrics } from '../types';
import { findingTimeMs, layoutCalls, type Track } from './layout';

/** An argument value of a trace event. */
export type TraceScalar = string | number | boolean;

/** A complete event: one stage call. */
export interface TraceCompleteEvent {
  ph: 'X';
  name: string;
  cat: string;
  /** Start, µs since the run started. */
  ts: number;
  /** Duration, µs. */
  dur: number;
  pid: number;
  tid: number;
  args: Record<string, TraceScalar>;
}

/** A counter event: Perfetto draws one counter track per key of `args`. */
export interface TraceCounterEvent {
  ph: 'C';
  name: string;
  ts: number;
  pid: number;
  tid: number;
  args: Record<string, number>;
}

/** An instant event; `s` is its scope: global, process or thread. */
export interface TraceInstantEvent {
  ph: 'i';
  name: string;
  cat: string;
  ts: number;
  pid: number;
  tid: number;
  s: 'g' | 'p' | 't';
  args: Record<string, TraceScalar>;
}

/** A metadata event naming or ordering a process or a thread track. */
export interface TraceMetadataEvent {
  ph: 'M';
  name: 'process_name' | 'thread_name' | 'thread_sort_index';
  ts: 0;
  pid: number;
  tid: number;
  args: { name: string } | { sort_index: number };
}

export type TraceEvent = TraceCompleteEvent | TraceCounterEvent | TraceInstantEvent | TraceMetadataEvent;

/** What {@link generateTraceEvents} returns; `JSON.stringify` it to get the trace file. */
export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  metadata?: Record<string, string | number>;
}

/** µs with ns precision, from integer ns (exact: a child's end never passes its parent's). */
function usOfNs(ns: number): number {
  return ns / 1000;
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function trackName(t: Track): string {
  const thread = t.threadId === 0 ? 'stages' : `worker thread ${t.threadId}`;
  return t.lane === 0 ? thread : `${thread} (concurrent ${t.lane + 1})`;
}

function callArgs(c: StageMetrics): Record<string, TraceScalar> {
  const args: Record<string, TraceScalar> = {};
  if (typeof c.id === 'string') args.stageId = c.id;
  if (typeof c.parentId === 'string') args.parentId = c.parentId;
  if (finite(c.rowsProcessed)) args.rows = c.rowsProcessed;
  if (finite(c.rowsPerSecond)) args.rowsPerSecond = round(c.rowsPerSecond, 1);
  if (finite(c.cpu?.percent)) args.cpuPercent = round(c.cpu.percent, 1);
  if (finite(c.cpu?.userMs) && finite(c.cpu?.systemMs)) args.cpuMs = round(c.cpu.userMs + c.cpu.systemMs, 3);
  if (finite(c.memory?.heapUsedDeltaMb)) args.heapDeltaMb = round(c.memory.heapUsedDeltaMb, 3);
  if (c.cpu?.estimated === true || c.memory?.estimated === true) args.estimated = true;
  args.success = c.success !== false;
  if (c.error !== undefined && c.error !== null) args.error = `${String(c.error.name)}: ${String(c.error.message)}`;
  return args;
}

/**
 * Converts a report into Chrome Trace Event JSON. Calls without a finite start are left out;
 * counters carry only finite numbers.
 *
 * @example
 * const trace = generateTraceEvents(monitor.stopMonitoring());
 * writeFileSync('run.trace.json', JSON.stringify(trace)); // open it in ui.perfetto.dev
 */
export function generateTraceEvents(report: PerformanceReport): TraceFile {
  const run = report.run ?? ({} as Partial<PerformanceReport['run']>);
  const pid = finite(run.host?.pid) && run.host.pid > 0 ? Math.floor(run.host.pid) : 1;
  const calls = Array.isArray(report.stages) ? report.stages : [];
  const layout = layoutCalls(calls);
  const events: TraceEvent[] = [];
  const meta: TraceMetadataEvent[] = [{ ph: 'M', name: 'process_name', ts: 0, pid, tid: 0, args: { name: `stagemeter: ${String(run.name ?? 'run')}` } }];
  // tid 0 holds counters and instants; track k is tid k + 1.
  layout.tracks.forEach((t, k) => {
    meta.push({ ph: 'M', name: 'thread_name', ts: 0, pid, tid: k + 1, args: { name: trackName(t) } });
    meta.push({ ph: 'M', name: 'thread_sort_index', ts: 0, pid, tid: k + 1, args: { sort_index: k + 1 } });
  });
  meta.push({ ph: 'M', name: 'thread_name', ts: 0, pid, tid: 0, args: { name: 'findings' } });

  for (let i = 0; i < calls.length; i++) {
    const k = layout.track[i]!;
    if (k < 0) continue;
    const c = calls[i]!;
    const ts = usOfNs(layout.startNs[i]!);
    const dur = usOfNs(layout.endNs[i]!) - ts;
    events.push({ ph: 'X', name: String(c.name), cat: c.success === false ? 'stage,failed' : 'stage', ts, dur, pid, tid: k + 1, args: callArgs(c) });
  }

  const samples = Array.isArray(report.memory?.samples) ? report.memory.samples : [];
  for (const s of samples) {
    if (!finite(s.t)) continue;
    const ts = round(s.t * 1000, 3);
    const memory: Record<string, number> = {};
    if (finite(s.rssMb)) memory.rss = s.rssMb;
    if (finite(s.heapUsedMb)) memory.heapUsed = s.heapUsedMb;
    if (finite(s.heapTotalMb)) memory.heapTotal = s.heapTotalMb;
    if (finite(s.externalMb)) memory.external = s.externalMb;
    if (Object.keys(memory).length > 0) events.push({ ph: 'C', name: 'memory (MB)', ts, pid, tid: 0, args: memory });
    if (finite(s.cpuPercent)) events.push({ ph: 'C', name: 'CPU (%)', ts, pid, tid: 0, args: { cpu: s.cpuPercent } });
    if (finite(s.loopDelayMs)) events.push({ ph: 'C', name: 'event-loop delay (ms)', ts, pid, tid: 0, args: { delay: s.loopDelayMs } });
    if (finite(s.gcPauseMs)) events.push({ ph: 'C', name: 'GC pause (ms)', ts, pid, tid: 0, args: { pause: s.gcPauseMs } });
  }

  // The longest recorded call of each stage anchors a finding whose evidence names no time.
  const longest = new Map<string, StageMetrics>();
  for (const c of calls) {
    const prev = longest.get(c.name);
    if (finite(c.t) && (prev === undefined || c.durationMs > prev.durationMs)) longest.set(c.name, c);
  }
  const findings = Array.isArray(report.bottlenecks?.findings) ? report.bottlenecks.findings : [];
  for (const f of findings) {
    const at = findingTimeMs(f);
    const anchor = f.stage !== undefined ? longest.get(f.stage) : undefined;
    const t = at ?? anchor?.t ?? 0;
    const args: Record<string, TraceScalar> = { severity: String(f.severity), message: String(f.message), timeFrom: at !== undefined ? 'evidence' : anchor !== undefined ? 'longest call of the stage' : 'run start' };
    if (f.stage !== undefined) args.stage = String(f.stage);
    events.push({ ph: 'i', name: `${String(f.kind)}${f.stage !== undefined ? `: ${String(f.stage)}` : ''}`, cat: `finding,${String(f.severity)}`, ts: round(t * 1000, 3), pid, tid: 0, s: 'p', args });
  }
  const spikes = Array.isArray(report.memory?.spikes) ? report.memory.spikes : [];
  for (const s of spikes) {
    if (!finite(s.t)) continue;
    const args: Record<string, TraceScalar> = {};
    if (finite(s.rssMb)) args.rssMb = s.rssMb;
    if (finite(s.heapUsedMb)) args.heapUsedMb = s.heapUsedMb;
    if (s.stage !== undefined) args.stage = String(s.stage);
    events.push({ ph: 'i', name: 'memory spike', cat: 'spike', ts: round(s.t * 1000, 3), pid, tid: 0, s: 'p', args });
  }
  const flags = Array.isArray(report.qualityFlags) ? report.qualityFlags : [];
  for (const q of flags) {
    if (!finite(q.t)) continue;
    const args: Record<string, TraceScalar> = { severity: String(q.severity), message: String(q.message) };
    if (q.stage !== undefined) args.stage = String(q.stage);
    events.push({ ph: 'i', name: `quality flag${q.code !== undefined ? `: ${String(q.code)}` : ''}`, cat: `quality,${String(q.severity)}`, ts: round(q.t * 1000, 3), pid, tid: 0, s: 'p', args });
  }

  // Time order, and at one time the longer event first, so that viewers that read the file in
  // order meet a parent before its children.
  events.sort((a, b) => a.ts - b.ts || durOf(b) - durOf(a));
  const metadata: Record<string, string | number> = { generator: `stagemeter ${String(report.generator?.version ?? '')}`.trim() };
  if (typeof run.id === 'string') metadata.runId = run.id;
  if (typeof run.name === 'string') metadata.runName = run.name;
  if (typeof run.startedAt === 'string') metadata.startedAt = run.startedAt;
  if (typeof run.status === 'string') metadata.status = run.status;
  return { traceEvents: [...meta, ...events], displayTimeUnit: 'ms', metadata };
}

function durOf(e: TraceEvent): number {
  return e.ph === 'X' ? e.dur : -1;
}
