/**
 * A log-linear quantile sketch (the HDR-histogram layout): each power of two is split into 64
 * equal sub-buckets, found from the bits of the IEEE-754 double (no Math.log on the hot path), and
 * a quantile is answered with the midpoint of its bucket. Any quantile it returns is within
 * {@link QUANTILE_RELATIVE_ERROR} of a value actually seen at that rank (half a sub-bucket:
 * 1/128 < 0.8 %). Fixed memory (26 kB per stage name), O(1) insert of a few ns.
 */
import { endianness } from 'node:os';

/** Relative error bound of every quantile the sketch returns (stated as 1 %; the layout gives 0.78 %). */
export const QUANTILE_RELATIVE_ERROR = 0.01;

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** 2^-20 ms (about 1 ns): smaller values count as zero. */
const MIN_EXP = -20;
/** 2^30 ms (about 12 days): larger values land in the last bucket. */
const MAX_EXP = 30;
const BUCKETS = (MAX_EXP - MIN_EXP + 1) * SUB;
const MIN_VALUE = 2 ** MIN_EXP;
const EXP_BIAS = 1023;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = endianness() === 'LE' ? 1 : 0;

export class QuantileSketch {
  readonly #counts = new Float64Array(BUCKETS);
  #zeros = 0;
  #count = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Adds one non-negative value (durations in ms). */
  add(value: number): void {
    this.#count++;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    if (!(value >= MIN_VALUE)) {
      this.#zeros++;
      return;
    }
    f64[0] = value;
    const hi = u32[HI]!;
    let i = ((hi >>> 20) - EXP_BIAS - MIN_EXP) * SUB + ((hi >>> (20 - SUB_BITS)) & (SUB - 1));
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.#counts[i]!++;
  }

  get count(): number {
    return this.#count;
  }

  /** The q-quantile (0..1) of the values added, 0 when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    if (q <= 0) return this.#min;
    if (q >= 1) return this.#max;
    const rank = Math.min(Math.max(q, 0), 1) * (this.#count - 1);
    let seen = this.#zeros;
    if (seen > rank) return Math.max(this.#min, 0);
    const counts = this.#counts;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i]!;
      if (seen > rank) {
        if (i === BUCKETS - 1) return this.#max; // values beyond the range were clamped here
        const exp = Math.floor(i / SUB) + MIN_EXP;
        const sub = i % SUB;
        const mid = 2 ** exp * (1 + (sub + 0.5) / SUB);
        return Math.min(Math.max(mid, this.#min), this.#max);
      }
    }
    return this.#max;
  }
}
