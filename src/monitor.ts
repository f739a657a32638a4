/**
 * The monitor: the public face of the collector, one run at a time. Its methods start and stop
 * runs, start and end stages by hand, flag, and read live figures; the call path
 * (src/callpath/) does the per-call work, the run (src/run/) holds what was recorded.
 */
import { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { RUN_KEY, slot, type RunBox } from './callpath/global';
import { endManualStage, manualStageName, startManualStage } from './callpath/manual';
import { releaseAsyncContext } from './callpath/context';
import { ConfigError, describeValue } from './errors';
import type { OtelExportResult } from './integrations/otel';
import { createLogger, safeLog } from './logger';
import { CheckpointWriter } from './run/checkpoint';
import { closeOpenCalls, reportOf, writeReport } from './run/finalise';
import { endHints, watchHints } from './run/hints';
import { unwatchProcessEnd, watchProcessEnd, type ExitParticipant } from './run/lifecycle';
import { liveStats, markRate } from './run/live';
import { hotProbePriceNs } from './run/probes';
import { RunOutputs } from './run/outputs';
import { ProcessTracker } from './run/processes';
import { claimOutput } from './report/ownership';
import { Sampler, startTicker } from './run/sampler';
import { RunState } from './run/state';
import { openThreadHub } from './run/threads';
import { describeError } from './sanitize';
import { recordOf } from './run/metrics';
import type { LivePerformanceStats, MonitorOptions, PerformanceMonitorLike, PerformanceReport, Severity, StageMetrics, StageOutcome, StartOptions, TrackProcessOptions } from './types';
import { checkStartOptions, checkTrackOptions, isTrackablePid, resolveConfig, type ResolvedConfig } from './validate';

/** Misuse seen while no run was active, reported in the next run (at most this many). */
const MAX_PENDING_FLAGS = 100;

/**
 * Collects stage timings, rows, CPU and memory for one run at a time, and turns the run into a
 * report. Create one with {@link createPerformanceMonitor}, or use the process-wide singleton.
 *
 * @example
 * const monitor = createPerformanceMonitor({ outputPath: 'reports/run.json' });
 * monitor.startMonitoring({ expectedRows: 1_000_000 });
 * const id = monitor.startStage('load');
 * monitor.endStage(id, 1_000_000);
 * const report = monitor.stopMonitoring();
 */
export class PerformanceMonitor implements PerformanceMonitorLike {
  /** @internal The active run, read by the wrappers of every copy of the package. */
  readonly [RUN_KEY]: RunBox<RunState> = { run: undefined };
  readonly #config: ResolvedConfig;
  readonly #log: Logger;
  #lastReport: PerformanceReport | undefined = undefined;
  #pendingFlags: Array<{ severity: Severity; code: string; message: string }> = [];
  #exitParticipant: ExitParticipant | undefined = undefined;
  /** Progress line, HTML page and OpenTelemetry export of the current or last run (when one is on). */
  #outputs: RunOutputs | undefined = undefined;

  /** Use {@link createPerformanceMonitor}; throws {@link ConfigError} on invalid options. */
  constructor(options?: MonitorOptions) {
    this.#config = resolveConfig(options);
    this.#log = createLogger(this.#config);
  }

  /** @internal See configOf. */
  get config_(): ResolvedConfig {
    return this.#config;
  }

  /** True between startMonitoring() and stopMonitoring(). */
  get isMonitoring(): boolean {
    return this[RUN_KEY].run !== undefined;
  }

  /**
   * Starts a run: the sampler, the clock origin, and (when an output path is set) the process-end
   * hooks that write the report however the process ends. Throws {@link ConfigError} on invalid
   * options; starting twice is a quality flag, not an error.
   *
   * @example
   * monitor.startMonitoring({ runName: 'nightly', expectedRows: 4_000_000, rowsFrom: 'load' });
   */
  startMonitoring(options: StartOptions = {}): void {
    const issues = checkStartOptions(options);
    if (issues.length > 0) throw new ConfigError(issues, 'invalid startMonitoring() options');
    const active = this[RUN_KEY].run;
    if (active !== undefined) {
      active.flag('warning', 'already_monitoring', 'startMonitoring() called while a run was active; the call was ignored');
      return;
    }
    if (slot.monitor === this) slot.autoStart = false;
    hotProbePriceNs();
    const cfg = this.#config;
    const run = new RunState(cfg, this.#log, options, 0);
    this[RUN_KEY].run = run;
    // Worker threads created from now on record into this run.
    run.threads = openThreadHub(run);
    this.#lastReport = undefined;
    for (const name of cfg.deprecated) run.flag('info', 'deprecated_option', `option ${name} no longer has an effect: every call is timed`);
    for (const p of this.#pendingFlags) run.flag(p.severity, p.code, p.message);
    this.#pendingFlags = [];
    if (cfg.perProcessOutput && cfg.outputPath !== undefined) {
      const claim = claimOutput(cfg.outputPath, run.id);
      run.claim = claim;
      run.outputPath = claim.path;
      for (const note of claim.notes) run.flag('info', 'output_path_shared', note);
    }
    if (cfg.enableMemoryTracking) {
      const sampler = new Sampler(cfg.memorySamplingIntervalMs, run.t0, {
        onSample: (s) => {
          if (s.rssMb > run.peakRssMb) run.peakRssMb = s.rssMb;
          const busy = run.busySinceLastTick();
          if (busy !== undefined) s.stageBusyMs = busy;
          run.samples.add(s);
          markRate(run, s.t, run.rows().rows);
        },
        onError: (err, what) => run.flag('warning', 'probe_failed', `${what} failed: ${describeError(err).message}`),
      });
      run.sampler = sampler;
      sampler.start();
    }
    this.#outputs = cfg.progress || cfg.otel || cfg.htmlOutputPath !== undefined ? new RunOutputs(run) : undefined;
    this.#startCheckpoints(run);
    if (cfg.outputPath !== undefined || cfg.otel) this.#watchProcessEnd(run);
    watchHints(run);
    safeLog(this.#log, 'info', { event: 'run_start', runId: run.id, runName: run.name, expectedRows: run.expectedRows }, 'stagemeter run started');
  }

  /**
   * Starts a stage by hand and returns its id. The stage's parent is the stage active where it
   * is called; it does not become the parent of stages started later (use withStage for that).
   * Before startMonitoring() it records nothing and the misuse is flagged in the next run.
   *
   * @example
   * const id = monitor.startStage('load', { month: '2026-01' });
   */
  startStage(name: string, metadata?: Record<string, unknown>): string {
    const run = this[RUN_KEY].run;
    if (run === undefined) {
      this.#flagWithoutRun('warning', 'stage_without_run', `startStage(${JSON.stringify(manualStageName(name))}) called before startMonitoring(); the stage was not recorded`);
      return 'inactive';
    }
    try {
      return startManualStage(run, name, metadata);
    } catch (err) {
      run.flag('warning', 'internal_error', `startStage() failed inside stagemeter: ${describeError(err).message}`);
      return 'inactive';
    }
  }

  /**
   * Ends a stage started with startStage(). Unknown or already-ended ids are flagged, never thrown.
   * Returns the stage's record, or undefined when nothing was recorded.
   *
   * @example
   * monitor.endStage(id, rows.length);
   * monitor.endStage(id2, 0, { error: err });
   */
  endStage(stageId: string, rowsProcessed?: number, outcome?: StageOutcome): StageMetrics | undefined {
    const run = this[RUN_KEY].run;
    if (run === undefined) {
      if (stageId !== 'inactive') this.#flagWithoutRun('warning', 'stage_without_run', 'endStage() called with no active run');
      return undefined;
    }
    try {
      const ended = endManualStage(run, stageId, rowsProcessed, outcome);
      return ended === undefined ? undefined : recordOf(run, ended.frame, ended.t1, ended.selfMs);
    } catch (err) {
      run.flag('warning', 'internal_error', `endStage() failed inside stagemeter: ${describeError(err).message}`);
      return undefined;
    }
  }

  /**
   * Adds a quality flag to the active run (or to the next run when none is active).
   *
   * @example
   * monitor.addQualityFlag('input file had 12 malformed rows', 'warning');
   */
  addQualityFlag(message: string, severity: Severity): void {
    const sev: Severity = severity === 'info' || severity === 'warning' || severity === 'error' ? severity : 'warning';
    const msg = typeof message === 'string' ? message : `(not a string: ${describeValue(typeof message)})`;
    const run = this[RUN_KEY].run;
    if (run === undefined) {
      this.#flagWithoutRun(sev, 'user', msg);
      return;
    }
    if (sev !== severity) run.flag('warning', 'invalid_severity', 'addQualityFlag(): severity is not info, warning or error; recorded as warning');
    run.flag(sev, 'user', msg);
  }

  /**
   * Samples another process (a Python step, ffmpeg, a database loader) by pid on the sampler's
   * tick: its memory (rss), CPU and lifetime, and for a ChildProcess its exit code or signal,
   * go into the report's `trackedProcesses`, under the stage open where this is called (or
   * `options.stage`). A process that exits or cannot be read is a note, never an error; tracking
   * ends when the run stops. Before startMonitoring() it records nothing and the misuse is
   * flagged in the next run; bad arguments are flagged, never thrown.
   *
   * @example
   * const child = spawn('ffmpeg', ['-i', input, output]);
   * monitor.trackProcess(child);                          // inside the stage that spawned it
   * monitor.trackProcess(loaderPid, { stage: 'load' });   // a process started elsewhere
   */
  trackProcess(target: ChildProcess | number, options?: TrackProcessOptions): void {
    const run = this[RUN_KEY].run;
    if (run === undefined) {
      this.#flagWithoutRun('warning', 'process_without_run', 'trackProcess() called before startMonitoring(); the process was not tracked');
      return;
    }
    try {
      const issues = checkTrackOptions(options);
      if (!(target instanceof ChildProcess || isTrackablePid(target))) issues.unshift({ field: 'process', message: `must be a ChildProcess or a pid (a positive integer), got ${describeValue(target)}` });
      if (issues.length > 0) {
        run.flag('warning', 'invalid_track_process', `trackProcess(): ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}; the process was not tracked`);
        return;
      }
      if (run.processes === undefined) {
        run.processes = new ProcessTracker(run);
        run.processes.attach(run.sampler, this.#config.memorySamplingIntervalMs);
      }
      run.processes.track(target, options?.stage);
    } catch (err) {
      run.flag('warning', 'internal_error', `trackProcess() failed inside stagemeter: ${describeError(err).message}`);
    }
  }

  /**
   * A snapshot of the active run: throughput, memory, open stages, and progress and ETA when the
   * expected row count is known. Costs one process.memoryUsage.rss() (~8 µs): fine to poll.
   *
   * @example
   * setInterval(() => console.log(monitor.getLivePerformanceStats().progress), 5000).unref();
   */
  getLivePerformanceStats(): LivePerformanceStats {
    return liveStats(this[RUN_KEY].run);
  }

  /**
   * Ends the run: open stages are closed as failed, the analyzers run, and the report is written
   * atomically to `outputPath` (when set) and returned. Never throws: a report that cannot be
   * written is still returned, with the error in `output` and in a quality flag. Called again
   * with no run active, it returns the last report unchanged and writes nothing.
   *
   * @example
   * const report = monitor.stopMonitoring();
   * console.log(report.summary.slowestStage);
   */
  stopMonitoring(): PerformanceReport {
    if (this[RUN_KEY].run === undefined) return this.#stopWithoutRun();
    return this.#stop('completed', 'stopMonitoring');
  }

  /**
   * Resolves when the OpenTelemetry export of the last run (`otel: true`) has handed every span
   * to the tracer provider and flushed it; undefined without `otel`. Never rejects: failures are
   * in the result's `errors`. Shut the providers down after it, before the process exits.
   *
   * @example
   * monitor.stopMonitoring();
   * const result = await monitor.waitForOtelExport(); // { spans, errors, ... }
   * await tracerProvider.shutdown();
   */
  waitForOtelExport(): Promise<OtelExportResult | undefined> {
    return this.#outputs?.exported() ?? Promise.resolve(undefined);
  }

  #watchProcessEnd(run: RunState): void {
    const participant: ExitParticipant = {
      onFatal: (error, origin) => {
        if (this[RUN_KEY].run === run) {
          run.fatalError = describeError(error, this.#config.captureStackTraces);
          run.endReason = origin;
        }
      },
      onExit: (code) => {
        if (this[RUN_KEY].run === run) this.#stop(run.fatalError !== undefined || code !== 0 ? 'aborted' : 'completed', run.endReason ?? `exit(${code})`);
      },
      onBeforeExit: () => {
        // The event loop is empty and the run was not stopped: with `otel`, stop it now, while
        // the export can still run (at `exit` only synchronous work is possible).
        if (this[RUN_KEY].run === run && this.#config.otel) this.#stop('completed', 'beforeExit');
      },
      onSignal: (signal, terminating) => {
        if (this[RUN_KEY].run !== run) return;
        if (terminating) {
          this.#stop('aborted', signal);
          return;
        }
        // The application handles the signal and may go on: keep the run, save what we have.
        run.flag('info', 'signal_received', `${signal} received; the application handles it, the run goes on`);
        writeReport(run, reportOf(run, 'running', signal, false));
      },
    };
    this.#exitParticipant = participant;
    watchProcessEnd(participant);
  }

  /**
   * Checkpoints: every `checkpointIntervalMs` the report is rewritten atomically with
   * `run.status: 'running'` (stages still open are not in it yet), so a run killed by SIGKILL or a
   * power cut leaves its last checkpoint. They ride on the sampler's tick when it has one, and are
   * built and written a slice at a time (see CheckpointWriter): the program's loop goes on meanwhile.
   */
  #startCheckpoints(run: RunState): void {
    const every = this.#config.checkpointIntervalMs;
    const path = this.#config.outputPath;
    if (every === undefined || path === undefined) return;
    const outputs = this.#outputs;
    const writer = new CheckpointWriter(run, path, () => this[RUN_KEY].run === run, outputs !== undefined ? (report) => outputs.checkpoint(report) : undefined);
    let last = run.t();
    const checkpoint = (): void => {
      if (this[RUN_KEY].run !== run || run.t() - last < every * 0.9) return;
      last = run.t();
      writer.start();
    };
    const sampler = run.sampler;
    if (sampler !== undefined && sampler.intervalMs <= every) {
      sampler.onTick = checkpoint;
      run.stopTicker = () => writer.cancel();
    } else {
      const stop = startTicker(every, checkpoint, (err) => run.flag('warning', 'checkpoint_failed', `checkpoint failed: ${describeError(err).message}`));
      run.stopTicker = () => {
        stop();
        writer.cancel();
      };
    }
  }

  #flagWithoutRun(severity: Severity, code: string, message: string): void {
    if (this.#pendingFlags.length < MAX_PENDING_FLAGS) this.#pendingFlags.push({ severity, code, message: `${message} (at ${new Date().toISOString()}, before this run)` });
    safeLog(this.#log, 'warn', { event: 'quality_flag', code }, message);
  }

  #stopWithoutRun(): PerformanceReport {
    const last = this.#lastReport;
    if (last !== undefined) return last;
    // An empty run, so the caller still gets a schema-valid report; nothing is written over a
    // report that may already be at outputPath.
    const message = 'stopMonitoring() called without startMonitoring(); nothing was recorded';
    safeLog(this.#log, 'warn', { event: 'quality_flag', code: 'stop_without_run' }, message);
    const run = new RunState({ ...this.#config, enableMemoryTracking: false, maxStageRecords: 0 }, this.#log, {}, 0);
    run.flag('warning', 'stop_without_run', message);
    run.release();
    return reportOf(run, 'aborted', 'stopMonitoring', false);
  }

  #stop(status: 'completed' | 'aborted', reason: string): PerformanceReport {
    const run = this[RUN_KEY].run!;
    run.endReason ??= reason;
    run.threads?.close();
    const open = closeOpenCalls(run);
    if (open > 0) run.flag('warning', 'stages_still_open', `${open} stage call(s) were still running when the run ended; closed as failed`);
    try {
      run.processes?.stop();
      run.stopTicker?.();
      run.sampler?.stop();
    } catch (err) {
      run.flag('warning', 'probe_failed', `sampler stop failed: ${describeError(err).message}`);
    }
    this[RUN_KEY].run = undefined;
    run.release();
    if (run.usesAsyncContext) releaseAsyncContext(this.#config.asyncContext);
    if (this.#exitParticipant !== undefined) {
      unwatchProcessEnd(this.#exitParticipant);
      this.#exitParticipant = undefined;
    }
    endHints(run, slot.monitor === this);
    const report = reportOf(run, status, reason, true);
    this.#outputs?.finish(report);
    writeReport(run, report);
    run.claim?.release();
    this.#lastReport = report;
    safeLog(this.#log, 'info', { event: 'run_end', runId: run.id, status: report.run.status, durationMs: report.run.durationMs, rows: report.run.rowsProcessed }, 'stagemeter run ended');
    return report;
  }
}

/** @internal The options in force for a monitor, after defaults (for tests). */
export function configOf(monitor: PerformanceMonitor): ResolvedConfig {
  return monitor.config_;
}

/** Whether a value is a monitor of this or another copy of the package (it holds a run slot). */
export function isMonitor(value: unknown): value is PerformanceMonitor {
  return value instanceof PerformanceMonitor || (typeof value === 'object' && value !== null && RUN_KEY in value && typeof (value as { stopMonitoring?: unknown }).stopMonitoring === 'function');
}

/**
 * Creates an isolated monitor. Throws {@link ConfigError} listing every invalid option.
 *
 * @example
 * const monitor = createPerformanceMonitor({ outputPath: 'reports/run.json', memorySamplingIntervalMs: 500 });
 */
export function createPerformanceMonitor(options?: MonitorOptions): PerformanceMonitor {
  return new PerformanceMonitor(options);
}

