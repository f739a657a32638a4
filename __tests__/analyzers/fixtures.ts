/**
 * Builders of recorded runs for the analyzer tests: records, summaries derived from them the way
 * the collector derives them, samples, and a complete RunData.
 */
import Ajv from 'ajv';
import { DEFAULT_THRESHOLDS } from '../../src/validate';
import { buildReport, reportSchema } from '../../src/report/build';
import type { AnalysisResult, MemorySample, RunData, StageMetrics, StageSummary, Thresholds } from '../../src/types';

let nextId = 0;

/** A stage record; `cpuMs` sets user CPU, `heapMb` the heap delta. */
export function rec(
  name: string,
  t: number,
  durationMs: number,
  extra: Partial<StageMetrics> & { cpuMs?: number; heapMb?: number } = {},
): StageMetrics {
  const { cpuMs, heapMb, ...rest } = extra;
  // selfMs is derived from the children in summarize() unless given
  const cpu = cpuMs ?? 0;
  const r: StageMetrics = {
    id: String(++nextId),
    name,
    t,
    durationMs,
    selfMs: durationMs,
    rowsProcessed: 0,
    rowsPerSecond: 0,
    success: true,
    cpu: { userMs: cpu, systemMs: 0, percent: durationMs > 0 ? (cpu / durationMs) * 100 : 0 },
    memory: { heapUsedDeltaMb: heapMb ?? 0 },
    fidelity: 'full',
    sync: false,
    ...rest,
  };
  if (extra.selfMs === undefined) delete (r as Partial<StageMetrics>).selfMs;
  if (r.rowsProcessed > 0 && extra.rowsPerSecond === undefined) r.rowsPerSecond = durationMs > 0 ? (r.rowsProcessed / durationMs) * 1000 : 0;
  return r;
}

/** Length of the union of intervals, ms. */
function unionMs(intervals: Array<readonly [number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const [a, b] of sorted) {
    if (a > to) {
      if (to > from) total += to - from;
      from = a;
      to = b;
    } else if (b > to) {
      to = b;
    }
  }
  return total + (to > from ? to - from : 0);
}

/** A record's self time as the collector measures it: duration less the union of its children's intervals (clipped to it). */
function selfOf(r: StageMetrics, records: readonly StageMetrics[]): number {
  const end = r.t + r.durationMs;
  const children = records.filter((c) => c.parentId === r.id).map((c) => [Math.max(c.t, r.t), Math.min(c.t + c.durationMs, end)] as const);
  return Math.max(0, r.durationMs - unionMs(children.filter(([a, b]) => b > a)));
}

function exactQuantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Summaries of the records, as the collector would compute them when every call is kept. */
export function summarize(records: readonly StageMetrics[]): StageSummary[] {
  const names: string[] = [];
  for (const r of records) if (!names.includes(r.name)) names.push(r.name);
  return names.map((name) => {
    const rs = records.filter((r) => r.name === name);
    const durations = rs.map((r) => r.durationMs).sort((a, b) => a - b);
    const totalMs = durations.reduce((a, b) => a + b, 0);
    const busyMs = unionMs(rs.map((r) => [r.t, r.t + r.durationMs] as const));
    const meanMs = totalMs / rs.length;
    const variance = rs.length > 1 ? durations.reduce((a, d) => a + (d - meanMs) ** 2, 0) / (rs.length - 1) : 0;
    const rows = rs.reduce((a, r) => a + r.rowsProcessed, 0);
    const user = rs.reduce((a, r) => a + r.cpu.userMs, 0);
    const system = rs.reduce((a, r) => a + r.cpu.systemMs, 0);
    const probed = rs.filter((r) => r.fidelity === 'full');
    const deltas = probed.map((r) => r.memory.heapUsedDeltaMb);
    return {
      name,
      calls: rs.length,
      failures: rs.filter((r) => !r.success).length,
      totalMs,
      busyMs,
      selfMs: rs.reduce((a, r) => a + (r.selfMs ?? selfOf(r, records)), 0),
      meanMs,
      stdDevMs: Math.sqrt(variance),
      p50Ms: exactQuantile(durations, 0.5),
      p95Ms: exactQuantile(durations, 0.95),
      p99Ms: exactQuantile(durations, 0.99),
      maxMs: durations[durations.length - 1] ?? 0,
      minMs: durations[0] ?? 0,
      quantiles: 'exact',
      rowsProcessed: rows,
      rowsPerSecond: busyMs > 0 ? (rows / busyMs) * 1000 : 0,
      rowsPerCallSecond: totalMs > 0 ? (rows / totalMs) * 1000 : 0,
      cpu: {
        userMs: user,
        systemMs: system,
        percent: totalMs > 0 ? ((user + system) / totalMs) * 100 : 0,
        estimated: false,
        // context switches only when the records carry them, as the collector's probed calls do
        ...(rs.some((r) => r.cpu.involuntarySwitches !== undefined)
          ? {
              probedWallMs: probed.reduce((a, r) => a + r.durationMs, 0),
              voluntarySwitches: probed.reduce((a, r) => a + (r.cpu.voluntarySwitches ?? 0), 0),
              involuntarySwitches: probed.reduce((a, r) => a + (r.cpu.involuntarySwitches ?? 0), 0),
            }
          : {}),
      },
      meanHeapUsedDeltaMb: deltas.length > 0 ? deltas.reduce((a, b) => a + b, 0) / deltas.length : 0,
      maxHeapUsedDeltaMb: deltas.length > 0 ? Math.max(...deltas) : 0,
      syncCalls: rs.filter((r) => r.sync).length,
      maxSyncMs: Math.max(0, ...rs.filter((r) => r.sync).map((r) => r.durationMs)),
      maxSyncAtMs: rs.filter((r) => r.sync).sort((a, b) => b.durationMs - a.durationMs)[0]?.t ?? 0,
      rootCalls: rs.filter((r) => r.parentId === undefined).length,
      fidelity: { mode: 'full', probedCalls: probed.length, recordEvery: 1, timedCalls: rs.length },
      recordsKept: rs.length,
      recordsOmitted: 0,
    };
  });
}

/** A sampler tick. */
export function tick(t: number, heapUsedMb: number, extra: Partial<MemorySample> = {}): MemorySample {
  return { t, rssMb: heapUsedMb + 40, heapUsedMb, heapTotalMb: heapUsedMb + 10, externalMb: 2, ...extra };
}

/** Regular ticks with a constant heap (and rss = heap + 40). */
export function flatTicks(count: number, intervalMs: number, heapUsedMb = 50, extra: Partial<MemorySample> = {}): MemorySample[] {
  return Array.from({ length: count }, (_, i) => tick(i * intervalMs, heapUsedMb, extra));
}

export interface RunSpec {
  stages?: StageMetrics[];
  stageSummaries?: StageSummary[];
  samples?: MemorySample[];
  samplingIntervalMs?: number | null;
  durationMs?: number;
  peakMemoryMb?: number;
  gc?: RunData['gc'];
  eventLoop?: RunData['eventLoop'];
  qualityFlags?: RunData['qualityFlags'];
}

/** A complete recorded run; summaries default to those of the records. */
export function runOf(spec: RunSpec = {}): RunData {
  const stages = spec.stages ?? [];
  const samples = spec.samples ?? [];
  const durationMs = spec.durationMs ?? Math.max(0, ...stages.map((s) => s.t + s.durationMs), ...samples.map((s) => s.t));
  const data: RunData = {
    run: {
      id: 'run-1',
      name: 'test-run',
      status: 'completed',
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:01:00.000Z',
      durationMs,
      rowsProcessed: stages.filter((s) => s.parentId === undefined).reduce((a, s) => a + s.rowsProcessed, 0),
      rowsPerSecond: 0,
      host: { node: 'v20', platform: 'linux', arch: 'x64', cpus: 2, totalMemoryMb: 4096, pid: 1 },
    },
    stages,
    stageSummaries: spec.stageSummaries ?? summarize(stages),
    samples,
    samplingIntervalMs: spec.samplingIntervalMs !== undefined ? spec.samplingIntervalMs : samples.length > 0 ? 1000 : null,
    avgCpuPercent: 0,
    peakMemoryMb: spec.peakMemoryMb ?? Math.max(0, ...samples.map((s) => s.rssMb)),
    qualityFlags: spec.qualityFlags ?? [],
  };
  if (spec.gc !== undefined) data.gc = spec.gc;
  if (spec.eventLoop !== undefined) data.eventLoop = spec.eventLoop;
  return data;
}

/** Default thresholds with overrides. */
export function th(overrides: Partial<Thresholds> = {}): Thresholds {
  return { ...DEFAULT_THRESHOLDS, ...overrides };
}

let validate: ReturnType<Ajv['compile']> | undefined;

/** Schema errors of the report built from this run and analysis (empty when valid). */
export function schemaErrors(data: RunData, analysis: AnalysisResult): string[] {
  validate ??= new Ajv({ allErrors: true }).compile(reportSchema);
  const report = buildReport(data, analysis, 10_000);
  if (validate(JSON.parse(JSON.stringify(report)))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

/** Every number anywhere in the value is finite. */
export function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(allFinite);
  return true;
}
