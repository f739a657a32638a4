import { memoryIntensive } from '../../analyzers/memoryIntensive';
import { rec, runOf, th } from './fixtures';

describe('memoryIntensive', () => {
  it('a call growing the heap by 600 MB is memory_intensive (warning)', () => {
    expect(memoryIntensive.analyze(runOf({ stages: [rec('load', 0, 100, { heapMb: 600 }), rec('load', 100, 100, { heapMb: 100 })] }), th())).toEqual([
      {
        kind: 'memory_intensive',
        severity: 'warning',
        stage: 'load',
        message: 'load grew the heap by 600 MB in one call (t=0 ms), over the 500 MB threshold',
        evidence: { heapUsedDeltaMb: 600, memoryIntensiveMb: 500, meanHeapUsedDeltaMb: 350, calls: 2, basis: 'own growth (child stages subtracted)', atMs: 0 },
      },
    ]);
  });

  it('over stageMemoryWarningMb (1024 MB) it is an error', () => {
    expect(memoryIntensive.analyze(runOf({ stages: [rec('load', 0, 100, { heapMb: 1100 })] }), th())[0]!.severity).toBe('error');
  });

  it('a parent is not blamed for what its child allocated', () => {
    const p = rec('pipeline', 0, 100, { heapMb: 650 });
    const c = rec('load', 10, 50, { parentId: p.id, heapMb: 600 });
    expect(memoryIntensive.analyze(runOf({ stages: [p, c] }), th()).map((f) => f.stage)).toEqual(['load']);
  });

  it('stages without a measured heap figure are not judged', () => {
    const estimated = rec('hot', 0, 1, { memory: { heapUsedDeltaMb: 900, estimated: true }, fidelity: 'timing' });
    expect(memoryIntensive.analyze(runOf({ stages: [estimated] }), th())).toEqual([]);
  });

  it('without records it uses the summary', () => {
    const data = runOf({ stages: [rec('load', 0, 100, { heapMb: 700 })] });
    expect(memoryIntensive.analyze({ ...data, stages: [] }, th())).toMatchObject([{ stage: 'load', evidence: { heapUsedDeltaMb: 700, basis: 'largest call (summary)' } }]);
  });
});
