import { callSkew } from '../../analyzers/callSkew';
import { rec, runOf, th } from './fixtures';

function calls(durations: number[]) {
  let t = 0;
  return durations.map((d) => {
    const r = rec('fetch_page', t, d);
    t += d;
    return r;
  });
}

describe('callSkew', () => {
  it('one call of 500 ms among ten of 10 ms is call_skew (info)', () => {
    const stages = calls([10, 10, 10, 10, 10, 500, 10, 10, 10, 10, 10]);
    expect(callSkew.analyze(runOf({ stages }), th())).toEqual([
      {
        kind: 'call_skew',
        severity: 'info',
        stage: 'fetch_page',
        message: 'fetch_page: the slowest of 11 calls took 500 ms at t=50 ms, against a 75th percentile of 10 ms (50×)',
        evidence: { calls: 11, p50Ms: 10, p75Ms: 10, p95Ms: 255, maxMs: 500, excessMs: 490, maxToP75Ratio: 50, slowestAtMs: 50 },
      },
    ]);
  });

  it('a warning when the slowest call is also over slowStageMs', () => {
    const stages = calls([10, 10, 10, 10, 10, 500, 10, 10, 10, 10, 10]);
    expect(callSkew.analyze(runOf({ stages }), th({ slowStageMs: 400 }))[0]!.severity).toBe('warning');
  });

  it('not for a slowest call under 5× the 75th percentile, or only a few ms longer, or fewer than 8 calls', () => {
    expect(callSkew.analyze(runOf({ stages: calls([100, 100, 100, 100, 100, 100, 100, 100, 400]) }), th())).toEqual([]);
    expect(callSkew.analyze(runOf({ stages: calls([1, 1, 1, 1, 1, 1, 1, 1, 40]) }), th())).toEqual([]);
    expect(callSkew.analyze(runOf({ stages: calls([10, 10, 10, 10, 10, 500]) }), th())).toEqual([]);
  });
});
