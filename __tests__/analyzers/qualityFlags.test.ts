import { buildQualityFlags } from '../../analyzers/qualityFlags';
import { RunView } from '../../analyzers/view';
import type { Finding, RunData, StageSummary } from '../../src/types';
import { flatTicks, rec, runOf, summarize, th, tick } from './fixtures';

function flags(run: RunData, findings: Finding[] = [], score?: number) {
  const efficiency = score === undefined ? undefined : { score, peakSharePercent: 0, gcPausePercent: 0, penalties: { peak: 10, leak: 20, spikes: 0, gc: 0 } };
  return buildQualityFlags(new RunView(run, th()), findings, efficiency);
}

describe('buildQualityFlags: the original warnings', () => {
  it('a call over 30 minutes', () => {
    expect(flags(runOf({ stages: [rec('backfill', 5, 2_000_000)] }))).toEqual([
      { severity: 'warning', code: 'stage_over_max_duration', stage: 'backfill', t: 5, message: 'backfill: a call took 33.3 min, over the 30 min limit per stage' },
    ]);
  });

  it('a call growing the heap by more than 1 GB', () => {
    expect(flags(runOf({ stages: [rec('load', 7, 10, { heapMb: 1100 })] }))).toEqual([
      { severity: 'warning', code: 'stage_memory_over_limit', stage: 'load', t: 7, message: 'load: a call grew the heap by 1100 MB, over the 1024 MB limit per stage' },
    ]);
  });

  it('a stage under 1000 rows/s (from its low_throughput finding)', () => {
    const finding: Finding = { kind: 'low_throughput', severity: 'warning', stage: 'enrich', message: '', evidence: { rowsPerSecond: 412.5 } };
    expect(flags(runOf({ stages: [rec('enrich', 3, 1000)] }), [finding])).toEqual([
      { severity: 'warning', code: 'low_throughput', stage: 'enrich', t: 3, message: 'enrich: 413 rows/s, under the 1,000 rows/s minimum' },
    ]);
  });

  it('the run over the memory budget, at the time of the peak', () => {
    const samples = [tick(0, 100), tick(1000, 100, { rssMb: 9000 }), tick(2000, 100)];
    expect(flags(runOf({ samples, peakMemoryMb: 9000, samplingIntervalMs: 1000 })).filter((f) => f.code === 'memory_budget_exceeded')).toEqual([
      { severity: 'error', code: 'memory_budget_exceeded', t: 1000, message: 'peak rss 9000 MB exceeded the 8192 MB memory budget' },
    ]);
  });

  it('memory efficiency under the threshold, with the points taken off', () => {
    expect(flags(runOf({ durationMs: 100 }), [], 55)).toEqual([
      { severity: 'warning', code: 'low_memory_efficiency', t: 100, message: 'memory efficiency 55/100 is under the 70 threshold (points off: peak 10, leak 20, spikes 0, GC 0)' },
    ]);
    expect(flags(runOf({ durationMs: 100 }), [], 75)).toEqual([]);
  });
});

describe('buildQualityFlags: the measurement itself', () => {
  it('too few samples for a trend, with the reason', () => {
    expect(flags(runOf({ samples: flatTicks(3, 1000), samplingIntervalMs: 1000 }))).toEqual([
      { severity: 'info', code: 'too_few_samples', t: 2000, message: 'too few memory samples for a leak trend: 3 samples; at least 12 are needed' },
    ]);
  });

  it('no flag when memory tracking was switched off', () => {
    expect(flags(runOf({ samples: [], samplingIntervalMs: null, durationMs: 500 }))).toEqual([]);
  });

  it('sampler ticks that came late (the loop was blocked)', () => {
    const samples = [0, 1000, 2000, 4500].map((t) => tick(t, 50));
    expect(flags(runOf({ samples, samplingIntervalMs: 1000 })).filter((f) => f.code === 'sampler_slipped')).toEqual([
      {
        severity: 'warning',
        code: 'sampler_slipped',
        t: 4500,
        message:
          'the memory sampler fired late 1 time(s), worst by 1.5 s at t=4.5 s (33% of the run between expected ticks): the event loop was blocked, so memory and CPU figures for those stretches are coarse',
      },
    ]);
  });

  it('downsampled samples are expected span × interval apart', () => {
    const samples = [0, 4000, 8000, 12_000].map((t) => tick(t, 50, { span: 4 }));
    expect(flags(runOf({ samples, samplingIntervalMs: 1000 })).filter((f) => f.code === 'sampler_slipped')).toEqual([]);
  });

  it('a hot stage whose calls are too short to measure', () => {
    const stages = Array.from({ length: 10 }, (_, k) => rec('getField', k * 0.01, 0.002));
    expect(flags(runOf({ stages }))).toEqual([
      {
        severity: 'info',
        code: 'stage_too_short',
        stage: 'getField',
        t: 0,
        message:
          'getField: median call 0.002 ms, too short to measure well (the per-call instrumentation costs 0.1-2 µs); its durations, CPU % and rows/s are approximate; wrap a batch of calls instead',
      },
    ]);
  });

  it('time shares extrapolated from truncated records', () => {
    const stages = [rec('hot', 0, 1), rec('hot', 1, 1)];
    const summaries: StageSummary[] = summarize(stages).map((s) => ({ ...s, calls: 50, totalMs: 50, recordsKept: 2, recordsOmitted: 48, fidelity: { ...s.fidelity, timedCalls: 50 } }));
    expect(flags(runOf({ stages, stageSummaries: summaries, durationMs: 100 }))).toEqual([
      { severity: 'info', code: 'time_share_extrapolated', stage: 'hot', t: 100, message: 'hot: 48 of 50 calls have no record; its time share and per-call attributions are extrapolated from the 2 kept' },
    ]);
  });
});
