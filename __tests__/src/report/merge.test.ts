import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createPerformanceMonitor, withStage } from '../../../src/index';
import { ANALYSIS_FLAG_CODES, MergeError, mergeReports, parseReportText, type MergeErrorCode } from '../../../src/report/merge';
import { QUANTILE_RELATIVE_ERROR, QuantileSketch } from '../../../src/stores/sketch';
import type { PerformanceReport, StageSummary } from '../../../src/types';
import { runChild } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';
import { summaryOf } from '../../helpers/report';

interface Truth {
  calls: number;
  failures: number;
  rows: number;
}

const FIXTURE = join(__dirname, 'fixtures', 'shard.ts');
const SHARDS = 3;
const HOSTILE_STAGE = '__proto__';
const ESCAPED_STAGE = 'evil \u001b[31m</script><script>alert(1)</script>\u0000';

let dir: string;
let paths: string[];
let texts: string[];
let truth: Map<string, Truth>;

/** Fresh copies of the three shards' reports, as read from their files. */
function reports(): PerformanceReport[] {
  return texts.map((t) => JSON.parse(t) as PerformanceReport);
}

/** The reports as a writer without sketches (or an older version) leaves them. */
function reportsWithoutSketches(): PerformanceReport[] {
  const list = reports();
  for (const r of list) for (const s of r.stageSummaries) delete s.sketch;
  return list;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-merge-'));
  paths = Array.from({ length: SHARDS }, (_, k) => join(dir, `shard-${k + 1}.json`));
  // three real processes at once, each writing its own report
  const results = await Promise.all(paths.map((p, k) => runChild(FIXTURE, [p, String(k + 1), String(80 + 40 * k)], { timeoutMs: 150_000 })));
  truth = new Map();
  for (const r of results) {
    if (r.code !== 0) throw new Error(`shard failed: ${r.stderr}`);
    for (const [name, t] of JSON.parse(r.stdout) as Array<[string, Truth]>) {
      const total = truth.get(name) ?? { calls: 0, failures: 0, rows: 0 };
      truth.set(name, { calls: total.calls + t.calls, failures: total.failures + t.failures, rows: total.rows + t.rows });
    }
  }
  texts = paths.map((p) => readFileSync(p, 'utf8'));
}, 160_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The collector's exact quantile: interpolated between the two ranks around q (n − 1). */
function exactQuantile(sorted: readonly number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Durations of every call of a stage in every input, sorted. */
function allDurations(inputs: readonly PerformanceReport[], name: string): number[] {
  return inputs.flatMap((r) => r.stages.filter((s) => s.name === name).map((s) => s.durationMs)).sort((a, b) => a - b);
}

/** The thrown MergeError (fails the test if something else, or nothing, is thrown). */
function mergeError(run: () => unknown): MergeError {
  try {
    run();
  } catch (err) {
    if (err instanceof MergeError) return err;
    throw new Error(`expected a MergeError, got ${String(err)}`);
  }
  throw new Error('expected a MergeError, nothing was thrown');
}

/**
 * What a records budget does to a report: keeps the first `keep` share of each stage's records
 * (the collector keeps the first ones too) and says how many were left out.
 */
function dropRecords(report: PerformanceReport, keep: number, sketches: boolean): PerformanceReport {
  const byName = new Map<string, number[]>();
  for (const r of report.stages) {
    const list = byName.get(r.name) ?? [];
    list.push(r.durationMs);
    byName.set(r.name, list);
  }
  const kept = new Set<string>();
  for (const s of report.stageSummaries) {
    const durations = byName.get(s.name) ?? [];
    if (sketches) {
      const sketch = new QuantileSketch();
      for (const d of durations) sketch.add(d);
      s.sketch = sketch.encode();
    }
    const n = Math.max(1, Math.floor(durations.length * keep));
    let i = 0;
    for (const r of report.stages) if (r.name === s.name && i++ < n) kept.add(r.id);
    s.recordsOmitted += s.recordsKept - n;
    s.recordsKept = n;
  }
  report.stages = report.stages.filter((r) => kept.has(r.id));
  report.stageRecords.omitted += report.stageRecords.kept - report.stages.length;
  report.stageRecords.kept = report.stages.length;
  return report;
}

describe('mergeReports on three real processes', () => {
  test('exact call counts, failures and rows per stage, hostile stage names included', () => {
    const merged = expectValidReport(mergeReports(reports(), { sources: paths }));
    expect(merged.stageSummaries.map((s) => s.name).sort()).toEqual([...truth.keys()].sort());
    for (const [name, t] of truth) {
      const s = summaryOf(merged, name);
      expect({ name, calls: s.calls, failures: s.failures, rows: s.rowsProcessed }).toEqual({ name, ...t });
    }
    expect(truth.get(HOSTILE_STAGE)!.calls).toBeGreaterThan(0);
    expect(truth.get(ESCAPED_STAGE)!.calls).toBeGreaterThan(0);
    let calls = 0;
    for (const t of truth.values()) calls += t.calls;
    expect(merged.summary.totalStages).toBe(calls);
    const inputs = reports();
    expect(merged.run.rowsProcessed).toBe(inputs.reduce((a, r) => a + r.run.rowsProcessed, 0));
    expect(merged.run.endReason).toBe('merge');
  });

  test('every record of every process, ids unique, parents kept, t rebased onto the earliest start', () => {
    const inputs = reports();
    const merged = mergeReports(inputs, { sources: paths });
    expect(merged.stages.length).toBe(inputs.reduce((a, r) => a + r.stages.length, 0));
    const ids = new Set(merged.stages.map((s) => s.id));
    expect(ids.size).toBe(merged.stages.length);
    const byId = new Map(merged.stages.map((s) => [s.id, s]));
    const start = Math.min(...inputs.map((r) => Date.parse(r.run.startedAt)));
    expect(merged.run.startedAt).toBe(new Date(start).toISOString());
    inputs.forEach((r, k) => {
      const label = `p${k + 1}`;
      const offset = Date.parse(r.run.startedAt) - start;
      expect(merged.processes![k]!.offsetMs).toBe(offset);
      for (const rec of r.stages) {
        const m = byId.get(`${label}:${rec.id}`)!;
        expect(m.source).toBe(label);
        expect(m.name).toBe(rec.name);
        expect(m.durationMs).toBe(rec.durationMs);
        expect(Math.abs(m.t - (rec.t + offset))).toBeLessThan(1e-6);
        if (rec.parentId !== undefined) {
          expect(m.parentId).toBe(`${label}:${rec.parentId}`);
          expect(byId.get(m.parentId!)?.source).toBe(label);
        }
      }
    });
    for (let i = 1; i < merged.stages.length; i++) expect(merged.stages[i]!.t).toBeGreaterThanOrEqual(merged.stages[i - 1]!.t);
  });

  test('one processes entry per report; samples of all processes on one axis; peaks per process and concurrent', () => {
    const inputs = reports();
    const merged = mergeReports(inputs, { sources: paths });
    const processes = merged.processes!;
    expect(processes.map((p) => p.id)).toEqual(['p1', 'p2', 'p3']);
    inputs.forEach((r, k) => {
      const p = processes[k]!;
      expect(p).toMatchObject({
        runId: r.run.id,
        pid: r.run.host.pid,
        name: 'sharded-etl',
        status: 'completed',
        startedAt: r.run.startedAt,
        endedAt: r.run.endedAt,
        durationMs: r.run.durationMs,
        peakMemoryMb: r.summary.peakMemoryMb,
        avgCpuPercent: r.summary.avgCpuPercent,
        sampleCount: r.memory.samples.length,
        calls: r.summary.totalStages,
        failedCalls: r.summary.failedStages,
        reportPath: paths[k],
        metadata: { seed: k + 1 },
      });
      expect(p.memoryTrend.sampleCount).toBe(r.memory.samples.length);
      expect(merged.memory.samples.filter((s) => s.source === p.id)).toHaveLength(r.memory.samples.length);
    });
    expect(new Set(processes.map((p) => p.pid)).size).toBe(SHARDS);
    expect(merged.memory.samples.length).toBe(inputs.reduce((a, r) => a + r.memory.samples.length, 0));
    expect(merged.summary.peakMemoryMb).toBe(Math.max(...inputs.map((r) => r.summary.peakMemoryMb)));
    const peak = merged.memory.concurrentPeak!;
    const sumOfPeaks = inputs.reduce((a, r) => a + r.summary.peakMemoryMb, 0);
    expect(peak.sumOfProcessPeaksMb).toBeCloseTo(sumOfPeaks, 3);
    expect(peak.rssMb).toBeLessThanOrEqual(sumOfPeaks + 1e-9);
    expect(peak.rssMb).toBeGreaterThanOrEqual(Math.max(...merged.memory.samples.map((s) => s.rssMb)));
    // the CPU of the job: every process's CPU time over the merged wall time
    const cpuMs = inputs.reduce((a, r) => a + (r.summary.avgCpuPercent / 100) * r.run.durationMs, 0);
    expect(merged.summary.avgCpuPercent).toBeCloseTo((cpuMs / merged.run.durationMs) * 100, 2);
  });

  test('the collector writes a sketch of every call of every stage', () => {
    for (const r of reports()) {
      for (const s of r.stageSummaries) expect(QuantileSketch.decode(s.sketch).count).toBe(s.calls);
    }
  });

  test('without sketches, every record there: the quantiles are exact over all calls', () => {
    const inputs = reportsWithoutSketches();
    const merged = mergeReports(inputs);
    for (const name of truth.keys()) {
      const s = summaryOf(merged, name);
      const all = allDurations(inputs, name);
      expect(all.length).toBe(s.calls);
      expect(s.quantiles).toBe('exact');
      // to the report's rounding of durations (1e-6 ms)
      for (const [q, got] of [[0.5, s.p50Ms], [0.95, s.p95Ms], [0.99, s.p99Ms]] as const) expect(Math.abs(got - exactQuantile(all, q))).toBeLessThanOrEqual(5e-7 + 1e-12);
      expect(s.minMs).toBe(all[0]);
      expect(s.maxMs).toBe(all[all.length - 1]);
      expect(s.meanMs).toBeCloseTo(all.reduce((a, b) => a + b, 0) / all.length, 5);
      // and a sketch of them, so the merged report can be merged again
      expect(QuantileSketch.decode(s.sketch).count).toBe(s.calls);
    }
  });

  test('findings are re-analysed on the merged data, not copied', () => {
    const inputs = reports();
    const merged = mergeReports(inputs);
    const failed = merged.bottlenecks.findings.filter((f) => f.kind === 'stage_failed' && f.stage === 'parse');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.evidence).toMatchObject({ failures: truth.get('parse')!.failures, calls: truth.get('parse')!.calls });
    // each input has its own, with its own smaller counts: none of them is in the merged report
    for (const r of inputs) {
      const own = r.bottlenecks.findings.find((f) => f.kind === 'stage_failed' && f.stage === 'parse')!;
      expect(own.evidence!.failures).toBeLessThan(truth.get('parse')!.failures);
      expect(merged.bottlenecks.findings.map((f) => f.message)).not.toContain(own.message);
    }
    // the time share is recomputed over the merged run's wall time
    expect(merged.timeShare!.map((e) => e.stage).sort()).toEqual([...truth.keys()].sort());
    // each process's memory was analysed on its own samples
    for (const p of merged.processes!) expect(p.memoryTrend.method).not.toBe('');
    // the inputs' measurement notes are carried, their analysis flags are not
    const carried = merged.qualityFlags.filter((f) => f.code === 'stage_too_short');
    expect(carried.length).toBeGreaterThan(0);
    for (const f of carried) expect(f.message.startsWith('process p')).toBe(false);
  });

  test('with a sketch per process and most records dropped, quantiles come from the merged sketches within 1 %', () => {
    const full = reports();
    const inputs = reports().map((r) => dropRecords(r, 0.2, true));
    const merged = expectValidReport(mergeReports(inputs));
    for (const name of truth.keys()) {
      const s = summaryOf(merged, name);
      const all = allDurations(full, name);
      expect(s.calls).toBe(truth.get(name)!.calls);
      if (s.calls < 5) continue; // a stage with a handful of calls keeps all of them
      expect(s.quantiles).toBe('sketch');
      expect(QuantileSketch.decode(s.sketch).count).toBe(all.length);
      for (const [q, got] of [[0.5, s.p50Ms], [0.95, s.p95Ms], [0.99, s.p99Ms]] as const) {
        // the sketch answers for the value at rank floor(q (n − 1)), the exact quantile interpolates up to the next
        const lo = all[Math.floor(q * (all.length - 1))]!;
        const hi = all[Math.ceil(q * (all.length - 1))]!;
        expect(got).toBeGreaterThanOrEqual(lo * (1 - QUANTILE_RELATIVE_ERROR) - 1e-6);
        expect(got).toBeLessThanOrEqual(hi * (1 + QUANTILE_RELATIVE_ERROR) + 1e-6);
      }
      expect(s.recordsKept).toBeLessThan(s.calls);
    }
    expect(merged.qualityFlags.some((f) => f.code === 'merge_quantiles_from_records')).toBe(false);
  });

  test('records dropped and no sketch: quantiles from the kept records, said in a flag', () => {
    const inputs = reportsWithoutSketches().map((r) => dropRecords(r, 0.2, false));
    const merged = expectValidReport(mergeReports(inputs));
    const parse = summaryOf(merged, 'parse');
    expect(parse.quantiles).toBe('records');
    expect(parse.sketch).toBeUndefined();
    const kept = allDurations(inputs, 'parse');
    expect(Math.abs(parse.p50Ms - exactQuantile(kept, 0.5))).toBeLessThanOrEqual(5e-7 + 1e-12);
    const flag = merged.qualityFlags.find((f) => f.code === 'merge_quantiles_from_records' && f.stage === 'parse');
    expect(flag?.message).toMatch(new RegExp(`from its ${kept.length} kept records of ${parse.calls} timed calls`));
  });

  test('no record and no sketch of a stage: its quantiles are unknown (0), said in a flag', () => {
    const inputs = reportsWithoutSketches();
    for (const r of inputs) {
      const s = summaryOf(r, 'enrich');
      r.stages = r.stages.filter((x) => x.name !== 'enrich');
      r.stageRecords.omitted += s.recordsKept;
      r.stageRecords.kept -= s.recordsKept;
      s.recordsOmitted += s.recordsKept;
      s.recordsKept = 0;
    }
    const merged = expectValidReport(mergeReports(inputs));
    const enrich = summaryOf(merged, 'enrich');
    expect(enrich).toMatchObject({ quantiles: 'records', p50Ms: 0, p95Ms: 0, p99Ms: 0, calls: truth.get('enrich')!.calls, recordsKept: 0 });
    expect(enrich.maxMs).toBeGreaterThan(0); // min, max and mean come from the summaries
    expect(merged.qualityFlags.find((f) => f.code === 'merge_quantiles_from_records' && f.stage === 'enrich')?.message).toBe(
      'the quantiles of enrich are unknown (0): process(es) p1, p2, p3 have neither a usable sketch nor any record of it',
    );
  });

  test('one process with a sketch, the others with every record: the merged sketch covers all calls', () => {
    const full = reports();
    const inputs = reports();
    dropRecords(inputs[1]!, 0.1, true);
    const merged = mergeReports(inputs);
    const parse = summaryOf(merged, 'parse');
    expect(parse.quantiles).toBe('sketch');
    expect(QuantileSketch.decode(parse.sketch).count).toBe(truth.get('parse')!.calls);
    // within the sketch's 1 % of a value at the median's rank (either neighbour of it)
    const all = allDurations(full, 'parse').sort((a, b) => a - b);
    const rank = 0.5 * (all.length - 1);
    const near = [all[Math.floor(rank)]!, all[Math.ceil(rank)]!];
    expect(near.some((v) => Math.abs(parse.p50Ms - v) <= v * QUANTILE_RELATIVE_ERROR + 1e-6)).toBe(true);
  });

  test('pure: the inputs are left as they were, and the same inputs give the same report', () => {
    const inputs = reports();
    const before = JSON.stringify(inputs);
    const a = mergeReports(inputs, { sources: paths });
    const b = mergeReports(reports(), { sources: paths });
    expect(JSON.stringify(inputs)).toBe(before);
    expect(b).toEqual(a);
  });

  test('a merged report is written and read back as a valid report (through JSON)', () => {
    const merged = mergeReports(reports(), { sources: paths });
    const back = expectValidReport(JSON.stringify(merged));
    expect(back.processes).toHaveLength(SHARDS);
    expect(summaryOf(back, HOSTILE_STAGE).calls).toBe(truth.get(HOSTILE_STAGE)!.calls);
    expect(summaryOf(back, ESCAPED_STAGE).calls).toBe(truth.get(ESCAPED_STAGE)!.calls);
  });
});

describe('mergeReports refuses what it cannot merge, with a MergeError', () => {
  const expectCode = (code: MergeErrorCode, run: () => unknown, message: RegExp): MergeError => {
    const err = mergeError(run);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    return err;
  };

  test('an empty list', () => {
    expectCode('empty', () => mergeReports([]), /nothing to merge/);
    expectCode('empty', () => mergeReports(undefined as unknown as unknown[]), /nothing to merge/);
  });

  test.each<[string, () => unknown]>([
    ['null', () => null],
    ['a string', () => '{"schemaVersion":1}'],
    ['an array', () => []],
    ['an object without schemaVersion', () => ({ run: {} })],
    [
      'a revoked proxy',
      () => {
        const p = Proxy.revocable({}, {});
        p.revoke();
        return p.proxy;
      },
    ],
  ])('%s is not a report', (_name, make) => {
    const err = expectCode('not_a_report', () => mergeReports([reports()[0], make()], { sources: ['a.json', 'b.json'] }), /report 2 \(b\.json\) is not a stagemeter report/);
    expect(err.input).toBe(1);
    expect(err.source).toBe('b.json');
  });

  test('reports of different schema versions, and a version this stagemeter cannot read', () => {
    const [a, b] = reports();
    const future = { ...b!, schemaVersion: 2 };
    const err = expectCode('schema_version', () => mergeReports([a, future], { sources: ['a.json', 'b.json'] }), /different schema versions \(report 1 \(a\.json\): 1, report 2 \(b\.json\): 2\)/);
    expect(err.input).toBe(1);
    expectCode('schema_version', () => mergeReports([{ ...a!, schemaVersion: 2 }, future]), /schema version 2 is not supported: this stagemeter reads version 1/);
    expectCode('schema_version', () => mergeReports([a, { ...b!, schemaVersion: '1' }]), /different schema versions/);
  });

  test('a truncated file: parseReportText says so; a report cut short of required fields fails the schema', () => {
    const text = texts[0]!;
    for (const cut of [text.slice(0, Math.floor(text.length / 2)), text.slice(0, 1), text.slice(0, -3)]) {
      const err = mergeError(() => parseReportText(cut, 'a.json'));
      expect(err.code).toBe('invalid_json');
      expect(err.message).toMatch(/^a\.json is not valid JSON \(truncated\?\)/);
    }
    expect(mergeError(() => parseReportText('  \n', 'a.json')).message).toBe('a.json is empty');
    const [a, b] = reports();
    delete (b as Partial<PerformanceReport>).stageSummaries;
    expectCode('invalid_report', () => mergeReports([a, b], { sources: ['a.json', 'b.json'] }), /report 2 \(b\.json\) is not a valid stagemeter report.*stageSummaries/);
  });

  test('a report edited into nonsense fails the schema, with the paths at fault', () => {
    const [a, b] = reports();
    b!.stageSummaries[0]!.calls = -1;
    (b!.stages[0] as unknown as Record<string, unknown>).durationMs = 'slow';
    const err = expectCode('invalid_report', () => mergeReports([a, b]), /report 2 is not a valid stagemeter report/);
    expect(err.message).toMatch(/\/stageSummaries\/0\/calls/);
    expect(err.message).toMatch(/\/stages\/0\/durationMs/);
    const [c] = reports();
    c!.run.startedAt = '2026-13-45T99:99:99Z';
    expectCode('invalid_report', () => mergeReports([a, c]), /impossible run\.startedAt/);
  });

  test('a sketch that breaks the schema is refused; one that only disagrees with its summary is left out, with a flag', () => {
    const [a, b] = reports();
    const sketch = new QuantileSketch();
    sketch.add(1);
    summaryOf(b!, 'parse').sketch = { ...sketch.encode(), v: 2 } as unknown as StageSummary['sketch'];
    expectCode('invalid_report', () => mergeReports([a, b]), /sketch\/v/);
    const [c, d] = reports();
    summaryOf(d!, 'parse').sketch = sketch.encode(); // a valid sketch of 1 call, for a stage of many
    const merged = mergeReports([c, d]);
    expect(merged.qualityFlags.find((f) => f.code === 'merge_sketch_invalid')?.message).toMatch(/the sketch of parse in process p2 holds 1 calls where its summary counts \d+ timed calls: left out/);
    expect(summaryOf(merged, 'parse').quantiles).toBe('exact');
    const [e, f] = reports();
    summaryOf(f!, 'parse').sketch = { ...sketch.encode(), count: 2 };
    expect(mergeReports([e, f]).qualityFlags.find((x) => x.code === 'merge_sketch_invalid')?.message).toMatch(/count is 2 but the buckets and zeros hold 1/);
  });

  test('the same run twice: the same report, or a copy of it', () => {
    const [a, b] = reports();
    expectCode('duplicate_run', () => mergeReports([a, b, a], { sources: ['a.json', 'b.json', 'a-again.json'] }), /report 1 \(a\.json\) and report 3 \(a-again\.json\) are the same run/);
    expectCode('duplicate_run', () => mergeReports([a, JSON.parse(JSON.stringify(b)), b]), /report 2 and report 3 are the same run/);
  });

  test('a merged report is not merged again', () => {
    const merged = mergeReports(reports());
    expectCode('merged_input', () => mergeReports([merged, reports()[0]]), /report 1 is already a merged report/);
  });

  test('a hostile object inside a report (a throwing getter) is refused, never thrown through', () => {
    const [a, b] = reports();
    Object.defineProperty(b!.run, 'id', {
      get() {
        throw new Error('gotcha');
      },
      enumerable: true,
    });
    expectCode('invalid_report', () => mergeReports([a, b]), /report 2 is not a valid stagemeter report.*gotcha/);
  });

  test('invalid options are a ConfigError listing each', () => {
    const bad = { sources: 'a.json', runName: '', thresholds: 5, analyzers: {}, colour: true } as unknown as Parameters<typeof mergeReports>[1];
    let caught: unknown;
    try {
      mergeReports(reports(), bad);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues.map((i) => i.field).sort()).toEqual(['analyzers', 'colour', 'runName', 'sources', 'thresholds']);
    const named = mergeReports(reports(), { runName: 'nightly', thresholds: { slowStageMs: 1 } });
    expect(named.run.name).toBe('nightly');
    // given thresholds are used (every stage is slow at 1 ms) and the default-thresholds note is gone
    expect(named.bottlenecks.slowestStages.length).toBeGreaterThan(0);
    expect(named.qualityFlags.some((f) => f.code === 'merge_default_thresholds')).toBe(false);
    expect(mergeReports(reports()).qualityFlags.some((f) => f.code === 'merge_default_thresholds')).toBe(true);
  });

  test('every flag code the analysis raises is known to the merge (so input analysis flags are not carried)', () => {
    const root = join(__dirname, '..', '..', '..', 'analyzers');
    const codes = new Set<string>();
    for (const file of readdirSync(root).filter((f) => f.endsWith('.ts'))) {
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(/code: '([a-z_]+)'/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(5);
    expect([...codes].filter((c) => !ANALYSIS_FLAG_CODES.has(c))).toEqual([]);
  });
});

describe('mergeReports at scale', () => {
  test('10 reports of 10 stages and 10k records each', () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false, maxStageRecords: 1_000_000, shortStageTiming: 'every' });
    monitor.startMonitoring({ runName: 'scale' });
    const stages = Array.from({ length: 10 }, (_, k) =>
      withStage(
        `stage_${k}`,
        (rows: number[]): number => {
          let s = 0;
          for (let i = 0; i < 50 * (k + 1); i++) s += i;
          return s + rows.length;
        },
        { monitor },
      ),
    );
    const batch = [1, 2, 3];
    for (let i = 0; i < 1000; i++) for (const stage of stages) stage(batch);
    const base = monitor.stopMonitoring();
    expect(base.stages).toHaveLength(10_000);
    const text = JSON.stringify(base);
    const inputs = Array.from({ length: 10 }, (_, k) => {
      const r = JSON.parse(text) as PerformanceReport;
      r.run.id = `${r.run.id.slice(0, -2)}${String(k).padStart(2, '0')}`;
      r.run.startedAt = new Date(Date.parse(r.run.startedAt) + 37 * k).toISOString();
      return r;
    });
    const merged = mergeReports(inputs);
    expect(merged.stages).toHaveLength(100_000);
    for (const s of merged.stageSummaries) expect(s.calls).toBe(10 * summaryOf(base, s.name).calls);
  }, 120_000);
});
