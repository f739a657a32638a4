import { analyzeMemoryTrend, TREND_DEFAULTS, type TrendSample } from '../../analyzers/memoryTrend';
import { leastSquares } from '../../analyzers/trendFit';
import { buildCorpus } from './corpus';

const MIN = 60_000;

/** The naive detector: least squares over the raw heap, a leak when slope ≥ 1 MB/min and p < 0.05. */
function leastSquaresSaysLeak(samples: readonly TrendSample[]): boolean {
  const fit = leastSquares(
    samples.map((s) => s.t / MIN),
    samples.map((s) => s.heapUsedMb),
  );
  return samples.length >= 3 && fit.slope >= TREND_DEFAULTS.minSlopeMbPerMin && fit.pValue < 0.05;
}

/** Every case of the corpus under these seeds. */
const SEEDS = [1, 2, 3, 4, 5];

function series(n: number, intervalMs: number, heapAt: (i: number) => number): TrendSample[] {
  return Array.from({ length: n }, (_, i) => ({ t: i * intervalMs, heapUsedMb: heapAt(i) }));
}

describe('the labeled corpus', () => {
  const corpora = SEEDS.map((seed) => buildCorpus(seed));
  const names = corpora[0]!.map((c) => c.name);
  const rows = names.map((name, k) => {
    const cases = corpora.map((corpus) => corpus[k]!);
    const label = cases[0]!.leak;
    const mine = cases.map((c) => analyzeMemoryTrend(c.samples));
    const naive = cases.map((c) => leastSquaresSaysLeak(c.samples));
    return { name, label, mine, naive };
  });

  afterAll(() => {
    const w = Math.max(...names.map((n) => n.length));
    const lines = rows.map(({ name, label, mine, naive }) => {
      const ok = mine.filter((r) => r.leakSuspected === label).length;
      const lsOk = naive.filter((v) => v === label).length;
      const slope = mine[0]!.slopeMbPerMin.toFixed(2).padStart(8);
      return `${name.padEnd(w)}  ${label ? 'leak    ' : 'no leak '}  floor detector ${ok}/${SEEDS.length} (slope ${slope} MB/min, ${mine[0]!.confidence})   least squares ${lsOk}/${SEEDS.length}`;
    });
    const total = rows.reduce((a, r) => a + r.mine.filter((m) => m.leakSuspected === r.label).length, 0);
    const lsTotal = rows.reduce((a, r) => a + r.naive.filter((v) => v === r.label).length, 0);
    const all = rows.length * SEEDS.length;
    console.log(
      [`memory-trend corpus (${rows.length} cases × ${SEEDS.length} seeds): floor detector ${total}/${all} right, least squares ${lsTotal}/${all} right`, ...lines].join('\n'),
    );
  });

  it.each(names)('%s is classified right under every seed', (name) => {
    const row = rows.find((r) => r.name === name)!;
    expect(row.mine.map((r) => r.leakSuspected)).toEqual(SEEDS.map(() => row.label));
  });

  it('covers every case the issue lists', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'linear leak with noise',
        'leak under a GC sawtooth',
        'staircase growth',
        'leak that starts halfway',
        'irregular sampling intervals',
        'fast leak in a run of a few seconds',
        'flat noise',
        'sawtooth over a flat floor, peaks rising',
        'short warm-up then plateau',
        'long warm-up then plateau',
        'bounded cache that fills ever more slowly',
        'temporary spike',
        'one-time step up',
        'shrinking heap',
        'mean-reverting wander',
        'periodic batch load and release',
        'three samples',
      ]),
    );
  });

  it('least squares, scored on the same corpus, gets the sawtooth, warm-up, cache, step and late-leak cases wrong', () => {
    const wrong = rows.filter((r) => r.naive.some((v) => v !== r.label)).map((r) => r.name);
    expect(wrong).toEqual(
      expect.arrayContaining([
        'leak that starts halfway',
        'sawtooth over a flat floor, peaks rising',
        'long warm-up then plateau',
        'bounded cache that fills ever more slowly',
        'one-time step up',
        'three samples',
      ]),
    );
  });

  it('every leak of the corpus is reported with at least low confidence and a p-value under 0.01', () => {
    for (const row of rows.filter((r) => r.label)) {
      for (const r of row.mine) {
        expect(r.confidence).not.toBe('none');
        expect(r.pValue).toBeLessThan(0.01);
      }
    }
  });
});

describe('analyzeMemoryTrend on constructed series', () => {
  it('a clean linear rise of 2 MB/min over 10 minutes is a leak with slope 2, r² 1 and high confidence', () => {
    const trend = analyzeMemoryTrend(series(601, 1000, (i) => 50 + (2 * i) / 60));
    expect(trend).toMatchObject({
      leakSuspected: true,
      slopeMbPerMin: 2,
      r2: 1,
      pValue: 0,
      confidence: 'high',
      sampleCount: 601,
      method: 'theil-sen+mann-kendall(hamed-rao) on post-gc heap floor',
    });
    // floor points run from the first window's trough (t=0) to the last one's (t=590 s): 9.83 min × 2 MB/min
    expect(trend.details).toMatchObject({ shape: 'growing', floorPoints: 60, windowMs: 10000, floorGrowthMb: 19.667 });
  });

  it('the same rise under minSlopeMbPerMin 3 is slow growth, not a leak', () => {
    const trend = analyzeMemoryTrend(series(601, 1000, (i) => 50 + (2 * i) / 60), { minSlopeMbPerMin: 3 });
    expect(trend.leakSuspected).toBe(false);
    expect(trend.slopeMbPerMin).toBe(2);
    expect(trend.details?.shape).toBe('slow-growth');
  });

  it('a GC sawtooth over a flat floor has slope 0 and no leak: the floor is read at the troughs', () => {
    const trend = analyzeMemoryTrend(series(601, 1000, (i) => 80 + (i % 10)));
    expect(trend).toMatchObject({ leakSuspected: false, slopeMbPerMin: 0, r2: 0, pValue: 1, confidence: 'high' });
    expect(trend.details).toMatchObject({ shape: 'flat', gcCyclesSeen: 60, windowMs: 15000, floorStartMb: 80, floorEndMb: 80 });
  });

  it('a one-time step of 60 MB that stays is a plateau, not a leak', () => {
    const trend = analyzeMemoryTrend(series(601, 1000, (i) => 80 + (i >= 270 ? 60 : 0) + (i % 10)));
    expect(trend.leakSuspected).toBe(false);
    expect(trend.details).toMatchObject({ shape: 'plateaued', recentSlopeMbPerMin: 0 });
  });

  it('a cache filling towards 260 MB ever more slowly is saturating, not a leak', () => {
    const trend = analyzeMemoryTrend(series(721, 1000, (i) => 60 + 200 * (1 - Math.exp(-i / 180)) + (i % 10)));
    expect(trend.leakSuspected).toBe(false);
    expect(trend.details?.shape).toBe('saturating');
    expect(Number(trend.details?.lateSlopeMbPerMin)).toBeLessThan(0.4 * Number(trend.details?.earlySlopeMbPerMin));
  });

  it('a leak of 3 MB/min that starts halfway is caught on the recent half and reported at its own rate', () => {
    const trend = analyzeMemoryTrend(series(1201, 1000, (i) => 90 + Math.max(0, (3 * (i - 600)) / 60) + (i % 10)));
    expect(trend).toMatchObject({ leakSuspected: true, slopeMbPerMin: 3, r2: 1, method: 'theil-sen+mann-kendall(hamed-rao) on post-gc heap floor, recent half' });
    expect(trend.details).toMatchObject({ shape: 'growing-recently', earlySlopeMbPerMin: 0, lateSlopeMbPerMin: 3 });
  });

  it('a shrinking heap is not a leak', () => {
    const trend = analyzeMemoryTrend(series(601, 1000, (i) => 200 - (3 * i) / 60 + (i % 10)));
    expect(trend).toMatchObject({ leakSuspected: false, slopeMbPerMin: -3 });
    expect(trend.details?.shape).toBe('shrinking');
  });

  it('three samples: confidence none, no leak, slope 0, the raw slope only in details', () => {
    const trend = analyzeMemoryTrend([
      { t: 0, heapUsedMb: 50 },
      { t: 1000, heapUsedMb: 60 },
      { t: 2000, heapUsedMb: 70 },
    ]);
    expect(trend).toEqual({
      leakSuspected: false,
      slopeMbPerMin: 0,
      r2: 0,
      method: 'insufficient-data',
      sampleCount: 3,
      confidence: 'none',
      details: { shape: 'insufficient-data', reason: '3 samples; at least 12 are needed', rawSlopeMbPerMin: 600 },
    });
  });

  it('a span shorter than minDurationMs gives confidence none', () => {
    const trend = analyzeMemoryTrend(series(30, 50, (i) => 50 + i));
    expect(trend).toMatchObject({ leakSuspected: false, confidence: 'none', sampleCount: 30 });
    expect(trend.details?.reason).toBe('the samples span 1450 ms; at least 2000 ms are needed');
    expect(analyzeMemoryTrend(series(30, 50, (i) => 50 + i), { minDurationMs: 1000 }).confidence).not.toBe('none');
  });

  it('no samples, one sample, or a zero span give confidence none and never throw', () => {
    expect(analyzeMemoryTrend([])).toMatchObject({ confidence: 'none', sampleCount: 0, slopeMbPerMin: 0 });
    expect(analyzeMemoryTrend([{ t: 5, heapUsedMb: 10 }])).toMatchObject({ confidence: 'none', sampleCount: 1 });
    expect(analyzeMemoryTrend(series(50, 0, () => 10))).toMatchObject({ confidence: 'none', sampleCount: 50 });
  });

  it('non-finite samples are left out and unordered samples are put in time order', () => {
    const clean = series(601, 1000, (i) => 50 + (2 * i) / 60);
    const shuffled = [...clean].reverse();
    shuffled.push({ t: Number.NaN, heapUsedMb: 5 }, { t: 10, heapUsedMb: Number.POSITIVE_INFINITY });
    const trend = analyzeMemoryTrend(shuffled);
    expect(trend).toEqual(analyzeMemoryTrend(clean));
  });

  it('downsampled samples (heapUsedMb = the lowest of the merged ticks) still show the floor', () => {
    // 2 ticks merged per sample: the floor of each pair is the trough
    const trend = analyzeMemoryTrend(series(300, 2000, (i) => 70 + (4 * i * 2) / 60));
    expect(trend).toMatchObject({ leakSuspected: true, slopeMbPerMin: 4 });
  });

  it('reports the rss floor slope beside the heap verdict when rss is given', () => {
    const samples = series(601, 1000, () => 60).map((s, i) => ({ ...s, rssMb: 200 + (5 * i) / 60 }));
    const trend = analyzeMemoryTrend(samples);
    expect(trend.leakSuspected).toBe(false);
    expect(trend.details?.rssSlopeMbPerMin).toBe(5);
  });

  it('extreme but finite values give finite figures', () => {
    const trend = analyzeMemoryTrend(series(100, 1e12, (i) => 1e12 + i * 1e9));
    for (const v of [trend.slopeMbPerMin, trend.r2, trend.pValue ?? 0]) expect(Number.isFinite(v)).toBe(true);
    expect(trend.r2).toBeGreaterThanOrEqual(0);
    expect(trend.r2).toBeLessThanOrEqual(1);
  });
});
