/**
 * The analyzer pipeline: a recorded run and thresholds in, report sections out.
 * Pure: no I/O, no clock, no globals.
 */
import type { AnalysisResult, Analyzer, Finding, QualityFlag, RunData, Thresholds } from '../src/types';

/** Runs every analyzer; one that throws becomes a finding about itself and the rest still run. */
export function runAnalysis(run: RunData, thresholds: Thresholds, extra: readonly Analyzer[] = []): AnalysisResult {
  const findings: Finding[] = [];
  for (const summary of run.stageSummaries) {
    if (summary.failures > 0) {
      findings.push({
        kind: 'stage_failed',
        severity: 'error',
        stage: summary.name,
        message: `${summary.name} failed ${summary.failures} of ${summary.calls} calls`,
        evidence: { failures: summary.failures, calls: summary.calls },
      });
    }
  }
  for (const analyzer of extra) {
    try {
      findings.push(...analyzer.analyze(run, thresholds));
    } catch (err) {
      findings.push({
        kind: 'analyzer_failed',
        severity: 'warning',
        message: `analyzer ${analyzer.name} threw: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  const qualityFlags: QualityFlag[] = [];
  for (const s of run.stages) {
    if (s.durationMs > thresholds.maxStageDurationMs) {
      qualityFlags.push({ severity: 'warning', stage: s.name, t: s.t, message: `${s.name} took ${s.durationMs.toFixed(0)} ms` });
    }
  }
  return {
    trend: { leakSuspected: false, slopeMbPerMin: 0, r2: 0, method: 'none', sampleCount: run.samples.length, confidence: 'none' },
    spikes: [],
    efficiencyScore: 100,
    bottlenecks: { slowestStages: [], memoryIntensiveStages: [], cpuIntensiveStages: [], lowThroughputStages: [], findings },
    recommendations: [],
    qualityFlags,
  };
}
