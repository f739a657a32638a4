import { stageFailures } from '../../analyzers/stageFailures';
import { rec, runOf, th } from './fixtures';

describe('stageFailures', () => {
  it('one failed call of three is a warning naming the first error', () => {
    const stages = [
      rec('fetch', 0, 10),
      rec('fetch', 10, 10, { success: false, error: { name: 'TypeError', message: 'x is undefined' } }),
      rec('fetch', 20, 10, { success: false, error: { name: 'Error', message: 'later' } }),
      rec('fetch', 30, 10),
    ];
    expect(stageFailures.analyze(runOf({ stages }), th())).toEqual([
      {
        kind: 'stage_failed',
        severity: 'warning',
        stage: 'fetch',
        message: 'fetch failed 2 of 4 call(s) (50%); first at t=10 ms: TypeError: x is undefined',
        evidence: { failures: 2, calls: 4, failurePercent: 50, firstFailureAtMs: 10, firstError: { name: 'TypeError', message: 'x is undefined' } },
      },
    ]);
  });

  it('every call failed: an error', () => {
    const stages = [rec('write', 0, 10, { success: false, error: { name: 'EACCES', message: 'denied' } })];
    expect(stageFailures.analyze(runOf({ stages }), th())[0]!.severity).toBe('error');
  });

  it('calls still running when the run ended are counted as such', () => {
    const stages = [rec('poll', 0, 10, { success: false, error: { name: 'StageNotEnded', message: 'still running when the run ended (stopMonitoring)' } })];
    expect(stageFailures.analyze(runOf({ stages }), th())[0]!.evidence).toMatchObject({ stillRunningAtEnd: 1 });
  });

  it('failures counted in the summary but without kept records still give a finding', () => {
    const data = runOf({ stages: [rec('hot', 0, 1, { success: false })] });
    expect(stageFailures.analyze({ ...data, stages: [] }, th())).toMatchObject([{ stage: 'hot', message: 'hot failed 1 of 1 call(s) (100%)' }]);
  });

  it('no failures: no findings', () => {
    expect(stageFailures.analyze(runOf({ stages: [rec('ok', 0, 1)] }), th())).toEqual([]);
  });
});
