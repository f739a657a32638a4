/**
 * `gc_pressure`: garbage-collection pauses take more than `gcPressurePercent` (default 10 %) of
 * the run's wall time, with the stage that was running during most of the pause time.
 */
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtPct } from './format';
import { round } from './stats';

/** Runs shorter than this are not judged (a single pause dominates a short run), ms. */
export const GC_MIN_RUN_MS = 1000;
/** Less pause time than this in all is not judged, ms. */
export const GC_MIN_PAUSE_MS = 50;
/** A stage is named when it was running during at least this share of the attributed pauses. */
export const GC_STAGE_SHARE = 0.5;

/**
 * Warning; error at twice the threshold.
 *
 * @example
 * gcPressure.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'gc_pressure', evidence: { gcPausePercent: 14.2, ... } }]
 */
export const gcPressure = defineAnalyzer('gcPressure', (view) => {
  const duration = view.durationMs;
  let totalPauseMs = view.run.gc?.totalPauseMs;
  let count = view.run.gc?.count;
  let maxPauseMs = view.run.gc?.maxPauseMs;
  if (totalPauseMs === undefined) {
    totalPauseMs = 0;
    count = 0;
    maxPauseMs = 0;
    for (const s of view.run.samples) {
      totalPauseMs += s.gcPauseMs ?? 0;
      count += s.gcCount ?? 0;
    }
  }
  if (duration < GC_MIN_RUN_MS || !(totalPauseMs >= GC_MIN_PAUSE_MS)) return [];
  const gcPausePercent = (totalPauseMs / duration) * 100;
  const limit = view.thresholds.gcPressurePercent;
  if (!(gcPausePercent > limit)) return [];
  let stage: string | undefined;
  let stagePauseMs = 0;
  let attributed = 0;
  for (const [name, ms] of view.gcByStage) {
    attributed += ms;
    if (ms > stagePauseMs) {
      stage = name;
      stagePauseMs = ms;
    }
  }
  const named = stage !== undefined && attributed > 0 && stagePauseMs >= GC_STAGE_SHARE * attributed;
  const evidence: Record<string, unknown> = {
    gcPausePercent: round(gcPausePercent, 2),
    gcPressurePercent: limit,
    totalPauseMs: round(totalPauseMs, 3),
    count: count ?? 0,
    maxPauseMs: round(maxPauseMs ?? 0, 3),
  };
  const major = view.run.gc?.byKind.major;
  if (major !== undefined) evidence.majorPauseMs = round(major.totalPauseMs, 3);
  let during = '';
  if (named && stage !== undefined) {
    const wall = view.shareOf(stage).totalMs;
    evidence.stagePauseMs = round(stagePauseMs, 3);
    evidence.stageSharePercent = round((stagePauseMs / attributed) * 100, 1);
    if (wall > 0) evidence.stageGcPercent = round((stagePauseMs / wall) * 100, 2);
    during = `, ${fmtPct((stagePauseMs / attributed) * 100)} of it while ${stage} was running`;
  }
  return [
    {
      kind: 'gc_pressure',
      severity: gcPausePercent >= 2 * limit ? 'error' : 'warning',
      ...(named && stage !== undefined ? { stage } : {}),
      message: `GC pauses took ${fmtPct(gcPausePercent)} of the run (${fmtMs(totalPauseMs)} in ${count ?? 0} pauses, longest ${fmtMs(maxPauseMs ?? 0)}; threshold ${fmtPct(limit)})${during}`,
      evidence,
    },
  ];
});
