import { lowThroughput } from '../../analyzers/lowThroughput';
import { rec, runOf, th } from './fixtures';

describe('lowThroughput', () => {
  it('flags a stage under 1000 rows/s of busy time, a warning when it is open 10 % of the run or more', () => {
    const run = runOf({ stages: [rec('enrich', 0, 1000, { rowsProcessed: 500 }), rec('enrich', 1000, 1000, { rowsProcessed: 500 })] });
    expect(lowThroughput.analyze(run, th())).toEqual([
      {
        kind: 'low_throughput',
        severity: 'warning',
        stage: 'enrich',
        message: 'enrich processed 500 rows/s, under the 1,000 rows/s minimum (1,000 rows in 2 s of busy time, 100% of the run)',
        evidence: { rowsPerSecond: 500, minRowsPerSecond: 1000, rowsProcessed: 1000, busyMs: 2000, rowsPerCallSecond: 500, calls: 2, busyPercent: 100 },
      },
    ]);
  });

  it('concurrent calls share their wall time: 1200 rows in 1 s of wall time is fine', () => {
    const run = runOf({ stages: [rec('fetch', 0, 1000, { rowsProcessed: 600 }), rec('fetch', 0, 1000, { rowsProcessed: 600 })] });
    expect(run.stageSummaries[0]!.rowsPerCallSecond).toBe(600);
    expect(run.stageSummaries[0]!.rowsPerSecond).toBe(1200);
    expect(lowThroughput.analyze(run, th())).toEqual([]);
  });

  it('a marginal stage (under 10 % of the run) is info', () => {
    const run = runOf({ stages: [rec('lookup', 0, 50, { rowsProcessed: 10 })], durationMs: 10_000 });
    expect(lowThroughput.analyze(run, th())).toMatchObject([{ severity: 'info', evidence: { rowsPerSecond: 200, busyPercent: 0.5 } }]);
  });

  it('stages without rows, zero-length stages and a zero minimum are not judged', () => {
    expect(lowThroughput.analyze(runOf({ stages: [rec('noRows', 0, 5000)] }), th())).toEqual([]);
    expect(lowThroughput.analyze(runOf({ stages: [rec('instant', 0, 0, { rowsProcessed: 5 })] }), th())).toEqual([]);
    expect(lowThroughput.analyze(runOf({ stages: [rec('enrich', 0, 1000, { rowsProcessed: 5 })] }), th({ minThroughputRowsPerSec: 0 }))).toEqual([]);
  });
});
