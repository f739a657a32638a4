/**
 * A short human summary of a report, for terminals and CI logs: the run, the stages with their
 * share of the time, the findings, the recommendations and the quality flags, most severe first.
 * Error-severity findings and flags are always shown; what a limit leaves out is counted. Every
 * string from the report is shown with its control characters escaped, so a stage name cannot
 * recolour, clear or rewrite the terminal.
 */
import pc from 'picocolors';
import { escapeControl } from './report/escape';
import type { Finding, PerformanceReport, QualityFlag, Recommendation, Severity, StageSummary } from './types';

/** Options of {@link formatReportSummary} and {@link summarizeReport}. */
export interface SummaryOptions {
  /** Stages shown, most total time first (default 15). */
  maxStages?: number;
  /**
   * Findings, recommendations and quality flags shown, per list (default 12). Error-severity
   * findings and flags are shown whatever the limit.
   */
  maxFindings?: number;
  /** Show every stage, finding, recommendation and flag (the limits do not apply). */
  all?: boolean;
  /** Colour the text with ANSI escapes (default false; the CLI turns it on for a terminal). */
  color?: boolean;
}

/** One stage row of the summary. */
export interface SummaryStage {
  name: string;
  calls: number;
  failures: number;
  /** Summed call time, ms. */
  totalMs: number;
  /** Share of the run's wall time in the stage's own code, percent. */
  selfPercent: number;
  p95Ms: number;
  /** Rows per second, or null when the stage counted no rows. */
  rowsPerSecond: number | null;
  /** How the stage was measured: `full`, or how often probes ran and calls were timed. */
  fidelity: string;
}

/** The summary as data: what `stagemeter summary --json` prints, and what the text shows. */
export interface ReportSummaryView {
  run: {
    name: string;
    status: string;
    rowsProcessed: number;
    durationMs: number;
    rowsPerSecond: number;
    peakMemoryMb: number;
    avgCpuPercent: number;
    memoryEfficiencyScore: number;
    leak: { suspected: boolean; slopeMbPerMin: number; confidence: string; sampleCount: number };
    eventLoop?: { delayP99Ms: number; delayMaxMs: number };
    gc?: { count: number; totalPauseMs: number };
  };
  /** Most total time first. */
  stages: SummaryStage[];
  /** Stages the limit left out. */
  stagesLeftOut: number;
  /** Errors first, then warnings, then info; the analyzers' order within a severity. */
  findings: Finding[];
  findingsLeftOut: Record<Severity, number>;
  /** High priority first, then medium, then low. */
  recommendations: Recommendation[];
  recommendationsLeftOut: Record<Recommendation['priority'], number>;
  qualityFlags: { counts: Record<Severity, number>; shown: QualityFlag[]; leftOut: Record<Severity, number> };
  /** Where the report was written, or why it could not be. */
  output?: { path: string; written: boolean; error?: string };
}

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };
const PRIORITY_RANK: Readonly<Record<Recommendation['priority'], number>> = { high: 0, medium: 1, low: 2 };

/**
 * The summary as data, with the limits applied: the stages by total time, the findings and flags
 * in severity order (every error kept), the recommendations by priority, and how many of each
 * were left out.
 *
 * @example
 * const view = summarizeReport(report, { all: true });
 * view.findings.filter((f) => f.severity === 'error');
 */
export function summarizeReport(report: PerformanceReport, options: SummaryOptions = {}): ReportSummaryView {
  const all = options.all === true;
  const maxStages = all ? Infinity : Math.max(0, options.maxStages ?? 15);
  const maxItems = all ? Infinity : Math.max(0, options.maxFindings ?? 12);
  const { run, summary } = report;

  // one entry per stage, or per stage and thread in reports that split by thread
  const selfPercent = new Map<string, number>();
  for (const t of report.timeShare ?? []) selfPercent.set(t.stage, (selfPercent.get(t.stage) ?? 0) + t.selfPercent);
  const byTime = [...report.stageSummaries].sort((a, b) => b.totalMs - a.totalMs);
  const stages = byTime.slice(0, maxStages).map(
    (s): SummaryStage => ({
      name: s.name,
      calls: s.calls,
      failures: s.failures,
      totalMs: s.totalMs,
      selfPercent: selfPercent.get(s.name) ?? (run.durationMs > 0 ? (s.totalMs / run.durationMs) * 100 : 0),
      p95Ms: s.p95Ms,
      rowsPerSecond: s.rowsProcessed > 0 ? s.rowsPerSecond : null,
      fidelity: fidelityOf(s),
    }),
  );

  const findings = keepErrors(stableSort(report.bottlenecks.findings, (f) => SEVERITY_RANK[f.severity] ?? 3), maxItems);
  const recs = stableSort(report.recommendations, (r) => PRIORITY_RANK[r.priority] ?? 3);
  const recsShown = recs.slice(0, maxItems);
  const flags = keepErrors(stableSort(report.qualityFlags, (f) => SEVERITY_RANK[f.severity] ?? 3), maxItems);
  const trend = report.memory.trend;

  return {
    run: {
      name: run.name,
      status: run.status,
      rowsProcessed: run.rowsProcessed,
      durationMs: run.durationMs,
      rowsPerSecond: run.rowsPerSecond,
      peakMemoryMb: summary.peakMemoryMb,
      avgCpuPercent: summary.avgCpuPercent,
      memoryEfficiencyScore: summary.memoryEfficiencyScore,
      leak: { suspected: trend.leakSuspected, slopeMbPerMin: trend.slopeMbPerMin, confidence: trend.confidence, sampleCount: trend.sampleCount },
      ...(report.eventLoop !== undefined ? { eventLoop: { delayP99Ms: report.eventLoop.delayP99Ms, delayMaxMs: report.eventLoop.delayMaxMs } } : {}),
      ...(report.gc !== undefined ? { gc: { count: report.gc.count, totalPauseMs: report.gc.totalPauseMs } } : {}),
    },
    stages,
    stagesLeftOut: byTime.length - stages.length,
    findings: findings.shown,
    findingsLeftOut: findings.leftOut,
    recommendations: recsShown,
    recommendationsLeftOut: countBy(recs.slice(recsShown.length), (r) => r.priority, { high: 0, medium: 0, low: 0 }),
    qualityFlags: { counts: { ...summary.qualityFlagCounts }, shown: flags.shown, leftOut: flags.leftOut },
    ...(report.output !== undefined ? { output: report.output } : {}),
  };
}

/**
 * Formats the report as a few dozen lines of text: the run, the stages by total time, findings
 * and quality flags most severe first (every error shown), recommendations by priority, and a
 * count of what the limits left out.
 *
 * @example
 * console.log(formatReportSummary(monitor.stopMonitoring()));
 * console.log(formatReportSummary(report, { all: true, color: process.stdout.isTTY }));
 */
export function formatReportSummary(report: PerformanceReport, options: SummaryOptions = {}): string {
  const v = summarizeReport(report, options);
  const c = pc.createColors(options.color === true);
  const sev = (s: Severity): string => (s === 'error' ? c.red(`[${s}]`) : s === 'warning' ? c.yellow(`[${s}]`) : c.dim(`[${s}]`));
  const lines: string[] = [];
  const r = v.run;
  lines.push(c.bold(`stagemeter: ${escapeControl(r.name)} (${escapeControl(r.status)}) - ${num(r.rowsProcessed)} rows in ${dec(r.durationMs / 1000)} s (${num(r.rowsPerSecond)} rows/s)`));
  const leak = r.leak.suspected ? (r.leak.confidence === 'high' ? c.red : c.yellow)(`suspected, ${dec(r.leak.slopeMbPerMin)} MB/min`) : 'none';
  lines.push(
    `peak memory ${dec(r.peakMemoryMb)} MB rss, CPU ${num(r.avgCpuPercent)} % of one core, memory efficiency ${num(r.memoryEfficiencyScore)}/100, ` +
      `leak: ${leak} (confidence ${escapeControl(r.leak.confidence)}, ${num(r.leak.sampleCount)} samples)`,
  );
  if (r.eventLoop !== undefined) {
    lines.push(`event-loop delay p99 ${ms(r.eventLoop.delayP99Ms)} ms, max ${ms(r.eventLoop.delayMaxMs)} ms${r.gc ? `; GC ${num(r.gc.count)} pauses, ${ms(r.gc.totalPauseMs)} ms in all` : ''}`);
  }
  lines.push('');
  lines.push(c.bold(`${pad('stage', 34)} ${pad('calls', 9, true)} ${pad('total ms', 10, true)} ${pad('self %', 7, true)} ${pad('p95 ms', 9, true)} ${pad('rows/s', 12, true)}  fidelity`));
  for (const s of v.stages) {
    lines.push(
      `${pad(escapeControl(s.name), 34)} ${pad(num(s.calls), 9, true)} ${pad(ms(s.totalMs), 10, true)} ${pad(dec(s.selfPercent), 7, true)} ${pad(ms(s.p95Ms), 9, true)} ${pad(s.rowsPerSecond !== null ? num(s.rowsPerSecond) : '-', 12, true)}  ${s.fidelity}${s.failures > 0 ? c.red(`, ${num(s.failures)} failed`) : ''}`,
    );
  }
  if (v.stagesLeftOut > 0) lines.push(c.dim(`... ${num(v.stagesLeftOut)} more stage${v.stagesLeftOut === 1 ? '' : 's'}${MORE}`));

  const totalFindings = v.findings.length + sum(v.findingsLeftOut);
  lines.push('', totalFindings === 0 ? 'findings: none' : c.bold(`findings (${num(totalFindings)}):`));
  for (const f of v.findings) lines.push(`  ${sev(f.severity)} ${escapeControl(f.kind)}${f.stage !== undefined ? ` ${escapeControl(f.stage)}` : ''}: ${escapeControl(f.message)}`);
  const findingsMore = leftOutText(v.findingsLeftOut, ['warning', 'info'], { warning: ['warning', 'warnings'], info: ['info', 'info'] });
  if (findingsMore !== '') lines.push(c.dim(`  ... ${findingsMore}${MORE}`));

  if (v.recommendations.length > 0) {
    lines.push('', c.bold('recommendations:'));
    for (const rec of v.recommendations) lines.push(`  [${rec.priority}] ${escapeControl(rec.message)}`);
  }
  const recsLeftOut = sum(v.recommendationsLeftOut);
  if (recsLeftOut > 0) {
    const byPriority = (['high', 'medium', 'low'] as const).filter((p) => v.recommendationsLeftOut[p] > 0).map((p) => `${num(v.recommendationsLeftOut[p])} ${p}`);
    lines.push(c.dim(`  ... ${num(recsLeftOut)} more recommendation${recsLeftOut === 1 ? '' : 's'} (${byPriority.join(', ')} priority)${MORE}`));
  }

  const q = v.qualityFlags;
  lines.push('', `quality flags: ${q.counts.error > 0 ? c.red(`${num(q.counts.error)} error`) : '0 error'}, ${num(q.counts.warning)} warning, ${num(q.counts.info)} info`);
  for (const f of q.shown) lines.push(`  ${sev(f.severity)} ${escapeControl(f.message)}`);
  const flagsMore = leftOutText(q.leftOut, ['warning', 'info'], { warning: ['warning', 'warnings'], info: ['info', 'info'] });
  if (flagsMore !== '') lines.push(c.dim(`  ... ${flagsMore}${MORE}`));

  if (v.output !== undefined) {
    lines.push(v.output.written ? `report: ${escapeControl(v.output.path)}` : c.red(`report NOT written to ${escapeControl(v.output.path)}: ${escapeControl(v.output.error ?? 'unknown error')}`));
  }
  return lines.join('\n');
}

/** Where the rest is: the CLI shows everything with `--all`. */
const MORE = ': stagemeter summary --all shows them';

/** Keeps every error and fills the rest of `max` with the others in order; counts what it left out by severity. */
function keepErrors<T extends { severity: Severity }>(sorted: readonly T[], max: number): { shown: T[]; leftOut: Record<Severity, number> } {
  const errors = sorted.filter((x) => x.severity === 'error');
  const rest = sorted.filter((x) => x.severity !== 'error');
  const shown = [...errors, ...rest.slice(0, Math.max(0, max - errors.length))];
  return { shown, leftOut: countBy(rest.slice(shown.length - errors.length), (x) => x.severity, { error: 0, warning: 0, info: 0 }) };
}

function stableSort<T>(items: readonly T[], rank: (item: T) => number): T[] {
  return items.map((item, i) => [rank(item), i, item] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
}

function countBy<T, K extends string>(items: readonly T[], key: (item: T) => K, zero: Record<K, number>): Record<K, number> {
  const out = { ...zero };
  for (const item of items) {
    const k = key(item);
    if (k in out) out[k]++;
  }
  return out;
}

function sum(counts: Record<string, number>): number {
  let s = 0;
  for (const k of Object.keys(counts)) s += counts[k] ?? 0;
  return s;
}

/** `7 more warnings, 3 info`, or '' when nothing was left out. */
function leftOutText<K extends string>(counts: Record<K, number>, order: readonly K[], words: Record<K, readonly [string, string]>): string {
  const parts = order.filter((k) => counts[k] > 0).map((k) => `${num(counts[k])} ${counts[k] === 1 ? words[k][0] : words[k][1]}`);
  if (parts.length === 0) return '';
  return `${parts[0]!.replace(/^(\S+)/, '$1 more')}${parts.length > 1 ? `, ${parts.slice(1).join(', ')}` : ''}`;
}

const NUM = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const DEC = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });

/** Whole number with separators; `?` for a value that is not a finite number (never `NaN`). */
function num(x: number): string {
  return Number.isFinite(x) ? NUM.format(x) : '?';
}

function dec(x: number): string {
  return Number.isFinite(x) ? DEC.format(x) : '?';
}

function ms(x: number): string {
  if (!Number.isFinite(x)) return '?';
  return x >= 100 ? NUM.format(x) : x >= 0.01 ? DEC.format(x) : x > 0 ? `${(x * 1e6).toFixed(0)} ns` : '0';
}

function pad(s: string, n: number, right = false): string {
  const t = s.length > n ? `${s.slice(0, n - 1)}~` : s;
  return right ? t.padStart(n) : t.padEnd(n);
}

/** `full` when every call was probed for CPU and heap, else how many were. */
function fidelityOf(s: StageSummary): string {
  const f = s.fidelity;
  return f.mode === 'full' ? 'full' : `probed ${f.probedCalls}/${s.calls}`;
}
