/**
 * A read-only view of one recorded run with the figures several analyzers need, each computed
 * once on first use: summaries by name, the nesting timeline, wall time per stage, the memory
 * trend, spikes and GC pauses attributed to stages. One view per analysis; nothing is global.
 */
import type { MemorySample, MemorySpike, MemoryTrend, RunData, StageMetrics, StageSummary, Thresholds } from '../src/types';
import { analyzeMemoryTrend } from './memoryTrend';
import { detectSpikes, type DetectedSpike } from './spikes';
import { clamp, LargestK, round } from './stats';
import { attributeLeak, type LeakAttribution } from './leakAttribution';
import { exclusiveShares } from './shares';
import { buildTimeline, innermostActive, namesOf, type Interval, type Timeline } from './timeline';

/** Ticks with GC pauses attributed to stages (the longest pauses first); bounds the sweep. */
const MAX_GC_TICKS = 2000;

/** A spike with the stages running when it happened. */
export interface AttributedSpike extends DetectedSpike {
  /** Innermost stages running between the previous sample and this one, most overlap first. */
  stages: string[];
}

/** One entry of the report's `timeShare` (see AnalysisResult.timeShare for what each figure means). */
export interface TimeShareEntry {
  stage: string;
  threadId: number;
  totalMs: number;
  selfMs: number;
  shareMs: number;
  totalPercent: number;
  selfPercent: number;
  sharePercent: number;
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
  #leak: LeakAttribution | undefined;

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
   * Every stage's time: busy wall time (`totalMs`: at least one call open, concurrency counted
   * once), summed self time (`selfMs`: each call less its own children), and its exclusive share
   * of its thread (`shareMs`: see shares.ts; a thread's shares never add up past the run).
   * Percent of the run's duration; largest share first.
   */
  get timeShare(): readonly TimeShareEntry[] {
    if (this.#timeShare === undefined) {
      const duration = this.durationMs;
      const pct = (ms: number): number => (duration > 0 ? round(clamp((ms / duration) * 100, 0, 100), 2) : 0);
      const shares = exclusiveShares(this.run.stages, this.run.stageSummaries, duration);
      const shareOf = new Map<string, { ms: number; threadId: number }>();
      for (const s of shares) {
        const e = shareOf.get(s.stage);
        if (e === undefined || s.shareMs > e.ms) shareOf.set(s.stage, { ms: (e?.ms ?? 0) + s.shareMs, threadId: s.threadId });
        else e.ms += s.shareMs;
      }
      const out: TimeShareEntry[] = [];
      for (const summary of this.run.stageSummaries) {
        const times = this.timeline.stages.get(summary.name);
        const busyMs = typeof summary.busyMs === 'number' ? summary.busyMs : (times?.totalMs ?? summary.totalMs) * this.extrapolation(summary.name);
        const selfMs = typeof summary.selfMs === 'number' ? summary.selfMs : (times?.selfWallMs ?? summary.totalMs) * this.extrapolation(summary.name);
        const share = shareOf.get(summary.name);
        // a stage without any kept record: its self time, as a synchronous stage's would be
        const shareMs = share !== undefined ? share.ms : Math.min(selfMs, duration);
        out.push({
          stage: summary.name,
          threadId: share?.threadId ?? 0,
          totalMs: round(Math.max(0, duration > 0 ? Math.min(busyMs, duration) : busyMs), 3),
          selfMs: round(Math.max(0, selfMs), 3),
          shareMs: round(Math.max(0, shareMs), 3),
          totalPercent: pct(busyMs),
          selfPercent: pct(selfMs),
          sharePercent: pct(shareMs),
        });
      }
      out.sort((a, b) => b.shareMs - a.shareMs || b.totalMs - a.totalMs || (a.stage < b.stage ? -1 : 1));
      this.#timeShare = out;
    }
    return this.#timeShare;
  }

  /** The time-share entry of one stage. */
  shareOf(name: string): TimeShareEntry {
    return this.timeShare.find((e) => e.stage === name) ?? { stage: name, threadId: 0, totalMs: 0, selfMs: 0, shareMs: 0, totalPercent: 0, selfPercent: 0, sharePercent: 0 };
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

  /** Which stage the heap floor's growth follows, when the trend says the heap leaks (see leakAttribution.ts). */
  get leakAttribution(): LeakAttribution | undefined {
    if (this.#leak === undefined && this.trend.leakSuspected) {
      const details = this.trend.details ?? {};
      const growth = typeof details.floorGrowthMb === 'number' ? details.floorGrowthMb : 0;
      const from = typeof details.warmupEndMs === 'number' ? details.warmupEndMs : 0;
      const windowMs = typeof details.windowMs === 'number' ? details.windowMs : 0;
      this.#leak = attributeLeak(this.run.samples, from, growth, windowMs);
    }
    return this.#leak;
  }

  /** The floor's growth a stage is found to hold, MiB (0 unless the leak is pinned on it). */
  retainedMb(name: string): number {
    const leak = this.leakAttribution;
    return leak !== undefined && leak.stage === name ? leak.retainedMb : 0;
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
