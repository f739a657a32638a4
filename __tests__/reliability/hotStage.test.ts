/**
 * Long runs stay bounded: a stage called ten million times keeps a bounded number of per-call
 * records, while its summary counts every call, and the process does not grow with the calls.
 */
import { configOf } from '../../src/monitor';
import { createPerformanceMonitor, withStage } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

const CALLS = 10_000_000;
const MB = 1024 * 1024;

test(`a stage called ${CALLS.toLocaleString('en')} times keeps at most maxStageRecords records, spread over the run, and counts every call`, () => {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  const maxRecords = configOf(monitor).maxStageRecords;
  monitor.startMonitoring({ runName: 'hot' });
  let sum = 0;
  const hot = withStage('hot', (i: number) => i & 1, { monitor });
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  for (let i = 0; i < CALLS; i++) {
    sum += hot(i);
    if ((i & 0xfffff) === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  const report = expectValidReport(monitor.stopMonitoring());
  expect(sum).toBe(CALLS / 2); // the results are the function's own
  const s = report.stageSummaries.find((x) => x.name === 'hot')!;
  expect(s).toMatchObject({ calls: CALLS, failures: 0, recordsOmitted: CALLS - s.recordsKept, quantiles: 'sketch' });
  // an evenly spaced sample: thinning halves the stage's rows when the budget is full
  expect(s.recordsKept).toBeLessThanOrEqual(maxRecords);
  expect(s.recordsKept).toBeGreaterThan(maxRecords / 2);
  expect(report.summary.totalStages).toBe(CALLS);
  expect(report.stageRecords).toEqual({ max: maxRecords, kept: s.recordsKept, omitted: CALLS - s.recordsKept });
  expect(report.stages).toHaveLength(s.recordsKept);
  // the last record is from the end of the calls, not the first stretch of the run
  expect(report.stages[report.stages.length - 1]!.t).toBeGreaterThan(0.5 * report.run.durationMs);
  expect(s.p50Ms).toBeLessThanOrEqual(s.p99Ms);
  expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs);
  // Ten million kept records would take gigabytes; what is kept is a few megabytes.
  expect((heapPeak - heapBefore) / MB).toBeLessThan(256);
});
