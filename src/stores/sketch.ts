/**
 * A mergeable quantile sketch of durations (ms) with a relative error bound, small while a stage
 * is cold.
 *
 * Layout (log-linear, as in HDR histograms): each power of two is split into 64 equal buckets.
 * A value's bucket is read from the top bits of its IEEE-754 double (11 exponent bits and the 6
 * leading mantissa bits), so an insert costs a few ns with no Math.log. A quantile is answered with
 * the middle of its bucket, within 1/128 (0.78 %) of the value at that rank; the stated bound is
 * {@link QUANTILE_RELATIVE_ERROR} (1 %).
 *
 * Domain: finite values >= 0. Values under 2^-32 ms (~0.2 ps, far below any clock) count as zeros;
 * values of 2^64 ms (~585 million years) and more are clamped to just under 2^64 ms. NaN, negative
 * values and ±Infinity are not added: they are counted in {@link QuantileSketch.invalid}.
 *
 * Memory (V8, measured): ~150 B empty. Up to 16 distinct buckets are kept sparse, as sorted
 * key/count pairs in a plain array (~220 B with one bucket, ~400 B with ten). Past 16 buckets, or
 * once a sketch is hot (1024 values) and its buckets fit a 1024-bucket window, the counts move to a
 * dense window of 32-bit counters from the lowest bucket in use to the highest: ~4 B per bucket of
 * the window (a stage whose calls span 3 decades uses ~640 buckets, ~2.6 kB; 1000 adjacent buckets
 * ~4.2 kB). The window never exceeds the 96 powers of two of the domain (6144 buckets, 24 kB).
 * A hot sketch left sparse (at most 16 buckets spread over more than 16 powers of two) pays a
 * search of its pairs on every add, ~20 ns instead of ~8.
 *
 * The encoding ({@link SketchJson}, documented in docs/report-format.md) is canonical: two sketches
 * of the same values encode to the same JSON, whatever order the values came in and however they
 * were merged (`sum` aside, which is a floating-point sum and can differ in its last digits).
 */

import type { SketchJson } from '../types';
import { SketchFormatError, validateSketch, type SketchLayout, type SketchParts } from './sketchFormat';

export type { SketchJson };

/** Relative error bound of every quantile the sketch returns (the layout gives 1/128 = 0.78 %). */
export const QUANTILE_RELATIVE_ERROR = 0.01;

// Constants the hot path reads are module-local: an exported const is read through `exports.X`
// in the CommonJS build (a property load per use, ~3 ns per add), so they are exported below.

/** Buckets per power of two. */
const SUB_BITS = 6; // 2^6 = SUB_BUCKETS
const SUB_BUCKETS = 64;
/** Bits of the high word of a double under the 6 leading mantissa bits. */
const KEY_SHIFT = 20 - SUB_BITS;
/** Half a bucket, in the high word: the bucket's middle when or-ed onto its lower bound. */
const HALF_BUCKET_BITS = 1 << (KEY_SHIFT - 1);
const EXP_BIAS = 1023;
const MIN_EXP = -32;
const MAX_EXP = 64;
/** Smallest value with a bucket of its own, ms; smaller ones count as zeros. */
const SKETCH_MIN_VALUE = 2 ** MIN_EXP;
/** Values from here on are clamped to {@link CLAMPED_VALUE}, ms. */
const SKETCH_MAX_VALUE = 2 ** MAX_EXP;
/** The largest double under 2^64. */
const CLAMPED_VALUE = SKETCH_MAX_VALUE * (1 - 2 ** -53);
/** Internal keys are the top 18 bits of the double: biased exponent × 64 + sub-bucket. */
const MIN_KEY = (MIN_EXP + EXP_BIAS) << SUB_BITS;
const END_KEY = (MAX_EXP + EXP_BIAS) << SUB_BITS;
const KEY_RANGE = END_KEY - MIN_KEY;
/** External keys (the encoding) are unbiased: floor(log2 v) × 64 + sub-bucket. */
const KEY_BIAS = EXP_BIAS << SUB_BITS;
/** Distinct buckets kept sparse before the sketch switches to a dense window. */
const SPARSE_MAX = 16;
/**
 * A sparse sketch with this many values is hot: its search of the pairs (~20 ns, against ~8 ns for
 * a dense add) is paid on every call, so it goes dense if its window is at most
 * {@link HOT_MAX_SPAN} buckets (4 kB).
 */
const HOT_COUNT = 1024;
const HOT_MAX_SPAN = 1024;
/** A dense counter holds up to 2^31 − 1 (int32 arithmetic is the fast path); the rest goes to the carry. */
const COUNTER_MAX = 0x7fffffff;
const CARRY_UNIT = 2 ** 31;

export { SKETCH_MAX_VALUE, SKETCH_MIN_VALUE };
export { SketchFormatError };

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// The high word of a double (sign, exponent, top of the mantissa) sits at index 1 on little-endian hosts.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/** Lower bound of a bucket, ms. */
function lowerBound(key: number): number {
  u32[HI] = key << KEY_SHIFT;
  u32[LO] = 0;
  return f64[0]!;
}

/** The middle of a bucket, ms: within 1/128 of any value in it. */
function middle(key: number): number {
  u32[HI] = (key << KEY_SHIFT) | HALF_BUCKET_BITS;
  u32[LO] = 0;
  return f64[0]!;
}

/** What the decoder checks an encoding against (decoding is not on the hot path). */
const LAYOUT: SketchLayout = { subBuckets: SUB_BUCKETS, keyBias: KEY_BIAS, minKey: MIN_KEY, endKey: END_KEY, keyRange: KEY_RANGE, minValue: SKETCH_MIN_VALUE, maxValue: SKETCH_MAX_VALUE, lowerBound };


/**
 * @example
 * const sketch = new QuantileSketch();
 * for (const ms of [1.2, 3.4, 250]) sketch.add(ms);
 * sketch.quantile(0.5);                          // 3.40625 (within 1 % of 3.4)
 * const copy = QuantileSketch.decode(JSON.parse(JSON.stringify(sketch.encode())));
 * copy.merge(sketch).count;                      // 6
 */
export class QuantileSketch {
  #count = 0;
  #zeros = 0;
  #invalid = 0;
  #min = Infinity;
  #max = -Infinity;
  #sum = 0;
  /**
   * Sparse mode (while `#dense` is undefined): key, count, key, count... in key order, a plain
   * array of small integers (4 B each); undefined while empty.
   */
  #pairs: number[] | undefined;
  /**
   * Dense mode: counts of the keys from `#offset` on (up to 2^31 − 1 each, the rest in `#carry`).
   * `#offset` must stay a small integer (written with `| 0`): a double there would make V8 store
   * the field boxed and index the window with doubles, doubling the cost of an add.
   */
  #dense: Int32Array | undefined;
  #offset = 0;
  /** Multiples of 2^31 per key, for a bucket that passed 2 147 483 647 values (dense mode). */
  #carry: Map<number, number> | undefined;

  /**
   * Adds one duration, ms. The per-call path: a compare, the bucket from the value's bits, an
   * increment; no allocation unless the value opens a bucket outside the ones in use.
   */
  add(valueMs: number): void {
    if (valueMs >= SKETCH_MIN_VALUE && valueMs < SKETCH_MAX_VALUE) {
      this.#count++;
      this.#sum += valueMs;
      if (valueMs < this.#min) this.#min = valueMs;
      if (valueMs > this.#max) this.#max = valueMs;
      f64[0] = valueMs;
      const key = u32[HI]! >>> KEY_SHIFT;
      const dense = this.#dense;
      if (dense !== undefined) {
        const i = key - this.#offset;
        if (i >= 0 && i < dense.length) {
          const c = dense[i]!;
          if (c !== COUNTER_MAX) {
            dense[i] = c + 1;
            return;
          }
        }
      }
      this.#addToBucket(key, 1);
      return;
    }
    this.#addOutsideBuckets(valueMs);
  }

  /** Values added (invalid ones excluded). */
  get count(): number {
    return this.#count;
  }

  /** NaN, negative and infinite inputs that were not added. */
  get invalid(): number {
    return this.#invalid;
  }

  /** Smallest value added, ms (0 when empty). */
  get min(): number {
    return this.#count > 0 ? this.#min : 0;
  }

  /** Largest value added, ms (0 when empty). */
  get max(): number {
    return this.#count > 0 ? this.#max : 0;
  }

  /** Sum of the values added, ms. */
  get sum(): number {
    return this.#sum;
  }

  /** Distinct buckets in use (zeros excluded). */
  get buckets(): number {
    let n = 0;
    this.#forEachBucket(() => {
      n++;
    });
    return n;
  }

  /**
   * The q-quantile, 0 <= q <= 1: an estimate of the value of rank floor(q × (count − 1)) in sorted
   * order, within {@link QUANTILE_RELATIVE_ERROR} of it (exactly `min` at q = 0 and `max` at q = 1;
   * 0 when empty). Throws a RangeError when q is not a number in [0, 1].
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be a number in [0, 1] (got ${String(q)})`);
    if (this.#count === 0) return 0;
    if (q === 0) return this.#min;
    if (q === 1) return this.#max;
    const rank = Math.floor(q * (this.#count - 1));
    let seen = this.#zeros;
    if (seen > rank) return this.#min;
    let answer = this.#max;
    this.#forEachBucket((key, n) => {
      seen += n;
      if (seen > rank) {
        answer = middle(key);
        return true;
      }
      return false;
    });
    return Math.min(Math.max(answer, this.#min), this.#max);
  }

  /**
   * Adds every value of `other` to this sketch (`other` is unchanged). Exact: the result answers
   * every query as the sketch of both sets of values would (`sum` to floating-point rounding).
   */
  merge(other: QuantileSketch): this {
    const pairs: number[] = [];
    other.#forEachBucket((key, n) => {
      pairs.push(key, n);
    });
    if (other.#count > 0) {
      if (other.#min < this.#min) this.#min = other.#min;
      if (other.#max > this.#max) this.#max = other.#max;
    }
    this.#count += other.#count;
    this.#zeros += other.#zeros;
    this.#invalid += other.#invalid;
    this.#sum += other.#sum;
    if (pairs.length > 0) this.#reserve(pairs[0]!, pairs[pairs.length - 2]!, pairs.length / 2);
    for (let i = 0; i < pairs.length; i += 2) this.#addToBucket(pairs[i]!, pairs[i + 1]!);
    return this;
  }

  /** The canonical JSON form (see {@link SketchJson}). */
  encode(): SketchJson {
    const counts: number[] = [];
    let offset = 0;
    let next = 0;
    this.#forEachBucket((key, n) => {
      if (counts.length === 0) offset = key - KEY_BIAS;
      else if (key > next) counts.push(next - key);
      counts.push(n);
      next = key + 1;
    });
    const json: SketchJson = {
      v: 1,
      subBuckets: SUB_BUCKETS,
      count: this.#count,
      zeros: this.#zeros,
      min: this.min,
      max: this.max,
      sum: this.#sum,
      offset,
      counts,
    };
    if (this.#invalid > 0) json.invalid = this.#invalid;
    return json;
  }

  /**
   * Reads a {@link SketchJson} (parsed JSON, or an object from a report). Validates everything,
   * down to the buckets agreeing with `count`, `min` and `max`; throws a {@link SketchFormatError}
   * naming the first problem for anything else, including hostile objects (throwing getters,
   * revoked proxies).
   *
   * @example
   * const sketch = QuantileSketch.decode(report.stageSummaries[0].sketch);
   * sketch.quantile(0.99);
   */
  static decode(json: unknown): QuantileSketch {
    let parts: SketchParts;
    try {
      parts = validateSketch(json, LAYOUT);
    } catch (err) {
      if (err instanceof SketchFormatError) throw err;
      throw new SketchFormatError(`unreadable (${err instanceof Error ? err.message : 'not an object'})`);
    }
    return QuantileSketch.#build(parts);
  }

  /** Calls `visit` on every non-empty bucket in key order, until it returns true. */
  #forEachBucket(visit: (key: number, count: number) => boolean | void): void {
    const dense = this.#dense;
    if (dense === undefined) {
      const pairs = this.#pairs ?? [];
      for (let i = 0; i < pairs.length; i += 2) if (visit(pairs[i]!, pairs[i + 1]!) === true) return;
      return;
    }
    const carry = this.#carry;
    for (let i = 0; i < dense.length; i++) {
      const key = this.#offset + i;
      const n = dense[i]! + (carry?.get(key) ?? 0);
      if (n > 0 && visit(key, n) === true) return;
    }
  }

  #addOutsideBuckets(value: number): void {
    if (value >= 0 && value < SKETCH_MIN_VALUE) {
      const v = value === 0 ? 0 : value; // -0 is 0
      this.#count++;
      this.#zeros++;
      this.#sum += v;
      if (v < this.#min) this.#min = v;
      if (v > this.#max) this.#max = v;
      return;
    }
    if (value >= SKETCH_MAX_VALUE && value !== Infinity) {
      this.add(CLAMPED_VALUE);
      return;
    }
    this.#invalid++;
  }

  /** Adds n values to a bucket: the slow path (sparse mode, a new bucket, a window to grow, a counter past 2^31). */
  #addToBucket(key: number, n: number): void {
    if (this.#dense === undefined) {
      const pairs = this.#pairs ?? [];
      const length = pairs.length;
      let i = 0;
      while (i < length && pairs[i]! < key) i += 2;
      if (i < length && pairs[i] === key) {
        pairs[i + 1] = pairs[i + 1]! + n;
        if (this.#count >= HOT_COUNT && pairs[length - 2]! - pairs[0]! < HOT_MAX_SPAN) this.#densify(pairs[0]!, pairs[length - 2]!);
        return;
      }
      const low = i === 0 ? key : pairs[0]!;
      const high = i === length ? key : pairs[length - 2]!;
      const distinct = length / 2 + 1;
      // a window no bigger than the pairs (4 B per bucket against 8 B per pair) is taken at once
      if (distinct <= SPARSE_MAX && !(distinct >= 4 && high - low < 2 * distinct)) {
        // a new array of the exact size: a grown one keeps ~16 spare slots (~200 B a sketch)
        const next = new Array<number>(length + 2);
        for (let j = 0; j < i; j++) next[j] = pairs[j]!;
        next[i] = key;
        next[i + 1] = n;
        for (let j = i; j < length; j++) next[j + 2] = pairs[j]!;
        this.#pairs = next;
        return;
      }
      this.#densify(low, high);
    }
    this.#reserve(key, key, 1);
    const dense = this.#dense!;
    const i = key - this.#offset;
    const c = dense[i]! + n;
    if (c <= COUNTER_MAX) {
      dense[i] = c;
      return;
    }
    const over = Math.floor(c / CARRY_UNIT) * CARRY_UNIT;
    dense[i] = c - over;
    this.#carry ??= new Map();
    this.#carry.set(key, (this.#carry.get(key) ?? 0) + over);
  }

  /** Makes room for the keys from `low` to `high`: converts a sparse sketch that would outgrow sparse mode, grows the window. */
  #reserve(low: number, high: number, distinct: number): void {
    if (this.#dense === undefined) {
      const pairs = this.#pairs ?? [];
      if (pairs.length / 2 + distinct <= SPARSE_MAX) return;
      this.#densify(pairs.length > 0 ? Math.min(low, pairs[0]!) : low, pairs.length > 0 ? Math.max(high, pairs[pairs.length - 2]!) : high);
    }
    const dense = this.#dense!;
    const start = this.#offset;
    const end = start + dense.length;
    if (low >= start && high < end) return;
    const from = Math.min(low, start);
    const to = Math.max(high + 1, end);
    // at least half as big again, so a window that keeps growing costs O(1) amortised per new bucket
    const size = Math.min(KEY_RANGE, Math.max(to - from, dense.length + (dense.length >> 1)));
    let offset = low < start ? to - size : from;
    offset = Math.max(MIN_KEY, Math.min(offset, END_KEY - size));
    const grown = new Int32Array(size);
    grown.set(dense, start - offset);
    this.#dense = grown;
    this.#offset = offset | 0;
  }

  /** Moves the sparse pairs into a dense window spanning `low`..`high`. */
  #densify(low: number, high: number): void {
    const pairs = this.#pairs ?? [];
    const dense = new Int32Array(high - low + 1);
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i]!;
      const n = pairs[i + 1]!;
      const low31 = n % CARRY_UNIT;
      dense[key - low] = low31;
      if (n !== low31) {
        this.#carry ??= new Map();
        this.#carry.set(key, n - low31);
      }
    }
    this.#pairs = undefined;
    this.#dense = dense;
    this.#offset = low | 0;
  }

  /** A sketch from validated parts (see decode). */
  static #build(parts: SketchParts): QuantileSketch {
    const s = new QuantileSketch();
    const pairs = parts.buckets;
    if (pairs.length > 0) s.#reserve(pairs[0]!, pairs[pairs.length - 2]!, pairs.length / 2);
    for (let i = 0; i < pairs.length; i += 2) s.#addToBucket(pairs[i]!, pairs[i + 1]!);
    s.#count = parts.count;
    s.#zeros = parts.zeros;
    s.#invalid = parts.invalid;
    if (parts.count > 0) {
      s.#min = parts.min;
      s.#max = parts.max;
    }
    s.#sum = parts.sum;
    return s;
  }
}
