/**
 * One report from the reports of one sharded or multi-process run (`stagemeter merge`). Pure: the
 * reports and options in, the merged report out; no I/O, no clock.
 *
 * What the merged report holds (docs/report-format.md, "Merged reports"):
 *  - `processes[]`: one entry per input report (`p1`, `p2`... in input order), with its run id,
 *    pid, host, times, peak memory, CPU and the memory trend re-fitted on its own samples.
 *  - `stages[]`: the records of every input, ids prefixed with the process id (`p2:17`), `t`
 *    rebased onto the merged run's start (the earliest `startedAt`), `source` naming the process.
 *  - `stageSummaries[]`: per stage name, sums over the inputs (calls, failures, rows, times, CPU),
 *    min and max, the mean from the sums, and quantiles from the merged sketches (see
 *    {@link mergeSummary} for the fallbacks).
 *  - `memory.samples`: every process's samples on the merged time axis, each with its `source`;
 *    `summary.peakMemoryMb` the largest process peak, `memory.concurrentPeak` the largest sum of
 *    the processes' rss seen at one moment.
 *  - Findings re-analysed: the stage analyzers run on the merged records and summaries, the memory
 *    analyzers (leak, spikes, GC, event-loop ticks) on each process's own samples, since the
 *    samples of two processes on one axis are not one heap.
 */
import { runAnalysis } from '../../analyzers';
import { resolveThresholds } from '../../analyzers/builtin';
import { buildReport } from './build';
import type {
  AnalysisResult,
  Finding,
  MemorySample,
  MemorySpike,
  MemoryTrend,
  MergedProcess,
  PerformanceReport,
  QualityFlag,
  Recommendation,
  RunData,
  RunInfo,
  StageMetrics,
  StageSummary,
} from '../types';
import { ANALYSIS_FLAG_CODES, checkInputs, checkOptions, MergeError, PROCESS_FINDING_KINDS, PROCESS_FLAG_CODES, PROCESS_RECOMMENDATIONS, type MergeOptions } from './merge/inputs';
import { concurrentPeak, mergedRunId, mergeEventLoop, mergeGc, mergeTracked, processEntry, processPrefix, processRunData, worstTrend } from './merge/processes';
import { mergeSummary, round3, roundMs, sumIfAll, sumOf, type Part } from './merge/stages';

export { ANALYSIS_FLAG_CODES, MergeError, parseReportText } from './merge/inputs';
export type { MergeErrorCode, MergeOptions } from './merge/inputs';

/**
 * Merges the reports of one sharded or multi-process run into one report, re-analysed.
 *
 * Refuses, with a {@link MergeError}: an empty list, inputs that are not reports, reports of
 * different schema versions (or one this version cannot read), a report that fails the schema
 * (truncated, edited), a report given twice (same run id), and a report that is itself a merge.
 * Invalid options throw a ConfigError listing each.
 *
 * @example
 * const merged = mergeReports([shardA, shardB], { sources: ['a.json', 'b.json'] });
 * merged.processes?.length;        // 2
 * merged.stageSummaries[0].calls;  // calls of both shards
 */
export function mergeReports(reports: readonly unknown[], options: MergeOptions = {}): PerformanceReport {
  checkOptions(options);
  const inputs = checkInputs(reports, options.sources);
  const thresholds = resolveThresholds(options.thresholds);
  const startMs = Math.min(...inputs.map((x) => x.startMs));
  const durationMs = Math.max(...inputs.map((x) => x.offsetMs + x.report.run.durationMs));
  const endMs = round3(durationMs);
  const flags: QualityFlag[] = [];

  // records, rebased and tagged
  const stages: Array<StageMetrics & { source: string }> = [];
  /** Per input, the durations of its records by stage name. */
  const durations = inputs.map(() => new Map<string, number[]>());
  for (const x of inputs) {
    const byName = durations[x.index]!;
    const prefix = `${x.label}:`;
    for (const r of x.report.stages) {
      // a shallow copy (object spread of 100k records of mixed shapes costs ~3 times as much, and
      // sorts slower); the nested cpu, memory, error and metadata objects are shared with the input
      const m = Object.assign({}, r) as StageMetrics & { source: string };
      m.id = prefix + r.id;
      m.t = roundMs(r.t + x.offsetMs);
      if (r.parentId !== undefined) m.parentId = prefix + r.parentId;
      m.source = x.label;
      stages.push(m);
      const list = byName.get(r.name);
      if (list === undefined) byName.set(r.name, [r.durationMs]);
      else list.push(r.durationMs);
    }
  }
  stages.sort((a, b) => a.t - b.t);

  // summaries, by name in order of first appearance
  const partsByName = new Map<string, Part[]>();
  for (const x of inputs) {
    for (const s of x.report.stageSummaries) {
      const part: Part = { input: x, summary: s, durations: durations[x.index]!.get(s.name) ?? [] };
      const list = partsByName.get(s.name);
      if (list === undefined) partsByName.set(s.name, [part]);
      else list.push(part);
    }
  }
  const stageSummaries: StageSummary[] = [];
  for (const [name, parts] of partsByName) stageSummaries.push(mergeSummary(name, parts, flags, endMs));

  // the inputs' own flags about their measurement (their analysis is redone below)
  for (const x of inputs) {
    for (const f of x.report.qualityFlags) {
      if (f.code !== undefined && ANALYSIS_FLAG_CODES.has(f.code)) continue;
      flags.push({ ...f, message: `${processPrefix(x)}: ${f.message}`, t: round3(f.t + x.offsetMs) });
    }
    if (x.report.run.status !== 'completed') {
      flags.push({
        severity: 'warning',
        code: 'merge_input_incomplete',
        t: round3(x.offsetMs + x.report.run.durationMs),
        message: `${processPrefix(x)} is ${x.report.run.status === 'running' ? 'a checkpoint of a run that was still going' : 'an aborted run'}: its figures stop at ${round3(x.report.run.durationMs)} ms into it`,
      });
    }
  }
  if (options.thresholds === undefined) {
    flags.push({ severity: 'info', code: 'merge_default_thresholds', t: endMs, message: 'the findings of this merged report use the default thresholds: reports do not record the thresholds their runs used' });
  }

  const first = inputs.reduce((a, b) => (b.startMs < a.startMs ? b : a));
  const names = [...new Set(inputs.map((x) => x.report.run.name))];
  const statuses = new Set(inputs.map((x) => x.report.run.status));
  const rowsProcessed = sumOf(inputs, (x) => x.report.run.rowsProcessed);
  const run: RunInfo = {
    id: mergedRunId(inputs),
    name: options.runName ?? (names.length === 1 ? names[0]! : names.join(' + ').slice(0, 200)),
    status: statuses.has('aborted') ? 'aborted' : statuses.has('running') ? 'running' : 'completed',
    startedAt: new Date(startMs).toISOString(),
    endedAt: new Date(startMs + durationMs).toISOString(),
    durationMs: endMs,
    rowsProcessed,
    rowsPerSecond: durationMs > 0 ? round3((rowsProcessed / durationMs) * 1000) : 0,
    endReason: 'merge',
    host: { ...first.report.run.host },
  };
  const expectedRows = sumIfAll(inputs, (x) => x.report.run.expectedRows);
  if (expectedRows !== undefined) run.expectedRows = expectedRows;

  // the job: every record and summary, no samples (they are analysed per process below)
  const peakMemoryMb = Math.max(...inputs.map((x) => x.report.summary.peakMemoryMb));
  const cpuMs = sumOf(inputs, (x) => (x.report.summary.avgCpuPercent / 100) * x.report.run.durationMs);
  const job: RunData = {
    run,
    stages,
    stageSummaries,
    samples: [],
    samplingIntervalMs: null,
    avgCpuPercent: durationMs > 0 ? round3((cpuMs / durationMs) * 100) : 0,
    peakMemoryMb,
    qualityFlags: flags,
  };
  const jobAnalysis = runAnalysis(job, thresholds, options.analyzers ?? []);

  // each process's memory: its own samples, analysed alone
  const processes: MergedProcess[] = [];
  const findings: Finding[] = [...jobAnalysis.bottlenecks.findings];
  const recommendations: Recommendation[] = jobAnalysis.recommendations.filter((r) => !PROCESS_RECOMMENDATIONS.has(r.category));
  const analysisFlags: QualityFlag[] = jobAnalysis.qualityFlags.filter((f) => f.code === undefined || !PROCESS_FLAG_CODES.has(f.code));
  const spikes: Array<MemorySpike & { source: string }> = [];
  const trends: Array<{ label: string; trend: MemoryTrend }> = [];
  const scores: number[] = [];
  for (const x of inputs) {
    const own = runAnalysis(processRunData(x), thresholds);
    const prefix = processPrefix(x);
    for (const f of own.bottlenecks.findings) {
      const fromSamples = PROCESS_FINDING_KINDS.has(f.kind) || f.kind === 'analyzer_failed' || (f.kind === 'event_loop_blocked' && f.evidence?.blockingCalls === undefined);
      if (fromSamples) findings.push({ ...f, message: `${prefix}: ${f.message}`, evidence: { ...f.evidence, source: x.label } });
    }
    for (const r of own.recommendations) if (PROCESS_RECOMMENDATIONS.has(r.category)) recommendations.push({ ...r, message: `In ${prefix}: ${r.message}` });
    for (const f of own.qualityFlags) if (f.code !== undefined && PROCESS_FLAG_CODES.has(f.code)) analysisFlags.push({ ...f, message: `${prefix}: ${f.message}`, t: round3(f.t + x.offsetMs) });
    for (const s of own.spikes) spikes.push({ ...s, t: round3(s.t + x.offsetMs), source: x.label });
    if (x.report.memory.samples.length > 0) trends.push({ label: x.label, trend: own.trend });
    scores.push(own.efficiencyScore);
    processes.push(processEntry(x, own));
  }
  spikes.sort((a, b) => a.t - b.t);
  const priority = { high: 0, medium: 1, low: 2 } as const;
  recommendations.sort((a, b) => priority[a.priority] - priority[b.priority]);
  const worst = worstTrend(trends);
  const trend: MemoryTrend = worst !== undefined ? { ...worst.trend, details: { ...worst.trend.details, source: worst.label } } : jobAnalysis.trend;
  const analysis: AnalysisResult = {
    ...jobAnalysis,
    trend,
    spikes,
    efficiencyScore: Math.min(...scores),
    bottlenecks: { ...jobAnalysis.bottlenecks, findings },
    recommendations,
    qualityFlags: analysisFlags,
  };

  // the report: the job's data with every process's samples on the merged time axis
  const samples: Array<MemorySample & { source: string }> = [];
  for (const x of inputs) for (const s of x.report.memory.samples) samples.push({ ...s, t: round3(s.t + x.offsetMs), source: x.label });
  samples.sort((a, b) => a.t - b.t);
  const intervals = [...new Set(inputs.map((x) => x.report.memory.samplingIntervalMs).filter((v): v is number => v !== null))];
  const reportData: RunData = { ...job, samples, samplingIntervalMs: intervals.length > 0 ? Math.min(...intervals) : null };
  const eventLoop = mergeEventLoop(inputs);
  if (eventLoop !== undefined) reportData.eventLoop = eventLoop;
  const gc = mergeGc(inputs);
  if (gc !== undefined) reportData.gc = gc;
  const report = buildReport(reportData, analysis, inputs.reduce((a, x) => a + x.report.stageRecords.max, 0));
  const peak = concurrentPeak(inputs);
  if (peak !== undefined) report.memory.concurrentPeak = peak;
  report.processes = processes;
  const tracked = mergeTracked(inputs);
  if (tracked.length > 0) report.trackedProcesses = tracked;
  return report;
}

