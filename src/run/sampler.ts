/**
 * The background sampler: the only timer stagemeter owns, always unref'd.
 *
 * Which API gives each figure, by cost and accuracy (measured on a 2-core Node 20 VM):
 * - rss, heap used/total, external: one `process.memoryUsage()` call (~8 µs) gives all four
 *   together, from V8 and /proc/self/stat. `process.memoryUsage.rss()` alone costs the same
 *   (~7.7 µs, the /proc read dominates), and pidusage reads the same /proc field asynchronously
 *   for ~360 µs of CPU per call. Paid once per tick, never per stage call.
 * - process CPU percent: deltas of `process.cpuUsage()` (~0.7 µs, microsecond resolution, all
 *   threads of the process) over the tick's wall time. pidusage derives the same figure from
 *   /proc clock ticks (10 ms resolution, so ±1 % of a core at a 1 s interval) at ~500x the cost,
 *   which is why the sampler does not use it for this process (it is for other processes only:
 *   trackProcess(), src/run/processes.ts).
 * - event-loop delay: perf_hooks `monitorEventLoopDelay` (a libuv timer in C++ firing every
 *   20-200 ms, see loopResolutionMs; each firing records how long since the previous one), armed
 *   only while the loop is busy (see LOOP_ARM_ACTIVE_MS): in an idle process its firings were
 *   most of the sampler's cost, each one a wakeup. Per tick, the delay accumulated since the
 *   previous sample is derived from the growth of its count and sum; while it is disarmed, the
 *   tick's own lateness stands in. The run's p50/p99/max/mean come from every armed stretch
 *   (folded into counts by value when the monitor is disarmed) and the disarmed ticks' lateness.
 *   Within an armed stretch it is never reset: a reset forgets the timestamp of the last firing,
 *   so the next firing, the one that would show a blocked loop, records nothing (which is what a
 *   re-armed monitor needs: disabled and enabled again without it, its first firing records the
 *   whole disarmed stretch as one delay).
 * - GC pauses: a PerformanceObserver on `gc` entries, summed per tick and over the run.
 * With memory tracking off none of this exists: no timer, no histogram, no observer.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver, constants, type EventLoopUtilization, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';
import { now } from '../callpath/clock';
import type { EventLoopStats, GcStats, MemorySample } from '../types';

const MB = 1024 * 1024;
const NS_PER_MS = 1e6;
/**
 * Period of the event-loop delay monitor's timer: a fifth of the sampling interval, between 20 and
 * 200 ms. Each firing wakes the process; measured on an idle 2-core VM, at 20 ms that alone cost
 * ~0.3 % of a core, at 100 ms ~0.08 %, at 200 ms (the default 1 s interval) ~0.04 %. A block
 * longer than the period always shows, as at least its length minus one period; synchronous
 * stage calls measure their own blocking exactly anyway.
 */
function loopResolutionMs(intervalMs: number): number {
  return Math.min(200, Math.max(20, Math.round(intervalMs / 5)));
}

/**
 * The event-loop delay monitor runs while the loop was busy for at least this long during the
 * previous tick (event-loop utilization's active time), and is disarmed otherwise: a loop that
 * ran for less cannot have been blocked for as long as any threshold worth reporting, and an idle
 * process is then woken only by the sampler's own tick. Measured on an idle 2-core VM: the
 * monitor's five wakeups a second cost 0.049-0.054 % of a core (0.105 % on a slow moment of the
 * host), the whole sampler 0.079-0.119 % with it armed, 0.034-0.039 % with it disarmed (and
 * 0.051-0.065 % over 8 s from the run's start, armed for the first tick). A block that starts
 * in a disarmed tick is seen as that tick's lateness (as long as the block, less the time left to
 * the tick when it began), and the next tick arms the monitor. It is disarmed after a single idle
 * tick: a process that alternates busy and idle seconds then folds one stretch a second (a few
 * firings each), and loses only each stretch's first interval, which a re-armed monitor cannot
 * measure.
 */
const LOOP_ARM_ACTIVE_MS = 10;

/** A histogram's distribution as (value, count) points, from its percentiles (HDR buckets). */
function pointsOf(h: Pick<IntervalHistogram, 'count' | 'percentiles'>): Array<[number, number]> {
  const n = h.count;
  const points: Array<[number, number]> = [];
  let counted = 0;
  for (const [pct, valueNs] of h.percentiles) {
    const upTo = pct >= 100 ? n : Math.round((pct / 100) * n);
    if (upTo > counted) {
      points.push([valueNs, upTo - counted]);
      counted = upTo;
    }
  }
  return points;
}

/** The value at percentile `pct` of (value, count) points, ns (0 when there are none). */
function percentileOf(unsorted: ReadonlyArray<readonly [number, number]>, pct: number): number {
  const points = [...unsorted].sort((x, y) => x[0] - y[0]);
  const total = points.reduce((n, p) => n + p[1], 0);
  if (total === 0) return 0;
  const target = Math.max(1, Math.ceil((pct / 100) * total));
  let seen = 0;
  for (const [valueNs, k] of points) {
    seen += k;
    if (seen >= target) return valueNs;
  }
  return points[points.length - 1]![0];
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The process probes the sampler calls; replaceable so tests can make them fail. */
export interface SamplerProbes {
  memoryUsage(): NodeJS.MemoryUsage;
  cpuUsage(): NodeJS.CpuUsage;
}

export const processProbes: SamplerProbes = {
  memoryUsage: () => process.memoryUsage(),
  cpuUsage: () => process.cpuUsage(),
};

export interface SamplerCallbacks {
  onSample(sample: MemorySample): void;
  /** A probe failed; the sampler keeps going with what it could read. */
  onError(error: unknown, what: string): void;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The histogram records the time between timer callbacks; the delay is what exceeds the period. */
function delayMs(ns: number, periodMs: number): number {
  return round3(Math.max(0, ns / NS_PER_MS - periodMs));
}

/**
 * A periodic callback on an unref'd timer that never lets an exception out (a timer callback that
 * threw would be an uncaught exception in the host). The sampler's tick runs on it, and so do
 * checkpoints when memory tracking is off. Returns the function that stops it.
 */
export function startTicker(intervalMs: number, onTick: () => void, onError: (error: unknown) => void): () => void {
  const timer = setInterval(() => {
    try {
      onTick();
    } catch (err) {
      try {
        onError(err);
      } catch {
        // nothing left to report to
      }
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export class Sampler {
  readonly #intervalMs: number;
  readonly #t0: number;
  readonly #callbacks: SamplerCallbacks;
  readonly #probes: SamplerProbes;
  /** Called on every timer tick after the sample (checkpoints hang off this). */
  onTick: (() => void) | undefined = undefined;
  #stopTimer: (() => void) | undefined;
  #loop: IntervalHistogram | undefined;
  readonly #loopResolutionMs: number;
  #loopCount = 0;
  #loopSumMs = 0;
  /** The monitor is running (see LOOP_ARM_ACTIVE_MS). */
  #loopArmed = false;
  /** Arm-disarm stretches so far (for tests and the curious). */
  #loopStretches = 0;
  /**
   * What the monitor recorded in stretches that ended, and the lateness of the ticks taken while
   * it was disarmed (as period + lateness, the monitor's own form): count by value, ns, to three
   * significant digits as in the monitor's own buckets, so that it stays small however long the
   * run (Node's event-loop histogram cannot be added to another histogram).
   */
  #loopEarlier: Map<number, number> | undefined;
  #loopEarlierCount = 0;
  #loopEarlierSumNs = 0;
  #loopMaxNs = 0;
  #elu: EventLoopUtilization | undefined;
  #lastTickAt = 0;
  #gcObserver: PerformanceObserver | undefined;
  #gc: GcStats = { count: 0, totalPauseMs: 0, maxPauseMs: 0, byKind: {} };
  #gcTickCount = 0;
  #gcTickPauseMs = 0;
  #lastCpu: NodeJS.CpuUsage | undefined;
  #lastCpuAt = 0;
  #running = false;

  /**
   * @param intervalMs tick period, ms
   * @param t0 clock reading at the start of the run (samples carry `t` relative to it)
   */
  constructor(intervalMs: number, t0: number, callbacks: SamplerCallbacks, probes: SamplerProbes = processProbes) {
    this.#intervalMs = intervalMs;
    this.#loopResolutionMs = loopResolutionMs(intervalMs);
    this.#t0 = t0;
    this.#callbacks = callbacks;
    this.#probes = probes;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Starts the timer, the event-loop histogram and the GC observer, and takes a first sample. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      this.#loop = monitorEventLoopDelay({ resolution: this.#loopResolutionMs });
      this.#loopEarlier = new Map();
      this.#elu = performance.eventLoopUtilization();
      this.#armLoop();
    } catch (err) {
      this.#loop = undefined;
      this.#callbacks.onError(err, 'event-loop delay monitor');
    }
    try {
      this.#gcObserver = new PerformanceObserver((list) => this.#onGc(list.getEntries()));
      this.#gcObserver.observe({ entryTypes: ['gc'] });
    } catch (err) {
      this.#gcObserver = undefined;
      this.#callbacks.onError(err, 'GC observer');
    }
    this.sampleNow();
    this.#lastTickAt = now();
    this.#stopTimer = startTicker(
      this.#intervalMs,
      () => {
        this.sampleNow(true);
        this.onTick?.();
      },
      (err) => this.#callbacks.onError(err, 'sampler tick'),
    );
  }

  #onGc(entries: readonly PerformanceEntry[]): void {
    try {
      for (const entry of entries) {
        const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
        const kind = GC_KINDS[detail?.kind ?? -1] ?? 'other';
        const ms = entry.duration;
        this.#gc.count++;
        this.#gc.totalPauseMs += ms;
        if (ms > this.#gc.maxPauseMs) this.#gc.maxPauseMs = ms;
        const k = (this.#gc.byKind[kind] ??= { count: 0, totalPauseMs: 0 });
        k.count++;
        k.totalPauseMs += ms;
        this.#gcTickCount++;
        this.#gcTickPauseMs += ms;
      }
    } catch (err) {
      this.#callbacks.onError(err, 'GC observer');
    }
  }

  /** Takes one sample now and hands it to `onSample`. Never throws. */
  sampleNow(fromTick = false): MemorySample | undefined {
    const wall = now();
    const sample: MemorySample = { t: round3(wall - this.#t0), rssMb: 0, heapUsedMb: 0, heapTotalMb: 0, externalMb: 0 };
    try {
      const mem = this.#probes.memoryUsage();
      sample.rssMb = round3(mem.rss / MB);
      sample.heapUsedMb = round3(mem.heapUsed / MB);
      sample.heapTotalMb = round3(mem.heapTotal / MB);
      sample.externalMb = round3(mem.external / MB);
    } catch (err) {
      this.#callbacks.onError(err, 'process.memoryUsage');
      return undefined;
    }
    try {
      const cpu = this.#probes.cpuUsage();
      if (this.#lastCpu !== undefined && wall > this.#lastCpuAt) {
        const usedUs = cpu.user - this.#lastCpu.user + (cpu.system - this.#lastCpu.system);
        sample.cpuPercent = round3(Math.max(0, (usedUs / 1000 / (wall - this.#lastCpuAt)) * 100));
      }
      this.#lastCpu = cpu;
      this.#lastCpuAt = wall;
    } catch (err) {
      this.#callbacks.onError(err, 'process.cpuUsage');
    }
    if (this.#loop !== undefined) {
      try {
        if (this.#loopArmed) {
          const count = this.#loop.count;
          const sumMs = count > 0 ? (this.#loop.mean * count) / NS_PER_MS : 0;
          const firings = count - this.#loopCount;
          const late = sumMs - this.#loopSumMs - firings * this.#loopResolutionMs;
          sample.loopDelayMs = round3(Math.max(0, late));
          this.#loopCount = count;
          this.#loopSumMs = sumMs;
        } else if (fromTick) {
          // Disarmed: the tick's own lateness is what the loop held it back by.
          const lateMs = Math.max(0, wall - this.#lastTickAt - this.#intervalMs);
          sample.loopDelayMs = round3(lateMs);
          this.#recordEarlier(this.#loopResolutionMs * NS_PER_MS + lateMs * NS_PER_MS);
        } else {
          sample.loopDelayMs = 0;
        }
        if (fromTick) this.#updateLoopMonitor();
      } catch (err) {
        this.#callbacks.onError(err, 'event-loop delay monitor');
      }
    }
    if (fromTick) this.#lastTickAt = wall;
    if (this.#gcObserver !== undefined) {
      sample.gcCount = this.#gcTickCount;
      sample.gcPauseMs = round3(this.#gcTickPauseMs);
      this.#gcTickCount = 0;
      this.#gcTickPauseMs = 0;
    }
    this.#callbacks.onSample(sample);
    return sample;
  }

  /** Whether the event-loop delay monitor is running now, and how many times it was armed so far. */
  get loopMonitor(): { armed: boolean; stretches: number } {
    return { armed: this.#loopArmed, stretches: this.#loopStretches };
  }

  /** Arms the monitor when the loop was busy during the last tick, disarms it after an idle one. */
  #updateLoopMonitor(): void {
    const current = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(current, this.#elu);
    this.#elu = current;
    const busy = elu.active >= LOOP_ARM_ACTIVE_MS;
    if (busy && !this.#loopArmed) this.#armLoop();
    else if (!busy && this.#loopArmed) this.#disarmLoop();
  }

  #armLoop(): void {
    const loop = this.#loop!;
    // A reset forgets the last firing, so the first firing now does not record the disarmed
    // stretch as one long delay.
    loop.reset();
    this.#loopCount = 0;
    this.#loopSumMs = 0;
    loop.enable();
    this.#loopArmed = true;
    this.#loopStretches++;
    this.#watchFirstPeriod();
  }

  /**
   * The monitor's first firing after it is armed records nothing (it has no previous firing to
   * measure from), so a block in its first period would go unseen: a run that starts with 400 ms
   * of synchronous work would read a delay of under a millisecond. Two one-off probes cover it: an
   * immediate (how long the loop took to turn at all: the synchronous code right after arming)
   * and a timeout due when the monitor first fires (a block that starts later in that period).
   * Each records its lateness, in the monitor's own form (period + lateness), when it was late.
   */
  #watchFirstPeriod(): void {
    const armedAt = now();
    const period = this.#loopResolutionMs;
    const record = (lateMs: number): void => {
      if (!this.#running || lateMs < 1) return;
      this.#recordEarlier((period + lateMs) * NS_PER_MS);
    };
    try {
      setImmediate(() => record(now() - armedAt)).unref();
      setTimeout(() => record(now() - armedAt - period), period).unref();
    } catch (err) {
      this.#callbacks.onError(err, 'event-loop delay monitor');
    }
  }

  #disarmLoop(): void {
    const loop = this.#loop!;
    loop.disable();
    this.#loopArmed = false;
    // What this stretch recorded outlives the reset when the monitor is armed again (eventLoop()
    // reads the live monitor beside it until then).
    if (loop.count > 0) {
      this.#loopEarlierSumNs += loop.mean * loop.count;
      if (loop.max > this.#loopMaxNs) this.#loopMaxNs = loop.max;
      for (const [valueNs, k] of pointsOf(loop)) this.#countEarlier(valueNs, k);
    }
  }

  #recordEarlier(valueNs: number): void {
    this.#countEarlier(valueNs, 1);
    this.#loopEarlierSumNs += valueNs;
    if (valueNs > this.#loopMaxNs) this.#loopMaxNs = valueNs;
  }

  #countEarlier(valueNs: number, k: number): void {
    const step = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(1, valueNs))) - 2);
    const key = Math.round(valueNs / step) * step;
    this.#loopEarlier!.set(key, (this.#loopEarlier!.get(key) ?? 0) + k);
    this.#loopEarlierCount += k;
  }

  /** Stops everything and takes a last sample. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    // Entries still buffered in the observer would be lost on disconnect.
    try {
      const pending = this.#gcObserver?.takeRecords?.();
      if (pending !== undefined) this.#onGc(pending);
    } catch {
      // best effort
    }
    this.sampleNow();
    try {
      this.#loop?.disable();
      this.#gcObserver?.disconnect();
    } catch (err) {
      this.#callbacks.onError(err, 'sampler stop');
    }
  }

  /** Event-loop delay over the whole run, or undefined when it could not be measured. */
  eventLoop(): EventLoopStats | undefined {
    const live = this.#loop;
    const earlier = this.#loopEarlier;
    if (live === undefined || earlier === undefined) return undefined;
    // A disarmed monitor's stretch is in `earlier` already.
    const liveCount = this.#loopArmed ? live.count : 0;
    const count = liveCount + this.#loopEarlierCount;
    if (count === 0) return undefined;
    const points: Array<readonly [number, number]> = [...earlier];
    if (liveCount > 0) points.push(...pointsOf(live));
    const maxNs = Math.max(this.#loopMaxNs, liveCount > 0 ? live.max : 0);
    const meanNs = (this.#loopEarlierSumNs + (liveCount > 0 ? live.mean * liveCount : 0)) / count;
    // A monitor armed the whole run answers its percentiles itself, exactly.
    const alone = this.#loopEarlierCount === 0;
    return {
      delayP50Ms: delayMs(alone ? live.percentile(50) : percentileOf(points, 50), this.#loopResolutionMs),
      delayP99Ms: delayMs(alone ? live.percentile(99) : percentileOf(points, 99), this.#loopResolutionMs),
      delayMaxMs: delayMs(maxNs, this.#loopResolutionMs),
      delayMeanMs: delayMs(meanNs, this.#loopResolutionMs),
    };
  }

  /** GC pauses over the whole run, or undefined when the observer could not be set up. */
  gc(): GcStats | undefined {
    if (this.#gcObserver === undefined) return undefined;
    const byKind: GcStats['byKind'] = {};
    for (const [k, v] of Object.entries(this.#gc.byKind)) byKind[k] = { count: v.count, totalPauseMs: round3(v.totalPauseMs) };
    return { count: this.#gc.count, totalPauseMs: round3(this.#gc.totalPauseMs), maxPauseMs: round3(this.#gc.maxPauseMs), byKind };
  }
}
