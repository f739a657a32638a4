import { RunView } from '../../analyzers/view';
import { rec, runOf, summarize, th, tick } from './fixtures';

describe('RunView.timeShare', () => {
  it('gives each stage its wall time and self time, ms and percent of the run, largest first', () => {
    const p = rec('pipeline', 0, 1000);
    const load = rec('load', 0, 300, { parentId: p.id });
    const write = rec('write', 600, 200, { parentId: p.id });
    const view = new RunView(runOf({ stages: [p, load, write], durationMs: 1000 }), th());
    expect(view.timeShare).toEqual([
      { stage: 'pipeline', totalMs: 1000, selfMs: 500, totalPercent: 100, selfPercent: 50 },
      { stage: 'load', totalMs: 300, selfMs: 300, totalPercent: 30, selfPercent: 30 },
      { stage: 'write', totalMs: 200, selfMs: 200, totalPercent: 20, selfPercent: 20 },
    ]);
  });

  it('extrapolates a stage whose records were truncated from its summary total', () => {
    const stages = [rec('hot', 0, 2), rec('hot', 10, 2)];
    const summaries = summarize(stages).map((s) => ({ ...s, calls: 10, totalMs: 20, recordsKept: 2, recordsOmitted: 8 }));
    const view = new RunView(runOf({ stages, stageSummaries: summaries, durationMs: 100 }), th());
    expect(view.extrapolation('hot')).toBe(5);
    expect(view.shareOf('hot')).toEqual({ stage: 'hot', totalMs: 20, selfMs: 20, totalPercent: 20, selfPercent: 20 });
  });

  it('a stage without records falls back to its summed durations, capped at the run', () => {
    const summaries = summarize([rec('hidden', 0, 50), rec('hidden', 0, 80)]);
    const view = new RunView(runOf({ stages: [], stageSummaries: summaries, durationMs: 100 }), th());
    expect(view.shareOf('hidden')).toEqual({ stage: 'hidden', totalMs: 100, selfMs: 100, totalPercent: 100, selfPercent: 100 });
  });

  it('a zero-length run gives 0 percent, never NaN', () => {
    const view = new RunView(runOf({ stages: [rec('instant', 0, 0)], durationMs: 0 }), th());
    expect(view.timeShare).toEqual([{ stage: 'instant', totalMs: 0, selfMs: 0, totalPercent: 0, selfPercent: 0 }]);
  });
});

describe('RunView.sampleWindow', () => {
  it('runs from the previous sample to this tick, or to the last merged tick of a downsampled sample', () => {
    const samples = [tick(0, 1), tick(1000, 1), tick(2000, 1, { span: 4 })];
    const view = new RunView(runOf({ samples, samplingIntervalMs: 1000 }), th());
    expect(view.sampleWindow(0)).toEqual([-1000, 0]);
    expect(view.sampleWindow(1)).toEqual([0, 1000]);
    expect(view.sampleWindow(2)).toEqual([1000, 5000]);
  });
});

describe('RunView.retainedMb', () => {
  it('scales the measured calls net growth to every call', () => {
    const stages = [rec('cache', 0, 1, { heapMb: 2 }), rec('cache', 1, 1, { heapMb: 4 })];
    const summaries = summarize(stages).map((s) => ({ ...s, calls: 10 }));
    expect(new RunView(runOf({ stages, stageSummaries: summaries }), th()).retainedMb('cache')).toBe(30);
  });
});

describe('RunView.gcByStage', () => {
  it('with more GC ticks than it attributes, keeps the longest pauses (ties filled in time order)', () => {
    // 3000 ticks with a pause: 'a' runs over the first 1500 (pauses of 1 ms), 'b' over the rest
    // (pauses of 2 ms, of which the last 1000 are 3 ms). Only the 2000 longest are attributed.
    const samples = Array.from({ length: 3001 }, (_, i) => tick(i * 10, 50, { gcCount: 1, gcPauseMs: i === 0 ? 0 : i <= 1500 ? 1 : i <= 2000 ? 2 : 3 }));
    const stages = [rec('a', 0, 15_000), rec('b', 15_000, 15_010)];
    const view = new RunView(runOf({ stages, samples, samplingIntervalMs: 10, durationMs: 30_010 }), th());
    const byStage = Object.fromEntries(view.gcByStage);
    // 1000 ticks of 3 ms and 500 of 2 ms on b, then 500 of the 1 ms ticks on a
    expect(byStage.b).toBeCloseTo(1000 * 3 + 500 * 2, 6);
    expect(byStage.a).toBeCloseTo(500 * 1, 6);
  });
});
