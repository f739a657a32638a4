/**
 * Statistics shared by the analyzers: order statistics (median, quantiles, MAD), the largest k,
 * strided subsamples. Line fits and trend tests are in trendFit.ts. Every function is pure and
 * returns finite numbers for finite input.
 */

/** 1.4826 × MAD estimates the standard deviation of normally distributed data. */
export const MAD_TO_SIGMA = 1.4826;

/**
 * Clamps `x` into [lo, hi]; a non-finite `x` becomes `lo`.
 *
 * @example
 * clamp(1.7, 0, 1); // 1
 */
export function clamp(x: number, lo: number, hi: number): number {
  if (!Number.isFinite(x)) return lo;
  return x < lo ? lo : x > hi ? hi : x;
}

/**
 * Rounds to `digits` decimals (finite output; non-finite input gives 0).
 *
 * @example
 * round(2.34567, 2); // 2.35
 */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  const r = Math.round(x * f) / f;
  return Number.isFinite(r) ? r : x;
}

/** Rearranges `a` so that `a[k]` is the k-th smallest value (Hoare's quickselect, O(n) expected). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = lo + ((hi - lo) >> 1);
    // median of three as pivot: guards against sorted input
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const tmp = a[i]!;
        a[i] = a[j]!;
        a[j] = tmp;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/**
 * Median of the values (0 for none). Copies its input; O(n) expected.
 *
 * @example
 * median([3, 1, 2]); // 2
 * median([4, 1, 2, 3]); // 2.5
 */
export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

/**
 * The q-quantile (0..1) with linear interpolation between order statistics (0 for no values).
 *
 * @example
 * quantile([1, 2, 3, 4, 5], 0.75); // 4
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return 0;
  // a typed array is copied with slice (a memcpy); from() iterates it (0.45 ms per 65 536 values)
  const a = values instanceof Float64Array ? values.slice() : Float64Array.from(values as ArrayLike<number>);
  const pos = clamp(q, 0, 1) * (n - 1);
  const lo = Math.floor(pos);
  const vLo = select(a, lo);
  if (pos === lo) return vLo;
  // after select, a[lo+1..] are all >= a[lo]: the next order statistic is their minimum
  let vHi = Infinity;
  for (let i = lo + 1; i < n; i++) if (a[i]! < vHi) vHi = a[i]!;
  return vLo + (vHi - vLo) * (pos - lo);
}

/**
 * Median absolute deviation from the median (unscaled; multiply by {@link MAD_TO_SIGMA} for a
 * standard-deviation estimate).
 *
 * @example
 * mad([1, 2, 3, 4, 100]); // 1
 */
export function mad(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return 0;
  const m = median(values);
  const dev = new Float64Array(n);
  for (let i = 0; i < n; i++) dev[i] = Math.abs(values[i]! - m);
  return select(dev, (n - 1) >> 1) * 0.5 + select(dev, n >> 1) * 0.5;
}

/**
 * Keeps the positions of the `k` largest values offered, ties going to the earlier position: the
 * set a stable sort (largest first) cut at `k` keeps. Values are offered in position order into a
 * buffer of 4k, compacted to the best k (a quickselect finds the cut-off) whenever it fills: O(n)
 * time, O(k) memory. On the bench run (1M samples) RunView.gcByStage gathered the 560 000 ticks
 * with a GC pause and sorted their pauses instead: 210 ms of a 670 ms analysis (now 30 ms), and
 * typed arrays that add to what drives V8 into its 150 ms full GCs. NaN and -Infinity are never
 * kept.
 *
 * @example
 * const top = new LargestK(2);
 * [5, 1, 7, 5, 2].forEach((v, i) => top.offer(i, v));
 * top.positions(); // Uint32Array [0, 2]
 */
export class LargestK {
  readonly #k: number;
  readonly #values: Float64Array;
  readonly #positions: Uint32Array;
  readonly #scratch: Float64Array;
  #size = 0;
  /** After a compaction, what a later value must beat (an equal one comes later, so it loses). */
  #cutoff = -Infinity;
  #offered = 0;

  constructor(k: number) {
    this.#k = Math.max(0, Math.floor(k));
    const capacity = 4 * this.#k + 16;
    this.#values = new Float64Array(capacity);
    this.#positions = new Uint32Array(capacity);
    this.#scratch = new Float64Array(capacity);
  }

  /** Values offered so far, kept or not. */
  get offered(): number {
    return this.#offered;
  }

  /** Offers the value at `position`; positions must increase from one call to the next. */
  offer(position: number, value: number): void {
    this.#offered++;
    if (!(value > this.#cutoff)) return;
    if (this.#size === this.#values.length) {
      this.#compact();
      if (!(value > this.#cutoff)) return;
    }
    this.#values[this.#size] = value;
    this.#positions[this.#size++] = position;
  }

  /** The kept positions, in position order. */
  positions(): Uint32Array {
    if (this.#size > this.#k) this.#compact();
    return this.#positions.slice(0, this.#size);
  }

  /** Keeps the best k of the buffer, in position order. */
  #compact(): void {
    const n = this.#size;
    const k = this.#k;
    const values = this.#values;
    if (k === 0) {
      this.#size = 0;
      this.#cutoff = Infinity;
      return;
    }
    const scratch = this.#scratch.subarray(0, n);
    scratch.set(values.subarray(0, n));
    const cutoff = select(scratch, n - k);
    let ties = k;
    for (let i = 0; i < n; i++) if (values[i]! > cutoff) ties--;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v > cutoff || (v === cutoff && ties-- > 0)) {
        values[j] = v;
        this.#positions[j++] = this.#positions[i]!;
      }
    }
    this.#size = j;
    this.#cutoff = cutoff;
  }
}

/**
 * An evenly strided subsample of at most `max` indices of 0..n-1, always including the first
 * and the last index.
 *
 * @example
 * strideIndices(101, 5); // [0, 25, 50, 75, 100]
 */
export function strideIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  // filled in place, not grown by push: on a 1M-sample run each call returns 65 536 indices, and
  // the growing copies were 4 MB of garbage per analysis
  const out = new Array<number>(max);
  const step = (n - 1) / (max - 1);
  for (let k = 0; k < max; k++) out[k] = Math.round(k * step);
  return out;
}
