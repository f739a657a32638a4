/**
 * `slow_stage`: stages whose slowest call took longer than `slowStageMs` (default 30 s), with the
 * stage's busy time and its exclusive share of the run (see shares.ts).
 */
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtPct } from './format';

/**
 * One warning per slow stage, slowest first.
 *
 * @example
 * slowStages.analyze(run, { ...DEFAULT_THRESHOLDS, slowStageMs: 100 });
 */
export const slowStages = defineAnalyzer('slowStages', (view) =>
  view.slowStages.map((s) => {
    const share = view.shareOf(s.name);
    const slowest = view.slowestRecord(s.name);
    const evidence: Record<string, unknown> = {
      durationMs: s.maxMs,
      slowStageMs: view.thresholds.slowStageMs,
      calls: s.calls,
      totalMs: s.totalMs,
      meanMs: s.meanMs,
      p95Ms: s.p95Ms,
      busyMs: s.busyMs,
      selfMs: s.selfMs,
      busyPercent: share.totalPercent,
      sharePercent: share.sharePercent,
    };
    if (slowest !== undefined) evidence.slowestAtMs = slowest.t;
    const calls = s.calls > 1 ? ` (${s.calls} calls, mean ${fmtMs(s.meanMs)})` : '';
    return {
      kind: 'slow_stage',
      severity: 'warning' as const,
      stage: s.name,
      message: `${s.name}: slowest call took ${fmtMs(s.maxMs)}, over the ${fmtMs(view.thresholds.slowStageMs)} threshold${calls}; a call of it was open ${fmtPct(share.totalPercent)} of the run, and it holds ${fmtPct(share.sharePercent)} of the run itself`,
      evidence,
    };
  }),
);
