/**
 * Worker thread of the analyzer timing (see analyzer.ts): builds a synthetic RunData and times
 * `runAnalysis(run, DEFAULT_THRESHOLDS)` a few times. In a worker so a slow or hung analyzer can be
 * stopped by the main thread instead of stalling the whole bench.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { runAnalysis } from '../analyzers';
import { DEFAULT_THRESHOLDS } from '../src/index';
import type { MemorySample, RunData, StageMetrics, StageSummary } from '../src/types';
import { prng } from '../examples/random';

interface Input {
  samples: number;
  records: number;
  repeats: number;
}


const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * A long run: `samples` sampler ticks at 1000 ms (heap sawtooth between GCs, a slow upward drift,
 * rss above heap, CPU and loop delay), and `records` stage records: batches (top level) each
 * with load, transform (with nested score_chunk calls) and write children.
 */
export function buildRun(samples: number, records: number): RunData {
  const rand = prng(7);
  const intervalMs = 1000;
  const out: MemorySample[] = new Array(samples);
  for (let i = 0; i < samples; i++) {
    const cycle = i % 45; // a major GC about every 45 s
    const heap = 180 + i * 0.00002 + cycle * 4.5 + rand() * 6;
    const gcCount = cycle === 0 ? 3 : rand() < 0.5 ? 1 : 0; // a minor GC in about every other tick
    out[i] = {
      t: i * intervalMs,
      rssMb: r3(heap + 220 + rand() * 10),
      heapUsedMb: r3(heap),
      heapTotalMb: r3(heap + 60),
      externalMb: r3(12 + rand()),
      cpuPercent: r3(60 + rand() * 40),
      loopDelayMs: r3(rand() < 0.01 ? 150 + rand() * 200 : rand() * 30),
      gcCount,
      gcPauseMs: r3(cycle === 0 ? 40 + rand() * 20 : gcCount > 0 ? 0.5 + rand() * 2 : 0),
    };
  }
  const durationMs = samples * intervalMs;
  const stages: StageMetrics[] = [];
  const perBatch = 8; // batch, load, transform, 4 x score_chunk, write
  const batches = Math.ceil(records / perBatch);
  const batchMs = durationMs / batches;
  let id = 0;
  const rec = (name: string, parentId: string | undefined, t: number, durationMs: number, rows: number, sync: boolean): StageMetrics => {
    const cpuMs = durationMs * (sync ? 0.95 : 0.3);
    const m: StageMetrics = {
      id: String(++id),
      name,
      t: r3(t),
      durationMs: r3(durationMs),
      rowsProcessed: rows,
      rowsPerSecond: durationMs > 0 ? r3((rows / durationMs) * 1000) : 0,
      success: rand() > 0.0005,
      cpu: { userMs: r3(cpuMs * 0.9), systemMs: r3(cpuMs * 0.1), percent: r3((cpuMs / Math.max(durationMs, 1e-9)) * 100) },
      memory: { heapUsedDeltaMb: r3((rand() - 0.4) * 20) },
      fidelity: 'full',
      sync,
    };
    if (parentId !== undefined) m.parentId = parentId;
    if (!m.success) m.error = { name: 'Error', message: 'synthetic failure' };
    return m;
  };
  for (let b = 0; b < batches && stages.length < records; b++) {
    const t0 = b * batchMs;
    const rows = 10_000;
    const batch = rec('process_batch', undefined, t0, batchMs * 0.98, rows, false);
    stages.push(batch);
    stages.push(rec('load', batch.id, t0, batchMs * 0.2, rows, false));
    const transform = rec('transform', batch.id, t0 + batchMs * 0.2, batchMs * 0.6, rows, true);
    stages.push(transform);
    for (let c = 0; c < 4; c++) stages.push(rec('score_chunk', transform.id, t0 + batchMs * (0.2 + c * 0.15), batchMs * 0.15, rows / 4, true));
    stages.push(rec('write', batch.id, t0 + batchMs * 0.8, batchMs * 0.18, rows, false));
  }
  stages.length = Math.min(stages.length, records);
  const byName = new Map<string, StageMetrics[]>();
  for (const s of stages) {
    const list = byName.get(s.name);
    if (list === undefined) byName.set(s.name, [s]);
    else list.push(s);
  }
  const summaries: StageSummary[] = [...byName.entries()].map(([name, list]) => {
    const d = list.map((s) => s.durationMs).sort((a, b) => a - b);
    const q = (p: number): number => d[Math.min(d.length - 1, Math.floor(p * (d.length - 1)))]!;
    const totalMs = d.reduce((a, b) => a + b, 0);
    const rows = list.reduce((a, s) => a + s.rowsProcessed, 0);
    const user = list.reduce((a, s) => a + s.cpu.userMs, 0);
    const sys = list.reduce((a, s) => a + s.cpu.systemMs, 0);
    const heap = list.map((s) => s.memory.heapUsedDeltaMb);
    return {
      name,
      calls: list.length,
      failures: list.filter((s) => !s.success).length,
      totalMs: r3(totalMs),
      // sequential synthetic calls: busy and self are the summed time (children are subtracted by the analyzers)
      busyMs: r3(totalMs),
      selfMs: r3(totalMs),
      meanMs: r3(totalMs / list.length),
      stdDevMs: 0,
      p50Ms: q(0.5),
      p95Ms: q(0.95),
      p99Ms: q(0.99),
      maxMs: d[d.length - 1]!,
      minMs: d[0]!,
      quantiles: 'exact',
      rowsProcessed: rows,
      rowsPerSecond: r3((rows / totalMs) * 1000),
      rowsPerCallSecond: r3((rows / totalMs) * 1000),
      cpu: { userMs: r3(user), systemMs: r3(sys), percent: r3(((user + sys) / totalMs) * 100), estimated: false },
      meanHeapUsedDeltaMb: r3(heap.reduce((a, b) => a + b, 0) / heap.length),
      maxHeapUsedDeltaMb: r3(heap.reduce((a, b) => (b > a ? b : a), Number.NEGATIVE_INFINITY)),
      syncCalls: list.filter((s) => s.sync).length,
      maxSyncMs: 0,
      maxSyncAtMs: 0,
      rootCalls: list.filter((s) => s.parentId === undefined).length,
      fidelity: { mode: 'full', probedCalls: list.length, recordEvery: 1, timedCalls: list.length },
      recordsKept: list.length,
      recordsOmitted: 0,
    };
  });
  const start = Date.UTC(2026, 0, 1);
  return {
    run: {
      id: '00000000-0000-4000-8000-000000000000',
      name: 'bench-synthetic',
      status: 'completed',
      startedAt: new Date(start).toISOString(),
      endedAt: new Date(start + durationMs).toISOString(),
      durationMs,
      rowsProcessed: batches * 10_000,
      rowsPerSecond: r3(((batches * 10_000) / durationMs) * 1000),
      endReason: 'stopMonitoring',
      host: { node: process.version, platform: process.platform, arch: process.arch, cpus: 2, totalMemoryMb: 24_000, pid: 1 },
    },
    stages,
    stageSummaries: summaries,
    samples: out,
    samplingIntervalMs: intervalMs,
    avgCpuPercent: 78,
    peakMemoryMb: out.reduce((a, s) => (s.rssMb > a ? s.rssMb : a), 0),
    eventLoop: { delayP50Ms: 2, delayP99Ms: 120, delayMaxMs: 340, delayMeanMs: 5 },
    gc: { count: Math.round(samples * 0.6), totalPauseMs: samples * 1.9, maxPauseMs: 61, byKind: { minor: { count: Math.round(samples * 0.55), totalPauseMs: samples * 0.6 }, major: { count: Math.round(samples * 0.05), totalPauseMs: samples * 1.3 } } },
    qualityFlags: [],
  };
}

if (parentPort !== null) {
  const input = workerData as Input;
  const b0 = performance.now();
  const run = buildRun(input.samples, input.records);
  const buildMs = performance.now() - b0;
  const timesMs: number[] = [];
  let findings = 0;
  let kinds: string[] = [];
  let trendMethod = '';
  try {
    for (let i = 0; i < input.repeats; i++) {
      const t0 = performance.now();
      const result = runAnalysis(run, DEFAULT_THRESHOLDS);
      timesMs.push(performance.now() - t0);
      findings = result.bottlenecks.findings.length;
      kinds = [...new Set(result.bottlenecks.findings.map((f) => f.kind))].sort();
      trendMethod = result.trend.method;
      parentPort.postMessage({ type: 'progress', timesMs });
    }
    parentPort.postMessage({ type: 'done', buildMs, timesMs, findings, kinds, trendMethod, samples: run.samples.length, records: run.stages.length });
  } catch (err) {
    parentPort.postMessage({ type: 'error', buildMs, timesMs, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
}
