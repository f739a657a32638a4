/**
 * A read-only view of one recorded run with the figures several analyzers need, each computed
 * once on first use: summaries by name, the nesting timeline, wall time per stage, the memory
 * trend, spikes and GC pauses attributed to stages. One view per analysis; nothing is global.
 */
import type { MemorySample, MemorySpike, MemoryTrend, RunData, StageMetrics, StageSummary, Thresholds } from '../src/types';
import { analyzeMemoryTrend } from './memoryTrend';
import { detectSpikes, type DetectedSpike } from './spikes';
import { clamp, LargestK, round } from './stats';
import { buildTimeline, innermostActive, namesOf, type Interval, type Timeline } from './timeline';

/** Ticks with GC pauses attributed to stages (the longest pauses first); bounds the sweep. */
const MAX_GC_TICKS = 2000;

/** A spike with the stages running when it happened. */
export interface AttributedSpike extends DetectedSpike {
  /** Innermost stages running between the previous sample and this one, most overlap first. */
  stages: string[];
}

/** One entry of the report's `timeShare`. */
export interface TimeShareEntry {
  stage: string;
  totalMs: number;
  selfMs: number;
  totalPercent: number;
  selfPercent: number;
}

/**
 * @example
 * const view = new RunView(run, DEFAULT_THRESHOLDS);
 * view.trend.leakSuspected;
 * view.shareOf('load').selfPercent;
 */
export class RunView {
  readonly run: RunData;
  readonly thresholds: Thresholds;
  #summaries: Map<string, StageSummary> | undefined;
  #timeline: Timeline | undefined;
  #recordsByName: Map<string, StageMetrics[]> | undefined;
  #trend: MemoryTrend | undefined;
  #spikes: AttributedSpike[] | undefined;
  #gcByStage: Map<string, number> | undefined;
  #timeShare: TimeShareEntry[] | undefined;

  constructor(run: RunData, thresholds: Thresholds) {
    this.run = run;
    this.thresholds = thresholds;
  }

  /** Run wall time, ms (0 for an empty run). */
  get durationMs(): number {
    const d = this.run.run.durationMs;
    return Number.isFinite(d) && d > 0 ? d : 0;
  }

  get summaries(): ReadonlyMap<string, StageSummary> {
    if (this.#summaries === undefined) {
      this.#summaries = new Map();
      for (const s of this.run.stageSummaries) this.#summaries.set(s.name, s);
    }
    return this.#summaries;
  }

  get timeline(): Timeline {
    this.#timeline ??= buildTimeline(this.run.stages);
    return this.#timeline;
  }

  /** Kept records of one stage, in start order. */
  recordsOf(name: string): readonly StageMetrics[] {
    if (this.#recordsByName === undefined) {
      const map = new Map<string, StageMetrics[]>();
      for (const r of this.run.stages) {
        const list = map.get(r.name);
        if (list === undefined) map.set(r.name, [r]);
        else list.push(r);
      }
      this.#recordsByName = map;
    }
    return this.#recordsByName.get(name) ?? [];
  }

  /**
   * How much the kept records of a stage under-count it: summary total over the kept records'
   * total (1 when every call was kept).
   */
  extrapolation(name: string): number {
    const summary = this.summaries.get(name);
    const times = this.timeline.stages.get(name);
    if (summary === undefined || times === undefined || summary.recordsOmitted === 0 || !(times.sumMs > 0)) return 1;
    return Math.max(1, summary.totalMs / times.sumMs);
  }

  /**
   * Wall time and self time of every stage, ms and percent of the run: concurrency counted once,
   * child stages subtracted from self time. Stages whose records were truncated are extrapolated
   * from the kept records; stages without any record fall back to their summed durations.
   */
  get timeShare(): readonly TimeShareEntry[] {
    if (this.#timeShare === undefined) {
      const duration = this.durationMs;
      const out: TimeShareEntry[] = [];
      for (const summary of this.run.stageSummaries) {
        const times = this.timeline.stages.get(summary.name);
        let totalMs: number;
        let selfMs: number;
        if (times === undefined) {
          totalMs = summary.totalMs;
          selfMs = summary.totalMs;
        } else {
          const k = this.extrapolation(summary.name);
          totalMs = times.totalMs * k;
          selfMs = times.selfMs * k;
        }
        if (duration > 0) {
          totalMs = Math.min(totalMs, duration);
          selfMs = Math.min(selfMs, totalMs);
        }
        out.push({
          stage: summary.name,
          totalMs: round(Math.max(0, totalMs), 3),
          selfMs: round(Math.max(0, selfMs), 3),
          totalPercent: duration > 0 ? round(clamp((totalMs / duration) * 100, 0, 100), 2) : 0,
          selfPercent: duration > 0 ? round(clamp((selfMs / duration) * 100, 0, 100), 2) : 0,
        });
      }
      out.sort((a, b) => b.totalMs - a.totalMs || b.selfMs - a.selfMs || (a.stage < b.stage ? -1 : 1));
      this.#timeShare = out;
    }
    return this.#timeShare;
  }

  /** The time-share entry of one stage. */
  shareOf(name: string): TimeShareEntry {
    return this.timeShare.find((e) => e.stage === name) ?? { stage: name, totalMs: 0, selfMs: 0, totalPercent: 0, selfPercent: 0 };
  }

  /** The memory trend of the post-GC heap floor (thresholds.minLeakSlopeMbPerMin as the leak slope). */
  get trend(): MemoryTrend {
    this.#trend ??= analyzeMemoryTrend(this.run.samples, { minSlopeMbPerMin: this.thresholds.minLeakSlopeMbPerMin });
    return this.#trend;
  }

  /**
   * The time window a sample covers: from the previous sample to this tick (to the last merged
   * tick for a downsampled sample).
   */
  sampleWindow(i: number): Interval {
    const samples = this.run.samples;
    const s = samples[i]!;
    const interval = this.run.samplingIntervalMs ?? 0;
    const prev = samples[i - 1];
    const from = prev !== undefined ? prev.t : s.t - interval;
    const to = s.t + Math.max(0, (s.span ?? 1) - 1) * interval;
    return [Math.min(from, s.t), to];
  }

  /** Spikes in rss or heap, each with the stages running when it happened. */
  get spikes(): readonly AttributedSpike[] {
    if (this.#spikes === undefined) {
      const found = detectSpikes(this.run.samples);
      const active = innermostActive(
        this.run.stages,
        found.map((s) => this.sampleWindow(s.index)),
      );
      this.#spikes = found.map((s, k) => ({ ...s, stages: namesOf(active[k] ?? []) }));
    }
    return this.#spikes;
  }

  /** The spikes as report entries. */
  reportSpikes(): MemorySpike[] {
    return this.spikes.map((s) => {
      const spike: MemorySpike = { t: s.t, rssMb: round(Math.max(0, s.rssMb), 3), heapUsedMb: round(Math.max(0, s.heapUsedMb), 3), score: round(s.score, 2) };
      if (s.stages.length > 0) spike.stage = s.stages.join(', ');
      return spike;
    });
  }

  /**
   * GC pause time per stage, ms: each tick's pauses split over the innermost stages running in it
   * by overlap. Only the longest {@link MAX_GC_TICKS} ticks are attributed.
   */
  get gcByStage(): ReadonlyMap<string, number> {
    if (this.#gcByStage === undefined) {
      const samples: readonly MemorySample[] = this.run.samples;
      // the MAX_GC_TICKS longest pauses, in time order (ties: the earlier ticks)
      const longest = new LargestK(MAX_GC_TICKS);
      for (let i = 0; i < samples.length; i++) {
        const p = samples[i]!.gcPauseMs ?? 0;
        if (p > 0) longest.offer(i, p);
      }
      const ticks = longest.positions();
      const active = innermostActive(
        this.run.stages,
        Array.from(ticks, (i) => this.sampleWindow(i)),
      );
      const map = new Map<string, number>();
      for (let k = 0; k < ticks.length; k++) {
        const list = active[k] ?? [];
        if (list.length === 0) continue;
        const pause = samples[ticks[k]!]!.gcPauseMs ?? 0;
        let weight = 0;
        for (const a of list) weight += a.overlapMs;
        for (const a of list) {
          const share = weight > 0 ? a.overlapMs / weight : 1 / list.length;
          map.set(a.record.name, (map.get(a.record.name) ?? 0) + pause * share);
        }
      }
      this.#gcByStage = map;
    }
    return this.#gcByStage;
  }

  /**
   * Heap growth a stage left behind over all its calls, MiB: the net growth of its measured calls
   * (child stages subtracted) scaled to every call. Noisy per call (a GC inside a call makes its
   * delta negative), meaningful summed over many.
   */
  retainedMb(name: string): number {
    const times = this.timeline.stages.get(name);
    const summary = this.summaries.get(name);
    if (times === undefined || times.probedRecords === 0) return 0;
    const calls = summary !== undefined ? Math.max(summary.calls, times.records) : times.records;
    return (times.netSelfHeapDeltaMb / times.probedRecords) * calls;
  }

  /** Stages whose slowest call exceeds `slowStageMs`, slowest first. */
  get slowStages(): readonly StageSummary[] {
    return this.run.stageSummaries.filter((s) => s.calls > 0 && s.maxMs > this.thresholds.slowStageMs).sort((a, b) => b.maxMs - a.maxMs);
  }

  /** The kept record of a stage that took longest (undefined without records). */
  slowestRecord(name: string): StageMetrics | undefined {
    let best: StageMetrics | undefined;
    for (const r of this.recordsOf(name)) if (best === undefined || r.durationMs > best.durationMs) best = r;
    return best;
  }
}
