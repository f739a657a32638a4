/**
 * The ESM entry: the same single CommonJS instance re-exported by name, so that `import` and
 * `require` in one process share one collector (no dual-package hazard). Kept equal to
 * src/index.ts by a test.
 */
export {
  PerformanceMonitor,
  createPerformanceMonitor,
  getMonitor,
  setMonitor,
  ConfigError,
  DEFAULT_THRESHOLDS,
  withStage,
  MonitoredStage,
  getMonitoredStages,
  recordRows,
  stageTransform,
  analyzeMemoryTrend,
  builtinAnalyzers,
  runAnalysis,
  generatePerformanceReportJson,
  reportSchema,
  MergeError,
  mergeReports,
  parseReportText,
  formatReportSummary,
  summarizeReport,
  generateHtmlReport,
  generateTraceEvents,
  VERSION,
  captureOtelParent,
  createOtelRunExporter,
  exportRunToOtel,
  diffReports,
  ReportDiffError,
  formatDiffMarkdown,
  formatDiffText,
} from './index.js';
export type * from './index.js';
