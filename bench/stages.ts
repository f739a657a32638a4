/**
 * What a stage of real length costs: 10 µs, 100 µs and 1 ms of CPU work, each called raw and
 * through its stage, as interleaved pairs, and the same pairs with a bare timer in place of the
 * stage (the floor: what any timing costs right after such work on this machine).
 *
 * How, and why:
 * - One function, never inlined (see work.ts), is called raw and wrapped, alternating which goes
 *   first, each call timed on its own: drift in the host's speed, 20-30 % within minutes on a
 *   shared VM, cancels out of the difference of neighbours.
 * - An iteration holds several pairs (so the sampled CPU and heap probes fall in it in
 *   proportion); a round's overhead is the median of its iterations' mean differences (a burst of
 *   another process spoils one iteration, not the figure); the figure is the median over rounds.
 * - Each round of each stage runs in a run of its own, and the report's call count is checked.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, withStage } from '../src/index';
import { compileWork, stepsFor } from './work';
import { max, median, min } from './stats';

export interface StageFigures {
  /** The stage's nominal length, µs (10, 100, 1000). */
  targetUs: number;
  /** The work alone, measured in the pairs: median over rounds, ns. */
  workNs: number;
  /** Wrapped minus raw, ns: median over rounds of the per-round median of iteration means. */
  overheadNs: number;
  minOverheadNs: number;
  maxOverheadNs: number;
  overheadPercent: number;
  /** The same with a bare timer (two performance.now() reads) as the wrapper. */
  timerOverheadNs: number;
  roundsOverheadNs: number[];
  roundsTimerOverheadNs: number[];
  /** Report counts that did not match the calls made. */
  countProblems: string[];
}

/** Milliseconds of pairs per iteration (batch) by stage length: long enough to hold its share of sampled probes. */
function iterationMs(us: number): number {
  return us >= 1000 ? 40 : us >= 100 ? 16 : 4;
}

/**
 * Measures each stage length in `rounds` rounds.
 *
 * @example
 * const [ten] = runStages([10], 9);
 * ten!.overheadPercent; // ~1-2 on a 2-core VM
 */
export function runStages(lengthsUs: readonly number[], rounds: number, iterations = 6): StageFigures[] {
  return lengthsUs.map((us) => measureLength(us, rounds, iterations));
}

function measureLength(us: number, rounds: number, iterations: number): StageFigures {
  const work = compileWork(`work_${us}us`);
  const calibrated = stepsFor(work, us * 1000);
  let steps = calibrated.steps;
  let checksum = calibrated.checksum;
  const fn = (seed: number): number => work(steps, seed);
  const monitor = createPerformanceMonitor();
  const stageName = `bench_${us}us`;
  const staged = withStage(stageName, fn, { monitor });
  let timerSum = 0;
  const timed = (seed: number): number => {
    const t0 = performance.now();
    const r = fn(seed);
    timerSum += performance.now() - t0;
    return r;
  };
  const pairs = Math.max(4, Math.round((iterationMs(us) * 1000) / (2 * us)));
  /** One iteration of `pairs` pairs: mean wrapped minus raw, ns. */
  const iteration = (wrapped: (x: number) => number): number => {
    let rawMs = 0;
    let wrappedMs = 0;
    for (let i = 0; i < pairs; i++) {
      if ((i & 1) === 0) {
        const t0 = performance.now();
        checksum ^= fn(i);
        const t1 = performance.now();
        checksum ^= wrapped(i);
        const t2 = performance.now();
        rawMs += t1 - t0;
        wrappedMs += t2 - t1;
      } else {
        const t0 = performance.now();
        checksum ^= wrapped(i);
        const t1 = performance.now();
        checksum ^= fn(i);
        const t2 = performance.now();
        wrappedMs += t1 - t0;
        rawMs += t2 - t1;
      }
    }
    workNs.push((rawMs / pairs) * 1e6);
    return ((wrappedMs - rawMs) / pairs) * 1e6;
  };
  const workNs: number[] = [];
  const countProblems: string[] = [];
  // Warm-up: the work, the timer and the call path reach TurboFan before anything counts (~3,000
  // calls, or ~300 ms of pairs for the long stage; the call path is shared with the shorter ones),
  // over three runs, as the rounds are: the end of a process's first run and the start of its
  // second change what V8 saw of a run's objects (references cleared, fresh stores), which
  // deoptimises the call path once; it is optimised again ~2,000 calls later, and from then on
  // stays so from run to run. Rounds measured before that would time the less optimised code, a
  // few µs a call, that only a process's second run meets, and only for its first calls.
  const warmIterations = Math.max(3, Math.ceil(Math.min(3000 / pairs, 300 / iterationMs(us))));
  for (let w = 0; w < 3; w++) {
    monitor.startMonitoring({ runName: `bench:${stageName}:warm` });
    for (let i = 0; i < warmIterations; i++) {
      iteration(staged);
      iteration(timed);
    }
    if (w < 2) monitor.stopMonitoring();
  }
  // The length as warm pairs measure it (the warm-up's first iterations ran the work unoptimised):
  // a calibration that fell on a busy moment of the host is corrected here, so the row measures
  // the length it names.
  workNs.length = 0;
  for (let i = 0; i < 3; i++) iteration(staged);
  monitor.stopMonitoring();
  steps = Math.max(100, Math.round((steps * us * 1000) / median(workNs)));
  workNs.length = 0;
  const roundsOverheadNs: number[] = [];
  const roundsTimerOverheadNs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    monitor.startMonitoring({ runName: `bench:${stageName}` });
    const sm: number[] = [];
    const timer: number[] = [];
    for (let i = 0; i < iterations; i++) {
      // Alternate which wrapper goes first, so neither always follows the other.
      if ((i + r) % 2 === 0) {
        sm.push(iteration(staged));
        timer.push(iteration(timed));
      } else {
        timer.push(iteration(timed));
        sm.push(iteration(staged));
      }
    }
    const calls = monitor.stopMonitoring().stageSummaries.find((s) => s.name === stageName)?.calls;
    if (calls !== iterations * pairs) countProblems.push(`${stageName}: ${calls ?? 'no'} calls in the report, ${iterations * pairs} were made`);
    roundsOverheadNs.push(median(sm));
    roundsTimerOverheadNs.push(median(timer));
  }
  if ((checksum ^ (timerSum | 0)) === 0.5) console.log('unreachable');
  const work1 = median(workNs);
  const overheadNs = median(roundsOverheadNs);
  return {
    targetUs: us,
    workNs: work1,
    overheadNs,
    minOverheadNs: min(roundsOverheadNs),
    maxOverheadNs: max(roundsOverheadNs),
    overheadPercent: (overheadNs / work1) * 100,
    timerOverheadNs: median(roundsTimerOverheadNs),
    roundsOverheadNs,
    roundsTimerOverheadNs,
    countProblems,
  };
}
