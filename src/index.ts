/**
 * stagemeter: where a batch pipeline spends its time and memory.
 * The public entry. Everything not exported here is internal.
 */

// Collector
export { PerformanceMonitor, createPerformanceMonitor } from './collector';
export { getMonitor, setMonitor } from './singleton';
export { ConfigError } from './errors';
export { DEFAULT_THRESHOLDS } from './config';

// Hooks
export { withStage } from '../decorators/withStage';
export { MonitoredStage, getMonitoredStages } from '../decorators/monitoredStage';
export { recordRows } from '../decorators/recordRows';

// Analysis
export { analyzeMemoryTrend, builtinAnalyzers, runAnalysis } from '../analyzers';

// Report
export { generatePerformanceReportJson, reportSchema } from './report';
export { formatReportSummary, summarizeReport } from './summary';
export { VERSION } from './version';

// Comparing runs
export { diffReports, ReportDiffError } from './report/diff';
export { formatDiffMarkdown, formatDiffText } from './report/diffFormat';

export type { ConfigIssue } from './errors';
export type { ReportSummaryView, SummaryOptions, SummaryStage } from './summary';
export type { DiffEstimate, DiffFigure, DiffOptions, DiffResult, DiffRun, DiffVerdict, StageDiff } from './report/diff';
export type { DiffColors } from './report/diffFormat';
export type { MemoryTrendOptions, TrendSample } from '../analyzers';
export type {
  Analyzer,
  AnalysisResult,
  CallFidelity,
  EventLoopStats,
  Finding,
  GcStats,
  LivePerformanceStats,
  MemorySample,
  MemorySpike,
  MemoryTrend,
  MonitoredStageOptions,
  MonitorOptions,
  PerformanceMonitorLike,
  PerformanceReport,
  QualityFlag,
  Recommendation,
  ReportSummary,
  RowsOption,
  RunData,
  RunInfo,
  Severity,
  StageFidelity,
  StageMetrics,
  StageOptions,
  StageOutcome,
  StageSummary,
  StartOptions,
  Thresholds,
} from './types';
