/**
 * Never break the host (whole programs): the same host program runs without stagemeter and with
 * it in several set-ups, healthy and faulty. Its exit code, stdout and stderr must be identical,
 * apart from the log lines the user asked for and one line saying a report could not be written,
 * and it must exit on its own with a run still active (every stagemeter timer is unref'd).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { outcome, readReport, runFixture, twoAtATime, useTempDir } from './support';

jest.setTimeout(90_000);
const tmp = useTempDir('hostproc');

const host = (env: NodeJS.ProcessEnv): Promise<ReturnType<typeof outcome>> => runFixture('host.ts', [], { env, timeoutMs: 30_000 }).then(outcome);

const BASELINE = {
  code: 4,
  signal: null,
  stdout: 'month 1: 101 rows, 51 even\nmonth 2: 102 rows, 102 even\npipeline finished\n',
  stderr: 'month 3 rejected: too many rows: 103\n',
};

describe('a host program behaves the same with and without monitoring', () => {
  test('monitored (never stopped, stopped, checkpoints on their own timer, zero-code-change) or faulty: same exit code, stdout and stderr; it exits on its own', async () => {
    const dir = tmp();
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const variants: Array<[string, NodeJS.ProcessEnv]> = [
      ['off', { REL_MONITOR: 'off' }],
      ['on', { REL_MONITOR: 'on', REL_OUTPUT: join(dir, 'on.json') }],
      ['ticker', { REL_MONITOR: 'ticker', REL_OUTPUT: join(dir, 'ticker.json') }],
      ['stopped', { REL_MONITOR: 'stopped', REL_OUTPUT: join(dir, 'stopped.json') }],
      ['zero-code', { REL_MONITOR: 'off', STAGEMETER_OUTPUT: join(dir, 'zero.json'), STAGEMETER_SAMPLE_MS: '10' }],
      ['faulty', { REL_MONITOR: 'faulty', REL_OUTPUT: join(blocker, 'run.json') }],
    ];
    const results = await twoAtATime(variants.map(([, env]) => () => host(env)));
    // A report that cannot be written is said once on stderr (no logger was given); nothing else differs.
    const failedWrite = /^stagemeter: the report could not be written to .*a-file\/run\.json: ENOTDIR: not a directory.*\n/m;
    variants.forEach(([name], i) => {
      const r = results[i]!;
      if (name === 'faulty') {
        expect(r.stderr).toMatch(failedWrite);
        expect(r.stderr.match(/^stagemeter:/gm)).toHaveLength(1);
        expect({ name, ...r, stderr: r.stderr.replace(failedWrite, '') }).toEqual({ name, ...BASELINE });
      } else {
        expect({ name, ...r }).toEqual({ name, ...BASELINE });
      }
    });

    // the runs still active at the end were written by the exit hook, with the exit code kept
    for (const name of ['on', 'ticker']) {
      const report = readReport(join(dir, `${name}.json`));
      expect(report.run).toMatchObject({ name: `host-${name}`, status: 'aborted', endReason: 'exit(4)' });
      expect(report.stageSummaries.map((s) => [s.name, s.calls, s.failures]).sort()).toEqual([
        ['Labeler.label', 3, 0],
        ['load', 3, 0],
        ['validate', 3, 1],
      ]);
    }
    expect(readReport(join(dir, 'stopped.json')).run).toMatchObject({ status: 'completed', endReason: 'stopMonitoring' });
    expect(readReport(join(dir, 'zero.json')).run).toMatchObject({ name: 'host.js', status: 'aborted', endReason: 'exit(4)' });
    expect(readFileSync(blocker, 'utf8')).toBe('not a directory');
  });

  test('with detailed logging on, the log lines on stderr are the only difference', async () => {
    const out = join(tmp(), 'logging.json');
    const logged = await host({ REL_MONITOR: 'logging', REL_OUTPUT: out });
    const lines = logged.stderr.split('\n');
    const ours = lines.filter((l) => l.startsWith('{') && (JSON.parse(l) as { name?: string }).name === 'stagemeter');
    expect(ours.length).toBeGreaterThan(5);
    expect({ ...logged, stderr: lines.filter((l) => !ours.includes(l)).join('\n') }).toEqual(BASELINE);
    expect(existsSync(out)).toBe(true);
  });

  test('a logger whose stream fails asynchronously (an unhandled stream error) never crashes the host', async () => {
    const result = await host({ REL_MONITOR: 'logger-err', REL_OUTPUT: join(tmp(), 'logger-err.json') });
    expect(result).toEqual(BASELINE);
  });
});
