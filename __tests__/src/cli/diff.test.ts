import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffResult } from '../../../src/report/diff';
import { VERSION } from '../../../src/version';
import type { ChildResult } from '../../helpers/child';
import { builtReport, emptyReport, runDemo, runNode, testDirs, writeFile, type StageSpec } from './support';

const AUDIT = 'WeightedLabelingEngine.audit';

/** Exit code 2, nothing on stdout, and one line on stderr that matches `message`. */
function expectRefused(r: ChildResult, message: RegExp | string): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  if (typeof message === 'string') expect(lines[0]).toContain(message);
  else expect(lines[0]).toMatch(message);
}

describe('stagemeter diff on real runs of the demo pipeline', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);
  let base: string;
  let same: string;
  let slow: string;
  beforeAll(async () => {
    base = join(dirs.dir, 'base.json');
    same = join(dirs.dir, 'same.json');
    slow = join(dirs.dir, 'slow.json');
    // one after the other, as a CI job runs them
    await runDemo(dirs.demo, base);
    await runDemo(dirs.demo, same);
    await runDemo(dirs.demo, slow, `${AUDIT}=2`);
  }, 600_000);

  test('the same pipeline run twice: exit 0, every stage within noise', async () => {
    const r = await cli('diff', base, same);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const rows = r.stdout.split('\n').filter((l) => /^\S+\s{2,}(within noise|faster|slower|SLOWER)/.test(l));
    expect(rows).toHaveLength(8);
    for (const row of rows) expect(row).toMatch(/^\S+\s+within noise\s/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('verdict: ok, no stage regressed past 10%');
  });

  test('the audit made 2x slower: exit 1, and the verdict names the audit and no other stage', async () => {
    const r = await cli('diff', same, slow);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: '' });
    const flagged = r.stdout.split('\n').filter((l) => /^\S+\s{2,}(SLOWER \(fail\)|slower|faster)\s/.test(l));
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatch(/^WeightedLabelingEngine\.audit\s+SLOWER \(fail\)\s+CPU /);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^verdict: REGRESSION, 1 stage slower past 10%: WeightedLabelingEngine\.audit \+\d+% CPU time$/);
  });

  test('--format md: a table and a verdict line for a pull request or $GITHUB_STEP_SUMMARY', async () => {
    const r = await cli('diff', same, slow, '--format', 'md');
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('### stagemeter diff: ❌ 1 stage regressed');
    const table = lines.filter((l) => l.startsWith('|'));
    expect(table).toHaveLength(2 + 8);
    expect(table[2]).toMatch(/^\| `WeightedLabelingEngine\.audit` \| \*\*❌ slower\*\* \| CPU /);
    for (const row of table.slice(3)) expect(row).toContain('| within noise |');
    expect(lines.at(-1)).toMatch(/^\*\*verdict: REGRESSION, 1 stage slower past 10%: `WeightedLabelingEngine\.audit` \+\d+% CPU time\*\*$/);
  });

  test('--format json prints the DiffResult', async () => {
    const r = await cli('diff', same, slow, '--format', 'json');
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as DiffResult;
    expect(result).toMatchObject({ schemaVersion: 1, verdict: 'regression', regressions: [AUDIT], options: { failOnPercent: 10, confidence: 0.99 } });
    expect(result.stages).toHaveLength(8);
    expect(result.stages[0]).toMatchObject({ stage: AUDIT, verdict: 'slower', regressed: true, estimate: { basis: 'cpu' } });
  });

  test('--fail-on above the change: the audit is still slower, but the gate passes', async () => {
    const r = await cli('diff', same, slow, '--fail-on', '400%');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nWeightedLabelingEngine\.audit\s+slower\s/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('verdict: ok, no stage regressed past 400% (1 slower under the threshold)');
  });

  test('a damaged report: exit 2, naming the file and the first problem', async () => {
    const report = JSON.parse(readFileSync(base, 'utf8')) as Record<string, Record<string, unknown>>;
    report.run!.durationMs = 'long';
    delete report.run!.rowsProcessed;
    const bad = writeFile(dirs.dir, 'damaged.json', report);
    expectRefused(await cli('diff', base, bad), `stagemeter diff: ${bad} is not a valid stagemeter report: /run must have required property 'rowsProcessed' (and 1 more problem; \`stagemeter validate ${bad}\` lists them)`);
  });

  test('a report of another schema version: exit 2, saying which version this stagemeter reads', async () => {
    const report = JSON.parse(readFileSync(base, 'utf8')) as Record<string, unknown>;
    report.schemaVersion = 2;
    const v2 = writeFile(dirs.dir, 'v2.json', report);
    expectRefused(await cli('diff', v2, same), `stagemeter diff: ${v2} has report schema version 2; this stagemeter (${VERSION}) reads version 1: use the stagemeter version that wrote it`);
  });

  test('a truncated report: exit 2, saying the file ends early, wherever it was cut', async () => {
    const text = readFileSync(base, 'utf8');
    // inside a string, after a key, after a comma, after a number
    const cuts = [text.indexOf('"labeling-demo"') + 5, text.indexOf('"run":') + 6, text.indexOf(',', 1000) + 1, Math.floor(text.length / 2)];
    for (const [i, at] of cuts.entries()) {
      const cut = writeFile(dirs.dir, `cut${i}.json`, text.slice(0, at));
      expectRefused(await cli('diff', base, cut), new RegExp(`^stagemeter diff: ${cut.replace(/[.]/g, '\\.')} is not valid JSON: .+ \\(the file ends early: was it cut off while being written or copied\\?\\)$`));
    }
    const junk = writeFile(dirs.dir, 'junk.json', '{"schemaVersion": 1,, "run": {}}');
    const r = await cli('diff', base, junk);
    expectRefused(r, /junk\.json is not valid JSON: /);
    expect(r.stderr).not.toContain('ends early');
  });

  test('a report of a run without stages: exit 2, nothing to compare', async () => {
    const empty = writeFile(dirs.dir, 'empty-run.json', emptyReport());
    expectRefused(await cli('diff', empty, same), 'stagemeter diff: the base report has no stages: there is nothing to compare');
    expectRefused(await cli('diff', same, empty), 'stagemeter diff: the head report has no stages');
  });

  test('an empty file, a missing file, a directory: exit 2, each said plainly', async () => {
    expectRefused(await cli('diff', writeFile(dirs.dir, 'zero.json', ''), same), 'zero.json is empty');
    expectRefused(await cli('diff', join(dirs.dir, 'nope.json'), same), `cannot read ${join(dirs.dir, 'nope.json')}: no such file (ENOENT)`);
    expectRefused(await cli('diff', dirs.dir, same), `${dirs.dir} is a directory, not a report file`);
    expectRefused(await cli('diff', writeFile(dirs.dir, 'array.json', []), same), 'is not a stagemeter report: it holds an array, not an object');
  });

  test('bad arguments: exit 2 with one line that points to --help', async () => {
    expectRefused(await cli('diff'), 'stagemeter diff: missing <base.json> <head.json> (usage: stagemeter diff --help)');
    expectRefused(await cli('diff', base), 'missing <base.json> <head.json>');
    expectRefused(await cli('diff', base, same, same), 'too many arguments: expected <base.json> <head.json>, got 3');
    expectRefused(await cli('diff', base, same, '--fail-on', 'ten'), 'stagemeter diff: --fail-on needs a percentage, like 10% (got "ten")');
    expectRefused(await cli('diff', base, same, '--fail-on'), "option '--fail-on <value>' argument missing");
    expectRefused(await cli('diff', base, same, '--format', 'xml'), '--format must be one of text, md, json (got "xml")');
    expectRefused(await cli('diff', base, same, '--confidence', '20%'), '--confidence needs a percentage from 50% to 99.99%');
    expectRefused(await cli('diff', base, same, '--bogus'), 'stagemeter diff: unknown option --bogus (usage: stagemeter diff --help)');
    expectRefused(await cli('diff', base, same, '--color', '--no-color'), '--color and --no-color together');
  });

  test('--help: the usage, every option and the exit codes, exit 0', async () => {
    const r = await cli('diff', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: stagemeter diff <base\.json> <head\.json> \[options\]/);
    for (const option of ['--fail-on', '--format', '--confidence', '--min-change', '--min-impact', '--noise-floor', '--color']) expect(r.stdout).toContain(option);
    expect(r.stdout).toMatch(/exit codes:\n {2}0 {2}no stage regressed\n {2}1 {2}.+\n {2}2 {2}/);
  });
});

describe('stagemeter diff with hostile stage names', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);
  const evil = 'x\x1b[2J\x1b[31mred|cell|\r\n</script><b>@team';
  const repeat = (ms: number): number[] => Array.from({ length: 8 }, () => ms);
  const specs = (ms: number): StageSpec[] => [
    { name: '__proto__', durationsMs: repeat(ms) },
    { name: evil, durationsMs: repeat(10) },
    { name: 'constructor', durationsMs: repeat(30) },
  ];
  let base: string;
  let head: string;
  beforeAll(() => {
    base = writeFile(dirs.dir, 'hostile-base.json', builtReport(specs(10), 'run\x1b]0;pwned\x07'));
    head = writeFile(dirs.dir, 'hostile-head.json', builtReport(specs(30)));
  });

  test('text: the __proto__ stage is compared and named; control characters come out escaped', async () => {
    const r = await cli('diff', base, head);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(r.stdout).toContain('x\\x1b[2J\\x1b[31mred|cell|\\r\\n</script><b>@team');
    expect(r.stdout).toContain('run\\x1b]0;pwned\\x07');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^verdict: REGRESSION, 1 stage slower past 10%: __proto__ \+200% CPU time$/);
  });

  test('md: the hostile name stays in its cell (| escaped), shown as code, not as HTML', async () => {
    const r = await cli('diff', base, head, '--format', 'md');
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    const table = r.stdout.split('\n').filter((l) => l.startsWith('|'));
    const cells = (line: string): number => line.replace(/\\\|/g, '').split('|').length;
    for (const row of table) expect(cells(row)).toBe(cells(table[0]!));
    expect(table.find((l) => l.includes('red'))).toContain('`x\\x1b[2J\\x1b[31mred\\|cell\\|\\r\\n</script><b>@team`');
  });

  test('json: names are kept exactly (JSON escapes them itself)', async () => {
    const r = await cli('diff', base, head, '--format', 'json');
    const result = JSON.parse(r.stdout) as DiffResult;
    expect(result.stages.map((s) => s.stage).sort()).toEqual(['__proto__', 'constructor', evil].sort());
    expect(r.stdout).not.toContain('\x1b');
  });

  test('an invalid report built the same way is refused, not compared', async () => {
    const report = builtReport(specs(10)) as unknown as { stageSummaries: Array<Record<string, unknown>> };
    report.stageSummaries[0]!.totalMs = -5;
    const bad = writeFile(dirs.dir, 'negative.json', report);
    expectRefused(await cli('diff', bad, head), /negative\.json is not a valid stagemeter report: \/stageSummaries\/0\/totalMs must be >= 0/);
  });
});
