/**
 * The checks of a sketch's encoding (`SketchJson`, see sketch.ts) when it is decoded: a report
 * read from a file may be truncated, edited or hostile, so every field is checked before a sketch
 * is built.
 */

/** The bucket layout an encoding is checked against (see sketch.ts). */
export interface SketchLayout {
  subBuckets: number;
  /** Internal key of the bucket at offset 0. */
  keyBias: number;
  /** Lowest internal key, and one past the highest. */
  minKey: number;
  endKey: number;
  /** Buckets in the range: the most entries `counts` can have. */
  keyRange: number;
  /** Values under minValue count as zeros; maxValue is past the range. */
  minValue: number;
  maxValue: number;
  /** Lower bound of a bucket, ms. */
  lowerBound(key: number): number;
}

/** Thrown by {@link QuantileSketch.decode} for anything that is not a valid {@link SketchJson}; the message names the field. */
export class SketchFormatError extends Error {
  constructor(message: string) {
    super(`invalid quantile sketch: ${message}`);
    this.name = 'SketchFormatError';
  }
}

function fail(message: string): never {
  throw new SketchFormatError(message);
}

function countField(o: Record<string, unknown>, name: string, optional = false): number {
  const v = o[name];
  if (v === undefined && optional) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${name} must be a non-negative integer`);
  return v;
}

function msField(o: Record<string, unknown>, name: string): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${name} must be a finite number >= 0`);
  return v;
}

/** What a valid encoding holds; `buckets` as (internal key, count) pairs in key order. */
export interface SketchParts {
  count: number;
  zeros: number;
  invalid: number;
  min: number;
  max: number;
  sum: number;
  buckets: number[];
}

/**
 * Checks an encoding field by field against the sketch's layout and returns its parts; throws a
 * {@link SketchFormatError} naming the first field at fault.
 *
 * @example
 * validateSketch({ v: 1, subBuckets: 64, count: 0, zeros: 0, min: 0, max: 0, sum: 0, offset: 0, counts: [] }, layout);
 */
export function validateSketch(json: unknown, layout: SketchLayout): SketchParts {
  const { subBuckets, keyBias, minKey, endKey, keyRange, minValue, maxValue, lowerBound } = layout;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('expected an object');
  const o = json as Record<string, unknown>;
  if (o.v !== 1) fail(`unsupported version ${typeof o.v === 'number' ? o.v : typeof o.v} (this stagemeter reads version 1)`);
  if (o.subBuckets !== subBuckets) fail(`subBuckets must be ${subBuckets}`);
  const count = countField(o, 'count');
  const zeros = countField(o, 'zeros');
  const invalid = countField(o, 'invalid', true);
  const min = msField(o, 'min');
  const max = msField(o, 'max');
  const sum = msField(o, 'sum');
  const offset = o.offset;
  if (typeof offset !== 'number' || !Number.isInteger(offset)) fail('offset must be an integer');
  const counts = o.counts;
  if (!Array.isArray(counts)) fail('counts must be an array');
  if (counts.length > keyRange) fail(`counts has ${counts.length} entries (at most ${keyRange})`);
  const buckets: number[] = [];
  let key = offset + keyBias;
  let total = zeros;
  for (let i = 0; i < counts.length; i++) {
    const n: unknown = counts[i];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n === 0) fail(`counts[${i}] must be a non-zero integer`);
    if (n < 0) {
      if (i === 0 || i === counts.length - 1) fail(`counts[${i}]: a run of empty buckets cannot open or close counts`);
      key -= n;
      continue;
    }
    if (key < minKey || key >= endKey) fail(`counts[${i}]: bucket ${key - keyBias} is outside the sketch's range`);
    buckets.push(key, n);
    total += n;
    key++;
  }
  if (!Number.isSafeInteger(total) || total !== count) fail(`count is ${count} but the buckets and zeros hold ${total}`);
  if (count === 0) {
    if (min !== 0 || max !== 0 || sum !== 0) fail('an empty sketch has min, max and sum 0');
    return { count, zeros, invalid, min, max, sum, buckets };
  }
  if (min > max) fail('min is larger than max');
  if (max >= maxValue) fail('max is outside the sketch\'s range');
  // min and max must sit in the lowest and highest non-empty buckets (or among the zeros)
  const first = buckets.length > 0 ? buckets[0]! : undefined;
  const last = buckets.length > 0 ? buckets[buckets.length - 2]! : undefined;
  if (zeros > 0 ? !(min < minValue) : first === undefined || !(min >= lowerBound(first) && min < lowerBound(first + 1))) {
    fail('min does not fall in the lowest non-empty bucket');
  }
  if (last === undefined ? !(max < minValue) : !(max >= lowerBound(last) && max < lowerBound(last + 1))) {
    fail('max does not fall in the highest non-empty bucket');
  }
  // a floating-point sum of count values lies between count × min and count × max, to rounding
  const slack = 1e-6;
  if (sum < count * min * (1 - slack) || sum > count * max * (1 + slack)) fail('sum is not between count × min and count × max');
  return { count, zeros, invalid, min, max, sum, buckets };
}
