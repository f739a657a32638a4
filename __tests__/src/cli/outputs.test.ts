import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import type { PerformanceReport } from '../../../src/types';
import type { ChildResult } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';
import { runNode, testDirs, writeFile } from './support';

/** A real run: `calls` calls of `load` (rows: the array) each calling `parse` once. */
function realReport(name: string, calls: number): PerformanceReport {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  m.startMonitoring({ runName: name });
  const parse = withStage('parse', (rows: number[]) => rows.map((x) => x * 2), { monitor: m });
  const load = withStage('load', (rows: number[]) => parse(rows), { monitor: m });
  for (let i = 0; i < calls; i++) load([1, 2, 3, 4]);
  return expectValidReport(m.stopMonitoring());
}

describe('stagemeter html, trace and merge', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);

  test('html writes one self-contained page beside the report, or where -o says', async () => {
    const path = writeFile(dirs.dir, 'html-run.json', realReport('html-run', 20));
    const r = await cli('html', path);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const page = readFileSync(join(dirs.dir, 'html-run.html'), 'utf8');
    expect(page.startsWith('<!doctype html>') || page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).toContain('html-run');
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
    const other = join(dirs.dir, 'elsewhere.html');
    expect(await cli('html', path, '-o', other)).toMatchObject({ code: 0 });
    expect(readFileSync(other, 'utf8')).toBe(page);
  });

  test('trace writes one complete event per kept call, nested under its parent', async () => {
    const report = realReport('trace-run', 15);
    const path = writeFile(dirs.dir, 'trace-run.json', report);
    expect(await cli('trace', path)).toMatchObject({ code: 0, stderr: '' });
    const trace = JSON.parse(readFileSync(join(dirs.dir, 'trace-run.trace.json'), 'utf8')) as { traceEvents: Array<{ ph: string; name: string; ts: number; dur?: number }> };
    const calls = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(calls).toHaveLength(report.stages.length);
    expect(calls.filter((e) => e.name === 'parse')).toHaveLength(15);
    const load = calls.filter((e) => e.name === 'load').sort((a, b) => a.ts - b.ts)[0]!;
    const parse = calls.filter((e) => e.name === 'parse').sort((a, b) => a.ts - b.ts)[0]!;
    expect(parse.ts).toBeGreaterThanOrEqual(load.ts);
    expect(parse.ts + parse.dur!).toBeLessThanOrEqual(load.ts + load.dur! + 1e-3);
  });

  test('merge sums the calls and rows of each stage over the reports, to stdout or -o', async () => {
    const a = writeFile(dirs.dir, 'shard-a.json', realReport('shards', 10));
    const b = writeFile(dirs.dir, 'shard-b.json', realReport('shards', 30));
    const out = await cli('merge', a, b);
    expect(out.code).toBe(0);
    const merged = expectValidReport(JSON.parse(out.stdout) as PerformanceReport);
    const load = merged.stageSummaries.find((s) => s.name === 'load')!;
    expect(load.calls).toBe(40);
    expect(load.rowsProcessed).toBe(160);
    expect(merged.processes).toHaveLength(2);
    const file = join(dirs.dir, 'merged.json');
    const r = await cli('merge', a, b, '-o', file);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    expect(r.stderr).toContain('2 processes merged from 2 reports');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ stageSummaries: merged.stageSummaries });
  });

  test('bad input: the same report twice, a missing file, an unwritable output, no argument: exit 2, one line', async () => {
    const a = writeFile(dirs.dir, 'once.json', realReport('once', 3));
    for (const [args, message] of [
      [['merge', a, a], 'are the same run'],
      [['merge', a, join(dirs.dir, 'missing.json')], 'no such file (ENOENT)'],
      [['html', a, '-o', join(dirs.dir, 'no', 'such', 'dir.html')], 'cannot write'],
      [['trace', a, '-o', dirs.dir], 'cannot write'],
      [['trace'], 'missing <report.json>'],
      [['html', a, '--open'], 'unknown option --open'],
    ] as const) {
      const r = await cli(...args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  test('each command has its --help', async () => {
    for (const name of ['html', 'trace', 'merge']) {
      const r = await cli(name, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: stagemeter ${name} `));
    }
  });
});
