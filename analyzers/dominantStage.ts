/**
 * `dominant_stage`: the stages that hold a large part of their thread's time (their exclusive
 * share, see shares.ts), whatever the absolute thresholds: a stage that takes half of a 75 s run
 * is where to look first, even though no call of it passed the 30 s slow-stage threshold.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtPct } from './format';

/** A stage with at least this share of its thread's time is named, percent. */
export const DOMINANT_SHARE_PERCENT = 25;
/** From this share on, a warning (an info below), percent. */
export const DOMINANT_WARNING_PERCENT = 50;

/**
 * @example
 * dominantStage.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'dominant_stage', stage: 'parse', evidence: { sharePercent: 54, ... } }]
 */
export const dominantStage = defineAnalyzer('dominantStage', (view) => {
  const findings: Finding[] = [];
  for (const share of view.timeShare) {
    if (share.sharePercent < DOMINANT_SHARE_PERCENT) continue;
    const s = view.summaries.get(share.stage);
    if (s === undefined) continue;
    findings.push({
      kind: 'dominant_stage',
      severity: share.sharePercent >= DOMINANT_WARNING_PERCENT ? 'warning' : 'info',
      stage: share.stage,
      message: `${share.stage} holds ${fmtPct(share.sharePercent)} of the run (${fmtMs(share.shareMs)} of its thread's time, over ${s.calls} call(s)): the first place to look`,
      evidence: {
        sharePercent: share.sharePercent,
        shareMs: share.shareMs,
        busyMs: s.busyMs,
        totalMs: s.totalMs,
        calls: s.calls,
        meanMs: s.meanMs,
        cpuPercent: s.cpu.percent,
        threadId: share.threadId,
      },
    });
  }
  return findings;
});
