/**
 * A short pipeline run, monitored against unmonitored: 100 batches, each through 3 stages of
 * 20-200 µs of CPU work, in a new run each time. This is where a run's start costs show: the first
 * calls of every stage, probes that a budget must pay for from the run's first call, a fresh
 * run's stores.
 *
 * How: pairs of runs (unmonitored: the plain functions; monitored: the same functions through
 * their stages, in a run started just before and stopped just after), each from a collected heap,
 * two pairs at a time in both orders (U M M U); the figure is the median of the time ratios of
 * those double pairs, so the host's drift and any advantage of position cancel.
 * The time is the calls' wall time: startMonitoring and stopMonitoring (analysis and report) are
 * timed on their own and reported beside it.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, withStage } from '../src/index';
import { compileWork, stepsFor } from './work';
import { gcNow, max, median, min } from './stats';

export interface BatchesResult {
  pairs: number;
  batches: number;
  /** Monitored / unmonitored wall time of each two pairs (one in each order), in order. */
  ratios: number[];
  medianRatio: number;
  minRatio: number;
  maxRatio: number;
  unmonitoredMs: number;
  monitoredMs: number;
  startMs: number;
  stopMs: number;
  /** Report counts that did not match the calls made. */
  countProblems: string[];
}

const STAGES = ['parse', 'transform', 'write'] as const;

/**
 * Runs `pairs` pairs of 100-batch runs.
 *
 * @example
 * const r = runBatches(25);
 * r.medianRatio; // ~1.00-1.01
 */
export function runBatches(pairs: number, batches = 100): BatchesResult {
  const work = STAGES.map((name) => compileWork(`batch_${name}`));
  // Steps per µs of each stage's own copy of the work, then a length in 20-200 µs per batch and stage.
  const stepsPerUs = work.map((w) => stepsFor(w, 100_000).steps / 100);
  const plan = Array.from({ length: batches }, (_, b) => STAGES.map((_n, k) => Math.round(stepsPerUs[k]! * (20 + ((b * 53 + k * 97) % 181)))));
  const plain = work.map((w) => (steps: number, seed: number): number => w(steps, seed));
  const monitor = createPerformanceMonitor();
  const staged = plain.map((f, k) => withStage(STAGES[k]!, f, { monitor }));
  let checksum = 0;
  const pipeline = (fns: ReadonlyArray<(steps: number, seed: number) => number>): number => {
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      const steps = plan[b]!;
      checksum ^= fns[0]!(steps[0]!, b);
      checksum ^= fns[1]!(steps[1]!, checksum);
      checksum ^= fns[2]!(steps[2]!, b);
    }
    return performance.now() - t0;
  };
  const startTimes: number[] = [];
  const stopTimes: number[] = [];
  const countProblems: string[] = [];
  const monitored = (): number => {
    const s0 = performance.now();
    monitor.startMonitoring({ runName: 'bench:batches' });
    startTimes.push(performance.now() - s0);
    const ms = pipeline(staged);
    const s1 = performance.now();
    const report = monitor.stopMonitoring();
    stopTimes.push(performance.now() - s1);
    for (const name of STAGES) {
      const calls = report.stageSummaries.find((s) => s.name === name)?.calls;
      if (calls !== batches) countProblems.push(`${name}: ${calls ?? 'no'} calls in the report, ${batches} were made`);
    }
    return ms;
  };
  // Warm-up: both paths past V8's first compilations (the call path itself is warm from the other sections, or not: then here).
  for (let i = 0; i < 3; i++) {
    pipeline(plain);
    monitored();
  }
  startTimes.length = stopTimes.length = countProblems.length = 0;
  const plainMs: number[] = [];
  const monitoredMs: number[] = [];
  // Every run starts from a collected heap (a full GC leaves the caches cold, so the run after it
  // would pay for that alone), and the order alternates from pair to pair.
  const timedPlain = (): number => {
    gcNow();
    return pipeline(plain);
  };
  const timedMonitored = (): number => {
    gcNow();
    return monitored();
  };
  const rounds = Math.max(1, Math.round(pairs / 2));
  const ratios: number[] = [];
  for (let q = 0; q < rounds; q++) {
    // Two pairs in both orders (U M, M U): a ratio from them holds no advantage of position.
    const u1 = timedPlain();
    const m1 = timedMonitored();
    const m2 = timedMonitored();
    const u2 = timedPlain();
    plainMs.push(u1, u2);
    monitoredMs.push(m1, m2);
    ratios.push((m1 + m2) / (u1 + u2));
  }
  if (checksum === 0.5) console.log('unreachable');
  return {
    pairs: 2 * rounds,
    batches,
    ratios,
    medianRatio: median(ratios),
    minRatio: min(ratios),
    maxRatio: max(ratios),
    unmonitoredMs: median(plainMs),
    monitoredMs: median(monitoredMs),
    startMs: median(startTimes),
    stopMs: median(stopTimes),
    countProblems,
  };
}
