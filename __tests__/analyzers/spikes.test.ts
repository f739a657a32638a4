import { detectSpikes } from '../../analyzers/spikes';
import { flatTicks } from './fixtures';

describe('detectSpikes', () => {
  it('a 300 MB rss jump among flat samples is one spike with robust z 600', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 30 ? { ...s, rssMb: 440 } : s));
    expect(detectSpikes(samples)).toEqual([{ index: 30, t: 30_000, rssMb: 440, heapUsedMb: 100, jumpMb: 300, series: 'rss', score: 600 }]);
  });

  it('the heap series wins when its jump is the more unusual one', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 10 ? { ...s, heapUsedMb: 180, rssMb: 160 } : s));
    expect(detectSpikes(samples)).toMatchObject([{ index: 10, series: 'heap', jumpMb: 80, score: 160 }]);
  });

  it('a GC sawtooth has no spikes: its jumps are the usual ones', () => {
    const samples = flatTicks(300, 1000).map((s, i) => ({ ...s, heapUsedMb: 80 + 30 * ((i % 10) / 10), rssMb: 200 }));
    expect(detectSpikes(samples)).toEqual([]);
  });

  it('jumps under 16 MB (or 2 % of the level) do not count, however unusual', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 30 ? { ...s, rssMb: s.rssMb + 10 } : s));
    expect(detectSpikes(samples)).toEqual([]);
    expect(detectSpikes(samples, { minJumpMb: 5 })).toHaveLength(1);
  });

  it('downsampled samples are judged on their highest heap', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => ({ ...s, span: 2, heapUsedMaxMb: i === 20 ? 400 : 110 }));
    expect(detectSpikes(samples)).toMatchObject([{ index: 20, series: 'heap', heapUsedMb: 400, jumpMb: 290 }]);
  });

  it('keeps the highest-scoring maxSpikes, in time order', () => {
    const samples = flatTicks(100, 1000, 100).map((s, i) => (i % 10 === 5 ? { ...s, rssMb: 140 + 10 * i } : s));
    expect(detectSpikes(samples, { maxSpikes: 2 }).map((s) => s.index)).toEqual([85, 95]);
  });

  it('fewer than 3 samples: none', () => {
    expect(detectSpikes(flatTicks(2, 1000))).toEqual([]);
  });
});
