import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { VERSION } from '../../../src/version';
import type { ChildResult } from '../../helpers/child';
import { builtReport, runNode, testDirs, writeFile } from './support';

describe('the stagemeter command line', () => {
  const dirs = testDirs();
  const cli = (...args: string[]): Promise<ChildResult> => runNode(dirs.cli, args);

  test('--help lists every command with one line each, exit 0', async () => {
    const r = await cli('--help');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: stagemeter <command> \[arguments\]\n/);
    for (const name of ['summary', 'validate', 'diff']) expect(r.stdout).toMatch(new RegExp(`\\n {2}${name} +\\S`));
    expect((await cli('-h')).stdout).toBe(r.stdout);
  });

  test('every command has --help, anywhere on its line, exit 0', async () => {
    for (const name of ['summary', 'validate', 'diff']) {
      const r = await cli(name, '--help');
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^usage: stagemeter ${name} `));
      expect(r.stdout).toContain('exit codes:');
      expect((await cli(name, 'some.json', '-h')).stdout).toBe(r.stdout);
      expect((await cli('help', name)).stdout).toBe(r.stdout);
    }
  });

  test('--version prints the version', async () => {
    expect(await cli('--version')).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  test('no command, or an unknown one: exit 2 with one line naming the commands', async () => {
    for (const [args, message] of [
      [[], 'stagemeter: missing <command>: the commands are summary, validate, diff, html, trace, merge (usage: stagemeter --help)'],
      [['explode'], 'stagemeter: unknown command "explode": the commands are summary, validate, diff, html, trace, merge (usage: stagemeter --help)'],
      [['--fast'], 'stagemeter: unknown option "--fast"'],
      [['\x1b[2Jx'], 'stagemeter: unknown command "\\\\x1b[2Jx"'],
    ] as const) {
      const r = await cli(...args);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  test('a reader that closes the pipe early ends the command quietly, not with an EPIPE trace', async () => {
    const specs = Array.from({ length: 3000 }, (_, i) => ({ name: `stage_${i}_${'x'.repeat(40)}`, durationsMs: [1 + (i % 7)] }));
    const path = writeFile(dirs.dir, 'wide.json', builtReport(specs));
    const r = await new Promise<ChildResult>((done, reject) => {
      const child = spawn(process.execPath, [dirs.cli, 'summary', path, '--all'], { env: { ...process.env, NODE_PATH: resolve(__dirname, '..', '..', '..', 'node_modules') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('exit', (code, signal) => done({ code, signal, stdout: '', stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
