import { performance } from 'node:perf_hooks';

/** Spins the thread for about `ms` milliseconds; returns the time it really took, ms. */
export function spin(ms: number): number {
  const t0 = performance.now();
  const end = t0 + ms;
  let t = t0;
  while (t < end) t = performance.now();
  return t - t0;
}
