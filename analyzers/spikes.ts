/**
 * Memory spike detection: sample-to-sample jumps of rss or heap that are far outside the run's
 * usual jumps (robust z-score on the median and MAD of the differences) and large in absolute
 * terms. Pure and O(n); the median and MAD are taken on a strided subsample of long series.
 */
import { MAD_TO_SIGMA, mad, median, strideIndices } from './stats';

/** A sample as spike detection reads it (a `MemorySample` fits). */
export interface SpikeSample {
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** After downsampling: the highest heap of the merged ticks. */
  heapUsedMaxMb?: number;
}

export interface SpikeOptions {
  /** Robust z-score a jump must exceed (default 6). */
  minScore?: number;
  /** Smallest jump that counts, MiB (default 16), raised to 2 % of the typical level for big processes. */
  minJumpMb?: number;
  /** Most spikes returned, the highest scores (default 50). */
  maxSpikes?: number;
}

export const SPIKE_DEFAULTS: Readonly<Required<SpikeOptions>> = Object.freeze({ minScore: 6, minJumpMb: 16, maxSpikes: 50 });

/** Diffs used to estimate the typical jump (strided subsample of long series). */
const SUBSAMPLE = 65_536;
/** Jumps are scored against at least this spread, MiB (a flat, quantised series has MAD 0). */
const MIN_SPREAD_MB = 0.5;

/** A detected jump: the sample where it landed, the jump in MiB and its robust z-score. */
export interface DetectedSpike {
  /** Index of the sample in the input. */
  index: number;
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** The larger of the rss and heap jumps since the previous sample, MiB. */
  jumpMb: number;
  /** Which series jumped the most (by score). */
  series: 'rss' | 'heap';
  /** Robust z-score of that jump. */
  score: number;
}

interface Scale {
  center: number;
  spread: number;
  level: number;
}

/** The rss of a sample as spike detection reads it (0 when not a finite number). */
function rssOf(s: SpikeSample): number {
  const r = s.rssMb;
  return Number.isFinite(r) ? r : 0;
}

/** The heap of a sample as spike detection reads it: its highest heap when downsampled. */
function heapOf(s: SpikeSample): number {
  const h = s.heapUsedMaxMb ?? s.heapUsedMb;
  return Number.isFinite(h) ? h : 0;
}

function scaleOf(diffs: Float64Array, levels: Float64Array): Scale {
  return { center: median(diffs), spread: Math.max(MAD_TO_SIGMA * mad(diffs), MIN_SPREAD_MB), level: Math.abs(median(levels)) };
}

/**
 * Finds unusual upward jumps in rss or heap between consecutive samples: a jump counts when its
 * robust z-score ((jump − median jump) / (1.4826 × MAD)) is at least `minScore` and it is at least
 * `minJumpMb` (and 2 % of the series' typical level). Returns the highest-scoring `maxSpikes`, in
 * time order. The heap series uses `heapUsedMaxMb` when samples were downsampled.
 *
 * @example
 * const samples = Array.from({ length: 60 }, (_, i) => ({ t: i * 1000, rssMb: i === 30 ? 400 : 100, heapUsedMb: 50 }));
 * detectSpikes(samples)[0]?.t; // 30000
 */
export function detectSpikes(samples: ReadonlyArray<SpikeSample>, options: SpikeOptions = {}): DetectedSpike[] {
  const minScore = options.minScore ?? SPIKE_DEFAULTS.minScore;
  const minJumpMb = options.minJumpMb ?? SPIKE_DEFAULTS.minJumpMb;
  const maxSpikes = options.maxSpikes ?? SPIKE_DEFAULTS.maxSpikes;
  const n = samples.length;
  if (n < 3) return [];
  // One sequential pass over the samples keeps the jumps of an evenly strided subsample (for the
  // scales) and the samples whose jump could pass whatever the scales turn out to be (at least
  // minJumpMb: few, a 16 MiB jump between two ticks is rare), then only those are scored. On a
  // 1M-sample run, copying both series whole took two 8 MB typed arrays per analysis (they count
  // towards V8's external-memory trigger for a full GC, 150 ms with such a run in memory), and a
  // second pass over the samples cost 11 ms more; this takes 21-30 ms where that took 31-47.
  const idx = strideIndices(n - 1, SUBSAMPLE);
  const rssDiffs = new Float64Array(idx.length);
  const rssLevels = new Float64Array(idx.length);
  const heapDiffs = new Float64Array(idx.length);
  const heapLevels = new Float64Array(idx.length);
  const candidates: number[] = [];
  let prevRss = rssOf(samples[0]!);
  let prevHeap = heapOf(samples[0]!);
  for (let i = 1, k = 0; i < n; i++) {
    const s = samples[i]!;
    const r = rssOf(s);
    const h = heapOf(s);
    const dr = r - prevRss;
    const dh = h - prevHeap;
    if (i === idx[k]! + 1) {
      rssDiffs[k] = dr;
      rssLevels[k] = r;
      heapDiffs[k] = dh;
      heapLevels[k++] = h;
    }
    if (!(dr < minJumpMb && dh < minJumpMb)) candidates.push(i);
    prevRss = r;
    prevHeap = h;
  }
  const rss = scaleOf(rssDiffs, rssLevels);
  const heap = scaleOf(heapDiffs, heapLevels);
  const rssMin = Math.max(minJumpMb, 0.02 * rss.level);
  const heapMin = Math.max(minJumpMb, 0.02 * heap.level);
  const found: DetectedSpike[] = [];
  for (const i of candidates) {
    const s = samples[i]!;
    const r = rssOf(s);
    const h = heapOf(s);
    const dr = r - rssOf(samples[i - 1]!);
    const dh = h - heapOf(samples[i - 1]!);
    if (dr < rssMin && dh < heapMin) continue;
    const zr = (dr - rss.center) / rss.spread;
    const zh = (dh - heap.center) / heap.spread;
    const rssHit = dr >= rssMin && zr >= minScore;
    const heapHit = dh >= heapMin && zh >= minScore;
    if (!rssHit && !heapHit) continue;
    const useRss = rssHit && (!heapHit || zr >= zh);
    found.push({
      index: i,
      t: s.t,
      rssMb: r,
      heapUsedMb: h,
      jumpMb: useRss ? dr : dh,
      series: useRss ? 'rss' : 'heap',
      score: useRss ? zr : zh,
    });
  }
  if (found.length > maxSpikes) {
    found.sort((a, b) => b.score - a.score);
    found.length = maxSpikes;
    found.sort((a, b) => a.index - b.index);
  }
  return found;
}
