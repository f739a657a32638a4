/**
 * Assembles the JSON report from a recorded run and its analysis. Pure: the same inputs give the
 * same report.
 */
import reportSchemaJson from '../../docs/report.schema.json';
import { VERSION } from '../version';
import type { AnalysisResult, PerformanceReport, QualityFlag, RunData } from '../types';

/** The JSON Schema every report validates against (also shipped as `docs/report.schema.json`). */
export const reportSchema: Readonly<Record<string, unknown>> = reportSchemaJson;

/** Assembles the report. Pure: the same inputs give the same report. */
export function buildReport(data: RunData, analysis: AnalysisResult, maxRecords: number): PerformanceReport {
  const qualityFlags: QualityFlag[] = [...data.qualityFlags, ...analysis.qualityFlags].sort((a, b) => a.t - b.t);
  const qualityFlagCounts = { info: 0, warning: 0, error: 0 };
  for (const f of qualityFlags) qualityFlagCounts[f.severity]++;
  let totalStages = 0;
  let failedStages = 0;
  let kept = 0;
  let omitted = 0;
  let slowest: { name: string; totalMs: number } | undefined;
  for (const s of data.stageSummaries) {
    totalStages += s.calls;
    failedStages += s.failures;
    kept += s.recordsKept;
    omitted += s.recordsOmitted;
    if (slowest === undefined || s.totalMs > slowest.totalMs) slowest = s;
  }
  const slowestStage = analysis.bottlenecks.slowestStages[0] ?? slowest?.name;
  const report: PerformanceReport = {
    schemaVersion: 1,
    generator: { name: 'stagemeter', version: VERSION },
    run: data.run,
    summary: {
      totalStages,
      failedStages,
      peakMemoryMb: data.peakMemoryMb,
      avgCpuPercent: data.avgCpuPercent,
      memoryEfficiencyScore: analysis.efficiencyScore,
      ...(slowestStage !== undefined ? { slowestStage } : {}),
      qualityFlagCounts,
    },
    stages: data.stages,
    stageRecords: { max: maxRecords, kept, omitted },
    stageSummaries: data.stageSummaries,
    memory: {
      samples: data.samples,
      samplingIntervalMs: data.samplingIntervalMs,
      trend: analysis.trend,
      spikes: analysis.spikes,
      efficiencyScore: analysis.efficiencyScore,
      ...(analysis.stageEfficiency !== undefined ? { stageEfficiency: analysis.stageEfficiency } : {}),
    },
    ...(data.eventLoop !== undefined ? { eventLoop: data.eventLoop } : {}),
    ...(data.gc !== undefined ? { gc: data.gc } : {}),
    ...(analysis.timeShare !== undefined ? { timeShare: analysis.timeShare } : {}),
    bottlenecks: analysis.bottlenecks,
    recommendations: analysis.recommendations,
    qualityFlags,
    ...(data.trackedProcesses !== undefined ? { trackedProcesses: data.trackedProcesses } : {}),
  };
  return report;
}

