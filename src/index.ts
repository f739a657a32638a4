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
export { MergeError, mergeReports, parseReportText } from './report/merge';
export { formatReportSummary } from './summary';
export { VERSION } from './version';

export type { ConfigIssue } from './errors';
export type { MemoryTrendOptions, TrendSample } from '../analyzers';
export type { MergeErrorCode, MergeOptions } from './report/merge';
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
  MergedProcess,
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
  SketchJson,
  StageFidelity,
  StageMetrics,
  StageOptions,
  StageOutcome,
  StageSummary,
  StartOptions,
  Thresholds,
} from './types';
