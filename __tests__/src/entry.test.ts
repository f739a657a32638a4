import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '../../src/index';
import { main } from '../../src/cli';
import { createPerformanceMonitor, generatePerformanceReportJson } from '../../src/index';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

describe('public entry points', () => {
  test('the ESM entry re-exports exactly the names of the CommonJS entry', () => {
    const mts = readFileSync(join(__dirname, '..', '..', 'src', 'index.mts'), 'utf8');
    const block = /export \{([^}]*)\} from '\.\/index\.js'/.exec(mts)?.[1] ?? '';
    const esmNames = block.split(',').map((s) => s.trim()).filter(Boolean).sort();
    expect(esmNames).toEqual(Object.keys(api).filter((k) => k !== '__esModule').sort());
  });

  test('the contract names are exported', () => {
    for (const name of ['createPerformanceMonitor', 'getMonitor', 'setMonitor', 'withStage', 'MonitoredStage', 'recordRows', 'stageTransform', 'getMonitoredStages', 'generatePerformanceReportJson', 'reportSchema', 'ConfigError']) {
      expect(api).toHaveProperty(name);
    }
  });
});

describe('the stagemeter command', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagemeter-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(...argv: string[]): { code: number; out: string; err: string } {
    let out = '';
    let err = '';
    const code = main(argv, (s) => (out += `${s}\n`), (s) => (err += `${s}\n`));
    return { code, out, err };
  }

  function writeReport(): string {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ runName: 'cli-run' });
    m.endStage(m.startStage('load'), 1000);
    const path = join(dir, 'r.json');
    generatePerformanceReportJson(m.stopMonitoring(), path);
    return path;
  }

  test('summary prints the run and its stages', () => {
    const r = run('summary', writeReport());
    expect(r.code).toBe(0);
    expect(r.out).toContain('stagemeter: cli-run (completed) - 1,000 rows');
    expect(r.out).toMatch(/\nload\s+1\s/);
  });

  test('validate accepts a report and rejects a damaged one with the reasons', () => {
    const path = writeReport();
    expect(run('validate', path)).toMatchObject({ code: 0, out: `${path}: valid stagemeter report\n` });
    const bad = JSON.parse(readFileSync(path, 'utf8'));
    delete bad.run;
    writeFileSync(path, JSON.stringify(bad));
    const r = run('validate', path);
    expect(r.code).toBe(1);
    expect(r.err).toContain("must have required property 'run'");
  });

  test('bad usage, a missing file and junk JSON are reported with exit code 2', () => {
    expect(run().code).toBe(2);
    expect(run('explode', 'x').err).toContain('usage: stagemeter');
    expect(run('summary').err).toContain('missing <report.json>');
    expect(run('summary', join(dir, 'nope.json')).err).toContain('ENOENT');
    writeFileSync(join(dir, 'junk.json'), '{');
    expect(run('validate', join(dir, 'junk.json')).code).toBe(2);
    expect(run('--version').out.trim()).toBe(api.VERSION);
  });
});
