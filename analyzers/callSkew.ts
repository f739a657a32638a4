/**
 * `call_skew`: a stage whose slowest call is far above its typical call (at least 5× the 75th
 * percentile, and at least 50 ms and 1 % of the run longer): a retry, a lock wait, a cold cache or
 * an oversized partition hides in that call.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtAt, fmtMs, fmtNum } from './format';
import { quantile, round } from './stats';

/** Fewest calls (and kept records) skew is judged on. */
export const SKEW_MIN_CALLS = 8;
/** Slowest call at least this many times the 75th percentile. */
export const SKEW_RATIO = 5;
/** And longer than the 75th percentile by at least this, ms (and 1 % of the run). */
export const SKEW_MIN_EXCESS_MS = 50;

/**
 * Info; warning when the slowest call is also over `slowStageMs`.
 *
 * @example
 * callSkew.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'call_skew', stage: 'fetch_page', ... }]
 */
export const callSkew = defineAnalyzer('callSkew', (view) => {
  const findings: Finding[] = [];
  for (const s of view.run.stageSummaries) {
    if (s.calls < SKEW_MIN_CALLS) continue;
    const records = view.recordsOf(s.name);
    if (records.length < SKEW_MIN_CALLS) continue;
    const p75Ms = quantile(records.map((r) => r.durationMs), 0.75);
    const maxMs = s.maxMs;
    const excessMs = maxMs - p75Ms;
    if (maxMs < SKEW_RATIO * p75Ms || excessMs < Math.max(SKEW_MIN_EXCESS_MS, 0.01 * view.durationMs)) continue;
    const slowest = view.slowestRecord(s.name);
    const evidence: Record<string, unknown> = {
      calls: s.calls,
      p50Ms: s.p50Ms,
      p75Ms: round(p75Ms, 3),
      p95Ms: s.p95Ms,
      maxMs,
      excessMs: round(excessMs, 3),
    };
    if (p75Ms > 0) evidence.maxToP75Ratio = round(maxMs / p75Ms, 1);
    if (slowest !== undefined && slowest.durationMs >= maxMs * 0.999) evidence.slowestAtMs = slowest.t;
    const ratio = p75Ms > 0 ? ` (${fmtNum(maxMs / p75Ms, 1)}×)` : '';
    const at = evidence.slowestAtMs !== undefined ? ` at ${fmtAt(slowest!.t)}` : '';
    findings.push({
      kind: 'call_skew',
      severity: maxMs > view.thresholds.slowStageMs ? 'warning' : 'info',
      stage: s.name,
      message: `${s.name}: the slowest of ${s.calls} calls took ${fmtMs(maxMs)}${at}, against a 75th percentile of ${fmtMs(p75Ms)}${ratio}`,
      evidence,
    });
  }
  return findings;
});
