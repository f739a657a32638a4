/**
 * The report. Units as in src/types.ts.
 */
import type { AnalysisResult, MemorySpike, MemoryTrend, Recommendation } from './analysis';
import type { EventLoopStats, GcStats, MemorySample, QualityFlag, StageMetrics, StageSummary } from './records';
import type { RunInfo, TrackedProcess } from './run';

export interface ReportSummary {
  totalStages: number;
  failedStages: number;
  peakMemoryMb: number;
  avgCpuPercent: number;
  memoryEfficiencyScore: number;
  slowestStage?: string;
  qualityFlagCounts: { info: number; warning: number; error: number };
}

/** One input report of a merged report (`processes[]`). */
export interface MergedProcess {
  /** `p1`, `p2`... in input order: the `source` of its records, samples and spikes. */
  id: string;
  /** The input report's `run.id`. */
  runId: string;
  name: string;
  status: RunInfo['status'];
  pid: number;
  host: RunInfo['host'];
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601. */
  endedAt: string;
  /** Its start after the merged run's start, ms: add it to the input report's `t` values. */
  offsetMs: number;
  durationMs: number;
  /** Its `run.rowsProcessed`. */
  rowsProcessed: number;
  /** Stage calls, and failed ones. */
  calls: number;
  failedCalls: number;
  /** Largest rss of the process, MiB. */
  peakMemoryMb: number;
  /** Process CPU over its run, percent of one core. */
  avgCpuPercent: number;
  /** Memory samples it took (all in `memory.samples`, with `source`). */
  sampleCount: number;
  /** The leak trend fitted on its own samples. */
  memoryTrend: MemoryTrend;
  /** Its memory efficiency score, 0-100, from its own samples. */
  memoryEfficiencyScore: number;
  endReason?: string;
  fatalError?: { name: string; message: string };
  metadata?: Record<string, unknown>;
  /** The file the report was read from, when known. */
  reportPath?: string;
  /** A child process's report: its parent's run id (the `runId` of another entry when the parent's report was merged too). */
  parentRunId?: string;
}

/** The JSON report; validates against `docs/report.schema.json` ({@link reportSchema}). */
export interface PerformanceReport {
  schemaVersion: 1;
  generator: { name: 'stagemeter'; version: string };
  run: RunInfo;
  summary: ReportSummary;
  stages: StageMetrics[];
  /** The run's budget of per-call records, how many were kept and how many left out. */
  stageRecords: { max: number; kept: number; omitted: number };
  stageSummaries: StageSummary[];
  memory: {
    samples: MemorySample[];
    samplingIntervalMs: number | null;
    trend: MemoryTrend;
    spikes: MemorySpike[];
    efficiencyScore: number;
    stageEfficiency?: Record<string, number>;
    /**
     * Merged reports: the largest sum of the processes' rss seen at one moment (MiB, at `t`),
     * and the sum of their own peaks (the most the processes can have held at once).
     */
    concurrentPeak?: { rssMb: number; t: number; sumOfProcessPeaksMb: number };
  };
  eventLoop?: EventLoopStats;
  gc?: GcStats;
  timeShare?: AnalysisResult['timeShare'];
  bottlenecks: AnalysisResult['bottlenecks'];
  recommendations: Recommendation[];
  qualityFlags: QualityFlag[];
  /** Where the report was written, or why it could not be. */
  output?: { path: string; written: boolean; error?: string };
  /** Merged reports only: the reports merged, one per process. */
  processes?: MergedProcess[];
  /** Processes sampled by pid (`trackProcess()`): one entry each. */
  trackedProcesses?: TrackedProcess[];
}
