import { runEfficiency, stageEfficiency } from '../../analyzers/efficiency';
import { RunView } from '../../analyzers/view';
import type { RunData } from '../../src/types';
import { flatTicks, rec, runOf, th, tick } from './fixtures';

const view = (run: RunData, overrides = {}) => new RunView(run, th(overrides));

describe('runEfficiency', () => {
  it('a peak at 75 % of the budget costs 20 points', () => {
    expect(runEfficiency(view(runOf({ samples: flatTicks(10, 1000), peakMemoryMb: 6144 })))).toEqual({
      score: 80,
      peakSharePercent: 75,
      gcPausePercent: 0,
      penalties: { peak: 20, leak: 0, spikes: 0, gc: 0 },
    });
  });

  it('a peak at 125 % of the budget costs 40 + 15 points', () => {
    expect(runEfficiency(view(runOf({ peakMemoryMb: 10_240 }))).score).toBe(45);
  });

  it('up to half the budget is free', () => {
    expect(runEfficiency(view(runOf({ peakMemoryMb: 4096 }))).score).toBe(100);
  });

  it('a leak at twice the minimum slope costs 15 + 5·log2(2) = 20 points', () => {
    const samples = Array.from({ length: 601 }, (_, i) => tick(i * 1000, 50 + (2 * i) / 60));
    expect(runEfficiency(view(runOf({ samples }))).penalties.leak).toBe(20);
    expect(runEfficiency(view(runOf({ samples }), { minLeakSlopeMbPerMin: 0.25 })).penalties.leak).toBe(30);
  });

  it('GC pauses over 10 % of the run cost 10 points at a 10 % threshold', () => {
    const result = runEfficiency(view(runOf({ durationMs: 10_000, gc: { count: 10, totalPauseMs: 1000, maxPauseMs: 100, byKind: {} } })));
    expect(result).toMatchObject({ score: 90, gcPausePercent: 10, penalties: { gc: 10 } });
  });

  it('each spike costs 3 points', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 10 || i === 40 ? { ...s, rssMb: s.rssMb + 300 } : s));
    expect(runEfficiency(view(runOf({ samples }))).penalties.spikes).toBe(6);
  });
});

describe('stageEfficiency', () => {
  it('scores stages with measured heap figures from growth, retention, spikes and GC', () => {
    const stages = [
      rec('load', 0, 1000, { heapMb: 250 }),
      ...Array.from({ length: 10 }, (_, k) => rec('churn', 1000 + k * 100, 100, { heapMb: k % 2 === 0 ? 5 : -5 })),
      rec('hot', 3000, 1, { memory: { heapUsedDeltaMb: 1, estimated: true }, fidelity: 'timing' }),
    ];
    // load: growth 40 × 250/500 = 20; churn: growth 40 × 5/500 = 0.4 (no retention: no heap samples, no leak pinned on either)
    expect(stageEfficiency(view(runOf({ stages })))).toEqual({ load: 80, churn: 99.6 });
  });

  it('GC pauses during a stage lower its score', () => {
    const samples = Array.from({ length: 11 }, (_, i) => tick(i * 1000, 50, { gcPauseMs: i === 0 ? 0 : 150 }));
    // all 1500 ms of pauses fall in the stage's 10 s: 15 % → 15 × 15/20 = 11.25
    expect(stageEfficiency(view(runOf({ stages: [rec('parse', 0, 10_000)], samples })))).toEqual({ parse: 88.8 });
  });
});
