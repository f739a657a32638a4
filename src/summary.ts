/**
 * A short human summary of a report, for terminals and CI logs: the run, the stages with their
 * share of the time, the findings, the recommendations and the quality flags.
 */
import type { PerformanceReport } from './types';

const num = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });

function ms(x: number): string {
  return x >= 100 ? num.format(x) : x >= 0.01 ? dec.format(x) : x > 0 ? `${(x * 1e6).toFixed(0)} ns` : '0';
}

function pad(s: string, n: number, right = false): string {
  const t = s.length > n ? `${s.slice(0, n - 1)}~` : s;
  return right ? t.padStart(n) : t.padEnd(n);
}

/**
 * Formats the report as a few dozen lines of plain text.
 *
 * @example
 * console.log(formatReportSummary(monitor.stopMonitoring()));
 */
export function formatReportSummary(report: PerformanceReport, options: { maxStages?: number; maxFindings?: number } = {}): string {
  const maxStages = options.maxStages ?? 15;
  const maxFindings = options.maxFindings ?? 12;
  const { run, summary } = report;
  const lines: string[] = [];
  lines.push(
    `stagemeter: ${run.name} (${run.status}) - ${num.format(run.rowsProcessed)} rows in ${dec.format(run.durationMs / 1000)} s (${num.format(run.rowsPerSecond)} rows/s)`,
  );
  const trend = report.memory.trend;
  lines.push(
    `peak memory ${dec.format(summary.peakMemoryMb)} MB rss, CPU ${num.format(summary.avgCpuPercent)} % of one core, memory efficiency ${num.format(summary.memoryEfficiencyScore)}/100, ` +
      `leak: ${trend.leakSuspected ? `suspected, ${dec.format(trend.slopeMbPerMin)} MB/min` : 'none'} (confidence ${trend.confidence}, ${trend.sampleCount} samples)`,
  );
  if (report.eventLoop !== undefined) {
    lines.push(`event-loop delay p99 ${ms(report.eventLoop.delayP99Ms)} ms, max ${ms(report.eventLoop.delayMaxMs)} ms${report.gc ? `; GC ${report.gc.count} pauses, ${ms(report.gc.totalPauseMs)} ms in all` : ''}`);
  }
  lines.push('');
  const share = new Map((report.timeShare ?? []).map((s) => [s.stage, s]));
  lines.push(`${pad('stage', 34)} ${pad('calls', 9, true)} ${pad('total ms', 10, true)} ${pad('self %', 7, true)} ${pad('p95 ms', 9, true)} ${pad('rows/s', 12, true)}  fidelity`);
  const stages = [...report.stageSummaries].sort((a, b) => b.totalMs - a.totalMs);
  for (const s of stages.slice(0, maxStages)) {
    const self = share.get(s.name)?.selfPercent ?? (run.durationMs > 0 ? (s.totalMs / run.durationMs) * 100 : 0);
    const fidelity = fidelityOf(s);
    lines.push(
      `${pad(s.name, 34)} ${pad(num.format(s.calls), 9, true)} ${pad(ms(s.totalMs), 10, true)} ${pad(`${dec.format(self)}`, 7, true)} ${pad(ms(s.p95Ms), 9, true)} ${pad(s.rowsProcessed > 0 ? num.format(s.rowsPerSecond) : '-', 12, true)}  ${fidelity}${s.failures > 0 ? `, ${s.failures} failed` : ''}`,
    );
  }
  if (stages.length > maxStages) lines.push(`... ${stages.length - maxStages} more stages in the report`);
  const findings = report.bottlenecks.findings;
  lines.push('', findings.length === 0 ? 'findings: none' : `findings (${findings.length}):`);
  for (const f of findings.slice(0, maxFindings)) lines.push(`  [${f.severity}] ${f.kind}${f.stage ? ` ${f.stage}` : ''}: ${f.message}`);
  if (findings.length > maxFindings) lines.push(`  ... ${findings.length - maxFindings} more in the report`);
  if (report.recommendations.length > 0) {
    lines.push('', 'recommendations:');
    for (const r of report.recommendations.slice(0, maxFindings)) lines.push(`  [${r.priority}] ${r.message}`);
  }
  const c = summary.qualityFlagCounts;
  lines.push('', `quality flags: ${c.error} error, ${c.warning} warning, ${c.info} info`);
  for (const q of report.qualityFlags.filter((f) => f.severity !== 'info').slice(0, 5)) lines.push(`  [${q.severity}] ${q.message}`);
  if (report.output !== undefined) lines.push(report.output.written ? `report: ${report.output.path}` : `report NOT written to ${report.output.path}: ${report.output.error ?? 'unknown error'}`);
  return lines.join('\n');
}

/** `full` when every call was probed for CPU and heap, else how many were. */
function fidelityOf(s: PerformanceReport['stageSummaries'][number]): string {
  const f = s.fidelity;
  return f.mode === 'full' ? 'full' : `probed ${f.probedCalls}/${s.calls}`;
}
