import { createPerformanceMonitor, formatReportSummary, withStage } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

describe('formatReportSummary', () => {
  function runReport(options: Parameters<typeof createPerformanceMonitor>[0] = {}) {
    const m = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
    m.startMonitoring({ runName: 'summary-run' });
    const hot = withStage('hot_rows', (rows: number[]) => rows.length, { monitor: m });
    const failing = withStage('failing', () => {
      throw new TypeError('no such column');
    }, { monitor: m });
    const rows = [1, 2, 3, 4];
    for (let i = 0; i < 20_000; i++) hot(rows);
    for (let i = 0; i < 3; i++) {
      try {
        failing();
      } catch {
        // counted as failures
      }
    }
    return expectValidReport(m.stopMonitoring());
  }

  test('names the run, each stage with its calls and fidelity, failures, and the flags', () => {
    const report = runReport();
    const text = formatReportSummary(report);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^stagemeter: summary-run \(completed\) - 80,000 rows in [\d.]+ s \([\d,]+ rows\/s\)$/);
    const hot = report.stageSummaries.find((s) => s.name === 'hot_rows')!;
    expect(hot.fidelity.timedCalls).toBe(20_000);
    const hotLine = lines.find((l) => l.startsWith('hot_rows'))!;
    expect(hotLine).toContain('20,000');
    expect(hotLine).toContain(`probed ${hot.fidelity.probedCalls}/20000`);
    const failingLine = lines.find((l) => l.startsWith('failing'))!;
    expect(failingLine).toMatch(/\b(full|probed [0-3]\/3), 3 failed$/);
    expect(text).toContain('[error] stage_failed failing: failing failed 3 of 3 call(s)');
    expect(text).toContain('TypeError: no such column');
  });

  test('maxStages and maxFindings cut the lists and say how many more there are', () => {
    const report = runReport();
    const text = formatReportSummary(report, { maxStages: 1, maxFindings: 0 });
    expect(text).toContain('... 1 more stages in the report');
    expect(text).toMatch(/\.\.\. \d+ more in the report/);
  });
});
