/**
 * Quality flags the analysis adds: the original warnings (a call over `maxStageDurationMs`, a stage
 * under `minThroughputRowsPerSec`, a call growing memory by more than `stageMemoryWarningMb`, the
 * run over `maxMemoryMb`, efficiency under `memoryEfficiencyThreshold`) and flags about the
 * measurement itself (too few samples for a trend, sampler ticks that slipped,
 * stages too short to measure, time shares extrapolated from truncated records). Each has a `code`.
 */
import type { Finding, QualityFlag } from '../src/types';
import type { RunEfficiency } from './efficiency';
import { fmtAt, fmtMb, fmtMs, fmtNum, fmtPct, fmtRate } from './format';
import { round } from './stats';
import type { RunView } from './view';

/** Median call shorter than this: the per-call overhead (~0.1 µs, ~2 µs with full probes) exceeds 1 %, ms. */
export const TOO_SHORT_MS = 0.01;
/** Fewest calls before a too-short stage is flagged. */
export const TOO_SHORT_MIN_CALLS = 10;
/** A tick later than due by more than max(interval, this) has slipped, ms. */
export const SLIP_MIN_MS = 20;

/**
 * @example
 * buildQualityFlags(view, findings, runEfficiency(view)); // [{ code: 'sampler_slipped', ... }]
 */
export function buildQualityFlags(view: RunView, findings: readonly Finding[], efficiency: RunEfficiency | undefined): QualityFlag[] {
  const t = view.thresholds;
  const end = view.durationMs;
  const flags: QualityFlag[] = [];

  // the original warnings
  for (const s of view.run.stageSummaries) {
    if (s.maxMs > t.maxStageDurationMs) {
      const slowest = view.slowestRecord(s.name);
      flags.push({
        severity: 'warning',
        code: 'stage_over_max_duration',
        stage: s.name,
        t: slowest?.t ?? end,
        message: `${s.name}: a call took ${fmtMs(s.maxMs)}, over the ${fmtMs(t.maxStageDurationMs)} limit per stage`,
      });
    }
    if (s.fidelity.probedCalls > 0 && s.maxHeapUsedDeltaMb > t.stageMemoryWarningMb) {
      flags.push({
        severity: 'warning',
        code: 'stage_memory_over_limit',
        stage: s.name,
        t: view.timeline.stages.get(s.name)?.maxSelfHeapDeltaAtMs ?? end,
        message: `${s.name}: a call grew the heap by ${fmtMb(s.maxHeapUsedDeltaMb)}, over the ${fmtMb(t.stageMemoryWarningMb)} limit per stage`,
      });
    }
  }
  for (const f of findings) {
    if (f.kind !== 'low_throughput' || f.stage === undefined) continue;
    const rps = Number(f.evidence?.rowsPerSecond ?? 0);
    flags.push({
      severity: 'warning',
      code: 'low_throughput',
      stage: f.stage,
      t: view.recordsOf(f.stage)[0]?.t ?? end,
      message: `${f.stage}: ${fmtRate(rps)} rows/s, under the ${fmtNum(t.minThroughputRowsPerSec)} rows/s minimum`,
    });
  }
  if (view.run.peakMemoryMb > t.maxMemoryMb) {
    let peakAt = end;
    let peak = -Infinity;
    for (const s of view.run.samples) {
      if (s.rssMb > peak) {
        peak = s.rssMb;
        peakAt = s.t;
      }
    }
    flags.push({
      severity: 'error',
      code: 'memory_budget_exceeded',
      t: peakAt,
      message: `peak rss ${fmtMb(view.run.peakMemoryMb)} exceeded the ${fmtMb(t.maxMemoryMb)} memory budget`,
    });
  }
  if (efficiency !== undefined && efficiency.score < t.memoryEfficiencyThreshold) {
    const p = efficiency.penalties;
    flags.push({
      severity: 'warning',
      code: 'low_memory_efficiency',
      t: end,
      message: `memory efficiency ${fmtNum(efficiency.score, 1)}/100 is under the ${fmtNum(t.memoryEfficiencyThreshold)} threshold (points off: peak ${p.peak}, leak ${p.leak}, spikes ${p.spikes}, GC ${p.gc})`,
    });
  }

  // the measurement itself
  const trend = view.trend;
  // (memory tracking switched off is the user's choice, not a measurement problem: no flag)
  if (view.run.samplingIntervalMs !== null && trend.confidence === 'none') {
    const reason = typeof trend.details?.reason === 'string' ? `: ${trend.details.reason}` : '';
    flags.push({ severity: 'info', code: 'too_few_samples', t: end, message: `too few memory samples for a leak trend${reason}` });
  }
  flags.push(...slippedTicks(view));
  for (const s of view.run.stageSummaries) {
    if (s.calls >= TOO_SHORT_MIN_CALLS && s.p50Ms < TOO_SHORT_MS) {
      flags.push({
        severity: 'info',
        code: 'stage_too_short',
        stage: s.name,
        t: view.recordsOf(s.name)[0]?.t ?? end,
        message: `${s.name}: median call ${fmtMs(s.p50Ms)}, too short to measure well (the per-call instrumentation costs 0.1-2 µs); its durations, CPU % and rows/s are approximate; wrap a batch of calls instead`,
      });
    }
  }
  for (const s of view.run.stageSummaries) {
    if (s.recordsOmitted > 0 && s.recordsKept > 0) {
      flags.push({
        severity: 'info',
        code: 'time_share_extrapolated',
        stage: s.name,
        t: end,
        message: `${s.name}: ${fmtNum(s.recordsOmitted)} of ${fmtNum(s.calls)} calls have no record; its time share and per-call attributions are extrapolated from the ${fmtNum(s.recordsKept)} kept`,
      });
    }
  }
  return flags;
}

/** Sampler ticks that came later than due: the loop was busy, and figures for that stretch are coarse. */
function slippedTicks(view: RunView): QualityFlag[] {
  const interval = view.run.samplingIntervalMs;
  const samples = view.run.samples;
  if (interval === null || !(interval > 0) || samples.length < 2) return [];
  const tolerance = Math.max(interval, SLIP_MIN_MS);
  let count = 0;
  let totalLateMs = 0;
  let worstLateMs = 0;
  let worstAt = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const expected = (prev.span ?? 1) * interval;
    const late = samples[i]!.t - prev.t - expected;
    if (late > tolerance) {
      count++;
      totalLateMs += late;
      if (late > worstLateMs) {
        worstLateMs = late;
        worstAt = samples[i]!.t;
      }
    }
  }
  if (count === 0) return [];
  const share = view.durationMs > 0 ? (totalLateMs / view.durationMs) * 100 : 0;
  return [
    {
      severity: worstLateMs >= view.thresholds.eventLoopBlockedMs ? 'warning' : 'info',
      code: 'sampler_slipped',
      t: worstAt,
      message: `the memory sampler fired late ${count} time(s), worst by ${fmtMs(round(worstLateMs, 1))} at ${fmtAt(worstAt)} (${fmtPct(share)} of the run between expected ticks): the event loop was blocked, so memory and CPU figures for those stretches are coarse`,
    },
  ];
}
