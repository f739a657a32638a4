import type { PerformanceReport, StageSummary } from '../../src/types';

/**
 * The summary of one stage of a report; throws, naming the stages there are, when it has none.
 *
 * @example
 * summaryOf(report, 'load').calls; // 5
 */
export function summaryOf(report: PerformanceReport, name: string): StageSummary {
  const s = report.stageSummaries.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no summary for ${JSON.stringify(name)}: ${report.stageSummaries.map((x) => x.name).join(', ')}`);
  return s;
}
