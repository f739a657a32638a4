import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReportSummaryView } from '../../../src/summary';
import type { PerformanceReport, Severity } from '../../../src/types';
import type { ChildResult } from '../../helpers/child';
import { builtReport, runDemo, runNode, runNodeInTty, testDirs, writeFile } from './support';

const ESC = '\x1b';

describe('stagemeter summary', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);
  let demo: string;
  let crowded: string;
  beforeAll(async () => {
    demo = join(dirs.dir, 'demo.json');
    const report = await runDemo(dirs.demo, demo);
    // the same real report with 30 findings and flags of mixed severity: more than the default limit of 12
    const severities: Severity[] = ['info', 'warning', 'error', 'warning', 'warning', 'info'];
    const many = Array.from({ length: 30 }, (_, i) => severities[i % severities.length]!);
    const c = JSON.parse(JSON.stringify(report)) as PerformanceReport;
    c.bottlenecks.findings = many.map((severity, i) => ({ kind: 'slow_stage', severity, stage: 'load_month', message: `${severity} finding ${i}` }));
    c.qualityFlags = many.map((severity, i) => ({ severity, message: `${severity} flag ${i}`, t: i }));
    c.summary.qualityFlagCounts = { error: 5, warning: 15, info: 10 };
    crowded = writeFile(dirs.dir, 'crowded.json', c);
  }, 300_000);

  test('prints the run, its stages and findings; no colour when stdout is not a terminal', async () => {
    const r = await cli('summary', demo);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^stagemeter: labeling-demo \(completed\) - 600,000 rows in [\d.]+ s/);
    expect(r.stdout).toMatch(/\nWeightedLabelingEngine\.audit\s+12\s/);
    expect(r.stdout).not.toContain(ESC);
    expect(r.stdout).not.toMatch(/NaN/);
  });

  test('colour on a terminal; never with NO_COLOR or --no-color; --color forces it into a pipe', async () => {
    const tty = await runNodeInTty(dirs.cli, ['summary', demo]);
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain(`${ESC}[1mstagemeter: labeling-demo`);
    expect(tty.stdout).toMatch(new RegExp(`${ESC}\\[33m\\[warning\\]${ESC}\\[39m`));
    expect((await runNodeInTty(dirs.cli, ['summary', demo], { NO_COLOR: '1' })).stdout).not.toContain(ESC);
    expect((await runNodeInTty(dirs.cli, ['summary', demo, '--no-color'])).stdout).not.toContain(ESC);
    // an empty NO_COLOR does not count (no-color.org)
    expect((await runNodeInTty(dirs.cli, ['summary', demo], { NO_COLOR: '' })).stdout).toContain(ESC);
    expect((await cli('summary', demo, '--color')).stdout).toContain(`${ESC}[1m`);
  });

  test('errors first and counted left-outs by default; --all shows every item', async () => {
    const r = await cli('summary', crowded);
    expect(r.code).toBe(0);
    const findings = r.stdout.split('\n').filter((l) => / finding \d+$/.test(l));
    expect(findings).toHaveLength(12);
    expect(findings.slice(0, 5).every((l) => l.startsWith('  [error]'))).toBe(true);
    expect(findings.slice(5).every((l) => l.startsWith('  [warning]'))).toBe(true);
    expect(r.stdout).toContain('  ... 8 more warnings, 10 info: stagemeter summary --all shows them');
    const all = await cli('summary', crowded, '--all');
    expect(all.stdout.split('\n').filter((l) => / finding \d+$/.test(l))).toHaveLength(30);
    expect(all.stdout.split('\n').filter((l) => / flag \d+$/.test(l))).toHaveLength(30);
    expect(all.stdout).not.toContain('--all shows them');
  });

  test('--json prints the same summary as data', async () => {
    const r = await cli('summary', crowded, '--json');
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout) as ReportSummaryView;
    expect(view.run).toMatchObject({ name: 'labeling-demo', status: 'completed', rowsProcessed: 600_000 });
    expect(view.stages).toHaveLength(8);
    expect(view.findings).toHaveLength(12);
    expect(view.findingsLeftOut).toEqual({ error: 0, warning: 8, info: 10 });
    const all = JSON.parse((await cli('summary', crowded, '--json', '--all')).stdout) as ReportSummaryView;
    expect(all.findings).toHaveLength(30);
  });

  test('a report that fails the schema is refused with exit 2, never printed with NaN', async () => {
    const report = JSON.parse(readFileSync(demo, 'utf8')) as { run: Record<string, unknown> };
    report.run.rowsProcessed = null; // what JSON.stringify makes of NaN
    const bad = writeFile(dirs.dir, 'nan.json', report);
    const r = await cli('summary', bad);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr.trimEnd()).toBe(`stagemeter summary: ${bad} is not a valid stagemeter report: /run/rowsProcessed must be number`);
  });

  test('hostile stage names are shown escaped; --json keeps them exactly', async () => {
    const evil = 'load\x1b[2J\x1b[31m\r\u202eevil';
    const path = writeFile(dirs.dir, 'hostile.json', builtReport([{ name: evil, durationsMs: [5, 6] }, { name: '__proto__', durationsMs: [1, 2] }], 'run\x1b]0;pwned\x07'));
    const r = await cli('summary', path);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    expect(r.stdout).toContain('stagemeter: run\\x1b]0;pwned\\x07');
    expect(r.stdout).toContain('load\\x1b[2J\\x1b[31m\\r\\u202eevil');
    expect(r.stdout).toMatch(/\n__proto__\s+2\s/);
    const view = JSON.parse((await cli('summary', path, '--json')).stdout) as ReportSummaryView;
    expect(view.stages.map((s) => s.name).sort()).toEqual(['__proto__', evil].sort());
  });

  test('bad arguments and unreadable files: exit 2 with one line', async () => {
    for (const [args, message] of [
      [['summary'], 'stagemeter summary: missing <report.json> (usage: stagemeter summary --help)'],
      [['summary', demo, demo], 'stagemeter summary: too many arguments: expected <report.json>, got 2'],
      [['summary', demo, '--verbose'], 'stagemeter summary: unknown option --verbose (usage: stagemeter summary --help)'],
      [['summary', join(dirs.dir, 'none.json')], `stagemeter summary: cannot read ${join(dirs.dir, 'none.json')}: no such file (ENOENT)`],
      [['summary', writeFile(dirs.dir, 'cut.json', '{"schemaVersion": 1, "run": {')], 'cut.json is not valid JSON: '],
    ] as const) {
      const r = await cli(...args);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });
});
