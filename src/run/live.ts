/**
 * Live figures of an active run: elapsed time, rows and throughput (over the last few seconds),
 * memory, the stages open right now, progress and ETA when the expected row count is known.
 * Costs one `process.memoryUsage.rss()` (~8 µs): fine to poll every second.
 */
import { currentFrame } from '../callpath/context';
import type { Frame } from '../callpath/frame';
import type { LivePerformanceStats } from '../types';
import type { RunState } from './state';

const MB = 1024 * 1024;
/** Live throughput window, ms. */
const RATE_WINDOW_MS = 5000;
/** Marks [t, rows] are kept at least this far apart, ms. */
const RATE_MARK_MS = 250;

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function rssMbNow(): number {
  try {
    return round3(process.memoryUsage.rss() / MB);
  } catch {
    return 0;
  }
}

/** Takes a [t, rows] mark for the throughput window (sampler ticks and live reads take them). */
export function markRate(run: RunState, t: number, rows: number): void {
  const marks = run.rateMarks;
  if (marks.length >= 2 && t - marks[marks.length - 2]! < RATE_MARK_MS) return;
  marks.push(t, rows);
  // Keep about two windows of marks.
  if (marks.length > 4 * (RATE_WINDOW_MS / RATE_MARK_MS) + 8) marks.splice(0, marks.length / 2);
}

/** Rows per second over the last RATE_WINDOW_MS (the whole run while it is younger). */
function currentRate(run: RunState, elapsedMs: number, rows: number, average: number): number {
  const marks = run.rateMarks;
  for (let i = marks.length - 2; i >= 0; i -= 2) {
    const dt = elapsedMs - marks[i]!;
    if (dt >= RATE_WINDOW_MS) return ((rows - marks[i + 1]!) / dt) * 1000;
  }
  return average;
}

/**
 * The open calls of a run, oldest first: the async ones from the run's list, the synchronous ones
 * from the current context chain (only calls of this stack are running right now), and the stages
 * started by hand.
 */
export function openFrames(run: RunState): Frame[] {
  const open: Frame[] = [];
  for (let f = run.openAsync; f !== undefined; f = f.nextOpen) open.push(f);
  for (const f of run.manual.values()) if (!open.includes(f)) open.push(f);
  for (let f = currentFrame(); f !== undefined; f = f.outer) {
    const frame = f as Frame;
    if (frame.run === run.link && !frame.ended && !open.includes(frame)) open.push(frame);
  }
  return open.sort((a, b) => a.id - b.id);
}

export function liveStats(run: RunState | undefined): LivePerformanceStats {
  const rssMb = rssMbNow();
  if (run === undefined) {
    return { elapsedMs: 0, rowsProcessed: 0, currentRowsPerSecond: 0, averageRowsPerSecond: 0, currentMemoryMb: rssMb, peakMemoryMb: rssMb, activeStages: [], completedStages: 0 };
  }
  const elapsedMs = run.t();
  if (rssMb > run.peakRssMb) run.peakRssMb = rssMb;
  const { rows } = run.rows();
  markRate(run, elapsedMs, rows);
  const averageRowsPerSecond = elapsedMs > 0 ? (rows / elapsedMs) * 1000 : 0;
  const currentRowsPerSecond = currentRate(run, elapsedMs, rows, averageRowsPerSecond);
  let completed = 0;
  for (const s of run.statsList) completed += s.calls;
  const stats: LivePerformanceStats = {
    elapsedMs: round3(elapsedMs),
    rowsProcessed: rows,
    currentRowsPerSecond: round3(currentRowsPerSecond),
    averageRowsPerSecond: round3(averageRowsPerSecond),
    currentMemoryMb: rssMb,
    peakMemoryMb: run.peakRssMb,
    activeStages: openFrames(run).map((f) => f.stats.name),
    completedStages: completed,
  };
  if (run.expectedRows !== undefined) {
    stats.expectedRows = run.expectedRows;
    stats.progress = run.expectedRows > 0 ? Math.min(1, rows / run.expectedRows) : 1;
    const left = Math.max(0, run.expectedRows - rows);
    if (left === 0) stats.etaMs = 0;
    else if (currentRowsPerSecond > 0) stats.etaMs = round3((left / currentRowsPerSecond) * 1000);
  }
  return stats;
}
