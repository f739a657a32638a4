/**
 * Long runs stay bounded: a stage called ten million times keeps a bounded number of per-call
 * records, while its summary counts every call, and the process does not grow with the calls.
 */
import { createPerformanceMonitor, withStage } from '../../src/index';
import { expectValidReport } from '../helpers/schema';

const CALLS = 10_000_000;
const MB = 1024 * 1024;

test(`a stage called ${CALLS.toLocaleString('en')} times keeps maxStageRecords records and counts every call`, () => {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  const maxRecords = monitor.config.maxStageRecords;
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
  expect(s).toMatchObject({ calls: CALLS, failures: 0, recordsKept: maxRecords, recordsOmitted: CALLS - maxRecords, quantiles: 'sketch' });
  expect(report.summary.totalStages).toBe(CALLS);
  expect(report.stageRecords).toEqual({ maxPerStage: maxRecords, kept: maxRecords, omitted: CALLS - maxRecords });
  expect(report.stages).toHaveLength(maxRecords);
  expect(s.p50Ms).toBeLessThanOrEqual(s.p99Ms);
  expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs);
  // Ten million kept records would take gigabytes; what is kept is a few megabytes.
  expect((heapPeak - heapBefore) / MB).toBeLessThan(256);
});
