/**
 * The analyzer pipeline: a recorded run and thresholds in, the report's analysis sections out.
 * Pure: no I/O, no clock, no globals. The built-in analyzers share one {@link RunView}, so the
 * figures several of them need (trend, spikes, nesting, GC attribution) are computed once; the
 * report sections (trend, spikes, scores, time share, bottleneck lists, recommendations, quality
 * flags) come from the same view and the findings. An analyzer that throws, or returns something
 * that is not a list of findings, becomes an `analyzer_failed` finding (and quality flag); the
 * others still run, and runAnalysis itself never throws. User analyzers get a deep copy of the run.
 */
import type { AnalysisResult, Analyzer, Finding, MemoryTrend, QualityFlag, Recommendation, RunData, Thresholds } from '../src/types';
import { resolveThresholds, type BuiltinAnalyzer } from './builtin';
import { callSkew } from './callSkew';
import { cpuIoBound } from './cpuIoBound';
import { dominantStage } from './dominantStage';
import { runEfficiency, stageEfficiency, type RunEfficiency } from './efficiency';
import { eventLoopBlocked } from './eventLoopBlocked';
import { gcPressure } from './gcPressure';
import { lowThroughput } from './lowThroughput';
import { memoryIntensive } from './memoryIntensive';
import { memoryLeak } from './memoryLeak';
import { memorySpikes } from './memorySpikes';
import { buildQualityFlags } from './qualityFlags';
import { buildRecommendations } from './recommendations';
import { sanitizeMetadata } from '../src/sanitize';
import { toFinding } from './sanitize';
import { slowStages } from './slowStages';
import { stageFailures } from './stageFailures';
import { round } from './stats';
import { RunView } from './view';

export { analyzeMemoryTrend } from './memoryTrend';
export type { MemoryTrendOptions, TrendSample } from './memoryTrend';

const BUILTINS: readonly BuiltinAnalyzer[] = Object.freeze([
  stageFailures,
  dominantStage,
  slowStages,
  cpuIoBound,
  lowThroughput,
  memoryIntensive,
  memoryLeak,
  memorySpikes,
  eventLoopBlocked,
  gcPressure,
  callSkew,
]);

/** The built-in analyzers, in the order they run. Each also works alone: `a.analyze(run, thresholds)`. */
export const builtinAnalyzers: readonly Analyzer[] = BUILTINS;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unprintable error';
  }
}

function failed(name: string, message: string): Finding {
  return { kind: 'analyzer_failed', severity: 'warning', message: `analyzer ${name} ${message}`, evidence: { analyzer: name, error: message } };
}

/** Runs one analyzer; whatever goes wrong becomes findings about it. */
function runOne(name: string, produce: () => unknown): Finding[] {
  let out: unknown;
  try {
    out = produce();
  } catch (err) {
    return [failed(name, `threw: ${errorText(err)}`)];
  }
  if (out instanceof Promise) {
    out.catch(() => undefined); // an async analyzer's rejection must not become an unhandled one
    return [failed(name, 'returned a Promise: analyzers must be synchronous')];
  }
  if (!Array.isArray(out)) return [failed(name, `returned ${out === null ? 'null' : typeof out} instead of an array of findings`)];
  const findings: Finding[] = [];
  const problems: string[] = [];
  for (const raw of out) {
    const r = toFinding(raw);
    if ('finding' in r) findings.push(r.finding);
    else problems.push(r.problem);
  }
  if (problems.length > 0) findings.push(failed(name, `returned ${problems.length} invalid finding(s), left out: ${problems.slice(0, 3).join('; ')}`));
  return findings;
}

function nameOf(a: unknown, i: number): string {
  try {
    const n = (a as { name?: unknown } | null)?.name;
    return typeof n === 'string' && n !== '' ? n : `#${i}`;
  } catch {
    return `#${i}`;
  }
}

/** A deep copy of the run for user analyzers (the run itself if it cannot be copied). */
function isolatedCopy(run: RunData): RunData {
  try {
    return structuredClone(run);
  } catch {
    try {
      return JSON.parse(JSON.stringify(run)) as RunData;
    } catch {
      return run;
    }
  }
}

/** The run with every list present (the collector always fills them; direct callers may not). */
function complete(run: RunData): RunData {
  return {
    ...run,
    run: run.run ?? ({ durationMs: 0 } as RunData['run']),
    stages: Array.isArray(run.stages) ? run.stages : [],
    stageSummaries: Array.isArray(run.stageSummaries) ? run.stageSummaries : [],
    samples: Array.isArray(run.samples) ? run.samples : [],
    samplingIntervalMs: typeof run.samplingIntervalMs === 'number' ? run.samplingIntervalMs : null,
    peakMemoryMb: Number.isFinite(run.peakMemoryMb) ? run.peakMemoryMb : 0,
    qualityFlags: Array.isArray(run.qualityFlags) ? run.qualityFlags : [],
  };
}

const NO_TREND = (sampleCount: number): MemoryTrend => ({
  leakSuspected: false,
  slopeMbPerMin: 0,
  r2: 0,
  method: 'none',
  sampleCount,
  confidence: 'none',
});

/** Stage names of the findings of one kind, ordered by an evidence figure. */
function stagesOf(findings: readonly Finding[], kind: string, key: string, descending: boolean): string[] {
  const list = findings.filter((f) => f.kind === kind && f.stage !== undefined);
  const value = (f: Finding): number => {
    const v = f.evidence?.[key];
    return typeof v === 'number' ? v : 0;
  };
  list.sort((a, b) => (descending ? value(b) - value(a) : value(a) - value(b)));
  return [...new Set(list.map((f) => f.stage!))];
}

/**
 * Runs the built-in analyzers, then `extra` (user analyzers), and builds the report's analysis
 * sections. Never throws: an analyzer that fails becomes an `analyzer_failed` finding, a section
 * that fails is left at its neutral value with an `analysis_section_failed` quality flag.
 *
 * @example
 * const result = runAnalysis(runData, { ...DEFAULT_THRESHOLDS, slowStageMs: 5_000 });
 * result.bottlenecks.findings; // [{ kind: 'slow_stage', stage: 'load', ... }]
 * result.trend.leakSuspected;  // false
 */
export function runAnalysis(run: RunData, thresholds: Thresholds, extra: readonly Analyzer[] = []): AnalysisResult {
  let durationMs = 0;
  try {
    durationMs = Number.isFinite(run.run.durationMs) ? run.run.durationMs : 0;
    return analyse(complete(run), resolveThresholds(thresholds), Array.isArray(extra) ? extra : []);
  } catch (err) {
    return {
      trend: NO_TREND(0),
      spikes: [],
      efficiencyScore: 0,
      bottlenecks: { slowestStages: [], memoryIntensiveStages: [], cpuIntensiveStages: [], lowThroughputStages: [], findings: [] },
      recommendations: [],
      qualityFlags: [{ severity: 'error', code: 'analysis_failed', t: durationMs, message: `the analysis failed: ${errorText(err)}` }],
    };
  }
}

function analyse(run: RunData, thresholds: Thresholds, extra: readonly Analyzer[]): AnalysisResult {
  const view = new RunView(run, thresholds);
  const end = view.durationMs;
  const sectionFlags: QualityFlag[] = [];
  const section = <T>(name: string, compute: () => T, fallback: T): T => {
    try {
      return compute();
    } catch (err) {
      sectionFlags.push({ severity: 'warning', code: 'analysis_section_failed', t: end, message: `the ${name} section could not be computed: ${errorText(err)}` });
      return fallback;
    }
  };

  const builtinFindings: Finding[] = [];
  for (const a of BUILTINS) builtinFindings.push(...runOne(a.name, () => a.findingsOf(view)));
  const userFindings: Finding[] = [];
  // user analyzers read a copy: one that mutates what it is given cannot corrupt the report
  const userRun = extra.length > 0 ? isolatedCopy(run) : run;
  extra.forEach((a, i) => {
    const name = nameOf(a, i);
    userFindings.push(
      ...runOne(name, () => {
        if (typeof a?.analyze !== 'function') throw new Error('has no analyze(run, thresholds) function');
        return a.analyze(userRun, { ...thresholds });
      }),
    );
  });
  const findings = [...builtinFindings, ...userFindings];

  const trendRaw = section('memory trend', () => view.trend, NO_TREND(run.samples.length));
  const trend: MemoryTrend = { ...trendRaw };
  if (trendRaw.details !== undefined) trend.details = sanitizeMetadata(trendRaw.details) ?? {};
  const spikes = section('memory spikes', () => view.reportSpikes(), []);
  const efficiency = section<RunEfficiency | undefined>('memory efficiency', () => runEfficiency(view), undefined);
  const perStage = section<Record<string, number> | undefined>('stage efficiency', () => stageEfficiency(view), undefined);
  const timeShare = section('time share', () => view.timeShare.map((e) => ({ ...e })), []);
  const recommendations = section<Recommendation[]>('recommendations', () => buildRecommendations(builtinFindings, view, efficiency), []);
  const qualityFlags = section<QualityFlag[]>('quality flags', () => buildQualityFlags(view, builtinFindings, efficiency), []);

  // each failed analyzer is also a quality flag: the report is incomplete, and says so
  const failedFlags: QualityFlag[] = findings
    .filter((f) => f.kind === 'analyzer_failed')
    .map((f) => ({ severity: 'warning', code: 'analyzer_failed', t: end, message: f.message }));

  const result: AnalysisResult = {
    trend,
    spikes,
    efficiencyScore: efficiency?.score ?? 100,
    bottlenecks: {
      slowestStages: stagesOf(builtinFindings, 'slow_stage', 'durationMs', true),
      memoryIntensiveStages: stagesOf(builtinFindings, 'memory_intensive', 'heapUsedDeltaMb', true),
      cpuIntensiveStages: stagesOf(builtinFindings, 'cpu_bound', 'cpuPercent', true),
      lowThroughputStages: stagesOf(builtinFindings, 'low_throughput', 'rowsPerSecond', false),
      findings,
    },
    recommendations,
    qualityFlags: [...qualityFlags, ...failedFlags, ...sectionFlags].map((f) => ({ ...f, t: round(Number.isFinite(f.t) ? f.t : end, 3) })),
    timeShare,
  };
  if (perStage !== undefined && Object.keys(perStage).length > 0) result.stageEfficiency = perStage;
  return result;
}
