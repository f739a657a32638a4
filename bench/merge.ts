/**
 * `mergeReports` on 10 reports of 10,000 records each (a sharded run's `stagemeter merge`): the
 * time of the call on reports as read back from their files (JSON text parsed), validation,
 * rebasing, re-analysis and the merged summaries included.
 */
import { performance } from 'node:perf_hooks';
import { mergeReports } from '../src/index';
import { reportWithRecords } from './otelExport';
import { median } from './stats';

export interface MergeResult {
  reports: number;
  recordsEach: number;
  /** Median and every repetition, ms. */
  ms: number;
  runsMs: number[];
  mergedRecords: number;
}

/**
 * Merges `reports` reports of `recordsEach` records `repeat` times.
 *
 * @example
 * measureMerge().ms; // ~300-600 on a 2-core VM
 */
export function measureMerge(reports = 10, recordsEach = 10_000, repeat = 3): MergeResult {
  // Each from a run of its own (its own run id: merge refuses a report given twice).
  const inputs = Array.from({ length: reports }, () => JSON.stringify(reportWithRecords(recordsEach)));
  const runsMs: number[] = [];
  let mergedRecords = 0;
  for (let i = 0; i < repeat; i++) {
    const parsed: unknown[] = inputs.map((text) => JSON.parse(text) as unknown);
    const t0 = performance.now();
    const merged = mergeReports(parsed);
    runsMs.push(performance.now() - t0);
    mergedRecords = merged.stages.length;
  }
  if (mergedRecords !== reports * recordsEach) throw new Error(`the merge lost records: ${mergedRecords} of ${reports * recordsEach}`);
  return { reports, recordsEach, ms: median(runsMs), runsMs, mergedRecords };
}
