import { RunView } from '../../analyzers/view';
import { rec, runOf, summarize, th, tick } from './fixtures';

describe('RunView.timeShare', () => {
  it('gives each stage its busy time, summed self time and exclusive share, ms and percent of the run, largest share first', () => {
    const p = rec('pipeline', 0, 1000);
    const load = rec('load', 0, 300, { parentId: p.id });
    const write = rec('write', 600, 200, { parentId: p.id });
    const view = new RunView(runOf({ stages: [p, load, write], durationMs: 1000 }), th());
    expect(view.timeShare).toEqual([
      { stage: 'pipeline', threadId: 0, totalMs: 1000, selfMs: 500, shareMs: 500, totalPercent: 100, selfPercent: 50, sharePercent: 50 },
      { stage: 'load', threadId: 0, totalMs: 300, selfMs: 300, shareMs: 300, totalPercent: 30, selfPercent: 30, sharePercent: 30 },
      { stage: 'write', threadId: 0, totalMs: 200, selfMs: 200, shareMs: 200, totalPercent: 20, selfPercent: 20, sharePercent: 20 },
    ]);
  });

  it('a synchronous call holds the thread: an async call waiting beside it gets none of that time', () => {
    // wait: async, 0-500 ms; spin: sync 100-400 ms (a sibling, not a child)
    const view = new RunView(runOf({ stages: [rec('wait', 0, 500), rec('spin', 100, 300, { sync: true })], durationMs: 500 }), th());
    expect(view.shareOf('spin')).toMatchObject({ shareMs: 300, sharePercent: 60, totalMs: 300 });
    expect(view.shareOf('wait')).toMatchObject({ shareMs: 200, sharePercent: 40, totalMs: 500, totalPercent: 100 });
  });

  it('concurrent async calls split the time they are open together; shares never add up past the run', () => {
    // ten concurrent calls of 'fetch' over 100 ms, and 'parse' alone for the next 100 ms
    const stages = [...Array.from({ length: 10 }, () => rec('fetch', 0, 100)), rec('parse', 100, 100)];
    const view = new RunView(runOf({ stages, durationMs: 200 }), th());
    expect(view.shareOf('fetch')).toMatchObject({ shareMs: 100, totalMs: 100, selfMs: 1000 });
    expect(view.shareOf('parse')).toMatchObject({ shareMs: 100 });
    expect(view.timeShare.reduce((a, e) => a + e.sharePercent, 0)).toBeLessThanOrEqual(100);
  });

  it('scales a stage whose records were thinned by its summed time over its kept records', () => {
    const stages = [rec('hot', 0, 2), rec('hot', 10, 2)];
    const summaries = summarize(stages).map((s) => ({ ...s, calls: 10, totalMs: 20, busyMs: 20, selfMs: 20, recordsKept: 2, recordsOmitted: 8 }));
    const view = new RunView(runOf({ stages, stageSummaries: summaries, durationMs: 100 }), th());
    expect(view.shareOf('hot')).toEqual({ stage: 'hot', threadId: 0, totalMs: 20, selfMs: 20, shareMs: 20, totalPercent: 20, selfPercent: 20, sharePercent: 20 });
  });

  it('a stage without records takes its self time as its share, capped at the run', () => {
    const summaries = summarize([rec('hidden', 0, 50), rec('hidden', 0, 80)]);
    const view = new RunView(runOf({ stages: [], stageSummaries: summaries, durationMs: 100 }), th());
    expect(view.shareOf('hidden')).toEqual({ stage: 'hidden', threadId: 0, totalMs: 80, selfMs: 130, shareMs: 100, totalPercent: 80, selfPercent: 100, sharePercent: 100 });
  });

  it('a zero-length run gives 0 percent, never NaN', () => {
    const view = new RunView(runOf({ stages: [rec('instant', 0, 0)], durationMs: 0 }), th());
    expect(view.timeShare).toEqual([{ stage: 'instant', threadId: 0, totalMs: 0, selfMs: 0, shareMs: 0, totalPercent: 0, selfPercent: 0, sharePercent: 0 }]);
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
