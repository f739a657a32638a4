/**
 * What stays per process in a merged report: event-loop and GC figures, the concurrent memory
 * peak, each process's own run for its memory analysis, tracked processes, the processes[] entries.
 */
import { createHash } from 'node:crypto';
import type { AnalysisResult, EventLoopStats, GcStats, MemoryTrend, MergedProcess, RunData, TrackedProcess } from '../../types';
import type { Input } from './inputs';
import { round3, sumOf } from './stages';

/** The inputs' event-loop figures: per field the worst process's (percentiles cannot be merged). */
export function mergeEventLoop(inputs: readonly Input[]): EventLoopStats | undefined {
  const all = inputs.map((x) => x.report.eventLoop).filter((e): e is EventLoopStats => e !== undefined);
  if (all.length === 0) return undefined;
  return {
    delayP50Ms: Math.max(...all.map((e) => e.delayP50Ms)),
    delayP99Ms: Math.max(...all.map((e) => e.delayP99Ms)),
    delayMaxMs: Math.max(...all.map((e) => e.delayMaxMs)),
    delayMeanMs: Math.max(...all.map((e) => e.delayMeanMs)),
  };
}

/** The inputs' GC pauses, summed over the processes (the longest pause: the longest of any). */
export function mergeGc(inputs: readonly Input[]): GcStats | undefined {
  const all = inputs.map((x) => x.report.gc).filter((g): g is GcStats => g !== undefined);
  if (all.length === 0) return undefined;
  const byKind: Record<string, { count: number; totalPauseMs: number }> = Object.create(null) as Record<string, { count: number; totalPauseMs: number }>;
  for (const g of all) {
    for (const [kind, v] of Object.entries(g.byKind)) {
      const k = (byKind[kind] ??= { count: 0, totalPauseMs: 0 });
      k.count += v.count;
      k.totalPauseMs = round3(k.totalPauseMs + v.totalPauseMs);
    }
  }
  return {
    count: sumOf(all, (g) => g.count),
    totalPauseMs: round3(sumOf(all, (g) => g.totalPauseMs)),
    maxPauseMs: Math.max(...all.map((g) => g.maxPauseMs)),
    byKind: { ...byKind },
  };
}

/**
 * The largest sum of the processes' rss at one moment: each process counts with its latest sample
 * from its first sample to its end. Samples are ticks, so the true concurrent peak can be higher
 * (up to the sum of the processes' own peaks, also returned).
 */
export function concurrentPeak(inputs: readonly Input[]): { rssMb: number; t: number; sumOfProcessPeaksMb: number } | undefined {
  const events: Array<{ t: number; process: number; rssMb: number; end: boolean }> = [];
  inputs.forEach((x, k) => {
    const samples = x.report.memory.samples;
    if (samples.length === 0) return;
    for (const s of samples) events.push({ t: s.t + x.offsetMs, process: k, rssMb: s.rssMb, end: false });
    events.push({ t: Math.max(x.offsetMs + x.report.run.durationMs, samples[samples.length - 1]!.t + x.offsetMs), process: k, rssMb: 0, end: true });
  });
  if (events.length === 0) return undefined;
  // at equal times samples come first: a process is alive at the moment it ends
  events.sort((a, b) => a.t - b.t || Number(a.end) - Number(b.end));
  const current = new Array<number>(inputs.length).fill(0);
  let total = 0;
  let best = { rssMb: 0, t: 0 };
  for (const e of events) {
    total += e.rssMb - current[e.process]!;
    current[e.process] = e.rssMb;
    if (total > best.rssMb) best = { rssMb: total, t: e.t };
  }
  return { rssMb: round3(best.rssMb), t: round3(best.t), sumOfProcessPeaksMb: round3(sumOf(inputs, (x) => x.report.summary.peakMemoryMb)) };
}

/** A process's own run, as its collector handed it to the analysis (flags aside). */
export function processRunData(x: Input): RunData {
  const r = x.report;
  const data: RunData = {
    run: r.run,
    stages: r.stages,
    stageSummaries: r.stageSummaries,
    samples: r.memory.samples,
    samplingIntervalMs: r.memory.samplingIntervalMs,
    avgCpuPercent: r.summary.avgCpuPercent,
    peakMemoryMb: r.summary.peakMemoryMb,
    qualityFlags: [],
  };
  if (r.eventLoop !== undefined) data.eventLoop = r.eventLoop;
  if (r.gc !== undefined) data.gc = r.gc;
  return data;
}

export const CONFIDENCE_RANK: Record<MemoryTrend['confidence'], number> = { none: 0, low: 1, medium: 2, high: 3 };

/** The trend of the process whose heap floor looks worst: a suspected leak first, then confidence, then slope. */
export function worstTrend(trends: ReadonlyArray<{ label: string; trend: MemoryTrend }>): { label: string; trend: MemoryTrend } | undefined {
  let worst: { label: string; trend: MemoryTrend } | undefined;
  for (const c of trends) {
    if (worst === undefined) {
      worst = c;
      continue;
    }
    const a = c.trend;
    const b = worst.trend;
    const better =
      Number(a.leakSuspected) - Number(b.leakSuspected) || CONFIDENCE_RANK[a.confidence] - CONFIDENCE_RANK[b.confidence] || a.slopeMbPerMin - b.slopeMbPerMin;
    if (better > 0) worst = c;
  }
  return worst;
}

/** A UUID-shaped id derived from the input run ids: merging the same reports gives the same id. */
export function mergedRunId(inputs: readonly Input[]): string {
  const h = createHash('sha256')
    .update(
      inputs
        .map((x) => x.report.run.id)
        .sort()
        .join('\n'),
    )
    .digest('hex');
  // version 8 (custom) and the RFC 4122 variant bits
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function processPrefix(x: Input): string {
  return `process ${x.label} (pid ${x.report.run.host.pid})`;
}


/** Every input's tracked processes, on the merged time axis, each with its `source`. */
export function mergeTracked(inputs: readonly Input[]): TrackedProcess[] {
  const out: TrackedProcess[] = [];
  for (const x of inputs) {
    for (const p of x.report.trackedProcesses ?? []) {
      const m: TrackedProcess = { ...p, startedAtMs: round3(p.startedAtMs + x.offsetMs), samples: p.samples.map((s) => ({ ...s, t: round3(s.t + x.offsetMs) })), source: x.label };
      if (p.endedAtMs !== undefined) m.endedAtMs = round3(p.endedAtMs + x.offsetMs);
      out.push(m);
    }
  }
  return out.sort((a, b) => a.startedAtMs - b.startedAtMs);
}

export function processEntry(x: Input, own: AnalysisResult): MergedProcess {
  const r = x.report;
  const p: MergedProcess = {
    id: x.label,
    runId: r.run.id,
    name: r.run.name,
    status: r.run.status,
    pid: r.run.host.pid,
    host: { ...r.run.host },
    startedAt: r.run.startedAt,
    endedAt: r.run.endedAt,
    offsetMs: x.offsetMs,
    durationMs: r.run.durationMs,
    rowsProcessed: r.run.rowsProcessed,
    calls: r.summary.totalStages,
    failedCalls: r.summary.failedStages,
    peakMemoryMb: r.summary.peakMemoryMb,
    avgCpuPercent: r.summary.avgCpuPercent,
    sampleCount: r.memory.samples.length,
    memoryTrend: own.trend,
    memoryEfficiencyScore: own.efficiencyScore,
  };
  if (r.run.endReason !== undefined) p.endReason = r.run.endReason;
  if (r.run.fatalError !== undefined) p.fatalError = { name: r.run.fatalError.name, message: r.run.fatalError.message };
  if (r.run.metadata !== undefined) p.metadata = r.run.metadata;
  if (r.run.parent !== undefined) p.parentRunId = r.run.parent.runId;
  const path = x.source ?? r.output?.path;
  if (path !== undefined) p.reportPath = path;
  return p;
}

