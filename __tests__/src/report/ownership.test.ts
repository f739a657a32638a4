import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPerformanceMonitor, mergeReports, type PerformanceReport } from '../../../src/index';
import { resetGlobalStateForTests } from '../../../src/callpath/global';
import { childrenIn, claimOutput, claimPathFor, MAX_CHILDREN_LISTED, perProcessPath } from '../../../src/report/ownership';
import { runChild } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';

// Real child processes load the TypeScript compiler (~2 s each on a busy machine).
jest.setTimeout(120_000);

// the module object itself (a namespace import is frozen), so that writeSync can be replaced
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs') as typeof import('node:fs');
const FAMILY = join(__dirname, '../../fixtures/processFamily.ts');
const savedParent = process.env.STAGEMETER_PARENT;
let dir: string;

beforeEach(() => {
  resetGlobalStateForTests();
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-ownership-'));
});

afterEach(() => {
  resetGlobalStateForTests();
  if (savedParent === undefined) delete process.env.STAGEMETER_PARENT;
  else process.env.STAGEMETER_PARENT = savedParent;
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

function readReport(path: string): PerformanceReport {
  return expectValidReport(readFileSync(path, 'utf8'));
}

async function waitForFile(path: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function callsOf(report: PerformanceReport, stage: string): number {
  return report.stageSummaries.find((s) => s.name === stage)?.calls ?? 0;
}

describe('claims (in this process, with their own environment objects)', () => {
  test('a per-process path goes beside the report, before the extension', () => {
    expect(perProcessPath('/r/run.json', 42)).toBe('/r/run.42.json');
    expect(perProcessPath('reports/run', 42)).toBe('reports/run.42');
    expect(perProcessPath('/r/run.v2.json', 7)).toBe('/r/run.v2.7.json');
    expect(claimPathFor('/r/run.json')).toBe('/r/.run.json.owner');
  });

  test('the first claim owns the path and leaves a marker; a process that inherits it is a child, announced to the owner', () => {
    const path = join(dir, 'sub', 'run.json');
    const env: NodeJS.ProcessEnv = {};
    const owner = claimOutput(path, 'run-a', env, process.pid);
    expect(owner).toMatchObject({ role: 'owner', path, notes: [] });
    expect(env.STAGEMETER_PARENT).toBe(`${process.pid}:run-a:${resolve(path)}`);
    expect(JSON.parse(readFileSync(claimPathFor(path), 'utf8').split('\n')[0]!)).toEqual({ owner: process.pid, runId: 'run-a' });

    const childEnv = { ...env };
    const child = claimOutput(path, 'run-b', childEnv, 999_001);
    expect(child).toMatchObject({ role: 'child', path: join(dir, 'sub', 'run.999001.json'), parent: { pid: process.pid, runId: 'run-a' } });
    expect(childEnv.STAGEMETER_PARENT).toBe(env.STAGEMETER_PARENT); // a child leaves the owner's marker to its own children
    const grandchild = claimOutput(path, 'run-c', { ...childEnv }, 999_002);
    expect(grandchild.parent).toEqual({ pid: process.pid, runId: 'run-a' });
    expect(owner.children()).toEqual({
      listed: [
        { pid: 999_001, runId: 'run-b', path: join(dir, 'sub', 'run.999001.json') },
        { pid: 999_002, runId: 'run-c', path: join(dir, 'sub', 'run.999002.json') },
      ],
      omitted: 0,
    });

    owner.release();
    expect(existsSync(claimPathFor(path))).toBe(false);
    expect(owner.children()).toEqual({ listed: [], omitted: 0 });
    // once the owner has ended, its children still never take its path
    expect(claimOutput(path, 'run-d', { ...env }, 999_003)).toMatchObject({ role: 'child', path: join(dir, 'sub', 'run.999003.json') });
    expect(existsSync(claimPathFor(path))).toBe(false);
  });

  test('a marker for another report path is ignored: the process claims its own path', () => {
    const env: NodeJS.ProcessEnv = { STAGEMETER_PARENT: `${process.pid}:run-a:${join(dir, 'other.json')}` };
    const claim = claimOutput(join(dir, 'mine.json'), 'run-b', env, 999_004);
    expect(claim).toMatchObject({ role: 'owner', path: join(dir, 'mine.json') });
    expect(env.STAGEMETER_PARENT).toBe(`999004:run-b:${join(dir, 'mine.json')}`);
    claim.release();
  });

  test('a path held by another live process, without the marker: this one writes beside it, with a note', () => {
    const path = join(dir, 'run.json');
    const owner = claimOutput(path, 'run-a', {}, process.pid);
    const other = claimOutput(path, 'run-b', {}, 999_005);
    expect(other.role).toBe('sibling');
    expect(other.path).toBe(join(dir, 'run.999005.json'));
    expect(other.notes).toEqual([`${path} is owned by another running process (pid ${process.pid}); this run writes its report to ${other.path}`]);
    // a second run of the same process while the first is active
    expect(claimOutput(path, 'run-c', {}, process.pid).notes[0]).toContain('another running run of this process');
    // siblings are not children
    expect(owner.children().listed).toEqual([]);
    owner.release();
  });

  test('a claim left by a process that died is taken over; so is a file that is not a claim', () => {
    const path = join(dir, 'run.json');
    writeFileSync(claimPathFor(path), `${JSON.stringify({ owner: deadPid(), runId: 'killed' })}\n`);
    const a = claimOutput(path, 'run-a', {}, process.pid);
    expect(a).toMatchObject({ role: 'owner', path, notes: [] });
    a.release();
    writeFileSync(claimPathFor(path), '\u0000garbage{"owner":');
    const b = claimOutput(path, 'run-b', {}, process.pid);
    expect(b.role).toBe('owner');
    b.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  test('release removes only its own claim', () => {
    const path = join(dir, 'run.json');
    const a = claimOutput(path, 'run-a', {}, deadPid());
    // a's process "died"; b takes the claim over
    const b = claimOutput(path, 'run-b', {}, process.pid);
    expect(b.role).toBe('owner');
    a.release();
    expect(JSON.parse(readFileSync(claimPathFor(path), 'utf8'))).toEqual({ owner: process.pid, runId: 'run-b' });
    b.release();
  });

  test('a symlink planted at the claim path is replaced, never written through', () => {
    const path = join(dir, 'run.json');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, claimPathFor(path));
    const claim = claimOutput(path, 'run-a', {}, process.pid);
    expect(claim.role).toBe('owner');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    claim.release();
  });

  test('a path that cannot be claimed (its directory is a file) keeps the configured path, with a note, and never throws', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const path = join(dir, 'file', 'run.json');
    const env: NodeJS.ProcessEnv = {};
    const claim = claimOutput(path, 'run-a', env, process.pid);
    expect(claim).toMatchObject({ role: 'owner', path });
    expect(claim.notes[0]).toMatch(/could not be claimed \(ENOTDIR\)/);
    expect(env.STAGEMETER_PARENT).toBeUndefined();
    expect(() => claim.release()).not.toThrow();
  });

  test('a claim that cannot be written (disk full) leaves no empty claim file and no marker', () => {
    const path = join(dir, 'run.json');
    const env: NodeJS.ProcessEnv = {};
    jest.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    let claim;
    try {
      claim = claimOutput(path, 'run-a', env, process.pid);
    } finally {
      jest.restoreAllMocks();
    }
    expect(claim).toMatchObject({ role: 'owner', path });
    expect(claim.notes[0]).toContain('(ENOSPC)');
    expect(readdirSync(dir)).toEqual([]);
    expect(env.STAGEMETER_PARENT).toBeUndefined();
  });

  test('hostile characters in the report path survive the marker and the announcement', () => {
    const path = join(dir, 'a:b\n</script>\u001b[31m', 'run.json');
    const env: NodeJS.ProcessEnv = {};
    const owner = claimOutput(path, 'run-a', env, process.pid);
    const child = claimOutput(path, 'run-b', { ...env }, 999_006);
    expect(child).toMatchObject({ role: 'child', path: join(dir, 'a:b\n</script>\u001b[31m', 'run.999006.json') });
    expect(owner.children().listed).toEqual([{ pid: 999_006, runId: 'run-b', path: child.path }]);
    owner.release();
  });

  test('announcements: other runs, torn lines, duplicates and hostile strings are handled; the list is bounded', () => {
    const lines = [
      JSON.stringify({ owner: 1, runId: 'run-a' }),
      JSON.stringify({ child: 10, parentRunId: 'run-a', runId: 'c1', path: '/r/run.10.json' }),
      JSON.stringify({ child: 11, parentRunId: 'an-earlier-run', runId: 'c2', path: '/r/run.11.json' }),
      '{"child":12,"parentRunId":"run-a","runId":"c3","pa',
      JSON.stringify({ child: 10, parentRunId: 'run-a', runId: 'c1', path: '/r/run.10.json' }),
      JSON.stringify({ child: 13, parentRunId: 'run-a', runId: 'c4', path: '/r/</script>\u001b[31m\nrun.13.json' }),
      JSON.stringify({ child: '14', parentRunId: 'run-a', runId: 'c5', path: '/r/x' }),
      '{"child":15,"parentRunId":"run-a","runId":"c6","path":"/r/y","__proto__":{"polluted":true}}',
    ];
    const { listed, omitted } = childrenIn(lines.join('\n'), 'run-a');
    expect(listed).toEqual([
      { pid: 10, runId: 'c1', path: '/r/run.10.json' },
      { pid: 13, runId: 'c4', path: '/r/</script>\u001b[31m\nrun.13.json' },
      { pid: 15, runId: 'c6', path: '/r/y' },
    ]);
    expect(omitted).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const many = Array.from({ length: MAX_CHILDREN_LISTED + 5 }, (_, i) => JSON.stringify({ child: i + 2, parentRunId: 'r', runId: `c${i}`, path: `/r/${i}` })).join('\n');
    const bounded = childrenIn(many, 'r');
    expect(bounded.listed).toHaveLength(MAX_CHILDREN_LISTED);
    expect(bounded.omitted).toBe(5);
  });
});

describe('monitors sharing a path in one process (explicit mode)', () => {
  test('the second monitor writes beside the first, says so in a note, and both reports validate', () => {
    const path = join(dir, 'run.json');
    const a = createPerformanceMonitor({ outputPath: path, perProcessOutput: true, enableMemoryTracking: false });
    const b = createPerformanceMonitor({ outputPath: path, perProcessOutput: true, enableMemoryTracking: false });
    a.startMonitoring();
    b.startMonitoring();
    const rb = expectValidReport(b.stopMonitoring());
    const ra = expectValidReport(a.stopMonitoring());
    expect(ra.output).toEqual({ path, written: true });
    expect(rb.output).toEqual({ path: join(dir, `run.${process.pid}.json`), written: true });
    expect(rb.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', code: 'output_path_shared' }));
    expect(ra.qualityFlags.some((f) => f.code === 'output_path_shared')).toBe(false);
    expect(readReport(path).run.id).toBe(ra.run.id);
    expect(existsSync(claimPathFor(path))).toBe(false);
  });

  test('without perProcessOutput nothing is claimed and the path is written as configured', () => {
    const path = join(dir, 'run.json');
    const m = createPerformanceMonitor({ outputPath: path, enableMemoryTracking: false });
    m.startMonitoring();
    expect(existsSync(claimPathFor(path))).toBe(false);
    expect(m.stopMonitoring().output).toEqual({ path, written: true });
    expect(process.env.STAGEMETER_PARENT).toBe(savedParent);
  });

  test('sequential runs of one monitor each own the path again', () => {
    const path = join(dir, 'run.json');
    const m = createPerformanceMonitor({ outputPath: path, perProcessOutput: true, enableMemoryTracking: false });
    m.startMonitoring();
    const first = m.stopMonitoring();
    m.startMonitoring();
    const second = m.stopMonitoring();
    expect(first.output?.path).toBe(path);
    expect(second.output?.path).toBe(path);
    expect(readReport(path).run.id).toBe(second.run.id);
  });
});

describe('real child processes in zero-code mode (STAGEMETER_OUTPUT)', () => {
  test('forked children write <name>.<pid>.json beside the parent, which lists them; merge counts every call', async () => {
    const out = join(dir, 'run.json');
    const result = await runChild(FAMILY, ['fork', '2'], { env: { STAGEMETER_OUTPUT: out } });
    expect(result).toMatchObject({ code: 0, signal: null });
    const pids = events(result.stdout)[0]!.children as number[];
    const parent = readReport(out);
    expect(parent.run.host.pid).not.toBe(pids[0]);
    expect(callsOf(parent, 'plan')).toBe(3);
    expect(callsOf(parent, 'work')).toBe(0);
    expect(parent.run.parent).toBeUndefined();
    const children = pids.map((pid) => readReport(join(dir, `run.${pid}.json`)));
    expect([...(parent.run.children ?? [])].sort((x, y) => x.pid - y.pid)).toEqual(
      children.map((c) => ({ pid: c.run.host.pid, runId: c.run.id, path: join(dir, `run.${c.run.host.pid}.json`) })).sort((x, y) => x.pid - y.pid),
    );
    for (const c of children) {
      expect(c.run.parent).toEqual({ pid: parent.run.host.pid, runId: parent.run.id });
      expect(c.run.status).toBe('completed');
      expect(callsOf(c, 'work')).toBe(5);
    }
    const merged = mergeReports([parent, ...children]);
    expect(callsOf(merged, 'plan')).toBe(3);
    expect(callsOf(merged, 'work')).toBe(10);
    expect(merged.processes!.filter((p) => p.parentRunId === parent.run.id)).toHaveLength(2);
    expect(readdirSync(dir).sort()).toEqual(['run.json', ...pids.map((p) => `run.${p}.json`)].sort()); // no claim file left behind
  });

  test('cluster workers do the same', async () => {
    const out = join(dir, 'cluster.json');
    const result = await runChild(FAMILY, ['cluster', '2'], { env: { STAGEMETER_OUTPUT: out } });
    expect(result.code).toBe(0);
    const pids = events(result.stdout)[0]!.workers as number[];
    const primary = readReport(out);
    const workers = pids.map((pid) => readReport(join(dir, `cluster.${pid}.json`)));
    expect(primary.run.children?.map((c) => c.pid).sort()).toEqual([...pids].sort());
    expect(workers.every((w) => w.run.parent?.runId === primary.run.id)).toBe(true);
    const merged = mergeReports([primary, ...workers]);
    expect(callsOf(merged, 'plan')).toBe(1);
    expect(callsOf(merged, 'work')).toBe(10);
  });

  test('a detached child that outlives its parent leaves the parent report intact, its own beside it, and is listed', async () => {
    const out = join(dir, 'run.json');
    const result = await runChild(FAMILY, ['detach', 'before'], { env: { STAGEMETER_OUTPUT: out } });
    expect(result.code).toBe(0);
    const pid = events(result.stdout)[0]!.detached as number;
    const childPath = join(dir, `run.${pid}.json`);
    // the parent has ended; its child is still running and has not written its report yet
    const parentAtExit = readFileSync(out, 'utf8');
    expect(existsSync(childPath)).toBe(false);
    const parent = readReport(out);
    expect(parent.run.children).toEqual([{ pid, runId: expect.any(String), path: childPath }]);
    await waitForFile(childPath);
    const child = readReport(childPath);
    expect(readFileSync(out, 'utf8')).toBe(parentAtExit);
    expect(child.run.id).toBe(parent.run.children![0]!.runId);
    expect(child.run.parent).toEqual({ pid: parent.run.host.pid, runId: parent.run.id });
    const merged = mergeReports([parent, child]);
    expect(callsOf(merged, 'plan')).toBe(3);
    expect(callsOf(merged, 'work')).toBe(5);
  });

  test('a detached child that starts its run after its parent ended still never takes the parent path', async () => {
    const out = join(dir, 'run.json');
    const result = await runChild(FAMILY, ['detach', 'after'], { env: { STAGEMETER_OUTPUT: out } });
    const pid = events(result.stdout)[0]!.detached as number;
    const parentAtExit = readFileSync(out, 'utf8');
    const childPath = join(dir, `run.${pid}.json`);
    await waitForFile(childPath);
    const child = readReport(childPath);
    const parent = readReport(out);
    expect(readFileSync(out, 'utf8')).toBe(parentAtExit);
    expect(parent.run.children).toBeUndefined(); // it was not running yet when the parent wrote its report
    expect(child.run.parent?.runId).toBe(parent.run.id);
    expect(callsOf(child, 'work')).toBe(5);
    expect(existsSync(claimPathFor(out))).toBe(false);
  });
});

describe('independent programs with the same STAGEMETER_OUTPUT', () => {
  test('while one runs, the other writes beside it with a note; a later run owns the path again', async () => {
    const out = join(dir, 'run.json');
    const go = join(dir, 'go');
    let second: Promise<Awaited<ReturnType<typeof runChild>>> | undefined;
    const first = runChild(FAMILY, ['hold', go], {
      env: { STAGEMETER_OUTPUT: out },
      onStdout: () => {
        second ??= runChild(FAMILY, ['hold', ''], { env: { STAGEMETER_OUTPUT: out } }).then((r) => {
          writeFileSync(go, '');
          return r;
        });
      },
    });
    const a = await first;
    const b = await second!;
    const pidA = events(a.stdout)[0]!.pid as number;
    const pidB = events(b.stdout)[0]!.pid as number;
    const reportA = readReport(out);
    const reportB = readReport(join(dir, `run.${pidB}.json`));
    expect(reportA.run.host.pid).toBe(pidA);
    expect(reportA.run.children).toBeUndefined();
    expect(reportB.run.parent).toBeUndefined();
    expect(reportB.qualityFlags).toContainEqual(
      expect.objectContaining({ severity: 'info', code: 'output_path_shared', message: `${out} is owned by another running process (pid ${pidA}); this run writes its report to ${join(dir, `run.${pidB}.json`)}` }),
    );
    const c = await runChild(FAMILY, ['hold', ''], { env: { STAGEMETER_OUTPUT: out } });
    expect(readReport(out).run.host.pid).toBe(events(c.stdout)[0]!.pid);
    expect(existsSync(claimPathFor(out))).toBe(false);
  });

  test('an owner killed by SIGKILL leaves a stale claim, which the next program takes over', async () => {
    const out = join(dir, 'run.json');
    const killed = await runChild(FAMILY, ['hold', join(dir, 'never')], { env: { STAGEMETER_OUTPUT: out }, onStdout: (_c, kill) => kill('SIGKILL') });
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(claimPathFor(out))).toBe(true);
    const next = await runChild(FAMILY, ['hold', ''], { env: { STAGEMETER_OUTPUT: out } });
    const report = readReport(out);
    expect(report.run.host.pid).toBe(events(next.stdout)[0]!.pid);
    expect(report.qualityFlags.some((f) => f.code === 'output_path_shared')).toBe(false);
    expect(existsSync(claimPathFor(out))).toBe(false);
  });
});

describe('explicit mode (perProcessOutput)', () => {
  test('a forked child with the same options writes beside its parent, which lists it', async () => {
    const out = join(dir, 'explicit.json');
    const result = await runChild(FAMILY, ['explicit', out]);
    expect(result.code).toBe(0);
    const [child, parent] = events(result.stdout) as Array<{ pid: number; path: string; children: unknown[]; parent: unknown }>;
    expect(parent!.path).toBe(out);
    expect(child!.path).toBe(join(dir, `explicit.${child!.pid}.json`));
    expect(parent!.children).toEqual([{ pid: child!.pid, runId: readReport(child!.path).run.id, path: child!.path }]);
    expect(child!.parent).toEqual({ pid: parent!.pid, runId: readReport(out).run.id });
    expect(callsOf(mergeReports([readReport(out), readReport(child!.path)]), 'work')).toBe(10);
  });
});
