/**
 * Heap growth of ten million calls of one hot stage in an active run, and the report's counts.
 * Heap is `process.memoryUsage().heapUsed` after two forced full GCs (needs --expose-gc), taken
 * after startMonitoring() and before the first call of the stage, and again after the last call
 * while the run is still active (what the run retains); the report is built afterwards.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor, withStage, type PerformanceReport } from '../src/index';
import { gcNow } from './stats';

const MB = 1024 * 1024;

export interface MemoryResult {
  calls: number;
  gcAvailable: boolean;
  heapBeforeMb: number;
  heapAfterMb: number;
  heapGrowthMb: number;
  heapGrowthMbPerMillionCalls: number;
  /** Heap kept per call, bytes: the growth over the calls made. */
  bytesPerCall: number;
  /** Largest heapUsed seen at the 1M-call checkpoints (no forced GC), MB above the start. */
  peakHeapAboveStartMb: number;
  rssGrowthMb: number;
  nsPerCall: number;
  reportedCalls: number | undefined;
  countsExact: boolean;
  recordsKept: number | undefined;
  recordsOmitted: number | undefined;
  quantiles: string | undefined;
  fidelity: unknown;
  stopMonitoringMs: number;
  /** heapUsed after stopMonitoring() with the report dropped, MB above the start (what a finished run leaves behind). */
  retainedAfterStopMb: number;
}

function hot(x: number): number {
  return (x * 3 + 1) | 0;
}

/**
 * Makes `calls` calls of one hot stage in an active run and measures the heap they leave.
 *
 * @example
 * runMemory(10_000_000).bytesPerCall; // ~0.1-1: records and sketches are bounded
 */
export function runMemory(calls: number): MemoryResult {
  const monitor = createPerformanceMonitor();
  setMonitor(monitor);
  const stage = withStage('bench_mem_hot', hot);
  // Separately compiled loop, as in the per-call section.
  const loop = new Function('f', 'n', '// memory loop\nlet s = 0;\nfor (let i = 0; i < n; i++) s = (s + f(i)) | 0;\nreturn s;') as (f: (x: number) => number, n: number) => number;
  monitor.startMonitoring({ runName: 'bench:memory' });
  const gcAvailable = gcNow();
  const h0 = process.memoryUsage();
  const chunk = 1_000_000;
  let sink = 0;
  let peak = h0.heapUsed;
  const t0 = performance.now();
  for (let done = 0; done < calls; done += chunk) {
    sink ^= loop(stage, Math.min(chunk, calls - done));
    const h = process.memoryUsage().heapUsed;
    if (h > peak) peak = h;
  }
  const elapsedMs = performance.now() - t0;
  gcNow();
  const h1 = process.memoryUsage();
  const s0 = performance.now();
  let report: PerformanceReport | undefined = monitor.stopMonitoring();
  const stopMonitoringMs = performance.now() - s0;
  const summary = report.stageSummaries.find((s) => s.name === 'bench_mem_hot');
  const growth = (h1.heapUsed - h0.heapUsed) / MB;
  const summaryCopy = summary === undefined ? undefined : { calls: summary.calls, recordsKept: summary.recordsKept, recordsOmitted: summary.recordsOmitted, quantiles: summary.quantiles, fidelity: summary.fidelity };
  report = undefined;
  gcNow();
  const retainedAfterStopMb = (process.memoryUsage().heapUsed - h0.heapUsed) / MB;
  if (sink === 0.5) console.log('unreachable');
  return {
    calls,
    gcAvailable,
    heapBeforeMb: h0.heapUsed / MB,
    heapAfterMb: h1.heapUsed / MB,
    heapGrowthMb: growth,
    heapGrowthMbPerMillionCalls: growth / (calls / 1e6),
    bytesPerCall: (h1.heapUsed - h0.heapUsed) / calls,
    peakHeapAboveStartMb: (peak - h0.heapUsed) / MB,
    rssGrowthMb: (h1.rss - h0.rss) / MB,
    nsPerCall: (elapsedMs * 1e6) / calls,
    reportedCalls: summaryCopy?.calls,
    countsExact: summaryCopy?.calls === calls,
    recordsKept: summaryCopy?.recordsKept,
    recordsOmitted: summaryCopy?.recordsOmitted,
    quantiles: summaryCopy?.quantiles,
    fidelity: summaryCopy?.fidelity,
    stopMonitoringMs,
    retainedAfterStopMb,
  };
}
