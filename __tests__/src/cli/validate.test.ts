import type { ChildResult } from '../../helpers/child';
import { builtReport, runNode, testDirs, writeFile } from './support';

describe('stagemeter validate', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);
  const valid = (): Record<string, unknown> => builtReport([{ name: 'load', durationsMs: [3, 4] }]) as unknown as Record<string, unknown>;

  test('a valid report: exit 0 and one line on stdout', async () => {
    const path = writeFile(dirs.dir, 'ok.json', valid());
    expect(await cli('validate', path)).toMatchObject({ code: 0, stdout: `${path}: valid stagemeter report\n`, stderr: '' });
  });

  test('an invalid report is an answer, exit 1, with every problem on stderr', async () => {
    const report = valid();
    delete report.run;
    (report.summary as Record<string, unknown>).peakMemoryMb = null;
    report.extra = true;
    const path = writeFile(dirs.dir, 'bad.json', report);
    const r = await cli('validate', path);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${path}: invalid stagemeter report`,
      "  (root) must have required property 'run'",
      '  (root) must NOT have additional properties: extra',
      '  /summary/peakMemoryMb must be number',
    ]);
  });

  test('a report of another schema version says so before the schema problems', async () => {
    const path = writeFile(dirs.dir, 'v9.json', { ...valid(), schemaVersion: 9 });
    const r = await cli('validate', path);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual([`${path}: invalid stagemeter report`, '  report schema version 9; this stagemeter reads version 1']);
  });

  test('a report broken everywhere lists 50 problems and counts the rest', async () => {
    const report = valid() as { stages: Array<Record<string, unknown>> };
    report.stages = Array.from({ length: 80 }, () => ({ id: '' }));
    const r = await cli('validate', writeFile(dirs.dir, 'broken.json', report));
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 50 + 1);
    expect(lines.at(-1)).toMatch(/^ {2}\.\.\. \d+ more$/);
  });

  test('a file that is not JSON, or missing: exit 2, one line', async () => {
    for (const [path, message] of [
      [writeFile(dirs.dir, 'junk.json', 'not json'), 'junk.json is not valid JSON: '],
      [writeFile(dirs.dir, 'cut.json', '{"schemaVersion": 1, "stages": [{"id": "1"'), '(the file ends early: was it cut off while being written or copied?)'],
      [`${dirs.dir}/missing.json`, 'no such file (ENOENT)'],
    ] as const) {
      const r = await cli('validate', path);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });
});
