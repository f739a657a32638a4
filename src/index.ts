/**
 * stagemeter: where a batch pipeline spends its time and memory.
 * The public entry. Everything not exported here is internal.
 */

// Collector
export { PerformanceMonitor, createPerformanceMonitor } from './monitor';
export { getMonitor, setMonitor } from './singleton';
export { ConfigError } from './errors';
export { DEFAULT_THRESHOLDS } from './validate';

// Hooks
export { withStage } from '../decorators/withStage';
export { MonitoredStage, getMonitoredStages } from '../decorators/monitoredStage';
export { recordRows } from '../decorators/recordRows';
export { stageTransform } from './callpath/streams';

// Analysis
export { analyzeMemoryTrend, builtinAnalyzers, runAnalysis } from '../analyzers';

// Report
export { reportSchema } from './report/build';
export { generatePerformanceReportJson } from './report/write';
export { MergeError, mergeReports, parseReportText } from './report/merge';
export { formatReportSummary, summarizeReport } from './summary';
export { generateHtmlReport } from './report/html';
export { generateTraceEvents } from './report/trace';
export { VERSION } from './version';

// Comparing runs
export { diffReports, ReportDiffError } from './report/diff';
export { formatDiffMarkdown, formatDiffText } from './report/diffFormat';

// OpenTelemetry export (loads @opentelemetry/api only when called)
export { captureOtelParent, createOtelRunExporter, exportRunToOtel } from './integrations/otel';

export type { ConfigIssue } from './errors';
export type { ReportSummaryView, SummaryOptions, SummaryStage } from './summary';
export type { DiffEstimate, DiffFigure, DiffOptions, DiffResult, DiffRun, DiffVerdict, StageDiff } from './report/diff';
export type { DiffColors } from './report/diffFormat';
export type {
  TraceCompleteEvent,
  TraceCounterEvent,
  TraceEvent,
  TraceFile,
  TraceInstantEvent,
  TraceMetadataEvent,
  TraceScalar,
} from './report/trace';
export type { MemoryTrendOptions, TrendSample } from '../analyzers';
export type { MergeErrorCode, MergeOptions } from './report/merge';
export type {
  OtelExportOptions,
  OtelExportResult,
  OtelMeterProviderLike,
  OtelParent,
  OtelRunExporter,
  OtelTracerProviderLike,
} from './integrations/otel';
export type {
  Analyzer,
  AnalysisResult,
  CallFidelity,
  ChildReportRef,
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
  StageThreadPart,
  StartOptions,
  Thresholds,
  TrackedProcess,
  TrackedProcessSample,
  TrackProcessOptions,
} from './types';
