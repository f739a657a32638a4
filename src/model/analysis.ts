/**
 * What the analyzers return: findings, recommendations, the memory trend, time shares. Units as in
 * src/types.ts.
 */
import type { Severity, Thresholds } from './config';
import type { QualityFlag } from './records';
import type { RunData } from './run';

/** Result of the memory trend fit. */
export interface MemoryTrend {
  leakSuspected: boolean;
  /** Growth of the heap floor, MiB per minute. */
  slopeMbPerMin: number;
  /** Coefficient of determination of the fit, 0..1. */
  r2: number;
  /** Two-sided p-value of the trend test, where it applies. */
  pValue?: number;
  /** How the trend was fitted, e.g. `theil-sen+mann-kendall(floor)`. */
  method: string;
  /** Samples the fit used. */
  sampleCount: number;
  confidence: 'none' | 'low' | 'medium' | 'high';
  /** Extra figures behind the verdict (recent slope, warm-up cut, shape). */
  details?: Record<string, unknown>;
}

/** A finding of an analyzer. */
export interface Finding {
  /** `slow_stage`, `low_throughput`, `memory_intensive`, `cpu_bound`, `io_bound`, `memory_leak`,
   *  `memory_spike`, `event_loop_blocked`, `gc_pressure`, `stage_failed`, ... */
  kind: string;
  severity: Severity;
  stage?: string;
  message: string;
  /** The numbers behind the finding, with units in the key names. */
  evidence?: Record<string, unknown>;
}

/** A pure function from a recorded run to findings. */
export interface Analyzer {
  name: string;
  analyze(run: RunData, thresholds: Thresholds): Finding[];
}

/** An unusual jump in rss or heap. */
export interface MemorySpike {
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** Stage(s) active at that moment, comma-separated. */
  stage?: string;
  /** Robust z-score of the jump (median/MAD). */
  score?: number;
  /** In a merged report: the `processes[].id` of the process whose memory jumped. */
  source?: string;
}

export interface Recommendation {
  category: string;
  stage?: string;
  priority: 'low' | 'medium' | 'high';
  message: string;
}

/** What the analyzer pipeline produces from a {@link RunData}. */
export interface AnalysisResult {
  trend: MemoryTrend;
  spikes: MemorySpike[];
  /** Memory efficiency of the run, 0-100. */
  efficiencyScore: number;
  /** Per-stage efficiency where it means something, 0-100. */
  stageEfficiency?: Record<string, number>;
  bottlenecks: {
    slowestStages: string[];
    memoryIntensiveStages: string[];
    cpuIntensiveStages: string[];
    lowThroughputStages: string[];
    findings: Finding[];
  };
  recommendations: Recommendation[];
  /** Flags added by the analysis (the collector's own flags are not repeated here). */
  qualityFlags: QualityFlag[];
  /**
   * Each stage's time, ms and percent of the run: `totalMs`, busy wall time (at least one call
   * open; children's time included, so totals nest); `selfMs`, summed self time (each call less
   * its own children: concurrent calls each count); `shareMs`, its exclusive share of its thread
   * (each instant goes to the innermost synchronous call, or is split between the innermost open
   * calls): a thread's shares add up to at most 100 % of the run. Largest share first.
   */
  timeShare?: Array<{ stage: string; threadId: number; totalMs: number; selfMs: number; shareMs: number; totalPercent: number; selfPercent: number; sharePercent: number }>;
}
