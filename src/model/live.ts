/**
 * Live figures of an active run. Units as in src/types.ts.
 */

/** A snapshot of the active run, cheap enough to poll every second. */
export interface LivePerformanceStats {
  /** Time since the run started, ms. */
  elapsedMs: number;
  /** The run's rows so far (see `RunInfo.rowsFrom`: counted once, from one stage). */
  rowsProcessed: number;
  /** Rows the run expects, when given to `startMonitoring()`. */
  expectedRows?: number;
  /** Throughput over the last few seconds (whole run while it is younger), rows/s. */
  currentRowsPerSecond: number;
  /** Throughput over the whole run so far, rows/s. */
  averageRowsPerSecond: number;
  /** Resident set size now, MiB. */
  currentMemoryMb: number;
  /** Largest resident set size seen in this run, MiB. */
  peakMemoryMb: number;
  /** Names of the stages open right now (innermost last for nested synchronous stages). */
  activeStages: string[];
  /** Stage calls completed so far. */
  completedStages: number;
  /** rowsProcessed / expectedRows, 0..1, when expectedRows is known. */
  progress?: number;
  /** Estimated time to finish at the current throughput, ms, when expectedRows is known. */
  etaMs?: number;
}
