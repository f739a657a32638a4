/**
 * The live progress line (`progress: true`, `STAGEMETER_PROGRESS=1`): one line on stderr, redrawn
 * in place a few times a second while a run is active, only when stderr is a terminal. Off, it
 * costs nothing: no timer, no stream is touched. On, a redraw reads the live figures (one
 * `process.memoryUsage.rss()`, ~8 µs) every PROGRESS_MS from an unref'd timer, so it never keeps
 * the process alive and never runs inside a stage call.
 */
import type { LivePerformanceStats } from '../types';

/** Redraws at most this often, ms: fast enough to look live, ~40 µs of work a second. */
export const PROGRESS_MS = 250;

/** Where the line is drawn: `process.stderr`, or a stand-in in tests. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

const COUNT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Control characters of a stage name shown as `?`: a name must not move the cursor. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?');
}

/**
 * The progress line for a run's live figures, cut to `width` columns.
 *
 * @example
 * progressText('nightly', { elapsedMs: 65_000, rowsProcessed: 1_200_000, expectedRows: 4_000_000, progress: 0.3, etaMs: 150_000, currentRowsPerSecond: 18_500, ... }, 100);
 * // "stagemeter nightly 1m05s | 1.2M/4M rows 30% | 18.5K rows/s | ETA 2m30s | rss 412 MB | load_month"
 */
export function progressText(runName: string, live: LivePerformanceStats, width: number): string {
  const parts = [`stagemeter ${printable(runName)} ${duration(live.elapsedMs)}`];
  const rows = COUNT.format(live.rowsProcessed);
  parts.push(live.expectedRows !== undefined ? `${rows}/${COUNT.format(live.expectedRows)} rows ${Math.floor((live.progress ?? 0) * 100)}%` : `${rows} rows`);
  parts.push(`${COUNT.format(Math.round(live.currentRowsPerSecond))} rows/s`);
  if (live.etaMs !== undefined) parts.push(`ETA ${duration(live.etaMs)}`);
  parts.push(`rss ${Math.round(live.currentMemoryMb)} MB`);
  const stage = live.activeStages[live.activeStages.length - 1];
  if (stage !== undefined) parts.push(printable(stage));
  const text = parts.join(' | ');
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}~` : text;
}

/** Draws the line from a timer until stopped; the line is cleared at the end. */
export class ProgressLine {
  readonly #stream: ProgressStream;
  readonly #timer: ReturnType<typeof setInterval>;
  #drawn = false;

  /**
   * @param read the live figures and the run's name; an error stops the line (never the run)
   */
  constructor(stream: ProgressStream, read: () => { name: string; live: LivePerformanceStats }) {
    this.#stream = stream;
    this.#timer = setInterval(() => {
      try {
        const { name, live } = read();
        const width = Math.max(20, (stream.columns ?? 80) - 1);
        // \r back to column 0, the line, then erase what a longer previous line left
        stream.write(`\r${progressText(name, live, width)}\u001b[K`);
        this.#drawn = true;
      } catch {
        this.stop();
      }
    }, PROGRESS_MS);
    this.#timer.unref();
  }

  /** Stops redrawing and clears the line, so the program's next output starts on a clean line. */
  stop(): void {
    clearInterval(this.#timer);
    if (!this.#drawn) return;
    this.#drawn = false;
    try {
      this.#stream.write('\r\u001b[K');
    } catch {
      // stderr closed: nothing to clear
    }
  }
}

/** A progress line on `stream` when it is a terminal, else none. */
export function startProgress(stream: ProgressStream, read: () => { name: string; live: LivePerformanceStats }): ProgressLine | undefined {
  return stream.isTTY === true ? new ProgressLine(stream, read) : undefined;
}
