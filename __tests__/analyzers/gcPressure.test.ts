import { gcPressure } from '../../analyzers/gcPressure';
import { rec, runOf, th, tick } from './fixtures';

function gc(totalPauseMs: number, count = 200) {
  return { count, totalPauseMs, maxPauseMs: 40, byKind: { major: { count: 5, totalPauseMs: 600 }, minor: { count: count - 5, totalPauseMs: totalPauseMs - 600 } } };
}

describe('gcPressure', () => {
  it('GC pauses over 10 % of the run are gc_pressure', () => {
    expect(gcPressure.analyze(runOf({ durationMs: 10_000, gc: gc(1500) }), th())).toEqual([
      {
        kind: 'gc_pressure',
        severity: 'warning',
        message: 'GC pauses took 15% of the run (1.5 s in 200 pauses, longest 40 ms; threshold 10%)',
        evidence: { gcPausePercent: 15, gcPressurePercent: 10, totalPauseMs: 1500, count: 200, maxPauseMs: 40, majorPauseMs: 600 },
      },
    ]);
  });

  it('twice the threshold is an error; under it, nothing', () => {
    expect(gcPressure.analyze(runOf({ durationMs: 10_000, gc: gc(2500) }), th())[0]!.severity).toBe('error');
    expect(gcPressure.analyze(runOf({ durationMs: 10_000, gc: gc(700) }), th())).toEqual([]);
    expect(gcPressure.analyze(runOf({ durationMs: 10_000, gc: gc(700) }), th({ gcPressurePercent: 5 }))).toHaveLength(1);
  });

  it('runs under a second, or with under 50 ms of pauses, are not judged', () => {
    expect(gcPressure.analyze(runOf({ durationMs: 900, gc: gc(600) }), th())).toEqual([]);
    expect(gcPressure.analyze(runOf({ durationMs: 1000, gc: gc(45, 5) }), th())).toEqual([]);
  });

  it('names the stage running during most of the pause time', () => {
    const samples = Array.from({ length: 11 }, (_, i) => tick(i * 1000, 50, { gcCount: i === 0 ? 0 : 1, gcPauseMs: i === 0 ? 0 : 150 }));
    const stages = [rec('parse', 0, 8000), rec('write', 8000, 2000)];
    const [f] = gcPressure.analyze(runOf({ stages, samples, durationMs: 10_000, gc: gc(1500, 10) }), th());
    expect(f).toMatchObject({
      stage: 'parse',
      message: 'GC pauses took 15% of the run (1.5 s in 10 pauses, longest 40 ms; threshold 10%), 80% of it while parse was running',
      evidence: { stagePauseMs: 1200, stageSharePercent: 80, stageGcPercent: 15 },
    });
  });

  it('without run-level GC stats it sums the samples', () => {
    const samples = Array.from({ length: 11 }, (_, i) => tick(i * 1000, 50, { gcCount: 2, gcPauseMs: i === 0 ? 0 : 200 }));
    expect(gcPressure.analyze(runOf({ samples, durationMs: 10_000 }), th())).toMatchObject([{ evidence: { gcPausePercent: 20, totalPauseMs: 2000, count: 22 } }]);
  });
});
