/**
 * Checkpoints: the report of a run still going on, rewritten atomically every
 * `checkpointIntervalMs`, built and written without holding the event loop.
 *
 * A report at the default record budget takes ~0.5 s of work (converting 50,000 records, the
 * analyzers, ~15 MB of JSON, the write and its fsync); done in one go on a timer tick, a 1 s
 * checkpoint stalled the program for that long every second. So a checkpoint:
 * 1. takes the run's data in one tick (summaries, samples, flags, a copy of the record table:
 *    a few ms), so the report describes one moment of the run;
 * 2. converts the records, then serialises the report, in slices of ~{@link SLICE_MS} ms with a
 *    `setImmediate` turn between them, so the program's own callbacks run in between;
 * 3. runs the analyzers in one slice of their own. They are not sliced, and on the default
 *    50,000 records they took 25-700 ms on a 2-core VM (JIT-cold and loaded at the top of that
 *    range), against 1-25 ms without the records; so a checkpoint holding more than
 *    {@link CHECKPOINT_ANALYSIS_MAX_RECORDS} records is analysed as a run without records would
 *    be, and says so in a flag (its records are still in it; the final report has the full analysis);
 * 4. writes the text in libuv's thread pool, fsync included, and renames it over the report in
 *    the same tick as a last check that the run is still going on: the final report, written
 *    synchronously at stop or exit, is never replaced by an older checkpoint.
 * The run ending at any point abandons the checkpoint and removes its temp file. A checkpoint
 * still being written when the next is due makes that one wait for the following interval.
 *
 * Slicing bounds the stall, not the work: ~10 µs of the loop's time per record, 0.2-0.5 s for a
 * full budget. So checkpoints are spaced to hold at most {@link MAX_CHECKPOINT_SHARE} of the
 * loop's time: a checkpoint that took W ms of slices lets the next start W / share ms after it
 * started at the earliest (checkpointIntervalMs if that is later).
 */
import { unlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { writeFileAtomicInBackground } from '../report/write';
import { reportTextInSlices } from '../report/serialize';
import { describeError } from '../sanitize';
import { analysedReport, announceWriteFailure, beginRunData, convertRecords } from './finalise';
import type { RunState } from './state';
import type { PerformanceReport } from '../types';

/** Work done between two turns of the event loop, ms. */
export const SLICE_MS = 20;

/** Largest share of the event loop's time that checkpoints take, on average. */
export const MAX_CHECKPOINT_SHARE = 0.1;

/** Checkpoints with more records are analysed without them (5,000 took 15-75 ms on a loaded 2-core VM). */
export const CHECKPOINT_ANALYSIS_MAX_RECORDS = 5000;

/** Records converted between two looks at the clock (~1.5 ms of work). */
const RECORDS_PER_STEP = 512;

/** Yields to the event loop once a slice has run for {@link SLICE_MS}, and adds up the slices' time. */
class Slicer {
  #from = performance.now();
  /** Time the finished slices held the loop, ms. */
  #busyMs = 0;
  readonly #wanted: () => boolean;

  constructor(wanted: () => boolean) {
    this.#wanted = wanted;
  }

  /** Time the slices held the loop so far, ms (the current one included). */
  get busyMs(): number {
    return this.#busyMs + (performance.now() - this.#from);
  }

  /** Undefined while the slice has time left; else a turn of the loop, then whether to go on. */
  pause(): Promise<boolean> | undefined {
    return performance.now() - this.#from < SLICE_MS ? undefined : this.next();
  }

  /** A turn of the event loop now; resolves to whether to go on. */
  next(): Promise<boolean> {
    this.#busyMs += performance.now() - this.#from;
    return new Promise((resolve) =>
      setImmediate(() => {
        this.#from = performance.now();
        resolve(this.#wanted());
      }),
    );
  }
}

export class CheckpointWriter {
  readonly #run: RunState;
  readonly #path: string;
  readonly #current: () => boolean;
  readonly #onReport: ((report: PerformanceReport) => void) | undefined;
  #writing = false;
  #cancelled = false;
  #temp: string | undefined = undefined;
  /** When the last checkpoint started (performance.now() ms), and how long its slices held the loop. */
  #lastStart = -Infinity;
  #lastBusyMs = 0;
  /** Checkpoints written, and started (for tests and the curious). */
  written = 0;
  started = 0;

  /**
   * @param current whether the run is still the monitor's active run (a checkpoint that finds it
   *   is not gives up)
   * @param onReport hears each checkpoint's report once it is built (the OpenTelemetry export)
   */
  constructor(run: RunState, path: string, current: () => boolean, onReport?: (report: PerformanceReport) => void) {
    this.#run = run;
    this.#path = path;
    this.#current = current;
    this.#onReport = onReport;
  }

  /**
   * Starts a checkpoint, unless one is still being written, the last one's work asks for more
   * time before the next (see MAX_CHECKPOINT_SHARE), or the run has ended.
   */
  start(): void {
    if (this.#writing || this.#cancelled) return;
    const t = performance.now();
    if (t - this.#lastStart < this.#lastBusyMs / MAX_CHECKPOINT_SHARE) return;
    this.#lastStart = t;
    this.#writing = true;
    this.started++;
    this.#write().then(
      (done) => {
        this.#writing = false;
        if (done) this.written++;
      },
      (err: unknown) => {
        this.#writing = false;
        this.#failed(err);
      },
    );
  }

  /** The run ends: no checkpoint is written from now on, and the one in progress leaves no temp file. */
  cancel(): void {
    this.#cancelled = true;
    if (this.#temp !== undefined) {
      try {
        unlinkSync(this.#temp);
      } catch {
        // already gone
      }
      this.#temp = undefined;
    }
  }

  #wanted = (): boolean => !this.#cancelled && this.#current();

  async #write(): Promise<boolean> {
    const run = this.#run;
    const slicer = new Slicer(this.#wanted);
    const pending = beginRunData(run, 'running', 'checkpoint', run.records.copy());
    while (!convertRecords(run, pending, RECORDS_PER_STEP)) {
      const wait = slicer.pause();
      if (wait !== undefined && !(await wait)) return false;
    }
    // the analyzers start a slice of their own, and the serialisation another
    if (!(await slicer.next())) return false;
    const report = analysedReport(run, pending.data, false, pending.data.stages.length <= CHECKPOINT_ANALYSIS_MAX_RECORDS);
    this.#onReport?.(report);
    if (!(await slicer.next())) return false;
    const pieces = await reportTextInSlices(report, () => slicer.pause());
    if (pieces === undefined || !this.#wanted()) return false;
    this.#lastBusyMs = slicer.busyMs;
    return writeFileAtomicInBackground(this.#path, pieces, this.#wanted, (temp) => {
      this.#temp = temp;
      // the run ended while the temp file was being opened
      if (temp !== undefined && this.#cancelled) this.cancel();
    });
  }

  #failed(err: unknown): void {
    const run = this.#run;
    if (!this.#wanted()) return;
    const message = `a checkpoint could not be written to ${this.#path}: ${describeError(err).message}`;
    run.flag('warning', 'checkpoint_failed', message, undefined, true);
    announceWriteFailure(run, this.#path, err, message);
  }
}
