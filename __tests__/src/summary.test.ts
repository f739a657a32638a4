import { createPerformanceMonitor, formatReportSummary, withStage } from '../../src/index';
import { summarizeReport } from '../../src/summary';
import type { Finding, PerformanceReport, QualityFlag, Recommendation, Severity } from '../../src/types';
import { expectValidReport } from '../helpers/schema';

/** ESC, the start of every ANSI colour sequence. */
const ESC = '\x1b';

describe('formatReportSummary', () => {
  function runReport(options: Parameters<typeof createPerformanceMonitor>[0] = {}) {
    const m = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
    m.startMonitoring({ runName: 'summary-run' });
    const hot = withStage('hot_rows', (rows: number[]) => rows.length, { monitor: m });
    const failing = withStage('failing', () => {
      throw new TypeError('no such column');
    }, { monitor: m });
    const rows = [1, 2, 3, 4];
    for (let i = 0; i < 20_000; i++) hot(rows);
    for (let i = 0; i < 3; i++) {
      try {
        failing();
      } catch {
        // counted as failures
      }
    }
    return expectValidReport(m.stopMonitoring());
  }

  test('names the run, each stage with its calls and fidelity, failures, and the flags', () => {
    const report = runReport();
    const text = formatReportSummary(report);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^stagemeter: summary-run \(completed\) - 80,000 rows in [\d.]+ s \([\d,]+ rows\/s\)$/);
    const hot = report.stageSummaries.find((s) => s.name === 'hot_rows')!;
    expect(hot.fidelity.timedCalls).toBe(20_000);
    const hotLine = lines.find((l) => l.startsWith('hot_rows'))!;
    expect(hotLine).toContain('20,000');
    expect(hotLine).toContain(`probed ${hot.fidelity.probedCalls}/20000`);
    const failingLine = lines.find((l) => l.startsWith('failing'))!;
    expect(failingLine).toMatch(/\b(full|probed [0-3]\/3), 3 failed$/);
    expect(text).toContain('[error] stage_failed failing: failing failed 3 of 3 call(s)');
    expect(text).toContain('TypeError: no such column');
  });

  test('maxStages cuts the stage list and says how many more there are', () => {
    const report = runReport();
    const text = formatReportSummary(report, { maxStages: 1 });
    expect(text).toContain('... 1 more stage: stagemeter summary --all shows them');
    expect(formatReportSummary(report, { maxStages: 1, all: true })).not.toContain('more stage');
  });
});

describe('formatReportSummary: severity order and what the limits leave out', () => {
  const finding = (severity: Severity, i: number): Finding => ({ kind: `k${i}`, severity, stage: `s${i}`, message: `${severity} finding ${i}` });
  const flag = (severity: Severity, i: number): QualityFlag => ({ severity, message: `${severity} flag ${i}`, t: i });
  const rec = (priority: Recommendation['priority'], i: number): Recommendation => ({ category: 'c', priority, message: `${priority} advice ${i}` });

  /** A real report whose findings, flags and recommendations are replaced by `n` of each kind, interleaved. */
  function crowded(): PerformanceReport {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ runName: 'crowded' });
    m.endStage(m.startStage('only'), 10);
    const report = m.stopMonitoring();
    const severities: Severity[] = ['info', 'warning', 'error', 'warning', 'info', 'warning', 'warning', 'error', 'warning', 'info'];
    report.bottlenecks.findings = [...severities, ...severities].map((s, i) => finding(s, i));
    report.qualityFlags = [...severities, ...severities].map((s, i) => flag(s, i));
    report.summary.qualityFlagCounts = { error: 4, warning: 10, info: 6 };
    report.recommendations = (['low', 'high', 'medium', 'low', 'high'] as const).map((p, i) => rec(p, i));
    return report;
  }

  test('errors first, then warnings, then info, each in the order the analyzers gave them', () => {
    const lines = formatReportSummary(crowded(), { all: true }).split('\n');
    const shown = lines.filter((l) => / finding \d+$/.test(l)).map((l) => l.replace(/^ {2}\[(\w+)\] k\d+ s\d+: /, ''));
    expect(shown).toEqual([
      'error finding 2', 'error finding 7', 'error finding 12', 'error finding 17',
      'warning finding 1', 'warning finding 3', 'warning finding 5', 'warning finding 6', 'warning finding 8',
      'warning finding 11', 'warning finding 13', 'warning finding 15', 'warning finding 16', 'warning finding 18',
      'info finding 0', 'info finding 4', 'info finding 9', 'info finding 10', 'info finding 14', 'info finding 19',
    ]);
    const advice = lines.filter((l) => / advice \d+$/.test(l));
    expect(advice).toEqual(['  [high] high advice 1', '  [high] high advice 4', '  [medium] medium advice 2', '  [low] low advice 0', '  [low] low advice 3']);
  });

  test('every error is shown whatever the limit, and what was left out is counted by severity', () => {
    const text = formatReportSummary(crowded(), { maxFindings: 2 });
    const findings = text.split('\n').filter((l) => / finding \d+$/.test(l));
    expect(findings.map((l) => l.slice(2, 9))).toEqual(['[error]', '[error]', '[error]', '[error]']);
    expect(text).toContain('  ... 10 more warnings, 6 info: stagemeter summary --all shows them');
    const flags = text.split('\n').filter((l) => / flag \d+$/.test(l));
    expect(flags).toEqual(['  [error] error flag 2', '  [error] error flag 7', '  [error] error flag 12', '  [error] error flag 17']);
    expect(text).toContain('quality flags: 4 error, 10 warning, 6 info');
    expect(text).toContain('  ... 3 more recommendations (1 medium, 2 low priority): stagemeter summary --all shows them');
    const six = formatReportSummary(crowded(), { maxFindings: 6 });
    expect(six).toContain('  ... 8 more warnings, 6 info: stagemeter summary --all shows them');
    expect(six).not.toContain('more recommendation');
    expect(formatReportSummary(crowded(), { maxFindings: 4 })).toContain('  ... 1 more recommendation (1 low priority): stagemeter summary --all shows them');
  });

  test('summarizeReport gives the same selection as data', () => {
    const view = summarizeReport(crowded(), { maxFindings: 6 });
    expect(view.findings.map((f) => f.severity)).toEqual(['error', 'error', 'error', 'error', 'warning', 'warning']);
    expect(view.findingsLeftOut).toEqual({ error: 0, warning: 8, info: 6 });
    expect(view.qualityFlags.leftOut).toEqual({ error: 0, warning: 8, info: 6 });
    expect(view.recommendationsLeftOut).toEqual({ high: 0, medium: 0, low: 0 });
    expect(summarizeReport(crowded(), { maxFindings: 3 }).recommendationsLeftOut).toEqual({ high: 0, medium: 0, low: 2 });
    expect(view.stages.map((s) => s.name)).toEqual(['only']);
    expect(view.run).toMatchObject({ name: 'crowded', status: 'completed', rowsProcessed: 10 });
    const all = summarizeReport(crowded(), { all: true });
    expect([all.findings.length, all.qualityFlags.shown.length, all.recommendations.length]).toEqual([20, 20, 5]);
  });
});

describe('formatReportSummary: colour and hostile strings', () => {
  function hostileReport(): PerformanceReport {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ runName: 'run\x1b]0;pwned\x07' });
    m.endStage(m.startStage('load\x1b[2J\x1b[31m\r\u202eevil'), 10);
    const failing = withStage('bad\nname', () => {
      throw new Error('boom \x1b[5mblink');
    }, { monitor: m });
    try {
      failing();
    } catch {
      // recorded as a failure
    }
    return expectValidReport(m.stopMonitoring());
  }

  test('control characters and ANSI escapes in names and messages are shown escaped', () => {
    const text = formatReportSummary(hostileReport());
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    expect(text).toContain('stagemeter: run\\x1b]0;pwned\\x07 (completed)');
    expect(text).toContain('load\\x1b[2J\\x1b[31m\\r\\u202eevil');
    expect(text).toContain('bad\\nname');
    expect(text).toContain('boom \\x1b[5mblink');
  });

  test('colour only when asked: severities, failures and the headline get ANSI colours', () => {
    const report = hostileReport();
    expect(formatReportSummary(report)).not.toContain(ESC);
    const coloured = formatReportSummary(report, { color: true });
    expect(coloured).toContain(`${ESC}[1mstagemeter: run`);
    expect(coloured).toContain(`${ESC}[31m[error]${ESC}[39m stage_failed`);
    // the report's own escapes stay escaped inside the coloured text
    expect(coloured).toContain('load\\x1b[2J');
  });

  test('numbers that are not finite print as ?, never NaN', () => {
    const report = hostileReport();
    report.run.durationMs = NaN;
    report.summary.peakMemoryMb = Infinity;
    report.stageSummaries[0]!.p95Ms = NaN;
    const text = formatReportSummary(report);
    expect(text).not.toMatch(/NaN|Infinity/);
    expect(text).toContain('rows in ? s');
    expect(text).toContain('peak memory ? MB');
  });
});
