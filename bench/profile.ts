/**
 * One stagemeter scenario in a loop for a few seconds, to profile the hot path:
 *
 *   node --cpu-prof --cpu-prof-dir=.prof build/bench/profile.js hot|nested|async|medium|long|inactive [seconds]
 *   node build/bench/cpuprofile.js .prof/<file>.cpuprofile      # self time by function
 */
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor, withStage } from '../src/index';

function trivial(x: number): number {
  return (x * 3 + 1) | 0;
}

async function trivialAsync(x: number): Promise<number> {
  return (x * 3 + 1) | 0;
}

function work(steps: number, seed: number): number {
  let s = seed | 0;
  for (let i = 0; i < steps; i++) s = (Math.imul(s, 1664525) + 1013904223 + i) | 0;
  return s;
}

const loop = new Function('f', 'n', 'let s = 0;\nfor (let i = 0; i < n; i++) s = (s + f(i)) | 0;\nreturn s;') as (f: (x: number) => number, n: number) => number;

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? 'hot';
  const seconds = Number(process.argv[3] ?? 4);
  const monitor = createPerformanceMonitor();
  setMonitor(monitor);
  if (scenario !== 'inactive') monitor.startMonitoring({ runName: `profile:${scenario}` });
  let sink = 0;
  let calls = 0;
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
  } else if (scenario === 'medium') {
    const f = withStage('profile_medium', (x: number) => work(10_000, x));
    while (performance.now() < end) {
      sink ^= loop(f, 1000);
      calls += 1000;
    }
  } else if (scenario === 'long') {
    // ~250 µs a call: what the instrumentation costs right after long work (use a fine
    // --cpu-prof-interval, e.g. 50 µs, to see it beside the work)
    const f = withStage('profile_long', (x: number) => work(250_000, x));
    while (performance.now() < end) {
      sink ^= loop(f, 20);
      calls += 20;
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
  const summaries = report?.stageSummaries.map((s) => `${s.name}: ${s.calls} calls, ${JSON.stringify(s.fidelity)}`).join('; ') ?? 'no run';
  console.log(`${scenario}: ${calls} calls in ~${elapsed} ms (${((elapsed * 1e6) / calls).toFixed(1)} ns/call incl. loop); ${summaries}; sink ${sink}`);
}

void main();
