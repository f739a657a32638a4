/**
 * `low_throughput`: stages that process rows at fewer than `minThroughputRowsPerSec` (default
 * 1000) rows per second of wall time. Only stages that report rows; concurrent calls share their
 * wall time (rows / time during which at least one call was running).
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtNum, fmtPct, fmtRate } from './format';
import { round } from './stats';

/** A low-throughput stage taking at least this share of the run is a warning; below, info. */
export const LOW_THROUGHPUT_WARNING_SHARE_PERCENT = 10;

/**
 * @example
 * lowThroughput.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'low_throughput', stage: 'enrich', ... }]
 */
export const lowThroughput = defineAnalyzer('lowThroughput', (view) => {
  const min = view.thresholds.minThroughputRowsPerSec;
  const findings: Finding[] = [];
  if (!(min > 0)) return findings;
  for (const s of view.run.stageSummaries) {
    if (!(s.rowsProcessed > 0)) continue;
    const share = view.shareOf(s.name);
    const wallMs = share.totalMs > 0 ? share.totalMs : s.totalMs;
    if (!(wallMs > 0)) continue;
    const rowsPerSecond = (s.rowsProcessed / wallMs) * 1000;
    if (rowsPerSecond >= min) continue;
    findings.push({
      kind: 'low_throughput',
      severity: share.totalPercent >= LOW_THROUGHPUT_WARNING_SHARE_PERCENT ? 'warning' : 'info',
      stage: s.name,
      message: `${s.name} processed ${fmtRate(rowsPerSecond)} rows/s, under the ${fmtNum(min)} rows/s minimum (${fmtNum(s.rowsProcessed)} rows in ${fmtMs(wallMs)}, ${fmtPct(share.totalPercent)} of the run)`,
      evidence: {
        rowsPerSecond: round(rowsPerSecond, 3),
        minRowsPerSecond: min,
        rowsProcessed: s.rowsProcessed,
        wallMs: round(wallMs, 3),
        perCallRowsPerSecond: s.rowsPerSecond,
        calls: s.calls,
        sharePercent: share.totalPercent,
      },
    });
  }
  return findings;
});
