/**
 * CPU cost of the background sampler at the default interval (1000 ms), as % of one core.
 *
 * 1. Whole-process: `process.cpuUsage()` (user + system, all threads) of the otherwise idle
 *    process over phases of PHASE_MS, each after SETTLE_MS, with no run vs with a run active
 *    (default options: sampler on, 1000 ms, its event-loop-delay monitor, armed while the loop is
 *    busy, and its GC observer), alternated
 *    none, run, eld, eld, run, none. The "eld" phases run only one `monitorEventLoopDelay`
 *    histogram at the period src/sampler.ts uses at the default interval (200 ms), to show what
 *    its timer costs alone: a libuv timer waking the process 5 times a second.
 * 2. Per tick: the JS work of one tick, `Sampler.sampleNow()`, timed directly (first call, and
 *    the median of calls spaced out on the event loop), times ticks per second.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor } from '../src/index';
import { Sampler } from '../src/run/sampler';
import { gcNow, median, sleep } from './stats';

/** Before each phase's measured window, ms: past the run's first tick at the default interval. */
const SETTLE_MS = 1200;

/** The event-loop monitor's period at the default 1000 ms sampling interval (src/sampler.ts). */
const ELD_PERIOD_MS = 200;

export interface SamplerResult {
  intervalMs: number;
  phaseMs: number;
  phases: Array<{ kind: 'none' | 'run' | 'eld'; wallMs: number; cpuMs: number; cpuPercent: number }>;
  idleCpuPercent: number;
  runCpuPercent: number;
  eldOnlyCpuPercent: number;
  /** run - none: the sampler's cost, % of one core. */
  samplerCpuPercent: number;
  /** eld - none: one event-loop-delay histogram at 200 ms alone. */
  eldCpuPercent: number;
  tickFirstUs: number;
  tickMedianUs: number;
  /** tickMedianUs x ticks per second, % of one core. */
  tickCpuPercent: number;
  samplesTaken: number;
}

async function phase(kind: 'none' | 'run' | 'eld', ms: number): Promise<{ kind: 'none' | 'run' | 'eld'; wallMs: number; cpuMs: number; cpuPercent: number; samples?: number }> {
  gcNow();
  let stop: () => number | undefined = () => undefined;
  if (kind === 'run') {
    const monitor = createPerformanceMonitor();
    setMonitor(monitor);
    monitor.startMonitoring({ runName: 'bench:sampler' });
    stop = () => monitor.stopMonitoring().memory.samples.length;
  } else if (kind === 'eld') {
    const h = monitorEventLoopDelay({ resolution: ELD_PERIOD_MS });
    h.enable();
    stop = () => {
      h.disable();
      return undefined;
    };
  }
  // Measure the steady state: setup work, and the run's first tick (until which the sampler's
  // event-loop monitor is armed, as at the start of any run: see LOOP_ARM_ACTIVE_MS in
  // src/sampler.ts), stay outside the measured window.
  await sleep(SETTLE_MS);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const cpu = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  const samples = stop();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const out = { kind, wallMs, cpuMs, cpuPercent: (cpuMs / wallMs) * 100 };
  return samples !== undefined ? { ...out, samples } : out;
}

export async function runSamplerCost(phaseMs: number, log: (line: string) => void): Promise<SamplerResult> {
  const intervalMs = 1000;
  const phases: SamplerResult['phases'] = [];
  let samplesTaken = 0;
  for (const kind of ['none', 'run', 'eld', 'none', 'run', 'eld', 'none', 'run'] as const) {
    const p = await phase(kind, phaseMs);
    if (p.samples !== undefined) samplesTaken += p.samples;
    phases.push({ kind: p.kind, wallMs: p.wallMs, cpuMs: p.cpuMs, cpuPercent: p.cpuPercent });
    log(`  idle ${kind.padEnd(4)} ${(p.wallMs / 1000).toFixed(1)} s: ${p.cpuMs.toFixed(2)} ms CPU = ${p.cpuPercent.toFixed(4)} % of a core`);
  }
  // Medians: one phase that something else woke the process in must not decide the figure.
  const pct = (k: 'none' | 'run' | 'eld'): number => median(phases.filter((p) => p.kind === k).map((p) => p.cpuPercent));

  // One tick's JS work, timed directly on a sampler of our own (same code as a run's).
  const sampler = new Sampler(intervalMs, performance.now(), { onSample: () => undefined, onError: () => undefined });
  sampler.start(); // takes the first sample
  const tickUs: number[] = [];
  let firstUs = Number.NaN;
  for (let i = 0; i < 60; i++) {
    await sleep(2);
    const t0 = performance.now();
    sampler.sampleNow();
    const us = (performance.now() - t0) * 1000;
    if (i === 0) firstUs = us;
    tickUs.push(us);
  }
  sampler.stop();
  const tickMedianUs = median(tickUs);
  return {
    intervalMs,
    phaseMs,
    phases,
    idleCpuPercent: pct('none'),
    runCpuPercent: pct('run'),
    eldOnlyCpuPercent: pct('eld'),
    samplerCpuPercent: pct('run') - pct('none'),
    eldCpuPercent: pct('eld') - pct('none'),
    tickFirstUs: firstUs,
    tickMedianUs,
    tickCpuPercent: ((tickMedianUs / 1000) * (1000 / intervalMs) / 1000) * 100,
    samplesTaken,
  };
}
