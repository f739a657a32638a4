/**
 * Memory trend and leak detection on the post-GC heap floor.
 *
 * A least-squares line through raw heap samples (what naive monitors fit) confuses the GC
 * sawtooth, cache warm-up and one-off allocations with leaks, and dilutes a leak that starts late.
 * This detector instead:
 *  1. takes the low envelope of the heap: the minimum of each time window, windows at least
 *     1.5 GC cycles long (the cadence is read from the heap's own drops), so every window holds a
 *     post-GC trough and the series tracks the memory that survives collection;
 *  2. cuts the warm-up: leading tenths of the run whose floor climbs more than three times faster
 *     than the second half does (at most 40 % of the run);
 *  3. fits a Theil-Sen slope and runs a Mann-Kendall test with the Hamed-Rao autocorrelation
 *     correction, on the whole post-warm-up floor and on its recent half (a leak that starts
 *     halfway is judged on the part where it happens);
 *  4. calls it a leak only when the slope is at least `minSlopeMbPerMin` and significant
 *     (p < 0.01), the floor reaches new highs (the last quarter above the first half's 90th
 *     percentile), it still rises between the last two quarters, and the curve is not
 *     saturating (the last third's slope is not significantly below 0.4 of the first third's).
 * See docs/analyzers.md for the reasoning and the labeled corpus it is tested on.
 */
import type { MemoryTrend } from '../src/types';
import { MAD_TO_SIGMA, clamp, mad, median, quantile, round, strideIndices } from './stats';
import { mannKendall, rSquared, theilSen, type LineFit } from './trendFit';

/** A heap sample as the trend reads it (a `MemorySample` fits). */
export interface TrendSample {
  /** ms since the run started. */
  t: number;
  /** Heap used, MiB (after downsampling: the lowest heap of the merged ticks). */
  heapUsedMb: number;
  /** Resident set size, MiB (reported as a side figure, never drives the verdict). */
  rssMb?: number;
}

export interface MemoryTrendOptions {
  /** Shortest span of samples the trend is judged on, ms (default 2000). */
  minDurationMs?: number;
  /** Floor growth that counts as a leak, MiB per minute (default 1). */
  minSlopeMbPerMin?: number;
}

/** Defaults of {@link analyzeMemoryTrend}. */
export const TREND_DEFAULTS: Readonly<Required<MemoryTrendOptions>> = Object.freeze({ minDurationMs: 2000, minSlopeMbPerMin: 1 });

/** Fewest samples a trend is computed from. */
export const MIN_TREND_SAMPLES = 12;
/** Fewest floor points (windows) a verdict is given on. */
export const MIN_FLOOR_POINTS = 8;
/** Most floor points: longer runs get longer windows, which bounds the O(k²) tests. */
export const MAX_FLOOR_POINTS = 200;
/** Floor points below which the warm-up is not looked for. */
const MIN_POINTS_FOR_WARMUP = 20;
/** Significance level of a leak. */
export const LEAK_ALPHA = 0.01;
/** Significance level of a leak seen in the recent half only. */
export const LATE_ONSET_ALPHA = 0.001;
/** A warm-up climbs this many times faster than the second half of the run. */
const WARMUP_FACTOR = 3;
/** Largest share of the span cut as warm-up. */
const MAX_WARMUP_SHARE = 0.4;
/** The last third climbing at less than this share of the first third's rate: saturating. */
const SATURATION_RATIO = 0.4;
/** Floor points each third needs before a bend is judged (fewer: slopes too noisy to compare). */
const MIN_POINTS_PER_THIRD = 5;
/** Diffs used to estimate the sample-to-sample noise (strided subsample). */
const NOISE_SUBSAMPLE = 65_536;
const MS_PER_MIN = 60_000;

/** A point of the heap floor: time (ms since run start) and the lowest heap of its window. */
interface FloorPoint {
  t: number;
  mb: number;
}

/** No verdict: slope 0 (the floor is unknown); the raw first-to-last slope goes to details only. */
function insufficient(sampleCount: number, reason: string, rawSlopeMbPerMin = 0): MemoryTrend {
  return {
    leakSuspected: false,
    slopeMbPerMin: 0,
    r2: 0,
    method: 'insufficient-data',
    sampleCount,
    confidence: 'none',
    details: { shape: 'insufficient-data', reason, rawSlopeMbPerMin: round(rawSlopeMbPerMin, 3) },
  };
}

/** Finite samples in time order, as parallel arrays (one pass; a sort only for unordered input). */
function prepare(samples: ReadonlyArray<TrendSample>): { t: Float64Array; heap: Float64Array; rss: Float64Array | undefined } {
  const total = samples.length;
  let t = new Float64Array(total);
  let heap = new Float64Array(total);
  let rss: Float64Array | undefined = new Float64Array(total);
  let n = 0;
  let sorted = true;
  let last = -Infinity;
  for (let i = 0; i < total; i++) {
    const s = samples[i];
    if (s === undefined || s === null) continue;
    const ti = s.t;
    const h = s.heapUsedMb;
    if (typeof ti !== 'number' || typeof h !== 'number' || !Number.isFinite(ti) || !Number.isFinite(h)) continue;
    if (ti < last) sorted = false;
    last = ti;
    t[n] = ti;
    heap[n] = h;
    if (rss !== undefined) {
      const r = s.rssMb;
      if (typeof r === 'number' && Number.isFinite(r)) rss[n] = r;
      else rss = undefined;
    }
    n++;
  }
  t = t.subarray(0, n);
  heap = heap.subarray(0, n);
  rss = rss?.subarray(0, n);
  if (!sorted) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => t[a]! - t[b]! || a - b);
    const pick = (a: Float64Array): Float64Array => Float64Array.from(order, (i) => a[i]!);
    return { t: pick(t), heap: pick(heap), rss: rss !== undefined ? pick(rss) : undefined };
  }
  return { t, heap, rss: n > 0 ? rss : undefined };
}

/**
 * How many GC cycles the heap shows. Heap used only falls when the collector frees memory, so a
 * descent (a run of consecutive falls, however many ticks an incremental collection spreads it
 * over) is a collection; descents shallower than a quarter of the 90th-percentile descent are
 * noise or a partial sweep and are not counted.
 */
function countCollections(heap: Float64Array): number {
  const n = heap.length;
  // counted first, so the depths take their own size and not the samples' (an 8 MB typed array
  // per analysis of a 1M-sample run, which counts towards V8's external-memory GC trigger)
  let k = 0;
  for (let i = 1; i < n; i++) if (heap[i]! < heap[i - 1]! && !(i > 1 && heap[i - 1]! < heap[i - 2]!)) k++;
  if (k === 0) return 0;
  const found = new Float64Array(k);
  let d = 0;
  let i = 1;
  while (i < n) {
    if (heap[i]! < heap[i - 1]!) {
      const top = heap[i - 1]!;
      while (i < n && heap[i]! < heap[i - 1]!) i++;
      found[d++] = top - heap[i - 1]!;
    } else {
      i++;
    }
  }
  const idx = strideIndices(k, NOISE_SUBSAMPLE);
  const subsample = new Float64Array(idx.length);
  for (let j = 0; j < idx.length; j++) subsample[j] = found[idx[j]!]!;
  const threshold = Math.max(0.25 * quantile(subsample, 0.9), 0.01);
  let count = 0;
  for (let j = 0; j < k; j++) if (found[j]! >= threshold) count++;
  return count;
}

/** Minimum of each of `windows` equal time windows over [t0, t0 + spanMs]; empty windows are skipped. */
function windowMinima(t: Float64Array, values: Float64Array, t0: number, spanMs: number, windows: number): FloorPoint[] {
  const minMb = new Float64Array(windows).fill(Infinity);
  const minT = new Float64Array(windows);
  const width = spanMs / windows;
  for (let i = 0; i < t.length; i++) {
    let w = Math.floor((t[i]! - t0) / width);
    if (w >= windows) w = windows - 1;
    else if (w < 0) w = 0;
    const v = values[i]!;
    if (v < minMb[w]!) {
      minMb[w] = v;
      minT[w] = t[i]!;
    }
  }
  const out: FloorPoint[] = [];
  for (let w = 0; w < windows; w++) if (minMb[w] !== Infinity) out.push({ t: minT[w]!, mb: minMb[w]! });
  return out;
}

function medianInterval(t: Float64Array): number {
  const n = t.length;
  if (n < 2) return 0;
  const idx = strideIndices(n - 1, NOISE_SUBSAMPLE);
  const dt = new Float64Array(idx.length);
  for (let k = 0; k < idx.length; k++) dt[k] = t[idx[k]! + 1]! - t[idx[k]!]!;
  return median(dt);
}

/** Theil-Sen on floor points, x in minutes: slope in MiB/min. */
function fitFloor(points: readonly FloorPoint[]): LineFit & { xs: Float64Array; ys: Float64Array } {
  const xs = Float64Array.from(points, (p) => p.t / MS_PER_MIN);
  const ys = Float64Array.from(points, (p) => p.mb);
  return { ...theilSen(xs, ys), xs, ys };
}

function between(points: readonly FloorPoint[], from: number, to: number): FloorPoint[] {
  return points.filter((p) => p.t >= from && p.t <= to);
}

/** Where the warm-up ends (ms since run start), or the first floor point's time when there is none. */
function warmupEnd(points: readonly FloorPoint[], minSlopeMbPerMin: number): number {
  const first = points[0]!.t;
  const last = points[points.length - 1]!.t;
  if (points.length < MIN_POINTS_FOR_WARMUP) return first;
  const span = last - first;
  const secondHalf = between(points, first + span / 2, last);
  const reference = Math.max(fitFloor(secondHalf).slope, minSlopeMbPerMin);
  const limit = WARMUP_FACTOR * reference;
  const blocks = 10;
  const blockMs = span / blocks;
  const medians: Array<number | undefined> = [];
  for (let b = 0; b < blocks; b++) {
    const inBlock = points.filter((p) => p.t >= first + b * blockMs && (b === blocks - 1 ? p.t <= last : p.t < first + (b + 1) * blockMs));
    medians.push(inBlock.length > 0 ? median(inBlock.map((p) => p.mb)) : undefined);
  }
  let cut = 0;
  const maxCut = Math.floor(blocks * MAX_WARMUP_SHARE);
  while (cut < maxCut) {
    const a = medians[cut];
    const b = medians[cut + 1];
    if (a === undefined || b === undefined) break;
    const slope = (b - a) / (blockMs / MS_PER_MIN);
    if (slope <= limit) break;
    cut++;
  }
  return first + cut * blockMs;
}

/**
 * Fits the trend of the post-GC heap floor and decides whether it looks like a leak: growth of
 * at least `minSlopeMbPerMin` that is significant, makes new highs and is still going on at the
 * end of the run, and is not a saturating curve. Too little data (fewer than 12 samples, a span
 * under `minDurationMs`, or fewer than 8 floor windows) gives `confidence: 'none'` and no leak.
 * Pure and O(n) in the samples (the O(k²) tests run on at most 200 floor points).
 *
 * @example
 * const samples = Array.from({ length: 600 }, (_, i) => ({ t: i * 1000, heapUsedMb: 50 + i / 30 }));
 * const trend = analyzeMemoryTrend(samples);
 * trend.leakSuspected; // true
 * trend.slopeMbPerMin; // 2
 */
export function analyzeMemoryTrend(samples: ReadonlyArray<TrendSample>, options: MemoryTrendOptions = {}): MemoryTrend {
  const minDurationMs = options.minDurationMs !== undefined && options.minDurationMs >= 0 ? options.minDurationMs : TREND_DEFAULTS.minDurationMs;
  const minSlope = options.minSlopeMbPerMin !== undefined && options.minSlopeMbPerMin > 0 ? options.minSlopeMbPerMin : TREND_DEFAULTS.minSlopeMbPerMin;
  const { t, heap, rss } = prepare(samples ?? []);
  const n = t.length;
  if (n < 2) return insufficient(n, `${n} sample(s); at least ${MIN_TREND_SAMPLES} are needed`);
  const t0 = t[0]!;
  const spanMs = t[n - 1]! - t0;
  const roughSlope = spanMs > 0 ? fitFloor([{ t: t0, mb: heap[0]! }, { t: t[n - 1]!, mb: heap[n - 1]! }]).slope : 0;
  if (n < MIN_TREND_SAMPLES) return insufficient(n, `${n} samples; at least ${MIN_TREND_SAMPLES} are needed`, roughSlope);
  if (!(spanMs >= minDurationMs) || !(spanMs > 0)) {
    return insufficient(n, `the samples span ${round(spanMs, 0)} ms; at least ${minDurationMs} ms are needed`, roughSlope);
  }

  // 1. Low envelope: windows of at least 1.5 GC cycles (when the heap shows a GC cadence), so that
  //    each holds a post-GC trough.
  const collections = countCollections(heap);
  const cycleMs = collections >= 3 ? spanMs / collections : undefined;
  // A run of fewer than 12 cycles still gets 8 windows, some without a trough: the verdict is then
  // given at low confidence only.
  const wantedMs = cycleMs !== undefined ? Math.min(1.5 * cycleMs, spanMs / MIN_FLOOR_POINTS) : spanMs / 60;
  const windowMs = Math.max(3 * medianInterval(t), spanMs / MAX_FLOOR_POINTS, wantedMs);
  const windows = clamp(Math.round(spanMs / windowMs), 1, MAX_FLOOR_POINTS);
  const fewCycles = cycleMs !== undefined && 1.5 * cycleMs > spanMs / MIN_FLOOR_POINTS;
  const floor = windowMinima(t, heap, t0, spanMs, windows);
  if (floor.length < MIN_FLOOR_POINTS) {
    return insufficient(n, `the samples fill ${floor.length} time windows; at least ${MIN_FLOOR_POINTS} are needed`, roughSlope);
  }

  // 2. Warm-up cut.
  const cutT = warmupEnd(floor, minSlope);
  const points = floor.filter((p) => p.t >= cutT);
  if (points.length < MIN_FLOOR_POINTS) return insufficient(n, `only ${points.length} floor windows after the warm-up`, roughSlope);
  const first = points[0]!.t;
  const last = points[points.length - 1]!.t;
  const span = last - first;

  // 3. Robust slope and autocorrelation-corrected trend test: whole post-warm-up floor and recent half.
  const full = fitFloor(points);
  const mkFull = mannKendall(full.xs, full.ys);
  const recentPoints = between(points, first + span / 2, last);
  const recent = recentPoints.length >= 6 ? fitFloor(recentPoints) : full;
  const mkRecent = recentPoints.length >= 6 ? mannKendall(recent.xs, recent.ys) : mkFull;

  // 4. Shape: new highs, still rising at the end, saturating.
  // noise of the floor from its successive differences: unlike residuals from a line, they do not
  // mistake a curve's bend for noise
  const floorDiffs = full.ys.subarray(1).map((y, i) => y - full.ys[i]!);
  const sigma = (MAD_TO_SIGMA * mad(floorDiffs)) / Math.SQRT2;
  const firstHalfHigh = quantile(between(points, first, first + span / 2).map((p) => p.mb), 0.9);
  const q3 = between(points, first + span / 2, first + (3 * span) / 4).map((p) => p.mb);
  const q4 = between(points, first + (3 * span) / 4, last).map((p) => p.mb);
  const q4Median = q4.length > 0 ? median(q4) : full.intercept + full.slope * (last / MS_PER_MIN);
  const q3Median = q3.length > 0 ? median(q3) : q4Median;
  const quarterMin = span / 4 / MS_PER_MIN;
  const newHighs = q4Median > firstHalfHigh;
  const stillRising = q4Median - q3Median >= 0.25 * minSlope * quarterMin;
  const thirdA = between(points, first, first + span / 3);
  const thirdC = between(points, last - span / 3, last);
  let saturating = false;
  let earlySlope = full.slope;
  let lateSlope = full.slope;
  if (thirdA.length >= MIN_POINTS_PER_THIRD && thirdC.length >= MIN_POINTS_PER_THIRD) {
    earlySlope = fitFloor(thirdA).slope;
    lateSlope = fitFloor(thirdC).slope;
    // standard error of a slope fitted on m evenly spread points over T minutes with noise sigma
    const thirdMin = span / 3 / MS_PER_MIN;
    const se = (m: number): number => (sigma * Math.sqrt(12)) / (thirdMin * Math.sqrt(m));
    const seDiff = Math.hypot(se(thirdA.length), se(thirdC.length));
    saturating = earlySlope >= minSlope && lateSlope < SATURATION_RATIO * earlySlope && earlySlope - lateSlope > 2.5 * seDiff;
  }

  // Sustained: the whole post-warm-up floor grows, and its recent half still does. Late onset: the
  // recent half alone grows; a second look at the data, so it must pass a stricter level.
  const sustained = full.slope >= minSlope && mkFull.s > 0 && mkFull.pValue < LEAK_ALPHA && recent.slope >= 0.5 * minSlope && mkRecent.s > 0;
  // A late onset rises from a level floor: a floor that first fell and then came back (a V) is a
  // wander, not a leak that started.
  const olderPoints = between(points, first, first + span / 2);
  const olderSlope = olderPoints.length >= 3 ? fitFloor(olderPoints).slope : 0;
  const lateOnset =
    recentPoints.length >= 6 && recent.slope >= minSlope && mkRecent.s > 0 && mkRecent.pValue < LATE_ONSET_ALPHA && olderSlope >= -0.5 * minSlope;
  const leak = (sustained || lateOnset) && newHighs && stillRising && !saturating;
  const useRecent = lateOnset && (!sustained || recent.slope > 1.5 * full.slope);
  const fit = useRecent ? recent : full;
  const mk = useRecent ? mkRecent : mkFull;

  let shape: string;
  if (leak) shape = useRecent ? 'growing-recently' : 'growing';
  else if (saturating) shape = 'saturating';
  else if (newHighs && !stillRising && full.slope >= minSlope) shape = 'plateaued';
  else if (full.slope <= -minSlope && mkFull.s < 0 && mkFull.pValue < LEAK_ALPHA) shape = 'shrinking';
  else if (full.slope > 0 && mkFull.s > 0 && mkFull.pValue < LEAK_ALPHA) shape = 'slow-growth';
  else shape = 'flat';

  // Confidence: enough floor points, a long enough span, and (for a leak) strong significance or
  // (for no leak) a clear-cut verdict.
  const clearVerdict = leak ? mk.pValue < 0.001 : !(sustained || lateOnset) || saturating || !stillRising || fit.slope < 0.5 * minSlope;
  const score = (points.length >= 20 ? 1 : 0) + (span >= MS_PER_MIN ? 1 : 0) + (clearVerdict ? 1 : 0);
  const confidence = fewCycles ? 'low' : score >= 3 ? 'high' : score === 2 ? 'medium' : 'low';

  const details: Record<string, unknown> = {
    shape,
    floorPoints: points.length,
    windowMs: round(spanMs / windows, 1),
    gcCyclesSeen: collections,
    fewGcCycles: fewCycles,
    warmupEndMs: round(cutT, 1),
    slopeMbPerMin: round(full.slope, 3),
    pValue: round(mkFull.pValue, 6),
    recentSlopeMbPerMin: round(recent.slope, 3),
    recentPValue: round(mkRecent.pValue, 6),
    earlySlopeMbPerMin: round(earlySlope, 3),
    lateSlopeMbPerMin: round(lateSlope, 3),
    varianceInflation: round(mk.varianceInflation, 3),
    floorStartMb: round(full.intercept + full.slope * (first / MS_PER_MIN), 3),
    floorEndMb: round(full.intercept + full.slope * (last / MS_PER_MIN), 3),
    floorGrowthMb: round(full.slope * (span / MS_PER_MIN), 3),
  };
  if (rss !== undefined) {
    const rssFloor = windowMinima(t, rss, t0, spanMs, windows).filter((p) => p.t >= cutT);
    if (rssFloor.length >= 2) details.rssSlopeMbPerMin = round(fitFloor(rssFloor).slope, 3);
  }
  return {
    leakSuspected: leak,
    slopeMbPerMin: round(fit.slope, 3),
    r2: round(rSquared(fit.xs, fit.ys, fit), 4),
    pValue: clamp(round(mk.pValue, 6), 0, 1),
    method: useRecent ? 'theil-sen+mann-kendall(hamed-rao) on post-gc heap floor, recent half' : 'theil-sen+mann-kendall(hamed-rao) on post-gc heap floor',
    sampleCount: n,
    confidence,
    details,
  };
}
