/**
 * The demo pipeline monitored vs not, in the same process, runs alternated (U M, M U, U M, ...).
 * Monitored: a fresh monitor (sampler on, 1000 ms) set as the singleton, startMonitoring,
 * the pipeline, stopMonitoring. The pipeline's wall time excludes stopMonitoring (the analysis
 * and report), which is timed on its own. Unmonitored: no run is active, hooks pass through.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor, type PerformanceReport } from '../src/index';
import { runLabelingPipeline } from '../examples/labelingPipeline';
import { gcNow, median } from './stats';

export interface PipelineRun {
  order: number;
  monitored: boolean;
  wallMs: number;
  /** CPU time of the process (all threads) during the pipeline, ms: less sensitive to other processes than wall time. */
  cpuMs: number;
  rowsPerSecond: number;
  stopMonitoringMs?: number;
}

export interface PipelineResult {
  months: number;
  rowsPerMonth: number;
  rows: number;
  runs: PipelineRun[];
  unmonitoredMedianMs: number;
  monitoredMedianMs: number;
  /** median monitored / median unmonitored. */
  ratio: number;
  /** Monitored / unmonitored wall time of each round's adjacent pair, in round order. */
  pairRatios: number[];
  /** Median of pairRatios. */
  pairedRatioMedian: number;
  /** Median CPU time monitored / unmonitored. */
  cpuRatio: number;
  unmonitoredRowsPerSecond: number;
  monitoredRowsPerSecond: number;
  stopMonitoringMedianMs: number;
  /** What the last monitored run's report says, to check its counts. */
  report: {
    rowsProcessed: number;
    stages: Array<{ name: string; calls: number; failures: number; meanMs: number; fidelity: unknown }>;
    samples: number;
    recordsKept: number;
    qualityFlags: string[];
  };
  anomalies: string[];
}

async function once(monitored: boolean, months: number, rowsPerMonth: number): Promise<{ wallMs: number; cpuMs: number; stopMs?: number; report?: PerformanceReport }> {
  gcNow();
  if (!monitored) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await runLabelingPipeline({ months, rowsPerMonth });
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wallMs, cpuMs: (c.user + c.system) / 1000 };
  }
  const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 1000, enableMemoryTracking: true });
  setMonitor(monitor);
  monitor.startMonitoring({ expectedRows: months * rowsPerMonth, runName: 'bench:demo' });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await runLabelingPipeline({ months, rowsPerMonth });
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const s0 = performance.now();
  const report = monitor.stopMonitoring();
  return { wallMs, cpuMs: (c.user + c.system) / 1000, stopMs: performance.now() - s0, report };
}

export async function runPipeline(rounds: number, months: number, rowsPerMonth: number, log: (line: string) => void): Promise<PipelineResult> {
  const rows = months * rowsPerMonth;
  // Untimed warm-up of both modes on a small input (JIT, lazy module state).
  await once(false, 2, Math.min(rowsPerMonth, 20_000));
  await once(true, 2, Math.min(rowsPerMonth, 20_000));
  const runs: PipelineRun[] = [];
  const pairRatios: number[] = [];
  let lastReport: PerformanceReport | undefined;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const pair: Partial<Record<'m' | 'u', number>> = {};
    for (const monitored of order) {
      const res = await once(monitored, months, rowsPerMonth);
      const run: PipelineRun = { order: runs.length, monitored, wallMs: res.wallMs, cpuMs: res.cpuMs, rowsPerSecond: (rows / res.wallMs) * 1000 };
      if (res.stopMs !== undefined) run.stopMonitoringMs = res.stopMs;
      if (res.report !== undefined) lastReport = res.report;
      runs.push(run);
      pair[monitored ? 'm' : 'u'] = res.wallMs;
      log(`  demo ${monitored ? 'monitored  ' : 'unmonitored'} ${(res.wallMs / 1000).toFixed(2)} s wall, ${(res.cpuMs / 1000).toFixed(2)} s CPU${res.stopMs !== undefined ? ` (+ stopMonitoring ${res.stopMs.toFixed(1)} ms)` : ''}`);
    }
    pairRatios.push(pair.m! / pair.u!);
  }
  const u = median(runs.filter((x) => !x.monitored).map((x) => x.wallMs));
  const m = median(runs.filter((x) => x.monitored).map((x) => x.wallMs));
  const anomalies: string[] = [];
  const rep = lastReport!;
  const stageByName = new Map(rep.stageSummaries.map((s) => [s.name, s]));
  const expectCalls: Record<string, number> = {
    process_month: months,
    load_month: months,
    write_month: months,
    'WeightedLabelingEngine.normalize': months,
    'WeightedLabelingEngine.score': months,
    score_chunk: months * Math.ceil(rowsPerMonth / 10_000),
    weighted_labeling: months,
    'WeightedLabelingEngine.audit': months,
  };
  for (const [name, calls] of Object.entries(expectCalls)) {
    const s = stageByName.get(name);
    if (s === undefined) anomalies.push(`stage ${name} missing from stageSummaries`);
    else if (s.calls !== calls) anomalies.push(`stage ${name}: ${s.calls} calls reported, ${calls} made`);
    else if (s.failures !== 0) anomalies.push(`stage ${name}: ${s.failures} failures reported`);
  }
  for (const name of stageByName.keys()) if (!(name in expectCalls)) anomalies.push(`unexpected stage ${name} in stageSummaries`);
  if (rep.run.rowsProcessed !== rows) anomalies.push(`run.rowsProcessed = ${rep.run.rowsProcessed}, expected ${rows} (top-level stages only)`);
  const pm = stageByName.get('process_month');
  if (pm !== undefined && pm.rowsProcessed !== rows) anomalies.push(`process_month rowsProcessed = ${pm.rowsProcessed}, expected ${rows}`);
  const lm = stageByName.get('load_month');
  if (lm !== undefined && lm.rowsProcessed !== rows) anomalies.push(`load_month rowsProcessed = ${lm.rowsProcessed}, expected ${rows} (rows: 'output')`);
  const wm = stageByName.get('write_month');
  if (wm !== undefined && wm.rowsProcessed !== rows) anomalies.push(`write_month rowsProcessed = ${wm.rowsProcessed}, expected ${rows} (recordRows)`);
  const sc = stageByName.get('score_chunk');
  if (sc !== undefined && sc.rowsProcessed !== rows) anomalies.push(`score_chunk rowsProcessed = ${sc.rowsProcessed}, expected ${rows} (rows function)`);
  const byId = new Map(rep.stages.map((s) => [s.id, s]));
  for (const s of rep.stages) {
    const parent = s.parentId !== undefined ? byId.get(s.parentId)?.name : undefined;
    const want = s.name === 'process_month' ? undefined : s.name === 'score_chunk' ? 'WeightedLabelingEngine.score' : 'process_month';
    if (parent !== want) {
      anomalies.push(`record ${s.name}#${s.id}: parent ${parent ?? 'none'}, expected ${want ?? 'none'}`);
      break;
    }
  }
  return {
    months,
    rowsPerMonth,
    rows,
    runs,
    unmonitoredMedianMs: u,
    monitoredMedianMs: m,
    ratio: m / u,
    pairRatios,
    pairedRatioMedian: median(pairRatios),
    cpuRatio: median(runs.filter((x) => x.monitored).map((x) => x.cpuMs)) / median(runs.filter((x) => !x.monitored).map((x) => x.cpuMs)),
    unmonitoredRowsPerSecond: (rows / u) * 1000,
    monitoredRowsPerSecond: (rows / m) * 1000,
    stopMonitoringMedianMs: median(runs.filter((x) => x.monitored).map((x) => x.stopMonitoringMs ?? Number.NaN)),
    report: {
      rowsProcessed: rep.run.rowsProcessed,
      stages: rep.stageSummaries.map((s) => ({ name: s.name, calls: s.calls, failures: s.failures, meanMs: s.meanMs, fidelity: s.fidelity })),
      samples: rep.memory.samples.length,
      recordsKept: rep.stages.length,
      qualityFlags: rep.qualityFlags.map((f) => `${f.severity}: ${f.message}`),
    },
    anomalies,
  };
}
