import { analyzeMemoryTrend, builtinAnalyzers, runAnalysis } from '../../analyzers';
import type { Analyzer, RunData, StageMetrics } from '../../src/types';
import { allFinite, flatTicks, rec, runOf, schemaErrors, th, tick } from './fixtures';

const slow = th({ slowStageMs: 100 });

describe('builtinAnalyzers', () => {
  it('lists the built-in analyzers in the order they run', () => {
    expect(builtinAnalyzers.map((a) => a.name)).toEqual([
      'stageFailures',
      'dominantStage',
      'slowStages',
      'cpuIoBound',
      'lowThroughput',
      'memoryIntensive',
      'memoryLeak',
      'memorySpikes',
      'eventLoopBlocked',
      'gcPressure',
      'callSkew',
    ]);
  });

  it('each works alone and finds what it finds inside the pipeline', () => {
    const stages = [rec('score', 0, 800, { cpuMs: 790, sync: true, rowsProcessed: 100 }), rec('fetch', 800, 300, { cpuMs: 3, success: false })];
    const run = runOf({ stages });
    const alone = builtinAnalyzers.flatMap((a) => a.analyze(run, slow));
    expect(runAnalysis(run, slow).bottlenecks.findings).toEqual(alone);
  });
});

describe('runAnalysis', () => {
  it('an empty run: neutral sections, no findings, no flags, and a valid report', () => {
    const run = runOf({ durationMs: 0 });
    const result = runAnalysis(run, th());
    expect(result).toEqual({
      trend: { leakSuspected: false, slopeMbPerMin: 0, r2: 0, method: 'insufficient-data', sampleCount: 0, confidence: 'none', details: { shape: 'insufficient-data', reason: '0 sample(s); at least 12 are needed', rawSlopeMbPerMin: 0 } },
      spikes: [],
      efficiencyScore: 100,
      bottlenecks: { slowestStages: [], memoryIntensiveStages: [], cpuIntensiveStages: [], lowThroughputStages: [], findings: [] },
      recommendations: [],
      qualityFlags: [],
      timeShare: [],
    });
    expect(schemaErrors(run, result)).toEqual([]);
  });

  it('fills the four bottleneck lists from the findings, worst first', () => {
    const stages = [
      rec('crunch', 0, 900, { cpuMs: 890, sync: true }),
      rec('score', 900, 400, { cpuMs: 380, sync: true }),
      rec('load', 1300, 50, { heapMb: 800 }),
      rec('enrich', 1350, 500, { rowsProcessed: 100, cpuMs: 250 }),
      rec('lookup', 1850, 150, { rowsProcessed: 120, cpuMs: 70 }),
    ];
    const result = runAnalysis(runOf({ stages }), slow);
    expect(result.bottlenecks).toMatchObject({
      slowestStages: ['crunch', 'enrich', 'score', 'lookup'],
      memoryIntensiveStages: ['load'],
      cpuIntensiveStages: ['crunch', 'score'],
      lowThroughputStages: ['enrich', 'lookup'],
    });
  });

  it('fills the memory sections: trend, spikes with their stage, scores', () => {
    const samples = flatTicks(60, 1000, 100).map((s, i) => (i === 30 ? { ...s, rssMb: 700 } : s));
    const run = runOf({ stages: [rec('join', 29_000, 2000, { heapMb: 50 })], samples, samplingIntervalMs: 1000 });
    const result = runAnalysis(run, th());
    expect(result.trend).toMatchObject({ leakSuspected: false, slopeMbPerMin: 0, sampleCount: 60 });
    expect(result.spikes).toEqual([{ t: 30_000, rssMb: 700, heapUsedMb: 100, stage: 'join', score: 1120 }]);
    expect(result.efficiencyScore).toBe(97);
    // join: growth 40 × 50/500 = 4, one spike 5 (no retention: the heap floor did not grow)
    expect(result.stageEfficiency).toEqual({ join: 91 });
    expect(schemaErrors(run, result)).toEqual([]);
  });

  it('does not repeat the collector own quality flags', () => {
    const run = runOf({ durationMs: 10, qualityFlags: [{ severity: 'warning', message: 'misuse', t: 1, code: 'unknown_stage_id' }] });
    expect(runAnalysis(run, th()).qualityFlags).toEqual([]);
  });

  it('takes the defaults for missing or invalid thresholds', () => {
    const run = runOf({ stages: [rec('load', 0, 200)] });
    const partial = { slowStageMs: 100, maxMemoryMb: Number.NaN } as unknown as ReturnType<typeof th>;
    expect(runAnalysis(run, partial).bottlenecks.slowestStages).toEqual(['load']);
  });
});

describe('runAnalysis with analyzers that fail', () => {
  const run = runOf({ stages: [rec('load', 0, 200, { success: false })] });

  it('a user analyzer that throws becomes an analyzer_failed finding; the others still run', () => {
    const boom: Analyzer = {
      name: 'boom',
      analyze: () => {
        throw new RangeError('out of range');
      },
    };
    const fine: Analyzer = { name: 'fine', analyze: () => [{ kind: 'custom', severity: 'info', message: 'hello' }] };
    const findings = runAnalysis(run, th(), [boom, fine]).bottlenecks.findings;
    // load failed, holds the whole run and waits (no CPU): then boom's failure, then fine's finding
    expect(findings.map((f) => f.kind)).toEqual(['stage_failed', 'dominant_stage', 'io_bound', 'analyzer_failed', 'custom']);
    expect(findings[3]).toEqual({ kind: 'analyzer_failed', severity: 'warning', message: 'analyzer boom threw: out of range', evidence: { analyzer: 'boom', error: 'threw: out of range' } });
  });

  it('a built-in analyzer that throws becomes a finding about itself; the others still run', () => {
    const bad = rec('parse', 0, 300, { sync: true });
    const run = runOf({ stages: [bad, rec('load', 300, 200)] });
    Object.defineProperty(bad, 'sync', {
      enumerable: true,
      get() {
        throw new Error('unreadable record');
      },
    });
    const result = runAnalysis(run, slow);
    // the two analyzers that read every record's `sync` fail, each as a finding of its own
    expect(result.bottlenecks.findings.filter((f) => f.kind === 'analyzer_failed')).toEqual([
      { kind: 'analyzer_failed', severity: 'warning', message: 'analyzer cpuIoBound threw: unreadable record', evidence: { analyzer: 'cpuIoBound', error: 'threw: unreadable record' } },
      { kind: 'analyzer_failed', severity: 'warning', message: 'analyzer eventLoopBlocked threw: unreadable record', evidence: { analyzer: 'eventLoopBlocked', error: 'threw: unreadable record' } },
    ]);
    expect(result.bottlenecks.slowestStages).toEqual(['parse', 'load']);
  });

  it('an async analyzer, one that returns no array, and invalid findings are reported, never thrown', () => {
    const asyncOne = { name: 'async', analyze: async () => [] } as unknown as Analyzer;
    const notArray = { name: 'object', analyze: () => ({ kind: 'x' }) } as unknown as Analyzer;
    const invalid = { name: 'invalid', analyze: () => [{ kind: '', severity: 'info', message: '' }, { kind: 'ok', severity: 'info', message: 'm', junk: 1, evidence: { big: 5n, nan: Number.NaN } }] } as unknown as Analyzer;
    const noFunction = { name: 'broken' } as unknown as Analyzer;
    const findings = runAnalysis(run, th(), [asyncOne, notArray, invalid, noFunction]).bottlenecks.findings;
    expect(findings.slice(3).map((f) => f.message)).toEqual([
      'analyzer async returned a Promise: analyzers must be synchronous',
      'analyzer object returned object instead of an array of findings',
      'm',
      'analyzer invalid returned 1 invalid finding(s), left out: a finding has no kind (a non-empty string)',
      'analyzer broken threw: has no analyze(run, thresholds) function',
    ]);
    expect(findings[5]).toEqual({ kind: 'ok', severity: 'info', message: 'm', evidence: { big: '5', nan: 'NaN' } });
  });

  it('user analyzers get a copy of the recorded run and the thresholds', () => {
    const seen: Array<[RunData, number]> = [];
    runAnalysis(run, th({ slowStageMs: 123 }), [{ name: 'spy', analyze: (r, t) => (seen.push([r, t.slowStageMs]), []) }]);
    expect(seen[0]![0]).toEqual(run);
    expect(seen[0]![0].stages).not.toBe(run.stages);
    expect(seen[0]![1]).toBe(123);
  });

  it('a user analyzer that vandalises its input cannot change the run or the analysis', () => {
    const before = JSON.stringify(run);
    const vandal: Analyzer = {
      name: 'vandal',
      analyze: (r, t) => {
        r.stages.length = 0;
        r.stageSummaries.length = 0;
        r.run.durationMs = -1;
        t.slowStageMs = 1;
        return [];
      },
    };
    const result = runAnalysis(run, slow, [vandal]);
    expect(JSON.stringify(run)).toBe(before);
    expect(result.bottlenecks.findings.map((f) => f.kind)).toEqual(['stage_failed', 'dominant_stage', 'slow_stage', 'io_bound']);
  });

  it('every failed analyzer is also a quality flag', () => {
    const boom: Analyzer = {
      name: 'boom',
      analyze: () => {
        throw new Error('nope');
      },
    };
    expect(runAnalysis(run, th(), [boom]).qualityFlags).toEqual([{ severity: 'warning', code: 'analyzer_failed', t: 200, message: 'analyzer boom threw: nope' }]);
  });
});

describe('runAnalysis never throws on what the collector can produce', () => {
  const cases: Array<[string, RunData]> = [
    ['no samples, sampler off', runOf({ stages: [rec('a', 0, 10)], samples: [], samplingIntervalMs: null })],
    ['zero durations everywhere', runOf({ stages: [rec('a', 0, 0, { rowsProcessed: 5 }), rec('b', 0, 0, { parentId: '1' })], samples: [tick(0, 10)], durationMs: 0 })],
    ['one sample', runOf({ samples: [tick(0, 10)], samplingIntervalMs: 1000, durationMs: 1 })],
    ['a stage still open when the run ended', runOf({ stages: [rec('poll', 0, 50, { success: false, error: { name: 'StageNotEnded', message: 'still running' } })] })],
    [
      'extreme but finite values',
      runOf({
        stages: [rec('huge', 0, 1e15, { rowsProcessed: 1e300, cpuMs: 1e15, heapMb: 1e300, sync: true }), rec('neg', 1, 1, { heapMb: -1e300 })],
        samples: Array.from({ length: 50 }, (_, i) => tick(i * 1e13, i % 2 === 0 ? 1e200 : 1, { rssMb: 1e300, loopDelayMs: 1e300, gcPauseMs: 1e300, gcCount: 1e9 })),
        samplingIntervalMs: 1e13,
        peakMemoryMb: 1e300,
        gc: { count: 1e12, totalPauseMs: 1e300, maxPauseMs: 1e300, byKind: { major: { count: 1, totalPauseMs: 1e300 } } },
      }),
    ],
    ['ticks all at the same time', runOf({ samples: Array.from({ length: 30 }, () => tick(5, 10)), samplingIntervalMs: 10 })],
  ];

  it.each(cases)('%s: finite numbers, scores 0-100, r² and p within 0-1, a valid report', (_name, run) => {
    const result = runAnalysis(run, slow);
    expect(allFinite(result)).toBe(true);
    expect(result.efficiencyScore).toBeGreaterThanOrEqual(0);
    expect(result.efficiencyScore).toBeLessThanOrEqual(100);
    for (const v of Object.values(result.stageEfficiency ?? {})) expect(v >= 0 && v <= 100).toBe(true);
    expect(result.trend.r2 >= 0 && result.trend.r2 <= 1).toBe(true);
    expect((result.trend.pValue ?? 0) >= 0 && (result.trend.pValue ?? 0) <= 1).toBe(true);
    expect(schemaErrors(run, result)).toEqual([]);
    expect(result.qualityFlags.every((f) => typeof f.code === 'string')).toBe(true);
  });

  it('even a run missing its lists gives a result', () => {
    const broken = { run: { durationMs: 5 } } as unknown as RunData;
    expect(runAnalysis(broken, th())).toMatchObject({ trend: { confidence: 'none' }, bottlenecks: { findings: [] } });
  });

  it('a run that cannot be read at all gives an analysis_failed flag instead of throwing', () => {
    const hostile = new Proxy({} as RunData, {
      get() {
        throw new Error('hostile');
      },
    });
    expect(runAnalysis(hostile, th()).qualityFlags).toEqual([{ severity: 'error', code: 'analysis_failed', t: 0, message: 'the analysis failed: hostile' }]);
  });
});

describe('exports', () => {
  it('re-exports analyzeMemoryTrend', () => {
    expect(analyzeMemoryTrend([]).confidence).toBe('none');
  });

  it('records with parents outside the kept records are treated as top-level', () => {
    const orphan: StageMetrics = rec('child', 0, 200, { parentId: 'gone' });
    expect(runAnalysis(runOf({ stages: [orphan] }), slow).timeShare).toEqual([{ stage: 'child', threadId: 0, totalMs: 200, selfMs: 200, shareMs: 200, totalPercent: 100, selfPercent: 100, sharePercent: 100 }]);
  });
});
