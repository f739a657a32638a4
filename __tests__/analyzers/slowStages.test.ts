import { slowStages } from '../../analyzers/slowStages';
import { rec, runOf, th } from './fixtures';

describe('slowStages', () => {
  const run = runOf({ stages: [rec('load', 0, 200), rec('parse', 200, 50), rec('parse', 250, 40)], durationMs: 300 });

  it('flags a stage whose slowest call exceeds slowStageMs, with its share of the run', () => {
    expect(slowStages.analyze(run, th({ slowStageMs: 100 }))).toEqual([
      {
        kind: 'slow_stage',
        severity: 'warning',
        stage: 'load',
        message: 'load: slowest call took 200 ms, over the 100 ms threshold; a call of it was open 67% of the run, and it holds 67% of the run itself',
        evidence: {
          durationMs: 200,
          slowStageMs: 100,
          calls: 1,
          totalMs: 200,
          meanMs: 200,
          p95Ms: 200,
          busyMs: 200,
          selfMs: 200,
          busyPercent: 66.67,
          sharePercent: 66.67,
          slowestAtMs: 0,
        },
      },
    ]);
  });

  it('lists slow stages slowest first and names the call count when there are several', () => {
    const findings = slowStages.analyze(run, th({ slowStageMs: 30 }));
    expect(findings.map((f) => f.stage)).toEqual(['load', 'parse']);
    expect(findings[1]!.message).toBe('parse: slowest call took 50 ms, over the 30 ms threshold (2 calls, mean 45 ms); a call of it was open 30% of the run, and it holds 30% of the run itself');
  });

  it('nothing under the default 30 s threshold', () => {
    expect(slowStages.analyze(run, th())).toEqual([]);
  });

  it('a parent slow only because of its child is open the whole run but holds a small share of it', () => {
    const p = rec('pipeline', 0, 1000);
    const c = rec('step', 0, 900, { parentId: p.id });
    const [parent] = slowStages.analyze(runOf({ stages: [p, c] }), th({ slowStageMs: 100 }));
    expect(parent!.evidence).toMatchObject({ busyPercent: 100, sharePercent: 10, selfMs: 100 });
  });
});
