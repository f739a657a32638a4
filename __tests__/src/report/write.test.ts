import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPerformanceMonitor, generatePerformanceReportJson, reportSchema, VERSION } from '../../../src/index';
import { writeFileAtomic } from '../../../src/report/write';
import { expectValidReport } from '../../helpers/schema';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-report-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function sampleReport() {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  m.startMonitoring({ runName: 'r' });
  m.endStage(m.startStage('a', { k: 1 }), 5);
  return m.stopMonitoring();
}

describe('the report writer', () => {
  test('generatePerformanceReportJson returns indented JSON and writes it when given a path', () => {
    const report = sampleReport();
    const out = join(dir, 'a', 'b.json');
    const text = generatePerformanceReportJson(report, out);
    expect(text).toBe(`${JSON.stringify(report, null, 2)}\n`);
    expect(readFileSync(out, 'utf8')).toBe(text);
    expectValidReport(text);
    expect(generatePerformanceReportJson(report)).toBe(text);
  });

  test('an explicit write that fails throws the file-system error to the caller', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => generatePerformanceReportJson(sampleReport(), join(dir, 'file', 'r.json'))).toThrow(/ENOTDIR|EEXIST/);
  });

  test('an atomic write replaces the file whole and leaves no temp file behind', () => {
    const out = join(dir, 'r.json');
    writeFileAtomic(out, 'old');
    writeFileAtomic(out, 'new content');
    expect(readFileSync(out, 'utf8')).toBe('new content');
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  test('a symlink at the destination is replaced, never written through', () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    const out = join(dir, 'r.json');
    symlinkSync(victim, out);
    writeFileAtomic(out, 'report');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(out, 'utf8')).toBe('report');
  });

  test('a failed write removes its temp file', () => {
    const target = join(dir, 'is-a-dir');
    writeFileSync(join(dir, 'keep'), '');
    require('node:fs').mkdirSync(target);
    expect(() => writeFileAtomic(target, 'x')).toThrow();
    expect(readdirSync(dir).sort()).toEqual(['is-a-dir', 'keep']);
    expect(existsSync(join(target, 'x'))).toBe(false);
  });

  test('the shipped schema file is the exported schema, and the report carries the package version', () => {
    const onDisk = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'docs', 'report.schema.json'), 'utf8'));
    expect(reportSchema).toEqual(onDisk);
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    expect(VERSION).toBe(pkg.version);
    expect(sampleReport().generator).toEqual({ name: 'stagemeter', version: pkg.version });
  });

  test('the schema rejects what a report must not contain', () => {
    const report = JSON.parse(JSON.stringify(sampleReport()));
    expect(() => expectValidReport({ ...report, stages: [{ ...report.stages[0], durationMs: -1 }] })).toThrow();
    expect(() => expectValidReport({ ...report, summary: { ...report.summary, memoryEfficiencyScore: 120 } })).toThrow();
    expect(() => expectValidReport({ ...report, run: { ...report.run, status: 'finished' } })).toThrow();
    expect(() => expectValidReport({ ...report, surprise: 1 })).toThrow();
    const { memory: _m, ...noMemory } = report;
    expect(() => expectValidReport(noMemory)).toThrow();
  });
});
