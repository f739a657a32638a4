/**
 * `stage_failed`: stages with calls that threw, rejected, reported failure, or were still running
 * when the run ended. Counts come from the summaries (every call); the first error from the
 * summary (kept for every stage, whether or not the failed call has a record), else the records.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtAt, fmtPct } from './format';
import { round } from './stats';

/**
 * Error when every call failed, warning otherwise.
 *
 * @example
 * stageFailures.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'stage_failed', stage: 'load', ... }]
 */
export const stageFailures = defineAnalyzer('stageFailures', (view) => {
  const findings: Finding[] = [];
  for (const s of view.run.stageSummaries) {
    if (!(s.failures > 0)) continue;
    const failed = view.recordsOf(s.name).filter((r) => !r.success);
    const first = failed[0];
    const stillRunning = failed.filter((r) => r.error?.name === 'StageNotEnded').length;
    const failurePercent = s.calls > 0 ? (s.failures / s.calls) * 100 : 100;
    const evidence: Record<string, unknown> = { failures: s.failures, calls: s.calls, failurePercent: round(failurePercent, 2) };
    let detail = '';
    const firstError = s.firstError ?? (first?.error !== undefined ? { ...first.error, t: first.t } : undefined);
    if (firstError !== undefined) {
      evidence.firstFailureAtMs = firstError.t;
      evidence.firstError = { name: firstError.name, message: firstError.message };
      detail = `; first at ${fmtAt(firstError.t)}: ${firstError.name}: ${firstError.message}`;
    } else if (first !== undefined) {
      evidence.firstFailureAtMs = first.t;
    }
    if (stillRunning > 0) evidence.stillRunningAtEnd = stillRunning;
    findings.push({
      kind: 'stage_failed',
      severity: s.failures >= s.calls ? 'error' : 'warning',
      stage: s.name,
      message: `${s.name} failed ${s.failures} of ${s.calls} call(s) (${fmtPct(failurePercent)})${detail}`,
      evidence,
    });
  }
  return findings;
});
