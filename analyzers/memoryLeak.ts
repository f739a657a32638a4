/**
 * `memory_leak`: the post-GC heap floor grows (see `analyzeMemoryTrend`), with the stage it
 * follows when one can be named from what was kept (see leakAttribution.ts): the floor's growth
 * regressed on each stage's busy time, window by window. Its size is the floor's growth that stage
 * explains; with no such stage the finding says the heap grew and names none.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMb, fmtMs, fmtNum, fmtP } from './format';
import { attributeLeak } from './leakAttribution';
import { round } from './stats';

/** The leak is an error when the memory budget would be reached within this many minutes. */
export const LEAK_ERROR_WITHIN_MIN = 60;

/**
 * @example
 * memoryLeak.analyze(run, { ...DEFAULT_THRESHOLDS, minLeakSlopeMbPerMin: 5 });
 */
export const memoryLeak = defineAnalyzer('memoryLeak', (view) => {
  const trend = view.trend;
  if (!trend.leakSuspected) return [];
  const details = trend.details ?? {};
  const floorGrowthMb = typeof details.floorGrowthMb === 'number' ? details.floorGrowthMb : 0;
  const who = view.leakAttribution ?? attributeLeak([], 0, floorGrowthMb);
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
    attributionWindows: who.windows,
  };
  if (minutesToBudget !== undefined) evidence.minutesToBudget = round(minutesToBudget, 1);
  // Without a full (mark-compact) collection the floor still holds garbage that minor collections
  // promoted: its growth can be several times what was kept (known only when the GC was observed).
  const gc = view.run.gc;
  const fullCollections = gc === undefined ? undefined : (gc.byKind.major?.count ?? 0);
  if (fullCollections !== undefined) evidence.fullCollections = fullCollections;
  if (who.stage !== undefined) {
    evidence.retainedMb = round(who.retainedMb, 3);
    evidence.mbPerBusySecond = round(who.mbPerBusySecond, 6);
    evidence.attributionPValue = who.pValue;
  } else {
    evidence.attribution = who.reason;
    if (who.tied !== undefined) evidence.tiedStages = who.tied;
  }
  const where =
    who.stage !== undefined
      ? `; it grows while ${who.stage} is busy: ${fmtMb(who.retainedMb)} of the floor's ${fmtMb(floorGrowthMb)} growth (${fmtNum(who.mbPerBusySecond, 3)} MB per second of ${who.stage}'s busy time, ${fmtP(who.pValue)})`
      : `; no stage can be named (${who.reason ?? 'no stage follows it'})`;
  const recent = details.shape === 'growing-recently' ? ' since the middle of the run' : '';
  const budget = minutesToBudget !== undefined ? `; at this rate the ${fmtMb(view.thresholds.maxMemoryMb)} budget is reached in ${fmtMs(minutesToBudget * 60_000)}` : '';
  const bound = fullCollections === 0 ? '; no full collection ran, so the floor still holds garbage promoted by minor ones: these sizes are upper bounds on what was kept' : '';
  const finding: Finding = {
    kind: 'memory_leak',
    severity: minutesToBudget !== undefined && minutesToBudget <= LEAK_ERROR_WITHIN_MIN ? 'error' : 'warning',
    message: `Memory leak suspected: the post-GC heap floor grows ${fmtNum(trend.slopeMbPerMin, 2)} MB/min${recent} (${fmtP(trend.pValue ?? 1)}, ${trend.confidence} confidence, ${trend.sampleCount} samples)${where}${budget}${bound}`,
    evidence,
  };
  if (who.stage !== undefined) finding.stage = who.stage;
  return [finding];
});
