import { join } from 'node:path';
import { diffReports, ReportDiffError, type DiffResult, type StageDiff } from '../../../src/report/diff';
import { formatDiffMarkdown, formatDiffText } from '../../../src/report/diffFormat';
import type { PerformanceReport } from '../../../src/types';
import { builtReport, emptyReport, runDemo, testDirs, type StageSpec } from '../cli/support';

const AUDIT = 'WeightedLabelingEngine.audit';

function stage(result: DiffResult, name: string): StageDiff {
  const s = result.stages.find((x) => x.stage === name);
  if (s === undefined) throw new Error(`no stage ${name} in the diff`);
  return s;
}

const repeat = (ms: number, n = 8): number[] => Array.from({ length: n }, () => ms);

describe('diffReports on real runs of the demo pipeline', () => {
  const dirs = testDirs();
  let base: PerformanceReport;
  let same: PerformanceReport;
  let slow: PerformanceReport;
  beforeAll(async () => {
    // one after the other, as a CI job runs them; each a fresh process with a fresh monitor
    base = await runDemo(dirs.demo, join(dirs.dir, 'base.json'));
    same = await runDemo(dirs.demo, join(dirs.dir, 'same.json'));
    slow = await runDemo(dirs.demo, join(dirs.dir, 'slow.json'), `${AUDIT}=2`);
  }, 600_000);

  test('the same pipeline run twice reads within noise for every stage and passes the gate', () => {
    const result = diffReports(base, same);
    expect(result.stages.map((s) => s.stage).sort()).toEqual(base.stageSummaries.map((s) => s.name).sort());
    for (const s of result.stages) {
      expect(s.presence).toBe('both');
      expect({ stage: s.stage, verdict: s.verdict }).toEqual({ stage: s.stage, verdict: 'within-noise' });
    }
    expect(result.verdict).toBe('ok');
    expect(result.regressions).toEqual([]);
  });

  test('the same pipeline with the audit doing its work twice fails the gate naming the audit, and only the audit is slower', () => {
    const result = diffReports(same, slow);
    expect(result.verdict).toBe('regression');
    expect(result.regressions).toEqual([AUDIT]);
    expect(result.stages.filter((s) => s.verdict === 'slower').map((s) => s.stage)).toEqual([AUDIT]);
    const audit = stage(result, AUDIT);
    // the audit's calls are synchronous and never block: judged on CPU time, which doubled
    expect(audit.estimate?.basis).toBe('cpu');
    expect(audit.estimate?.changePercent).toBeGreaterThan(40);
    expect(audit.estimate?.changePercent).toBeLessThan(250);
    expect(audit.estimate?.pValue).toBeLessThan(0.01);
    // process_month encloses the audit: it is judged on its own time, which leaves the audit out
    const processMonth = stage(result, 'process_month');
    expect(processMonth.selfMs.head!).toBeLessThan(processMonth.totalMs.head! - audit.selfMs.head!);
    expect(processMonth.verdict).toBe('within-noise');
  });
});

describe('diffReports on built reports', () => {
  const fourStages = (aMs: number): StageSpec[] => [
    { name: 'a', durationsMs: repeat(aMs) },
    { name: 'b', durationsMs: repeat(20) },
    { name: 'c', durationsMs: repeat(30) },
    { name: 'd', durationsMs: repeat(40) },
  ];

  test('a stage whose every call doubled is slower past the threshold; the unchanged ones are within noise', () => {
    const result = diffReports(builtReport(fourStages(10)), builtReport(fourStages(20)));
    const a = stage(result, 'a');
    // no spread within the runs, so the 14 % noise floor is all the noise: se = ln 1.14
    expect(a.estimate).toMatchObject({ basis: 'cpu', changePercent: 100, noisePercent: 14, df: null });
    expect(a.estimate!.ciLowPercent).toBeCloseTo(42.71, 2); // 2·e^(−2.5758·ln 1.14) − 1
    expect(a.estimate!.ciHighPercent).toBeCloseTo(180.29, 2);
    expect(a.estimate!.rawPValue).toBeCloseTo(1.2228e-7, 10); // z = ln 2 / ln 1.14 = 5.29
    expect(a.estimate!.pValue).toBeCloseTo(4 * 1.2228e-7, 9); // Holm: the smallest of 4 times 4
    expect(a.estimate!.detectablePercent).toBeCloseTo(48.61, 1); // e^(3.0233·ln 1.14) − 1, Bonferroni at 0.01 / 4
    expect(a.estimate!.impactPercent).toBeCloseTo((80 / 880) * 100, 3);
    expect(a).toMatchObject({ verdict: 'slower', regressed: true });
    for (const name of ['b', 'c', 'd']) expect(stage(result, name)).toMatchObject({ verdict: 'within-noise', regressed: false, estimate: { changePercent: 0, pValue: 1 } });
    expect(result.regressions).toEqual(['a']);
    expect(result.stages.map((s) => s.stage)).toEqual(['a', 'd', 'c', 'b']);
  });

  test("a stage is judged by its own steadiness: erratic stages' drift does not hide a steady one's doubling", () => {
    const steady = (mean: number): number[] => Array.from({ length: 8 }, (_, i) => mean * (i % 2 === 0 ? 0.95 : 1.05));
    const erratic = (mean: number): number[] => Array.from({ length: 8 }, (_, i) => mean * (i % 2 === 0 ? 0.25 : 1.75));
    const specs = (a: number, b: number, c: number, d: number): StageSpec[] => [
      { name: 'steady', durationsMs: steady(a) },
      { name: 'b', durationsMs: erratic(b) },
      { name: 'c', durationsMs: erratic(c) },
      { name: 'd', durationsMs: erratic(d) },
    ];
    // b, c, d drift by -40..+50 % between the runs, but their calls vary ±75 % within each
    const result = diffReports(builtReport(specs(20, 20, 20, 20)), builtReport(specs(40, 30, 12, 28)));
    expect(result.noise.cpuScale).toBeGreaterThan(0.3);
    expect(stage(result, 'steady')).toMatchObject({ verdict: 'slower', regressed: true, estimate: { changePercent: 100 } });
    // its noise is the 14 % floor and its own ±5 % calls, not the others' drift
    expect(stage(result, 'steady').estimate!.noisePercent).toBeLessThan(15);
    for (const name of ['b', 'c', 'd']) expect(stage(result, name).verdict).toBe('within-noise');
    // the same doubling in an erratic stage is within its noise
    const erraticDoubled = diffReports(builtReport(specs(20, 20, 20, 20)), builtReport(specs(20, 40, 12, 28)));
    expect(stage(erraticDoubled, 'b')).toMatchObject({ verdict: 'within-noise', estimate: { changePercent: 100 } });
  });

  test('a change smaller than --fail-on is slower but never a regression', () => {
    const result = diffReports(builtReport(fourStages(10)), builtReport(fourStages(20)), { failOnPercent: 150 });
    expect(stage(result, 'a')).toMatchObject({ verdict: 'slower', regressed: false });
    expect(result.verdict).toBe('ok');
  });

  test('a faster stage is faster and passes the gate', () => {
    const result = diffReports(builtReport(fourStages(20)), builtReport(fourStages(10)));
    expect(stage(result, 'a')).toMatchObject({ verdict: 'faster', regressed: false, estimate: { changePercent: -50 } });
    expect(result.verdict).toBe('ok');
  });

  test('a change within the spread of the calls is within noise', () => {
    const spread = (mean: number): number[] => [mean - 6, mean + 6, mean - 3, mean + 3, mean - 6, mean + 6, mean - 3, mean + 3];
    const specs = (aMean: number): StageSpec[] => [{ name: 'a', durationsMs: spread(aMean) }, ...fourStages(0).slice(1)];
    const result = diffReports(builtReport(specs(20)), builtReport(specs(23)));
    const a = stage(result, 'a');
    expect(a.estimate!.changePercent).toBe(15);
    expect(a.verdict).toBe('within-noise');
    expect(a.estimate!.rawPValue).toBeGreaterThan(0.05);
  });

  test('without per-call records the spread comes from stdDevMs when the report has it, else from the quantiles', () => {
    const withoutRecords = (aMs: number, stdDevMs?: number): PerformanceReport => {
      const r = builtReport(fourStages(aMs));
      r.stages = r.stages.filter((x) => x.name !== 'a');
      const a = r.stageSummaries[0]!;
      Object.assign(a, { recordsKept: 0, recordsOmitted: a.calls }, stdDevMs !== undefined ? { stdDevMs } : {});
      return r;
    };
    // calls of 10-30 ms that vary by ±50 ms (sd): tripling them cannot be told from noise
    const noisy = diffReports(withoutRecords(10, 50), withoutRecords(30, 50));
    expect(stage(noisy, 'a')).toMatchObject({ verdict: 'within-noise', estimate: { basis: 'wall', changePercent: 200 } });
    expect(stage(noisy, 'a').estimate!.noisePercent).toBeGreaterThan(100);
    // without stdDevMs, p95 = p50 = max = min says the calls do not vary: the tripling shows
    expect(stage(diffReports(withoutRecords(10), withoutRecords(30)), 'a')).toMatchObject({ verdict: 'slower', regressed: true });
  });

  test('a nested stage that got slower leaves its parent within noise: the parent is judged on its own time', () => {
    const specs = (childMs: number): StageSpec[] => [
      { name: 'parent', durationsMs: repeat(50 + childMs), sync: false, cpuMs: repeat(5 + childMs) },
      { name: 'child', durationsMs: repeat(childMs), parent: 'parent' },
      { name: 'other1', durationsMs: repeat(30) },
      { name: 'other2', durationsMs: repeat(40) },
    ];
    const result = diffReports(builtReport(specs(50)), builtReport(specs(100)));
    const parent = stage(result, 'parent');
    expect(parent.totalMs.changePercent).toBeCloseTo(50, 5);
    expect(parent.selfMs).toEqual({ base: 400, head: 400, changePercent: 0 });
    expect(parent.estimate).toMatchObject({ basis: 'wall', changePercent: 0 });
    expect(parent.verdict).toBe('within-noise');
    expect(stage(result, 'child')).toMatchObject({ verdict: 'slower', regressed: true });
  });

  test('a synchronous stage whose wall time doubled while its CPU time did not (a busy machine) is within noise', () => {
    const specs = (wallMs: number): StageSpec[] => [{ name: 'a', durationsMs: repeat(wallMs), cpuMs: repeat(10) }, ...fourStages(0).slice(1)];
    const result = diffReports(builtReport(specs(10)), builtReport(specs(20)));
    const a = stage(result, 'a');
    expect(a.selfMs.changePercent).toBe(100);
    expect(a.estimate).toMatchObject({ basis: 'cpu', changePercent: 0 });
    expect(a.verdict).toBe('within-noise');
  });

  test('a stage that waits (asynchronous, little CPU) is judged on wall time', () => {
    const specs = (wallMs: number): StageSpec[] => [{ name: 'io', durationsMs: repeat(wallMs), cpuMs: repeat(1), sync: false, voluntarySwitches: 20 }, ...fourStages(0).slice(1)];
    const result = diffReports(builtReport(specs(40)), builtReport(specs(120)));
    expect(stage(result, 'io')).toMatchObject({ verdict: 'slower', regressed: true, estimate: { basis: 'wall', changePercent: 200 } });
  });

  test('wall time needs a larger change than CPU time: its noise floor is twice as high', () => {
    const specs = (ms: number, sync: boolean): StageSpec[] => [{ name: 'a', durationsMs: repeat(ms), cpuMs: repeat(sync ? ms : 1), sync, voluntarySwitches: sync ? 0 : 20 }, ...fourStages(0).slice(1)];
    // +60 %: z = ln 1.6 / ln 1.14 = 3.6 on CPU time, ln 1.6 / ln 1.28 = 1.9 on wall time
    const cpu = stage(diffReports(builtReport(specs(50, true)), builtReport(specs(80, true))), 'a');
    const wall = stage(diffReports(builtReport(specs(50, false)), builtReport(specs(80, false))), 'a');
    expect(cpu).toMatchObject({ verdict: 'slower', estimate: { basis: 'cpu', changePercent: 60, noisePercent: 14 } });
    expect(wall).toMatchObject({ verdict: 'within-noise', estimate: { basis: 'wall', changePercent: 60, noisePercent: 28 } });
  });

  test('a synchronous stage that blocks (many voluntary context switches) is judged on wall time', () => {
    const specs = (wallMs: number): StageSpec[] => [{ name: 'readSync', durationsMs: repeat(wallMs), cpuMs: repeat(2), voluntarySwitches: 40 }, ...fourStages(0).slice(1)];
    const result = diffReports(builtReport(specs(40)), builtReport(specs(80)));
    expect(stage(result, 'readSync').estimate).toMatchObject({ basis: 'wall', changePercent: 100 });
  });

  test('a stage whose CPU was probed on few of its calls is judged on wall time, not on an extrapolated CPU total', () => {
    const sampled = (r: PerformanceReport): PerformanceReport => {
      const a = r.stageSummaries[0]!;
      a.fidelity = { ...a.fidelity, mode: 'sampled', probedCalls: 3 };
      return r;
    };
    const specs = (cpuMs: number): StageSpec[] => [{ name: 'a', durationsMs: repeat(50), cpuMs: repeat(cpuMs) }, ...fourStages(0).slice(1)];
    const a = stage(diffReports(sampled(builtReport(specs(20))), sampled(builtReport(specs(50)))), 'a');
    expect(a.cpuMs.changePercent).toBe(150);
    expect(a).toMatchObject({ verdict: 'within-noise', estimate: { basis: 'wall', changePercent: 0 } });
  });

  test('a change that moves the run by less than minImpactPercent is within noise, with a note saying so', () => {
    const specs = (tinyMs: number): StageSpec[] => [{ name: 'tiny', durationsMs: repeat(tinyMs) }, { name: 'big', durationsMs: repeat(1000) }, { name: 'c', durationsMs: repeat(500) }];
    const result = diffReports(builtReport(specs(0.2)), builtReport(specs(0.4)));
    const tiny = stage(result, 'tiny');
    expect(tiny.estimate!.changePercent).toBe(100);
    expect(tiny.estimate!.pValue).toBeLessThan(0.01);
    expect(tiny.verdict).toBe('within-noise');
    expect(tiny.note).toMatch(/moves the run by 0\.013%, under the 0\.5% that counts/);
    expect(diffReports(builtReport(specs(0.2)), builtReport(specs(0.4)), { minImpactPercent: 0 }).regressions).toEqual(['tiny']);
  });

  test('stages that appeared or vanished are listed with their figures and never fail the gate', () => {
    const base = builtReport([{ name: 'old', durationsMs: repeat(10) }, ...fourStages(10).slice(1)]);
    const head = builtReport([{ name: 'new', durationsMs: repeat(500) }, ...fourStages(10).slice(1)]);
    const result = diffReports(base, head);
    expect(stage(result, 'new')).toMatchObject({ presence: 'appeared', regressed: false, calls: { head: 8, changePercent: null }, totalMs: { head: 4000 } });
    expect(stage(result, 'old')).toMatchObject({ presence: 'vanished', regressed: false, calls: { base: 8, changePercent: null } });
    expect(stage(result, 'new').verdict).toBeUndefined();
    expect(result.verdict).toBe('ok');
    expect(result.stages.slice(-2).map((s) => s.presence)).toEqual(['appeared', 'vanished']);
  });

  test('a stage named __proto__ is compared like any other and stays plain data', () => {
    const specs = (ms: number): StageSpec[] => [{ name: '__proto__', durationsMs: repeat(ms) }, { name: 'constructor', durationsMs: repeat(10) }, ...fourStages(10).slice(2)];
    const result = diffReports(builtReport(specs(10)), builtReport(specs(30)));
    expect(stage(result, '__proto__')).toMatchObject({ verdict: 'slower', regressed: true });
    expect(stage(result, 'constructor').verdict).toBe('within-noise');
    expect(result.regressions).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect((JSON.parse(JSON.stringify(result)) as DiffResult).stages.map((s) => s.stage)).toContain('__proto__');
  });

  test('the runs processing different row counts is noted', () => {
    const base = builtReport(fourStages(10));
    const head = builtReport(fourStages(10));
    head.run.rowsProcessed = base.run.rowsProcessed + 1000;
    expect(diffReports(base, head).notes.join('\n')).toMatch(/processed different numbers of rows/);
  });
});

describe('diffReports refuses what it cannot compare', () => {
  test('reports of different schema versions', () => {
    const base = builtReport([{ name: 'a', durationsMs: [1, 2] }]);
    const head = { ...base, schemaVersion: 2 } as unknown as PerformanceReport;
    expect(() => diffReports(base, head)).toThrow(ReportDiffError);
    expect(() => diffReports(base, head)).toThrow('the reports have different schema versions (base 1, head 2)');
  });

  test('a report without stages, base or head', () => {
    const full = builtReport([{ name: 'a', durationsMs: [1, 2] }]);
    expect(() => diffReports(emptyReport(), full)).toThrow(/^the base report has no stages: there is nothing to compare/);
    expect(() => diffReports(full, emptyReport())).toThrow(/^the head report has no stages/);
  });

  test('options out of range, every one named', () => {
    const r = builtReport([{ name: 'a', durationsMs: [1, 2] }]);
    expect(() => diffReports(r, r, { failOnPercent: -1, confidence: 2, noiseFloorPercent: NaN })).toThrow(
      'invalid diff options: failOnPercent must be a number >= 0 (got -1); confidence must be from 0.5 to 0.9999 (got 2); noiseFloorPercent must be a number >= 0 (got NaN)',
    );
  });
});

describe('formatDiffText and formatDiffMarkdown', () => {
  const hostile = 'load\x1b[2J\x1b[31m|red|\r\n`<img src=x onerror=alert(1)>` @team';
  const specs = (ms: number): StageSpec[] => [{ name: hostile, durationsMs: repeat(ms) }, { name: 'b', durationsMs: repeat(20) }, { name: 'c', durationsMs: repeat(30) }];
  const result = diffReports(builtReport(specs(10), 'run\x1b]0;title\x07'), builtReport(specs(20)));

  test('text: control characters and ANSI escapes in names are shown escaped, and the verdict names the stage', () => {
    const text = formatDiffText(result);
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(text).toContain('load\\x1b[2J\\x1b[31m|red|\\r\\n`<img src=x onerror=alert(1)>` @team');
    expect(text).toContain('run\\x1b]0;title\\x07');
    expect(text.split('\n').at(-1)).toBe('verdict: REGRESSION, 1 stage slower past 10%: load\\x1b[2J\\x1b[31m|red|\\r\\n`<img src=x onerror=alert(1)>` @team +100% CPU time');
  });

  test('markdown: the stage name is one table cell, with | escaped, no raw HTML and no mention', () => {
    const md = formatDiffMarkdown(result);
    expect(md).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const header = md.split('\n').find((l) => l.startsWith('| stage'))!;
    const row = md.split('\n').find((l) => l.includes('load'))!;
    const cells = (line: string): number => line.replace(/\\\|/g, '').split('|').length;
    expect(cells(row)).toBe(cells(header));
    // inside a code span: <img> is shown, not rendered, and @team is no mention
    expect(row).toContain('``load\\x1b[2J\\x1b[31m\\|red\\|\\r\\n`<img src=x onerror=alert(1)>` @team``');
    expect(md).toContain('### stagemeter diff: ❌ 1 stage regressed');
    expect(md.trim().split('\n').at(-1)).toMatch(/^\*\*verdict: REGRESSION, 1 stage slower past 10%: ``load.*`` \+100% CPU time\*\*$/);
  });
});
