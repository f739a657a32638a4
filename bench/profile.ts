/**
 * One stagemeter scenario in a loop for a few seconds, to profile the hot path:
 *
 *   node --cpu-prof --cpu-prof-dir=.prof build/bench/profile.js hot|nested|async|medium|long|inactive [seconds] [work µs]
 *   node build/bench/cpuprofile.js .prof/<file>.cpuprofile      # self time by function
 *
 * medium and long take the stage's work in µs (default 10 and 250) and alternate raw and wrapped
 * calls of it. For them use a fine sampling interval (--cpu-prof-interval 20), so the ~1 % that is
 * not the work gets thousands of samples.
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor, withStage } from '../src/index';
import { compileWork, stepsFor } from './work';

function trivial(x: number): number {
  return (x * 3 + 1) | 0;
}

async function trivialAsync(x: number): Promise<number> {
  return (x * 3 + 1) | 0;
}

const loop = new Function('f', 'n', 'let s = 0;\nfor (let i = 0; i < n; i++) s = (s + f(i)) | 0;\nreturn s;') as (f: (x: number) => number, n: number) => number;

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? 'hot';
  const seconds = Number(process.argv[3] ?? 4);
  const workUs = process.argv[4] !== undefined ? Number(process.argv[4]) : scenario === 'medium' ? 10 : 250;
  const monitor = createPerformanceMonitor();
  setMonitor(monitor);
  if (scenario !== 'inactive') monitor.startMonitoring({ runName: `profile:${scenario}` });
  let sink = 0;
  let calls = 0;
  /** Monotonic clock, µs (the profile's own), where the part to read starts (after a warm-up). */
  let fromUs: number | undefined;
  const end = performance.now() + seconds * 1000;
  if (scenario === 'async') {
    const f = withStage('profile_async', trivialAsync);
    while (performance.now() < end) {
      for (let i = 0; i < 10_000; i++) sink = (sink + (await f(i))) | 0;
      calls += 10_000;
    }
  } else if (scenario === 'nested') {
    const inner = withStage('profile_inner', trivial);
    const outer = withStage('profile_outer', (n: number) => loop(inner, n));
    while (performance.now() < end) {
      sink ^= outer(100_000);
      calls += 100_000;
    }
  } else if (scenario === 'medium' || scenario === 'long') {
    // Raw and wrapped calls of the same work alternate, each on its own copy of the code: the
    // profile then shows, side by side, stagemeter's own self time and how much longer the work
    // takes right after stagemeter ran (work_wrapped against work_raw, per call).
    const workRaw = compileWork('work_raw');
    const workWrapped = compileWork('work_wrapped');
    const calibrated = stepsFor(workRaw, workUs * 1000);
    const steps = calibrated.steps;
    sink ^= calibrated.checksum ^ stepsFor(workWrapped, workUs * 1000).checksum;
    const raw = (x: number): number => workRaw(steps, x);
    const f = withStage(`profile_${scenario}`, (x: number): number => workWrapped(steps, x));
    const n = Math.max(1, Math.round(5000 / workUs));
    const pairs = new Function('raw', 'f', 'n', 'let s = 0;\nfor (let i = 0; i < n; i++) s = (s + raw(i) + f(i)) | 0;\nreturn s;') as (raw: (x: number) => number, f: (x: number) => number, n: number) => number;
    // V8 optimises stagemeter's per-call path after ~2,700 calls of a long stage (~4,700 of a
    // 10 µs one) when nothing else calls it: profile the steady state, after that many.
    const warmCalls = scenario === 'medium' ? 6000 : 3500;
    for (let done = 0; done < warmCalls; done += n) sink ^= pairs(raw, f, n);
    fromUs = Number(process.hrtime.bigint() / 1000n);
    const measuredEnd = performance.now() + seconds * 1000;
    while (performance.now() < measuredEnd) {
      sink ^= pairs(raw, f, n);
      calls += n;
    }
  } else {
    const f = withStage('profile_hot', trivial);
    while (performance.now() < end) {
      sink ^= loop(f, 100_000);
      calls += 100_000;
    }
  }
  const elapsed = seconds * 1000;
  const report = monitor.isMonitoring ? monitor.stopMonitoring() : undefined;
  const summaries = report?.stageSummaries.map((s) => `${s.name}: ${s.calls} calls, mean ${(s.meanMs * 1000).toFixed(1)} µs, ${JSON.stringify(s.fidelity)}`).join('; ') ?? 'no run';
  console.log(`${scenario}: ${calls} calls in ~${elapsed} ms (${((elapsed * 1e6) / calls).toFixed(1)} ns/call incl. loop); ${summaries}; sink ${sink}`);
  if (fromUs !== undefined) console.log(`warm-up done: read the profile with --from=${fromUs} and ${calls} wrapped calls`);
}

void main();
