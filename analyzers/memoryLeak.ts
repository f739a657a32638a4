/**
 * `memory_leak`: the post-GC heap floor grows (see `analyzeMemoryTrend`), with the stage that most
 * plausibly holds the memory: the one whose calls left the most heap behind, when that accounts for
 * at least a quarter of the floor's growth.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMb, fmtMs, fmtNum, fmtP } from './format';
import type { RunView } from './view';
import { round } from './stats';

/** The leak is an error when the memory budget would be reached within this many minutes. */
export const LEAK_ERROR_WITHIN_MIN = 60;
/** Share of the floor's growth a stage must have left behind to be named. */
export const SUSPECT_SHARE = 0.25;

/**
 * The stage whose calls left the most heap behind, if it explains enough of the growth.
 *
 * @example
 * leakSuspect(view, 40); // { stage: 'cache', retainedMb: 36 }
 */
export function leakSuspect(view: RunView, floorGrowthMb: number): { stage: string; retainedMb: number } | undefined {
  let best: { stage: string; retainedMb: number } | undefined;
  for (const name of view.timeline.stages.keys()) {
    const retainedMb = view.retainedMb(name);
    if (retainedMb > 0 && (best === undefined || retainedMb > best.retainedMb)) best = { stage: name, retainedMb };
  }
  if (best === undefined || !(floorGrowthMb > 0) || best.retainedMb < SUSPECT_SHARE * floorGrowthMb) return undefined;
  return best;
}

/**
 * @example
 * memoryLeak.analyze(run, { ...DEFAULT_THRESHOLDS, minLeakSlopeMbPerMin: 5 });
 */
export const memoryLeak = defineAnalyzer('memoryLeak', (view) => {
  const trend = view.trend;
  if (!trend.leakSuspected) return [];
  const details = trend.details ?? {};
  const floorGrowthMb = typeof details.floorGrowthMb === 'number' ? details.floorGrowthMb : 0;
  const suspect = leakSuspect(view, floorGrowthMb);
  const headroomMb = view.thresholds.maxMemoryMb - view.run.peakMemoryMb;
  const minutesToBudget = trend.slopeMbPerMin > 0 ? Math.max(0, headroomMb / trend.slopeMbPerMin) : undefined;
  const evidence: Record<string, unknown> = {
    slopeMbPerMin: trend.slopeMbPerMin,
    minLeakSlopeMbPerMin: view.thresholds.minLeakSlopeMbPerMin,
    pValue: trend.pValue ?? 1,
    r2: trend.r2,
    confidence: trend.confidence,
    method: trend.method,
    sampleCount: trend.sampleCount,
    floorGrowthMb,
    shape: details.shape,
  };
  if (minutesToBudget !== undefined) evidence.minutesToBudget = round(minutesToBudget, 1);
  if (suspect !== undefined) evidence.retainedMb = round(suspect.retainedMb, 3);
  const where = suspect !== undefined ? `; ${suspect.stage} left ${fmtMb(suspect.retainedMb)} behind over its calls` : '';
  const recent = details.shape === 'growing-recently' ? ' since the middle of the run' : '';
  const budget = minutesToBudget !== undefined ? `; at this rate the ${fmtMb(view.thresholds.maxMemoryMb)} budget is reached in ${fmtMs(minutesToBudget * 60_000)}` : '';
  const finding: Finding = {
    kind: 'memory_leak',
    severity: minutesToBudget !== undefined && minutesToBudget <= LEAK_ERROR_WITHIN_MIN ? 'error' : 'warning',
    message: `Memory leak suspected: the post-GC heap floor grows ${fmtNum(trend.slopeMbPerMin, 2)} MB/min${recent} (${fmtP(trend.pValue ?? 1)}, ${trend.confidence} confidence, ${trend.sampleCount} samples)${where}${budget}`,
    evidence,
  };
  if (suspect !== undefined) finding.stage = suspect.stage;
  return [finding];
});
