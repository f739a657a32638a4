/**
 * Memory efficiency scores, 0-100 (100 = nothing to improve). Defined in docs/analyzers.md:
 *
 * Run: 100 minus
 *  - peak: 40 × clamp((peak/budget − 0.5) / 0.5) + 30 × clamp((peak/budget − 1) / 0.5)
 *    (free up to half the budget, −40 at the budget, −70 at 150 % of it);
 *  - leak: 0, or 15 + 5 × log2(slope / minLeakSlope), within 15..30, when a leak is suspected;
 *  - spikes: 3 per spike, at most 15;
 *  - GC: 20 × clamp(GC pause share / (2 × gcPressurePercent)).
 * Stage (for stages with measured heap figures): 100 minus
 *  - growth: 40 × clamp(largest own heap growth of one call / memoryIntensiveMb);
 *  - retention: 30 × clamp(heap left behind over all calls / memoryIntensiveMb);
 *  - spikes: 5 per spike attributed to the stage, at most 15;
 *  - GC: 15 × clamp(share of the stage's wall time in GC pauses / (2 × gcPressurePercent)).
 */
import { clamp, round } from './stats';
import type { RunView } from './view';

export interface RunEfficiency {
  /** 0-100. */
  score: number;
  /** Peak rss over the memory budget, percent. */
  peakSharePercent: number;
  /** GC pause time over the run's wall time, percent. */
  gcPausePercent: number;
  /** Points taken off, per cause. */
  penalties: { peak: number; leak: number; spikes: number; gc: number };
}

function gcPauseMs(view: RunView): number {
  if (view.run.gc !== undefined) return view.run.gc.totalPauseMs;
  let sum = 0;
  for (const s of view.run.samples) sum += s.gcPauseMs ?? 0;
  return sum;
}

/**
 * The run's memory efficiency with the points taken off per cause.
 *
 * @example
 * runEfficiency(view).score; // 85
 */
export function runEfficiency(view: RunView): RunEfficiency {
  const t = view.thresholds;
  const peakShare = t.maxMemoryMb > 0 ? view.run.peakMemoryMb / t.maxMemoryMb : 0;
  const peak = 40 * clamp((peakShare - 0.5) / 0.5, 0, 1) + 30 * clamp((peakShare - 1) / 0.5, 0, 1);
  const trend = view.trend;
  const minSlope = t.minLeakSlopeMbPerMin > 0 ? t.minLeakSlopeMbPerMin : 1;
  const leak = trend.leakSuspected ? clamp(15 + 5 * Math.log2(Math.max(trend.slopeMbPerMin, minSlope) / minSlope), 15, 30) : 0;
  const spikes = Math.min(15, 3 * view.spikes.length);
  const gcShare = view.durationMs > 0 ? (gcPauseMs(view) / view.durationMs) * 100 : 0;
  const gc = t.gcPressurePercent > 0 ? 20 * clamp(gcShare / (2 * t.gcPressurePercent), 0, 1) : 0;
  return {
    score: round(clamp(100 - peak - leak - spikes - gc, 0, 100), 1),
    peakSharePercent: round(Math.max(0, peakShare * 100), 2),
    gcPausePercent: round(Math.max(0, gcShare), 2),
    penalties: { peak: round(peak, 1), leak: round(leak, 1), spikes: round(spikes, 1), gc: round(gc, 1) },
  };
}

/**
 * Per-stage memory efficiency, for the stages whose heap was measured on at least one call.
 *
 * @example
 * stageEfficiency(view); // { load: 100, join: 62.5 }
 */
export function stageEfficiency(view: RunView): Record<string, number> {
  const t = view.thresholds;
  const spikesByStage = new Map<string, number>();
  for (const s of view.spikes) {
    const name = s.stages[0];
    if (name !== undefined) spikesByStage.set(name, (spikesByStage.get(name) ?? 0) + 1);
  }
  const out: Record<string, number> = {};
  for (const summary of view.run.stageSummaries) {
    const times = view.timeline.stages.get(summary.name);
    let growthMb: number;
    if (times !== undefined && times.probedRecords > 0) growthMb = times.maxSelfHeapDeltaMb;
    else if (summary.fidelity.probedCalls > 0) growthMb = summary.maxHeapUsedDeltaMb;
    else continue;
    const budget = t.memoryIntensiveMb > 0 ? t.memoryIntensiveMb : 1;
    const growth = 40 * clamp(growthMb / budget, 0, 1);
    const retention = 30 * clamp(view.retainedMb(summary.name) / budget, 0, 1);
    const spikes = Math.min(15, 5 * (spikesByStage.get(summary.name) ?? 0));
    const wall = view.shareOf(summary.name).totalMs;
    const gcShare = wall > 0 ? ((view.gcByStage.get(summary.name) ?? 0) / wall) * 100 : 0;
    const gc = t.gcPressurePercent > 0 ? 15 * clamp(gcShare / (2 * t.gcPressurePercent), 0, 1) : 0;
    // defined, not assigned: a stage named `__proto__` is a key like any other
    Object.defineProperty(out, summary.name, { value: round(clamp(100 - growth - retention - spikes - gc, 0, 100), 1), writable: true, enumerable: true, configurable: true });
  }
  return out;
}
