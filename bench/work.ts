/**
 * The medium and long stages' work, shared by the bench (micro.ts) and the profiles (profile.ts).
 */
import { performance } from 'node:perf_hooks';

export type Work = (steps: number, seed: number) => number;

/**
 * Compiles a copy of a deterministic CPU loop of `steps` steps, no allocation, named `name` (in
 * stack traces and profiles, with `<name>.js` as its file). Its bytecode is padded past V8's
 * inlining limit (460 bytes) with a branch that never runs, so it is never inlined: a raw call and
 * a wrapped call of one copy run the very same machine code. (Two inlined copies of one loop can
 * differ by a percent or two from code placement alone, the size of the effect a long stage
 * measures.) Each call of this function compiles a copy of its own.
 *
 * @example
 * const work = compileWork('work_10us');
 * work(stepsFor(work, 10_000).steps, 1);
 */
export function compileWork(name: string): Work {
  const body = [
    'let s = seed | 0;',
    'for (let i = 0; i < steps; i++) s = (Math.imul(s, 1664525) + 1013904223 + i) | 0;',
    'if (seed === -0x7654321) {',
    ...Array.from({ length: 120 }, (_, i) => `  s = (s ^ ${i + 1}) + (s >>> ${(i % 13) + 1});`),
    '}',
    'return s;',
  ].join('\n');
  const source = `return function ${name}(steps, seed) {\n${body}\n};\n//# sourceURL=${name}.js`;
  return new Function(source)() as Work;
}

/**
 * Steps of `work` that take about `targetNs` on this machine, and the XOR of the results (to keep
 * the calls observable). Timed in process CPU time, fastest of several runs after a warm-up: a
 * busy machine makes wall time too long, and too few steps. (What was measured is reported from
 * the run itself, whatever this lands on.)
 *
 * @example
 * stepsFor(compileWork('work_1ms'), 1_000_000).steps; // ~1-2 million on a 2-core VM
 */
export function stepsFor(work: Work, targetNs: number): { steps: number; checksum: number } {
  let checksum = 0;
  const timeMin = (steps: number, runs: number): number => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      checksum ^= work(steps, i);
      const wallNs = (performance.now() - t0) * 1e6;
      const c = process.cpuUsage(c0);
      best = Math.min(best, Math.max(wallNs * 0.5, Math.min(wallNs, (c.user + c.system) * 1000)));
    }
    return best;
  };
  timeMin(100_000, 50);
  let steps = Math.max(100, Math.round((targetNs / timeMin(200_000, 10)) * 200_000));
  steps = Math.max(100, Math.round((targetNs / timeMin(steps, 10)) * steps));
  return { steps, checksum };
}
