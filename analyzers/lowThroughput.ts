/**
 * `low_throughput`: stages that process rows at fewer than `minThroughputRowsPerSec` (default
 * 1000) rows per second of busy time (the summary's `rowsPerSecond`: rows over the time during
 * which at least one call was open, so concurrent calls count together). Only stages that report rows.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtNum, fmtPct, fmtRate } from './format';

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
    if (!(s.rowsProcessed > 0) || !(s.busyMs > 0)) continue;
    // rows over the time at least one call was open: concurrent calls together, as the pipeline saw them
    const rowsPerSecond = s.rowsPerSecond;
    if (rowsPerSecond >= min) continue;
    const share = view.shareOf(s.name);
    findings.push({
      kind: 'low_throughput',
      severity: share.totalPercent >= LOW_THROUGHPUT_WARNING_SHARE_PERCENT ? 'warning' : 'info',
      stage: s.name,
      message: `${s.name} processed ${fmtRate(rowsPerSecond)} rows/s, under the ${fmtNum(min)} rows/s minimum (${fmtNum(s.rowsProcessed)} rows in ${fmtMs(s.busyMs)} of busy time, ${fmtPct(share.totalPercent)} of the run)`,
      evidence: {
        rowsPerSecond,
        minRowsPerSecond: min,
        rowsProcessed: s.rowsProcessed,
        busyMs: s.busyMs,
        rowsPerCallSecond: s.rowsPerCallSecond,
        calls: s.calls,
        busyPercent: share.totalPercent,
      },
    });
  }
  return findings;
});
