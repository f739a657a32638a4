import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { prng } from '../../../examples/random';
import { QUANTILE_RELATIVE_ERROR, QuantileSketch, SKETCH_MAX_VALUE, SKETCH_MIN_VALUE, SketchFormatError, type SketchJson } from '../../../src/stores/sketch';
import { runChild } from '../../helpers/child';

/** The layout's own bound: half a bucket of 1/64 of a power of two. */
const LAYOUT_ERROR = 1 / 128;
const QS = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

function sketchOf(values: readonly number[]): QuantileSketch {
  const s = new QuantileSketch();
  for (const v of values) s.add(v);
  return s;
}

/** The value of rank floor(q (n − 1)): what `quantile(q)` estimates. */
function rankValue(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** Checks every quantile of a grid against the exact value of its rank. */
function expectWithinBound(sketch: QuantileSketch, values: readonly number[], bound = LAYOUT_ERROR): void {
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of QS) {
    const truth = rankValue(sorted, q);
    const got = sketch.quantile(q);
    if (truth < SKETCH_MIN_VALUE) {
      // counted among the zeros: answered with min, which is below the smallest bucket too
      expect(got).toBeLessThan(SKETCH_MIN_VALUE);
      continue;
    }
    expect(Math.abs(got - truth)).toBeLessThanOrEqual(truth * bound);
  }
}

describe('QuantileSketch: error bound', () => {
  test.each([
    ['uniform 0-10 ms', (r: () => number) => r() * 10],
    ['log-normal around 50 µs', (r: () => number) => 0.05 * Math.exp(2 * (r() + r() + r() - 1.5))],
    ['bimodal: cache hits and misses', (r: () => number) => (r() < 0.9 ? 0.0002 + r() * 0.0001 : 5 + r() * 50)],
    ['heavy tail (Pareto)', (r: () => number) => 0.001 / (r() + 1e-9)],
    ['18 decades, 1 ps to 1e6 s', (r: () => number) => 10 ** (-9 + 18 * r())],
    ['a third exact zeros', (r: () => number) => (r() < 1 / 3 ? 0 : r() * 100)],
  ])('%s: every quantile within 1/128 of the value at its rank, min and max exact', (_name, draw) => {
    const rand = prng(7);
    const values = Array.from({ length: 50_000 }, () => draw(rand));
    const sketch = sketchOf(values);
    expectWithinBound(sketch, values);
    const sorted = [...values].sort((a, b) => a - b);
    expect(sketch.count).toBe(values.length);
    expect(sketch.min).toBe(sorted[0]);
    expect(sketch.max).toBe(sorted[sorted.length - 1]);
    expect(sketch.quantile(0)).toBe(sorted[0]);
    expect(sketch.quantile(1)).toBe(sorted[sorted.length - 1]);
    const sum = values.reduce((a, b) => a + b, 0);
    expect(Math.abs(sketch.sum - sum)).toBeLessThanOrEqual(sum * 1e-12);
  });

  test('the stated bound is 1 % and the layout gives under 0.79 % on any input (property)', () => {
    expect(QUANTILE_RELATIVE_ERROR).toBe(0.01);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e15, noNaN: true }), { minLength: 1, maxLength: 400 }), (values) => {
        expectWithinBound(sketchOf(values), values);
      }),
      { numRuns: 300 },
    );
  });

  test('adversarial orders give the same answers: ascending, descending, sawtooth', () => {
    const values = Array.from({ length: 5000 }, (_, i) => 1.0001 ** (i * 7));
    const asc = sketchOf(values);
    const desc = sketchOf([...values].reverse());
    const saw = sketchOf(values.map((_, i) => values[(i * 2477) % values.length]!));
    for (const q of QS) {
      expect(desc.quantile(q)).toBe(asc.quantile(q));
      expect(saw.quantile(q)).toBe(asc.quantile(q));
    }
    expect(desc.encode()).toEqual({ ...asc.encode(), sum: desc.sum });
    expectWithinBound(asc, values);
  });

  test('values on bucket boundaries and exact powers of two fall in their own bucket', () => {
    const values: number[] = [];
    for (let e = -30; e < 62; e += 7) for (let s = 0; s < 64; s += 9) values.push(2 ** e * (1 + s / 64));
    const sketch = sketchOf(values);
    expect(sketch.buckets).toBe(values.length);
    expectWithinBound(sketch, values);
  });

  test('one value repeated: every quantile is that value (min = max)', () => {
    const sketch = sketchOf(Array.from({ length: 3000 }, () => 42.42));
    for (const q of QS) expect(sketch.quantile(q)).toBe(42.42);
  });

  test('NaN, negative and infinite values are not added but counted as invalid', () => {
    const sketch = sketchOf([1, NaN, -1, -1e-300, Infinity, -Infinity, 2, 3]);
    expect(sketch.count).toBe(3);
    expect(sketch.invalid).toBe(5);
    expect(sketch.min).toBe(1);
    expect(sketch.max).toBe(3);
    expect(sketch.sum).toBe(6);
    expect(sketch.encode().invalid).toBe(5);
  });

  test('values under 2^-32 ms count as zeros; -0 is 0', () => {
    const sketch = sketchOf([0, -0, 1e-12, SKETCH_MIN_VALUE / 2, 5]);
    expect(sketch.count).toBe(5);
    expect(sketch.encode().zeros).toBe(4);
    expect(Object.is(sketch.min, 0)).toBe(true);
    expect(sketch.quantile(0.5)).toBe(0);
    expect(sketch.quantile(0.75)).toBeLessThan(SKETCH_MIN_VALUE);
    expect(sketch.quantile(1)).toBe(5);
  });

  test('values of 2^64 ms and more are clamped to just under 2^64 (sum stays finite)', () => {
    const sketch = sketchOf([1, 1e300, Number.MAX_VALUE, SKETCH_MAX_VALUE]);
    expect(sketch.count).toBe(4);
    expect(sketch.max).toBeLessThan(SKETCH_MAX_VALUE);
    expect(sketch.max).toBeGreaterThan(SKETCH_MAX_VALUE * 0.999);
    expect(Number.isFinite(sketch.sum)).toBe(true);
    expect(sketch.quantile(0.5)).toBeGreaterThan(SKETCH_MAX_VALUE * 0.99);
    expect(() => QuantileSketch.decode(JSON.parse(JSON.stringify(sketch.encode())))).not.toThrow();
  });

  test('an empty sketch answers 0 and encodes to an empty form', () => {
    const sketch = new QuantileSketch();
    expect(sketch.quantile(0.5)).toBe(0);
    expect([sketch.min, sketch.max, sketch.sum, sketch.count]).toEqual([0, 0, 0, 0]);
    expect(sketch.encode()).toEqual({ v: 1, subBuckets: 64, count: 0, zeros: 0, min: 0, max: 0, sum: 0, offset: 0, counts: [] });
  });

  test('a quantile outside [0, 1] is a RangeError', () => {
    const sketch = sketchOf([1]);
    for (const q of [NaN, -0.1, 1.1]) expect(() => sketch.quantile(q)).toThrow(RangeError);
  });
});

describe('QuantileSketch: merge', () => {
  /** The encoding of a sketch, with sum checked separately (a floating-point sum depends on order). */
  function expectSameSketch(a: QuantileSketch, b: QuantileSketch): void {
    expect({ ...a.encode(), sum: 0 }).toEqual({ ...b.encode(), sum: 0 });
    expect(Math.abs(a.sum - b.sum)).toBeLessThanOrEqual(Math.abs(b.sum) * 1e-12);
    for (const q of QS) expect(a.quantile(q)).toBe(b.quantile(q));
  }

  const valuesArb = fc.array(
    fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constantFrom(0, 1e-15, 1e19, NaN, -1, Infinity), fc.integer({ min: 1, max: 5 }).map((k) => 1 + k / 64)),
    { maxLength: 300 },
  );

  test('merging the sketches of A and B gives the sketch of A ∪ B, whatever the modes (property)', () => {
    fc.assert(
      fc.property(valuesArb, valuesArb, (a, b) => {
        const merged = sketchOf(a).merge(sketchOf(b));
        expectSameSketch(merged, sketchOf([...a, ...b]));
        expect(merged.invalid).toBe(sketchOf(a).invalid + sketchOf(b).invalid);
      }),
      { numRuns: 300 },
    );
  });

  test('sparse into dense, dense into sparse, empty into either, and a sketch into itself', () => {
    const rand = prng(3);
    const wide = Array.from({ length: 4000 }, () => 0.01 * Math.exp(8 * rand()));
    const few = [0.5, 7, 7, 900];
    expectSameSketch(sketchOf(few).merge(sketchOf(wide)), sketchOf([...few, ...wide]));
    expectSameSketch(sketchOf(wide).merge(sketchOf(few)), sketchOf([...wide, ...few]));
    expectSameSketch(sketchOf(wide).merge(new QuantileSketch()), sketchOf(wide));
    expectSameSketch(new QuantileSketch().merge(sketchOf(few)), sketchOf(few));
    const self = sketchOf(few);
    expectSameSketch(self.merge(self), sketchOf([...few, ...few]));
  });

  test('ten shards merged equal the sketch of all their values', () => {
    const rand = prng(11);
    const shards = Array.from({ length: 10 }, (_, k) => Array.from({ length: 2000 + 300 * k }, () => 10 ** (k / 3 - 2 + 3 * rand())));
    const merged = new QuantileSketch();
    for (const shard of shards) merged.merge(sketchOf(shard));
    const all = shards.flat();
    expectSameSketch(merged, sketchOf(all));
    expectWithinBound(merged, all);
  });

  test('counts past 2^31 in one bucket carry over exactly (merge, decode, then add)', () => {
    const big: SketchJson = { v: 1, subBuckets: 64, count: 2 ** 31 - 1, zeros: 0, min: 1, max: 1, sum: 2 ** 31 - 1, offset: 0, counts: [2 ** 31 - 1] };
    const s = QuantileSketch.decode(big);
    s.add(1); // the counter is at its maximum: the add carries
    s.add(1.5);
    expect(s.encode().counts).toEqual([2 ** 31, -31, 1]);
    s.merge(QuantileSketch.decode({ ...big, count: 3e9, sum: 3e9, counts: [3e9] }));
    expect(s.count).toBe(2 ** 31 + 1 + 3e9);
    expect(s.encode().counts).toEqual([2 ** 31 + 3e9, -31, 1]);
    // many buckets (dense) with big counts
    const dense = QuantileSketch.decode({ v: 1, subBuckets: 64, count: 20 * 5e9, zeros: 0, min: 1, max: 1.3, sum: 20 * 5e9 * 1.15, offset: 0, counts: Array.from({ length: 20 }, () => 5e9) });
    expect(dense.encode().counts).toEqual(Array.from({ length: 20 }, () => 5e9));
    expect(dense.quantile(0.5)).toBeCloseTo(1 + 9.5 / 64 + 0.5 / 64 - 0.5 / 64, 1);
  });
});

describe('QuantileSketch: encoding', () => {
  test('decode(encode()) through JSON is the same sketch (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.constantFrom(0, NaN, 1e30)), { maxLength: 500 }), (values) => {
        const s = sketchOf(values);
        const back = QuantileSketch.decode(JSON.parse(JSON.stringify(s.encode())));
        expect(back.encode()).toEqual(s.encode());
        for (const q of QS) expect(back.quantile(q)).toBe(s.quantile(q));
        expect([back.count, back.invalid, back.min, back.max, back.sum]).toEqual([s.count, s.invalid, s.min, s.max, s.sum]);
      }),
      { numRuns: 200 },
    );
  });

  test('the encoding is compact: runs of empty buckets are one negative number', () => {
    const s = sketchOf([1, 1, 1.02, 4, 4000]);
    const json = s.encode();
    // 1 and 1.02 in buckets 0 and 1, 4 in bucket 128 (2^2), 4000 = 2^11 × 1.95 in bucket 11 × 64 + 61
    expect(json.counts).toEqual([2, 1, -126, 1, -636, 1]);
    expect(json.offset).toBe(0); // 2^0 × (1 + 0/64)
    const rand = prng(5);
    const hot = sketchOf(Array.from({ length: 100_000 }, () => 0.2 * Math.exp(1.5 * (rand() + rand() + rand() - 1.5))));
    const text = JSON.stringify(hot.encode());
    // ~4.5 decades of calls in ~1 kB of JSON
    expect(text.length).toBeLessThan(2500);
  });

  test('the example of docs/report-format.md is what the sketch encodes', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'report-format.md'), 'utf8');
    const json = /## Quantile sketch[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
    const sketch = sketchOf([0.81, 0.82, 0.83, 0.9, 0.91, 1.02, 1.05, 1.05, 1.3, 23.5]);
    expect(JSON.parse(json!)).toEqual(sketch.encode());
    expect(sketch.quantile(0.5)).toBeCloseTo(0.910, 3);
  });

  const valid = (): Record<string, unknown> => ({ v: 1, subBuckets: 64, count: 3, zeros: 1, min: 0, max: 2.01, sum: 3.02, offset: 0, counts: [1, -63, 1] });

  test.each<[string, () => unknown, RegExp]>([
    ['null', () => null, /expected an object/],
    ['an array', () => [1, 2], /expected an object/],
    ['a string', () => '{"v":1}', /expected an object/],
    ['an empty object', () => ({}), /unsupported version/],
    ['version 2', () => ({ ...valid(), v: 2 }), /unsupported version 2/],
    ['another layout', () => ({ ...valid(), subBuckets: 32 }), /subBuckets must be 64/],
    ['a count that disagrees with the buckets', () => ({ ...valid(), count: 4 }), /count is 4 but the buckets and zeros hold 3/],
    ['a fractional count', () => ({ ...valid(), counts: [1.5, -63, 1] }), /counts\[0\] must be a non-zero integer/],
    ['a zero entry', () => ({ ...valid(), counts: [1, 0, 1] }), /counts\[1\]/],
    ['a run of empty buckets first', () => ({ ...valid(), counts: [-3, 1, 1] }), /cannot open or close/],
    ['counts that is not an array', () => ({ ...valid(), counts: '1,2' }), /counts must be an array/],
    ['a negative zeros count', () => ({ ...valid(), zeros: -1 }), /zeros must be a non-negative integer/],
    ['NaN min', () => ({ ...valid(), min: NaN }), /min must be a finite number/],
    ['a string max', () => ({ ...valid(), max: '2' }), /max must be a finite number/],
    ['min above max', () => ({ ...valid(), zeros: 0, count: 2, min: 3, counts: [1, -63, 1] }), /min is larger than max|min does not fall/],
    ['max outside its bucket', () => ({ ...valid(), max: 2.5 }), /max does not fall in the highest non-empty bucket/],
    ['min outside its bucket', () => ({ ...valid(), zeros: 0, count: 2, min: 1.5, sum: 3.5, counts: [1, -63, 1] }), /min does not fall/],
    ['a sum no set of these values can have', () => ({ ...valid(), sum: 1000 }), /sum is not between/],
    ['a bucket past the range', () => ({ ...valid(), offset: 10_000 }), /outside the sketch's range/],
    ['a non-integer offset', () => ({ ...valid(), offset: 0.5 }), /offset must be an integer/],
    ['a huge offset', () => ({ ...valid(), offset: 1e300 }), /outside the sketch's range/],
    ['a huge run', () => ({ ...valid(), counts: [1, -1e15, 1] }), /outside the sketch's range/],
    ['an empty sketch with a min', () => ({ v: 1, subBuckets: 64, count: 0, zeros: 0, min: 1, max: 1, sum: 0, offset: 0, counts: [] }), /empty sketch/],
    ['too many entries', () => ({ ...valid(), count: 7000, zeros: 0, counts: Array.from({ length: 7000 }, () => 1) }), /at most 6144/],
    ['a count past 2^53', () => ({ ...valid(), count: 2 ** 60, zeros: 0, counts: [2 ** 60] }), /non-negative integer|non-zero integer/],
    ['a throwing getter', () => Object.defineProperty(valid(), 'count', { get: () => { throw new Error('boom'); } }), /unreadable \(boom\)/],
    ['a revoked proxy', () => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; }, /unreadable/],
    ['a proxy whose counts claim a huge length', () => ({ ...valid(), counts: new Proxy([1], { get: (t, k) => (k === 'length' ? 1e9 : Reflect.get(t, k)) }) }), /at most 6144/],
    ['__proto__ keys from JSON.parse', () => JSON.parse('{"__proto__":{"v":1},"v":1,"subBuckets":64,"count":0,"zeros":0,"min":0,"max":0,"sum":0,"offset":0,"counts":[],"constructor":1}'), /^$/],
  ])('decode refuses %s with a SketchFormatError naming the field', (_name, make, message) => {
    const input = make();
    if (message.source === '^$') {
      // valid apart from the extra keys, which are data and ignored
      expect(QuantileSketch.decode(input).count).toBe(0);
      return;
    }
    let caught: unknown;
    try {
      QuantileSketch.decode(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SketchFormatError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).toMatch(/^invalid quantile sketch: /);
  });

  test('the valid form used above does decode', () => {
    const s = QuantileSketch.decode(valid());
    expect(s.count).toBe(3);
    expect(s.quantile(1)).toBe(2.01);
  });
});

describe('QuantileSketch: memory', () => {
  test('bytes per sketch: well under 1 kB with up to 10 buckets, ~4 B per bucket once dense', async () => {
    // measured in a fresh process with --expose-gc: heap plus array buffers, over thousands of sketches
    const result = await runChild(join(__dirname, 'fixtures', 'sketchMemory.ts'), [], { nodeArgs: ['--expose-gc'], timeoutMs: 120_000 });
    expect(result.stderr).toBe('');
    const bytes = JSON.parse(result.stdout) as Record<string, number>;
    process.stdout.write(`sketch bytes: ${JSON.stringify(bytes)}\n`);
    expect(bytes.empty).toBeLessThan(300);
    expect(bytes.d1).toBeLessThan(500);
    expect(bytes.d10).toBeLessThan(700);
    // hot (2000 values): dense, a window of the 577 buckets from the lowest to the highest
    expect(bytes.d10hot).toBeGreaterThan(577 * 4);
    expect(bytes.d10hot).toBeLessThan(577 * 4 + 700);
    expect(bytes.d100).toBeLessThan(1500);
    expect(bytes.d1000).toBeLessThan(8000);
    // the fixed-size layout this replaces took 3264 buckets × 8 B whatever was added
    expect(bytes.d1000).toBeLessThan(26_112 / 3);
    // the most a sketch can take: 6144 buckets of 4 B, plus growth slack
    expect(bytes.widest).toBeLessThan(40_000);
  }, 130_000);
});
