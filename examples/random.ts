/**
 * mulberry32: a small seeded PRNG, good enough for generating data and schedules that must be the
 * same on every run (the demo's rows, the bench's synthetic runs, the tests' corpora).
 *
 * @example
 * const rand = prng(42);
 * rand(); // 0.6011037519201636, then the same sequence on every run
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
