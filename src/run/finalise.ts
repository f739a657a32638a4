/**
 * The end of a run, and the checkpoints on the way: the recorded run becomes `RunData` (the
 * analyzers' input), the analyzers run, the report is built and written. The only module of the
 * collector that imports `analyzers/`.
 */
import { cpus, totalmem } from 'node:os';
import { runAnalysis } from '../../analyzers';
import { endCall } from '../callpath/accounting';
import { now } from '../callpath/clock';
import { safeLog } from '../logger';
import { buildReport } from '../report/build';
import { generatePerformanceReportJson } from '../report/write';
import { describeError } from '../sanitize';
import type { RecordTable } from '../stores/records';
import type { AnalysisResult, PerformanceReport, QualityFlag, RunData, RunInfo } from '../types';
import { loggerFailure } from '../logger';
import { openFrames } from './live';
import { cpuUsageOrUndefined, MAX_STACK_STARTS, type RunState } from './state';
import { round3, summarize, toMetrics } from './metrics';

const MB = 1024 * 1024;


/**
 * Closes the calls still open when the run ends, innermost (newest) first so parents outlast
 * their children: each ends now, failed with `StageNotEnded`. Returns how many there were.
 */
export function closeOpenCalls(run: RunState): number {
  const t1 = now();
  const open = openFrames(run);
  for (let i = open.length - 1; i >= 0; i--) {
    const frame = open[i]!;
    const error = Object.assign(new Error(`still running when the run ended (${run.endReason ?? 'stop'})`), { name: 'StageNotEnded' });
    // a synchronous call on the stack has its start in the run's stack of starts
    if (frame.t0 === undefined) frame.t0 = frame.depth >= 0 && frame.depth < MAX_STACK_STARTS ? run.starts[frame.depth]! : t1;
    frame.probe?.close();
    endCall(run, frame, frame.t0, t1, frame.rowsRecorded ? frame.rows : 0, error);
  }
  run.manual.clear();
  run.openAsync = undefined;
  return open.length;
}

/**
 * A run's data taken at one moment, whose per-call records are converted to the report's form
 * afterwards, a slice at a time ({@link convertRecords}): a checkpoint of a big run spreads that
 * work (~3 µs a record, 50,000 records by default) over several ticks.
 */
export interface RunDataInProgress {
  /** The run's data; `stages` fills up as records are converted. */
  readonly data: RunData;
  /** The records as they were when the data was taken. */
  readonly table: RecordTable;
  /** Rows of `table` by start time (then id). */
  readonly order: number[];
  /** How many of `order` are converted. */
  converted: number;
  readonly redacted: Map<Record<string, unknown>, Record<string, unknown> | undefined>;
}

/** The recorded run as the analyzers take it. */
export function runData(run: RunState, status: RunInfo['status'], reason: string): RunData {
  const pending = beginRunData(run, status, reason, run.records);
  convertRecords(run, pending, pending.order.length);
  return pending.data;
}

/**
 * Takes the run's data at this moment, records still to convert. `table` is the run's record
 * table, or a copy of it when the run goes on while the records are converted (the table thins
 * itself as calls come in). Records without probes borrow their stage's CPU and heap rates when
 * converted, which may then have moved on by a few probed calls.
 */
export function beginRunData(run: RunState, status: RunInfo['status'], reason: string, table: RecordTable): RunDataInProgress {
  const durationMs = Math.max(0, now() - run.t0);
  const cpu = run.cpuAtStart === undefined ? undefined : cpuUsageOrUndefined(run.cpuAtStart);
  if (cpu === undefined) run.flag('warning', 'probe_failed', "process.cpuUsage failed: the run's average CPU is unknown (reported as 0)", undefined, true);
  const logFailure = loggerFailure(run.log);
  if (logFailure !== undefined) run.flag('warning', 'logger_failed', `the logger failed, log lines were lost: ${logFailure}`, undefined, true);
  const order: number[] = [];
  for (let i = 0; i < table.length; i++) order.push(i);
  order.sort((a, b) => table.t0At(a) - table.t0At(b) || table.idAt(a) - table.idAt(b));
  const durations: number[][] = run.statsList.map(() => []);
  for (let i = 0; i < table.length; i++) durations[table.stageAt(i)]?.push(table.durationAt(i));
  const summaries = run.statsList.map((s, i) => summarize(s, durations[i]!));
  const flags: QualityFlag[] = run.flags.list(durationMs);
  const rows = run.rows();
  const info: RunData['run'] = {
    id: run.id,
    name: run.name,
    status,
    startedAt: new Date(run.startedAtMs).toISOString(),
    endedAt: new Date(run.startedAtMs + durationMs).toISOString(),
    durationMs: round3(durationMs),
    rowsProcessed: rows.rows,
    rowsPerSecond: durationMs > 0 ? round3((rows.rows / durationMs) * 1000) : 0,
    rowsFrom: rows.stage !== undefined ? { rule: rows.rule, stage: rows.stage } : { rule: rows.rule },
    endReason: reason === 'stopMonitoring' ? reason : (run.endReason ?? reason),
    host: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length, totalMemoryMb: Math.round(totalmem() / MB), pid: process.pid },
  };
  if (run.expectedRows !== undefined) info.expectedRows = run.expectedRows;
  if (run.fatalError !== undefined) info.fatalError = run.fatalError;
  if (run.metadata !== undefined) info.metadata = run.metadata;
  const claim = run.claim;
  if (claim?.parent !== undefined) info.parent = { ...claim.parent };
  if (claim?.role === 'owner') {
    const { listed, omitted } = claim.children();
    if (listed.length > 0) info.children = listed;
    if (omitted > 0) info.childrenOmitted = omitted;
  }
  const data: RunData = {
    run: info,
    stages: [],
    stageSummaries: summaries,
    samples: run.samples.toArray(),
    samplingIntervalMs: run.sampler?.intervalMs ?? null,
    avgCpuPercent: cpu !== undefined && durationMs > 0 ? round3(((cpu.user + cpu.system) / 1000 / durationMs) * 100) : 0,
    peakMemoryMb: run.peakRssMb,
    qualityFlags: flags,
  };
  const loop = run.sampler?.eventLoop();
  if (loop !== undefined) {
    // A synchronous stage call held the loop for its whole length, measured on every call: the
    // longest is a floor for the loop's longest delay, whatever the monitor's timer saw.
    let longestSyncMs = 0;
    for (const s of run.statsList) if (s.maxSyncMs > longestSyncMs) longestSyncMs = s.maxSyncMs;
    if (longestSyncMs > loop.delayMaxMs) loop.delayMaxMs = round3(longestSyncMs);
    data.eventLoop = loop;
  }
  const gc = run.sampler?.gc();
  if (gc !== undefined) data.gc = gc;
  if (run.processes !== undefined) data.trackedProcesses = run.processes.report(durationMs);
  return { data, table, order, converted: 0, redacted: new Map() };
}

/** Converts up to `count` more records of `pending` to the report's form; true when all are. */
export function convertRecords(run: RunState, pending: RunDataInProgress, count: number): boolean {
  const { data, table, order, redacted } = pending;
  const end = Math.min(order.length, pending.converted + count);
  for (let k = pending.converted; k < end; k++) data.stages.push(toMetrics(run, table.get(order[k]!), redacted));
  pending.converted = end;
  return end === order.length;
}

function emptyAnalysis(data: RunData, message: string): AnalysisResult {
  return {
    trend: { leakSuspected: false, slopeMbPerMin: 0, r2: 0, method: 'none', sampleCount: data.samples.length, confidence: 'none' },
    spikes: [],
    efficiencyScore: 0,
    bottlenecks: { slowestStages: [], memoryIntensiveStages: [], cpuIntensiveStages: [], lowThroughputStages: [], findings: [] },
    recommendations: [],
    qualityFlags: [{ severity: 'error', message, t: data.run.durationMs, code: 'analysis_failed' }],
  };
}

/** Analyses the run and builds its report (a checkpoint's with `status: 'running'`). */
export function reportOf(run: RunState, status: RunInfo['status'], reason: string, logFindings: boolean): PerformanceReport {
  return analysedReport(run, runData(run, status, reason), logFindings);
}

/**
 * Runs the analyzers on the run's data and builds the report. `withRecords: false` runs them as
 * for a run that kept no per-call records (`maxStageRecords: 0`: summaries, samples and flags
 * only), while the report still lists the records; the report then says so in an info flag.
 */
export function analysedReport(run: RunState, data: RunData, logFindings: boolean, withRecords = true): PerformanceReport {
  let analysis: AnalysisResult;
  try {
    analysis = runAnalysis(withRecords ? data : { ...data, stages: [] }, run.config.thresholds, run.config.analyzers);
  } catch (err) {
    analysis = emptyAnalysis(data, `the analysis failed: ${describeError(err).message}`);
  }
  if (!withRecords) {
    analysis.qualityFlags.push({
      severity: 'info',
      code: 'analysis_without_records',
      t: data.run.durationMs,
      message: `this checkpoint was analysed without its ${data.stages.length} per-call records (no nesting, self time or stages named for spikes and pauses): the final report has the full analysis`,
    });
  }
  if (logFindings) {
    for (const f of analysis.bottlenecks.findings) {
      safeLog(run.log, f.severity === 'error' ? 'error' : f.severity === 'warning' ? 'warn' : 'info', { event: 'finding', kind: f.kind, stage: f.stage, evidence: f.evidence }, f.message);
    }
  }
  return buildReport(data, analysis, run.config.maxStageRecords);
}

/**
 * Writes the report to the configured path, when there is one. A failure never throws: it is
 * recorded in `report.output` and a quality flag, and reported on one stderr line (through the
 * logger instead when the application gave one), once per run and path.
 */
export function writeReport(run: RunState, report: PerformanceReport): void {
  const path = run.outputPath;
  if (path === undefined) return;
  try {
    generatePerformanceReportJson(report, path);
    report.output = { path, written: true };
  } catch (err) {
    const reason = describeError(err).message;
    const message = `the report could not be written to ${path}: ${reason}`;
    report.output = { path, written: false, error: reason };
    report.qualityFlags.push({ severity: 'error', message, t: report.run.durationMs, code: 'report_write_failed' });
    report.summary.qualityFlagCounts.error++;
    announceWriteFailure(run, path, err, message);
  }
}

/**
 * Says once per run, on one stderr line (through the logger instead when the application gave
 * one, every time), that a report could not be written.
 */
export function announceWriteFailure(run: RunState, path: string, err: unknown, message: string): void {
  if (run.config.logger !== undefined) {
    safeLog(run.log, 'error', { event: 'report_write_failed', path, err: describeError(err) }, message);
  } else if (!run.writeFailureReported) {
    run.writeFailureReported = true;
    try {
      process.stderr.write(`stagemeter: ${message}\n`);
    } catch {
      // stderr closed: the report itself still says it
    }
  }
}
