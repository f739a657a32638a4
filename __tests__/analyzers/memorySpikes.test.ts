import { memorySpikes } from '../../analyzers/memorySpikes';
import { flatTicks, rec, runOf, th } from './fixtures';

function withJump(at: number, jumpMb: number) {
  return flatTicks(60, 1000, 100).map((s, i) => (i === at ? { ...s, rssMb: s.rssMb + jumpMb } : s));
}

describe('memorySpikes', () => {
  it('a spike is attributed to the innermost stage running between the two samples', () => {
    const outer = rec('pipeline', 0, 60_000);
    const join = rec('join', 29_500, 1000, { parentId: outer.id });
    expect(memorySpikes.analyze(runOf({ stages: [outer, join], samples: withJump(30, 300) }), th())).toEqual([
      {
        kind: 'memory_spike',
        severity: 'info',
        stage: 'join',
        message: 'join: rss jumped by 300 MB to 440 MB at t=30 s (robust z 600)',
        evidence: { spikes: 1, jumpMb: 300, atMs: 30_000, series: 'rss', rssMb: 440, heapUsedMb: 100, robustZ: 600 },
      },
    ]);
  });

  it('a jump over memoryIntensiveMb is a warning', () => {
    expect(memorySpikes.analyze(runOf({ samples: withJump(30, 600) }), th())[0]!.severity).toBe('warning');
  });

  it('outside any stage: no stage, said so in the message', () => {
    const [f] = memorySpikes.analyze(runOf({ samples: withJump(30, 300) }), th());
    expect(f!.stage).toBeUndefined();
    expect(f!.message).toBe('Outside any recorded stage: rss jumped by 300 MB to 440 MB at t=30 s (robust z 600)');
  });

  it('several spikes during one stage make one finding with the count and the largest', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 10 || i === 40 ? { ...s, rssMb: s.rssMb + (i === 10 ? 200 : 300) } : s));
    const [f] = memorySpikes.analyze(runOf({ stages: [rec('load', 0, 60_000)], samples }), th());
    expect(f).toMatchObject({ stage: 'load', evidence: { spikes: 2, jumpMb: 300, atMs: 40_000 } });
    expect(f!.message).toBe('load: rss jumped by 300 MB to 440 MB at t=40 s (robust z 600); 2 spikes in all');
  });

  it('other stages running at the same moment are listed', () => {
    const a = rec('a', 29_000, 2000);
    const b = rec('b', 29_800, 500);
    const [f] = memorySpikes.analyze(runOf({ stages: [a, b], samples: withJump(30, 300) }), th());
    expect(f).toMatchObject({ stage: 'a', evidence: { alsoRunning: ['b'] } });
  });
});
