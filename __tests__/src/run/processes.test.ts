import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPerformanceMonitor, mergeReports, withStage, type PerformanceMonitor, type PerformanceReport, type TrackedProcess } from '../../../src/index';
import { RUN_KEY } from '../../../src/callpath/global';
import { MAX_TRACKED_SAMPLES, ProcessTracker, type ProcessReader } from '../../../src/run/processes';
import type { RunState } from '../../../src/run/state';
import { runChild } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';

jest.setTimeout(60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let monitor: PerformanceMonitor | undefined;
const children: ChildProcess[] = [];

afterEach(() => {
  if (monitor?.isMonitoring) monitor.stopMonitoring();
  monitor = undefined;
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function start(options: Parameters<typeof createPerformanceMonitor>[0] = {}): PerformanceMonitor {
  monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 50, ...options });
  monitor.startMonitoring();
  return monitor;
}

function run(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

function node(code: string): ChildProcess {
  return run(process.execPath, ['-e', code]);
}

/** Resolves with the child's stdout when it exits. */
function finished(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout })));
}

function stop(): PerformanceReport {
  return expectValidReport(monitor!.stopMonitoring());
}

function only(report: PerformanceReport): TrackedProcess {
  expect(report.trackedProcesses).toHaveLength(1);
  return report.trackedProcesses![0]!;
}

/** A pid no process has now. */
function unusedPid(): number {
  for (let pid = 4_000_000; pid > 1000; pid -= 7919) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid found');
}

/** The active run of a monitor (internal). */
function runOf(m: PerformanceMonitor): RunState {
  const state = (m as unknown as Record<typeof RUN_KEY, { run: RunState | undefined }>)[RUN_KEY].run;
  if (state === undefined) throw new Error('no active run');
  return state;
}

function noErrors(report: PerformanceReport): void {
  expect(report.qualityFlags.filter((f) => f.severity === 'error')).toEqual([]);
}

describe('trackProcess() with real processes', () => {
  test('a busy child: its CPU matches what it measured itself, the exit code and the spawning stage are kept', async () => {
    const m = start();
    const code = 'const end = Date.now() + 1200; let x = 0; while (Date.now() < end) x++; const u = process.cpuUsage(); console.log(JSON.stringify({ cpuMs: (u.user + u.system) / 1000 }))';
    const transcode = withStage(
      'transcode',
      async () => {
        const child = node(code);
        const done = finished(child);
        await sleep(1); // an await inside the stage: the stage is still found
        m.trackProcess(child);
        return { child, result: await done };
      },
      { monitor: m },
    );
    const { child, result } = await transcode();
    const report = stop();
    const p = only(report);
    const truth = (JSON.parse(result.stdout) as { cpuMs: number }).cpuMs;
    expect(p).toMatchObject({ pid: child.pid, command: 'node', stage: 'transcode', exitCode: 0, endedBy: 'exit' });
    expect(p.signal).toBeUndefined();
    // the last read comes at most one interval (50 ms) before the end; /proc counts in 10 ms ticks
    expect(p.cpuMs).toBeLessThanOrEqual(truth + 20);
    expect(p.cpuMs).toBeGreaterThanOrEqual(truth - 50 - 150);
    expect(p.cpuPercentMax).toBeGreaterThan(50);
    expect(p.cpuPercentMean).toBeGreaterThan(40);
    expect(p.lifetimeMs).toBeGreaterThanOrEqual(1200);
    expect(p.sampleCount).toBeGreaterThanOrEqual(5);
    expect(p.samples).toHaveLength(p.sampleCount);
    for (let i = 1; i < p.samples.length; i++) expect(p.samples[i]!.t).toBeGreaterThan(p.samples[i - 1]!.t);
    expect(p.samples[0]!.cpuPercent).toBeUndefined();
    expect(p.peakRssMb).toBe(Math.max(...p.samples.map((s) => s.rssMb)));
    expect(p.endedAtMs! - p.startedAtMs).toBeCloseTo(p.lifetimeMs, 2);
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', code: 'tracked_process_ended', stage: 'transcode', message: expect.stringMatching(new RegExp(`^tracked process ${child.pid} \\(node\\) exited with code 0 after \\d+(\\.\\d+)? ms$`)) }));
    noErrors(report);
  });

  test('sleep 1: about a second of life and no CPU', async () => {
    start();
    const child = run('sleep', ['1']);
    monitor!.trackProcess(child);
    await finished(child);
    const p = only(stop());
    expect(p).toMatchObject({ command: 'sleep', exitCode: 0, endedBy: 'exit' });
    expect(p.stage).toBeUndefined();
    expect(p.lifetimeMs).toBeGreaterThanOrEqual(950);
    expect(p.lifetimeMs).toBeLessThan(5000);
    expect(p.cpuPercentMax).toBeLessThan(20);
    expect(p.cpuMs).toBeLessThanOrEqual(20);
    expect(p.peakRssMb).toBeGreaterThan(0);
    expect(p.peakRssMb).toBeLessThan(20);
  });

  test('a child that allocates 200 MiB: the peak rss is between 200 MiB and what the child saw as its own maximum', async () => {
    start();
    const child = node('const b = Buffer.alloc(200 * 2 ** 20, 1); setTimeout(() => console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, len: b.length })), 600)');
    const done = finished(child);
    monitor!.trackProcess(child, { stage: 'load' });
    const { stdout } = await done;
    const p = only(stop());
    const maxRssMb = (JSON.parse(stdout) as { maxRssKb: number }).maxRssKb / 1024;
    expect(p.stage).toBe('load');
    expect(p.peakRssMb).toBeGreaterThanOrEqual(200);
    // /proc's resident size and getrusage's maxRSS count pages a little differently
    // (the sampler can read a page or two the kernel has not yet folded into maxRSS).
    expect(p.peakRssMb).toBeLessThanOrEqual(maxRssMb * 1.05);
  });

  test('a pid that does not exist is ended at its first read, as a note', async () => {
    start();
    const pid = unusedPid();
    monitor!.trackProcess(pid);
    await sleep(150);
    const report = stop();
    const p = only(report);
    expect(p).toMatchObject({ pid, endedBy: 'read_failed', sampleCount: 0, samples: [], peakRssMb: 0, cpuMs: 0 });
    expect(p.command).toBeUndefined();
    expect(p.readError).toBeUndefined();
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', code: 'tracked_process_ended', message: `tracked process ${pid} could not be read: no such process` }));
    noErrors(report);
  });

  test('a pid that cannot be read, read together with one that can: only the first ends', async () => {
    start();
    const child = run('sleep', ['30']);
    const pid = unusedPid();
    monitor!.trackProcess(child);
    monitor!.trackProcess(pid); // the first read is still running: the next tick reads both
    await sleep(300);
    const report = stop();
    const [alive, missing] = report.trackedProcesses!;
    expect(missing).toMatchObject({ pid, endedBy: 'read_failed', sampleCount: 0 });
    expect(alive!.endedBy).toBeUndefined();
    expect(alive!.sampleCount).toBeGreaterThanOrEqual(4);
    noErrors(report);
  });

  test('a bare pid that exits is ended at the first read that fails', async () => {
    start();
    const child = run('sleep', ['0.4']);
    monitor!.trackProcess(child.pid!);
    await finished(child);
    const exitedAt = monitor!.getLivePerformanceStats().elapsedMs;
    await sleep(300);
    const report = stop();
    const p = only(report);
    expect(p).toMatchObject({ pid: child.pid, endedBy: 'read_failed' });
    expect(p.exitCode).toBeUndefined();
    expect(p.sampleCount).toBeGreaterThanOrEqual(3);
    expect(p.endedAtMs!).toBeGreaterThanOrEqual(exitedAt - 50);
    expect(p.endedAtMs!).toBeLessThanOrEqual(exitedAt + 250);
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', message: expect.stringContaining(`tracked process ${child.pid} ended (gone at a read) after`) }));
  });

  test('a child killed with SIGKILL: the signal, as a note, never an error', async () => {
    start();
    const child = run('sleep', ['30']);
    monitor!.trackProcess(child);
    await sleep(300);
    child.kill('SIGKILL');
    await finished(child);
    const report = stop();
    const p = only(report);
    expect(p).toMatchObject({ signal: 'SIGKILL', endedBy: 'exit' });
    expect(p.exitCode).toBeUndefined();
    expect(p.lifetimeMs).toBeGreaterThanOrEqual(300);
    expect(p.sampleCount).toBeGreaterThanOrEqual(3);
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', message: expect.stringMatching(/^tracked process \d+ \(sleep\) was ended by SIGKILL after/) }));
    noErrors(report);
  });

  test('a process still running at the end has no end, a lifetime up to the end of the run, and is not noted', async () => {
    start();
    const child = run('sleep', ['30']);
    monitor!.trackProcess(child);
    await sleep(200);
    const report = stop();
    const p = only(report);
    expect(p.endedAtMs).toBeUndefined();
    expect(p.endedBy).toBeUndefined();
    expect(p.lifetimeMs).toBeCloseTo(report.run.durationMs - p.startedAtMs, 0);
    expect(report.qualityFlags.filter((f) => f.code === 'tracked_process_ended')).toEqual([]);
    // tracking has stopped: the exit listener is gone
    expect(child.listenerCount('exit')).toBe(0);
  });

  test('with memory tracking off the processes are still read, on a ticker of the same period', async () => {
    start({ enableMemoryTracking: false });
    const child = run('sleep', ['0.5']);
    monitor!.trackProcess(child);
    await finished(child);
    const report = stop();
    expect(report.memory.samples).toEqual([]);
    expect(only(report).sampleCount).toBeGreaterThanOrEqual(4);
  });

  test('checkpoints written during the run carry the section', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagemeter-tracked-'));
    try {
      const out = join(dir, 'run.json');
      start({ outputPath: out, checkpointIntervalMs: 100 });
      const child = run('sleep', ['30']);
      monitor!.trackProcess(child);
      await sleep(450);
      const checkpoint = expectValidReport(readFileSync(out, 'utf8'));
      expect(checkpoint.run.status).toBe('running');
      expect(checkpoint.trackedProcesses?.[0]?.pid).toBe(child.pid);
      expect(checkpoint.trackedProcesses![0]!.sampleCount).toBeGreaterThanOrEqual(2);
      stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a child that already exited, one that never started, the same pid twice', async () => {
    start();
    const gone = run('true', []);
    await finished(gone);
    monitor!.trackProcess(gone);
    const broken = spawn('/nonexistent/stagemeter-no-such-binary', []);
    broken.on('error', () => undefined);
    monitor!.trackProcess(broken);
    const twice = run('sleep', ['30']);
    monitor!.trackProcess(twice);
    monitor!.trackProcess(twice.pid!);
    const report = stop();
    expect(report.trackedProcesses!.map((p) => [p.pid, p.endedBy, p.exitCode, p.sampleCount])).toEqual([
      [gone.pid, 'exit', 0, 0],
      [twice.pid, undefined, undefined, expect.any(Number)],
    ]);
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', code: 'process_not_tracked', message: 'trackProcess(): the child process stagemeter-no-such-binary has no pid (it failed to start); not tracked' }));
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'info', code: 'process_already_tracked' }));
    noErrors(report);
  });

  test('bad arguments are flagged and never thrown; without a run the call is flagged in the next run', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    expect(() => m.trackProcess(process.pid)).not.toThrow();
    monitor = m;
    m.startMonitoring();
    for (const bad of ['123', -1, 0, 1.5, NaN, null, undefined, {}, { pid: 5 }] as unknown[]) expect(() => m.trackProcess(bad as number)).not.toThrow();
    m.trackProcess(process.pid, { stag: 'x' } as never);
    m.trackProcess(process.pid, { stage: '' });
    const report = stop();
    expect(report.trackedProcesses).toBeUndefined();
    expect(report.qualityFlags).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'process_without_run', message: expect.stringMatching(/^trackProcess\(\) called before startMonitoring\(\); the process was not tracked \(at .*, before this run\)$/) }));
    const invalid = report.qualityFlags.filter((f) => f.code === 'invalid_track_process');
    expect(invalid.map((f) => f.message)).toEqual(
      expect.arrayContaining([
        'trackProcess(): process must be a ChildProcess or a pid (a positive integer), got "123"; the process was not tracked',
        'trackProcess(): stag unknown option (did you mean stage?); the process was not tracked',
        'trackProcess(): stage must be a non-empty string (got ""); the process was not tracked',
      ]),
    );
    expect(invalid.every((f) => f.severity === 'warning')).toBe(true);
  });

  test('a merged report keeps every input\'s tracked processes, on the merged time axis', async () => {
    start({ enableMemoryTracking: false });
    const child = run('sleep', ['0.2']);
    monitor!.trackProcess(child);
    await finished(child);
    const a = stop();
    start({ enableMemoryTracking: false });
    const b = stop();
    const merged = expectValidReport(mergeReports([b, a]));
    const offset = merged.processes!.find((p) => p.runId === a.run.id)!.offsetMs;
    expect(merged.trackedProcesses).toEqual([{ ...a.trackedProcesses![0]!, startedAtMs: expect.closeTo(a.trackedProcesses![0]!.startedAtMs + offset, 3), endedAtMs: expect.closeTo(a.trackedProcesses![0]!.endedAtMs! + offset, 3), samples: expect.any(Array), source: 'p2' }]);
  });
});

describe('the read schedule', () => {
  test('one read per tick for every pid together, never two at once: a tick during a slow read is skipped', async () => {
    const m = start({ enableMemoryTracking: false });
    const calls: number[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const slowReader: ProcessReader = async (pids) => {
      calls.push([...pids]);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await sleep(100);
      inFlight--;
      return new Map(pids.map((pid) => [pid, { memory: 10 * 2 ** 20, ctime: calls.length * 10, elapsed: 1000 }]));
    };
    const state = runOf(m);
    const tracker = new ProcessTracker(state, slowReader);
    tracker.attach(undefined, 20);
    const a = run('sleep', ['30']);
    tracker.track(a, undefined);
    tracker.track(process.pid, 'self');
    await sleep(450);
    tracker.stop();
    const readsAtStop = calls.length;
    const section = tracker.report(state.t());
    await sleep(250);
    expect(maxInFlight).toBe(1);
    expect(tracker.skippedTicks).toBeGreaterThan(5);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.length).toBeLessThanOrEqual(6);
    // the first read came from the first track() alone; every later one read both pids together
    expect(calls[0]).toEqual([a.pid]);
    for (const c of calls.slice(2)) expect(c).toEqual([a.pid, process.pid]);
    // after stop: no more reads, and a read still running when it stopped adds nothing
    expect(calls.length).toBe(readsAtStop);
    expect(tracker.report(state.t()).map((p) => p.sampleCount)).toEqual(section.map((p) => p.sampleCount));
    expect(section[1]).toMatchObject({ pid: process.pid, stage: 'self', peakRssMb: 10 });
  });

  test('a long-lived process keeps at most MAX_TRACKED_SAMPLES reads, merged two by two (the peak and the read count survive)', async () => {
    const m = start({ enableMemoryTracking: false });
    let ticks = 0;
    const reader: ProcessReader = async (pids) => {
      ticks++;
      // rss grows by 1 MiB a read
      return new Map(pids.map((pid) => [pid, { memory: ticks * 2 ** 20, ctime: ticks * 5, elapsed: ticks * 10 }]));
    };
    const state = runOf(m);
    const tracker = new ProcessTracker(state, reader);
    tracker.track(process.pid, undefined);
    for (let i = 0; i < MAX_TRACKED_SAMPLES * 3; i++) {
      tracker.tick();
      await Promise.resolve();
      await Promise.resolve();
    }
    tracker.stop();
    const [p] = tracker.report(state.t());
    expect(ticks).toBeGreaterThanOrEqual(MAX_TRACKED_SAMPLES * 3);
    expect(p!.sampleCount).toBe(ticks);
    expect(tracker.reads).toBe(ticks);
    expect(p!.samples.length).toBeLessThanOrEqual(MAX_TRACKED_SAMPLES);
    expect(p!.samples.length).toBeGreaterThan(MAX_TRACKED_SAMPLES / 4);
    expect(p!.peakRssMb).toBe(ticks);
    expect(Math.max(...p!.samples.map((s) => s.rssMb))).toBe(p!.peakRssMb);
    expect(p!.samples.reduce((n, s) => n + (s.span ?? 1), 0)).toBe(p!.sampleCount);
  });
});

describe('tracking leaves nothing behind', () => {
  test.each(['sampler', 'no-sampler'])('after stopMonitoring the process exits by itself (%s)', async (mode) => {
    const result = await runChild(join(__dirname, '../../fixtures/trackedExit.ts'), [mode], { timeoutMs: 30_000 });
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { sleeper: number; samples: number[] };
    try {
      expect(out.samples.length).toBe(2);
      expect(Math.min(...out.samples)).toBeGreaterThanOrEqual(2);
    } finally {
      process.kill(out.sleeper, 'SIGKILL');
    }
  });
});
