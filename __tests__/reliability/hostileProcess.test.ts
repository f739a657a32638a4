/**
 * What a host process sees of stagemeter, run for real in child processes and compared with the
 * same program unmonitored: printed promises, unhandled rejections, the crash excerpt, the global
 * Reflect (also under --frozen-intrinsics), report paths that are FIFOs, devices or below a
 * regular file, and the hints for common slips.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPerformanceMonitor, withStage } from '../../src/index';
import type { ChildResult } from '../helpers/child';
import { compileForNode } from './compile';
import { outcome, readReport, runCompiled, runFixture, useTempDir } from './support';

jest.setTimeout(120_000);
const tmp = useTempDir('hostile-process');

const run = (args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<ChildResult> => runCompiled('hostile.ts', args, { env, nodeArgs, timeoutMs: 30_000 });

/** stagemeter's own stderr lines (the ones a monitored run adds). */
const ownLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('stagemeter:'));

describe('printing a program\'s promise', () => {
  test.each(['promise', 'asyncLocalStorage'])('under asyncContext %s: console.log prints the same as unmonitored, inside a stage and after, and util.inspect shows nothing of the run', async (asyncContext) => {
    const [plain, monitored] = await Promise.all([run(['inspect', asyncContext], { REL_MONITOR: 'off' }), run(['inspect', asyncContext])]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('returned, settled: Promise { 3 }');
    expect(monitored.stdout).not.toMatch(/hunter2|orders|Frame|RunState|RunLink|stats|metadata|stagemeter/);
    if (asyncContext === 'promise') {
      expect(outcome(monitored)).toEqual(outcome(plain));
      return;
    }
    // Under an AsyncLocalStorage Node's async hooks are on, and Node itself prints the async ids
    // it puts on every promise, and with showHidden the store it carries (kResourceStore), as for
    // any program that uses one: stagemeter's store prints as an opaque token. Without those, the
    // output is the same.
    expect(monitored.stdout).toMatch(/\[Symbol\(kResourceStore\)\]: \[stage context\]/);
    const withoutHooks = (text: string): string =>
      text.replace(/Promise \{\n {2}(.*),\n {2}\[Symbol\(async_id_symbol\)\]: \w+,\n {2}\[Symbol\(trigger_async_id_symbol\)\]: \w+(,\n {2}\[Symbol\(kResourceStore\)\]: \[stage context\])?\n\}/g, 'Promise { $1 }');
    expect({ ...outcome(monitored), stdout: withoutHooks(monitored.stdout) }).toEqual(outcome(plain));
  });
});

describe('an unhandled rejection stays unhandled', () => {
  test('nobody handles it: the same crash, the same message, the same exit code', async () => {
    const out = join(tmp(), 'run.json');
    const [plain, monitored] = await Promise.all([run(['unhandled'], { REL_MONITOR: 'off' }), run(['unhandled'], { REL_OUTPUT: out })]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('RangeError: bad batch 7');
    expect(outcome(monitored)).toEqual(outcome(plain));
    const report = readReport(out);
    expect(report.run.status).toBe('aborted');
    expect(report.stageSummaries.find((s) => s.name === 'fails')).toMatchObject({ calls: 2, failures: 2 });
  });

  test('the program\'s own unhandledRejection listener hears it once, with the same reason; the handled one stays handled', async () => {
    const [plain, monitored] = await Promise.all([run(['unhandled-listener'], { REL_MONITOR: 'off' }), run(['unhandled-listener'], { REL_OUTPUT: join(tmp(), 'run.json') })]);
    expect(plain.stdout).toBe('caught: bad batch 1\ncaught: handled by the program\nunhandledRejection: bad batch 7\nstill running\n');
    expect(outcome(monitored)).toEqual(outcome(plain));
  });
});

describe('a rejection the program handles stays handled', () => {
  test('a stage that handles its own promise (p.catch(log); return p) and a caller that ignores it: no crash, the same output', async () => {
    const out = join(tmp(), 'run.json');
    const [plain, monitored] = await Promise.all([run(['handled-inside'], { REL_MONITOR: 'off' }), run(['handled-inside'], { REL_OUTPUT: out })]);
    expect(plain).toMatchObject({ code: 0, stderr: '' });
    expect(plain.stdout).toBe('logged: write 1 failed\nlogged: write 2 failed\nlogged: write 3 failed\nlogged: async write 4 failed\nsaved\nstill running\n');
    expect(outcome(monitored)).toEqual(outcome(plain));
    expect(readReport(out).stageSummaries.find((s) => s.name === 'save')).toMatchObject({ calls: 3, failures: 3 });
  });
});

describe('the crash of a sync stage that throws', () => {
  test('the stack starts at the user\'s line; Node\'s fatal excerpt shows the rethrow; the error, the rest of stderr and the exit code are the same', async () => {
    const out = join(tmp(), 'run.json');
    const [plain, monitored] = await Promise.all([run(['crash'], { REL_MONITOR: 'off' }), run(['crash'], { REL_OUTPUT: out })]);
    expect(plain.code).toBe(1);
    // Node's excerpt (file:line, the source line, the caret) is where the value was last thrown:
    // the user's throw unmonitored, the call path's rethrow monitored (docs/reliability.md, 1.1)
    const excerpt = (s: string): string => s.split('\n').slice(0, 3).join('\n');
    expect(excerpt(plain.stderr)).toMatch(/hostile\.js:\d+\n.*throw new SyntaxError/);
    expect(excerpt(monitored.stderr)).toMatch(/src[\\/]callpath[\\/]invoke\.js:\d+\n\s*throw error;\n\s*\^$/);
    // the stack starts at the user's throw in both; the wrapper's frames come below it
    const frames = (s: string): string[] => s.split('\n').filter((l) => /^\s+at /.test(l));
    expect(frames(monitored.stderr)[0]).toBe(frames(plain.stderr)[0]);
    expect(frames(monitored.stderr)[0]).toMatch(/fixtures[\\/]hostile\.js:\d+:\d+\)$/);
    const rest = (r: ChildResult): ReturnType<typeof outcome> => {
      const o = outcome(r);
      return { ...o, stderr: o.stderr.split('\n').slice(3).join('\n') };
    };
    expect(rest(monitored)).toEqual(rest(plain));
    expect(rest(plain).stderr).toContain('SyntaxError: cannot parse abcdef');
    expect(readReport(out).stageSummaries.find((s) => s.name === 'parse')).toMatchObject({ calls: 2, failures: 1 });
  });
});

describe('global side effects', () => {
  test('loading the package and decorating leaves the global Reflect as it was', async () => {
    const r = await run(['reflect']);
    expect(r.code).toBe(0);
    const seen = JSON.parse(r.stdout) as { before: string[]; after: string[]; total: number; stages: string[]; stagesListed: unknown };
    expect(seen.after).toEqual(seen.before);
    expect(seen.before).not.toContain('defineMetadata');
    expect(seen).toMatchObject({ total: 3, stages: ['Engine.score', 'w'], stagesListed: [{ method: 'score', name: 'Engine.score' }] });
  });

  test('works under node --frozen-intrinsics', async () => {
    const r = await run(['reflect'], {}, ['--frozen-intrinsics', '--no-warnings']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 3, stages: ['Engine.score', 'w'] });
  });
});

describe('report paths that are not regular files', () => {
  /** The host fixture's own outcome, unmonitored. */
  let baseline: Promise<ReturnType<typeof outcome>> | undefined;
  const plainHost = (): Promise<ReturnType<typeof outcome>> => (baseline ??= runFixture('host.ts', [], { env: { REL_MONITOR: 'off' } }).then(outcome));

  function expectSameWithOneLine(monitored: ChildResult, plain: ReturnType<typeof outcome>, why: RegExp): void {
    const got = outcome(monitored);
    expect({ code: got.code, signal: got.signal, stdout: got.stdout }).toEqual({ code: plain.code, signal: plain.signal, stdout: plain.stdout });
    expect(got.stderr).toContain(plain.stderr);
    const extra = got.stderr.replace(plain.stderr, '');
    expect(extra).toMatch(/^stagemeter: the report could not be written to .*\n$/);
    expect(extra).toMatch(why);
  }

  test('a FIFO, in zero-code mode and with outputPath at exit: left a FIFO, nothing blocks, one stderr line, exit code unchanged', async () => {
    const fifo = join(tmp(), 'report.fifo');
    execFileSync('mkfifo', [fifo]);
    const [plain, zeroCode, atExit] = await Promise.all([
      plainHost(),
      runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: fifo }, timeoutMs: 20_000 }),
      runFixture('host.ts', [], { env: { REL_MONITOR: 'ticker', REL_OUTPUT: fifo }, timeoutMs: 20_000 }),
    ]);
    expectSameWithOneLine(zeroCode, plain, /ENOTREGULAR: .* is a FIFO/);
    expectSameWithOneLine(atExit, plain, /ENOTREGULAR: .* is a FIFO/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(tmp())).toEqual(['report.fifo']);
  });

  test('in the process: stopMonitoring() returns the report with the flag and output.written false, the FIFO left alone', () => {
    const fifo = join(tmp(), 'report.fifo');
    execFileSync('mkfifo', [fifo]);
    const lines: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(((chunk: string) => lines.push(String(chunk)) > 0) as typeof process.stderr.write);
    let report;
    try {
      const m = createPerformanceMonitor({ enableMemoryTracking: false, outputPath: fifo });
      m.startMonitoring();
      withStage('s', (x: number[]) => x.length, { monitor: m })([1, 2]);
      report = m.stopMonitoring();
    } finally {
      write.mockRestore();
    }
    expect(report.output).toMatchObject({ written: false, error: expect.stringMatching(/ENOTREGULAR: .* is a FIFO/) });
    expect(report.qualityFlags.find((f) => f.code === 'report_write_failed')?.severity).toBe('error');
    expect(lines.filter((l) => l.startsWith('stagemeter:'))).toHaveLength(1);
    expect(statSync(fifo).isFIFO()).toBe(true);
  });

  test('a character device: never replaced (a device node made for the test as root, /dev/null otherwise)', async () => {
    let device = '/dev/null';
    if (process.getuid?.() === 0) {
      // root could replace the real /dev/null: a node of the same device in the temp directory stands in
      device = join(tmp(), 'null-device');
      execFileSync('mknod', [device, 'c', '1', '3']);
    }
    const before = statSync(device);
    expect(before.isCharacterDevice()).toBe(true);
    const [plain, zeroCode] = await Promise.all([plainHost(), runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: device }, timeoutMs: 20_000 })]);
    expectSameWithOneLine(zeroCode, plain, /ENOTREGULAR: .* is a device/);
    const after = statSync(device);
    expect({ dev: after.rdev, ino: after.ino, char: after.isCharacterDevice() }).toEqual({ dev: before.rdev, ino: before.ino, char: true });
  });

  test('a path below a regular file (ENOTDIR), in zero-code mode and at exit: one stderr line, exit code unchanged', async () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'not a directory');
    const out = join(file, 'reports', 'run.json');
    const [plain, zeroCode, atExit] = await Promise.all([
      plainHost(),
      runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: out } }),
      runFixture('host.ts', [], { env: { REL_MONITOR: 'ticker', REL_OUTPUT: out } }),
    ]);
    expectSameWithOneLine(zeroCode, plain, /ENOTDIR/);
    expectSameWithOneLine(atExit, plain, /ENOTDIR/);
    expect(readdirSync(tmp())).toEqual(['a-file']);
  });
});

describe('hints for common slips', () => {
  test('a run still active at exit with no outputPath: one stderr line says the report is lost; output and exit code unchanged', async () => {
    const [plain, monitored] = await Promise.all([run(['exit-active'], { REL_MONITOR: 'off' }), run(['exit-active'])]);
    expect(plain).toMatchObject({ code: 3, stdout: '3\n', stderr: '' });
    expect({ code: monitored.code, stdout: monitored.stdout }).toEqual({ code: 3, stdout: '3\n' });
    expect(ownLines(monitored.stderr)).toHaveLength(1);
    expect(monitored.stderr).toMatch(/^stagemeter: a run was still active when the process exited, and it has no outputPath: its report is lost \(call stopMonitoring\(\), or set outputPath\)\n$/);
  });

  test('hooks ran while the started monitor was not the singleton: its report says setMonitor() was probably forgotten', async () => {
    const r = await run(['unset-singleton']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('15\n');
    const seen = JSON.parse(r.stderr) as { stages: number; flags: Array<[string, string]> };
    expect(seen.stages).toBe(0);
    const hint = seen.flags.find(([code]) => code === 'hooks_elsewhere');
    expect(hint?.[1]).toMatch(/5 hook calls .* setMonitor\(monitor\)/);
  });
});

describe('two installed copies of the package', () => {
  test('setMonitor(getMonitor()) across the copies does not throw, and both copies\' hooks record into the one run', async () => {
    const entry = join(__dirname, '..', '..', 'src', 'index.ts');
    const copies = ['copy-a', 'copy-b'].map((dir) => compileForNode(entry, join(tmp(), dir)));
    const r = await runCompiled('twoInstalls.ts', copies, { timeoutMs: 60_000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ distinct: true, setA: 'ok', setB: 'ok', stages: ['from-a', 'from-b'] });
  });
});
