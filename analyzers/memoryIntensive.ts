/**
 * `memory_intensive`: stages where one call grew the heap by more than `memoryIntensiveMb`
 * (default 500 MiB), net of what its child stages grew it by (so a parent is not blamed for its
 * child's allocation). Measured calls only; a stage without kept records falls back to its summary.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtAt, fmtMb } from './format';
import { round } from './stats';

/**
 * Warning; error when the growth also exceeds `stageMemoryWarningMb` (default 1024 MiB).
 *
 * @example
 * memoryIntensive.analyze(run, { ...DEFAULT_THRESHOLDS, memoryIntensiveMb: 100 });
 */
export const memoryIntensive = defineAnalyzer('memoryIntensive', (view) => {
  const limit = view.thresholds.memoryIntensiveMb;
  const findings: Finding[] = [];
  for (const s of view.run.stageSummaries) {
    const times = view.timeline.stages.get(s.name);
    let growthMb: number;
    let atMs: number | undefined;
    let basis: string;
    if (times !== undefined && times.probedRecords > 0) {
      growthMb = times.maxSelfHeapDeltaMb;
      atMs = times.maxSelfHeapDeltaAtMs;
      basis = 'own growth (child stages subtracted)';
    } else if (s.fidelity.probedCalls > 0) {
      growthMb = s.maxHeapUsedDeltaMb;
      basis = 'largest call (summary)';
    } else {
      continue;
    }
    if (!(growthMb > limit)) continue;
    const evidence: Record<string, unknown> = {
      heapUsedDeltaMb: round(growthMb, 3),
      memoryIntensiveMb: limit,
      meanHeapUsedDeltaMb: s.meanHeapUsedDeltaMb,
      calls: s.calls,
      basis,
    };
    if (atMs !== undefined) evidence.atMs = atMs;
    findings.push({
      kind: 'memory_intensive',
      severity: growthMb > view.thresholds.stageMemoryWarningMb ? 'error' : 'warning',
      stage: s.name,
      message: `${s.name} grew the heap by ${fmtMb(growthMb)} in one call${atMs !== undefined ? ` (${fmtAt(atMs)})` : ''}, over the ${fmtMb(limit)} threshold`,
      evidence,
    });
  }
  return findings;
});
