import { cpuIoBound } from '../../analyzers/cpuIoBound';
import { rec, runOf, th } from './fixtures';

const slow = th({ slowStageMs: 100 });

describe('cpuIoBound', () => {
  it('a slow stage at 95 % of a core is cpu_bound', () => {
    const findings = cpuIoBound.analyze(runOf({ stages: [rec('score', 0, 1000, { cpuMs: 950, sync: true })] }), slow);
    expect(findings).toEqual([
      {
        kind: 'cpu_bound',
        severity: 'warning',
        stage: 'score',
        message: 'score is CPU-bound: its own code used 95% of a core during its 1 s of own time (0% system time)',
        evidence: { cpuPercent: 95, cpuMs: 950, wallMs: 1000, userMs: 950, systemMs: 0, systemPercent: 0, onThreadPercent: 0, sharePercent: 100, estimated: false, synchronous: true, probedCalls: 1 },
      },
    ]);
  });

  it('a stage that holds a quarter of the run is judged even though no call passed the slow-stage threshold', () => {
    const stages = [rec('parse', 0, 60, { cpuMs: 58, sync: true }), rec('rest', 60, 140, { cpuMs: 10 })];
    const findings = cpuIoBound.analyze(runOf({ stages, durationMs: 200 }), th());
    expect(findings.find((f) => f.stage === 'parse')).toMatchObject({ kind: 'cpu_bound', evidence: { sharePercent: 30 } });
  });

  it('a slow awaited stage at 5 % CPU is io_bound', () => {
    const [f] = cpuIoBound.analyze(runOf({ stages: [rec('fetch', 0, 1000, { cpuMs: 50 })] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', stage: 'fetch', evidence: { cpuPercent: 5, synchronous: false } });
    expect(f!.message).toBe('fetch is I/O-bound: only 5% CPU during its 1 s of own time; it spends the rest waiting (I/O, timers, locks)');
  });

  it('a synchronous slow stage with little CPU is io_bound on blocking calls', () => {
    const [f] = cpuIoBound.analyze(runOf({ stages: [rec('readAll', 0, 500, { cpuMs: 20, sync: true })] }), slow);
    expect(f!.message).toBe('readAll is I/O-bound: only 4% CPU during its 500 ms of own time; it spends the rest blocked synchronously (sync I/O, sleeps, locks)');
  });

  it('a stage whose CPU is mostly system time is in system calls: io_bound, with its system time', () => {
    const write = rec('writeFiles', 0, 1000, { sync: true });
    write.cpu = { userMs: 60, systemMs: 340, percent: 40 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [write] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', evidence: { syscalls: true, systemPercent: 85, cpuPercent: 40, systemMs: 340 } });
    expect(f!.message).toBe('writeFiles is in system calls: 40% CPU during its 1 s of own time, 85% of it system time (file or network I/O, syscalls), 340 ms in all');
  });

  it('a synchronous stage at 28 % CPU, nearly all of it system time, is in system calls: it blocks in fsync and spends its CPU in the kernel', () => {
    const persist = rec('persist', 0, 1000, { sync: true });
    persist.cpu = { userMs: 14, systemMs: 266, percent: 28 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [persist] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', stage: 'persist', evidence: { syscalls: true, systemPercent: 95, cpuPercent: 28, systemMs: 266, synchronous: true } });
    expect(f!.message).toBe('persist is in system calls: 28% CPU during its 1 s of own time, 95% of it system time (file or network I/O, syscalls), 266 ms in all');
  });

  it('an async stage at 28 % CPU, mostly system time, is still waiting: io_bound without the syscalls mark', () => {
    const fetch = rec('fetch', 0, 1000);
    fetch.cpu = { userMs: 14, systemMs: 266, percent: 28 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [fetch] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', stage: 'fetch', evidence: { cpuPercent: 28, synchronous: false } });
    expect(f!.evidence?.syscalls).toBeUndefined();
  });

  it('a synchronous stage at 8 % CPU, mostly system time, is blocked: io_bound on blocking calls', () => {
    const wait = rec('waitLock', 0, 1000, { sync: true });
    wait.cpu = { userMs: 10, systemMs: 70, percent: 8 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [wait] }), slow);
    expect(f!.message).toBe('waitLock is I/O-bound: only 8% CPU during its 1 s of own time; it spends the rest blocked synchronously (sync I/O, sleeps, locks)');
  });

  it('an async stage waiting while other stages hold the thread is thread contention, not CPU-bound nor I/O-bound', () => {
    // wait: async over 0-1000 ms with 5 ms of its own CPU; spin: synchronous 100-900 ms beside it
    const stages = [rec('wait', 0, 1000, { cpuMs: 5 }), rec('spin', 100, 800, { cpuMs: 790, sync: true })];
    const findings = cpuIoBound.analyze(runOf({ stages, durationMs: 1000 }), slow);
    expect(findings.find((f) => f.stage === 'spin')).toMatchObject({ kind: 'cpu_bound' });
    expect(findings.find((f) => f.stage === 'wait')).toMatchObject({ kind: 'thread_contention', severity: 'info', evidence: { waitedOnOthersPercent: 80, cpuPercent: 0.5 } });
  });

  it('a synchronous slow stage at 25 % CPU is neither: a preempted busy loop looks like that on a loaded host', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('spin', 0, 1000, { cpuMs: 250, sync: true })] }), slow)).toEqual([]);
  });

  it('a busy stage starved of CPU on a busy host is cpu_bound, not io_bound: involuntary switches tell', () => {
    const busy = rec('spin', 0, 1000, { cpuMs: 25, sync: true });
    busy.cpu = { ...busy.cpu, voluntarySwitches: 10, involuntarySwitches: 130 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [busy] }), slow);
    expect(f).toMatchObject({
      kind: 'cpu_bound',
      stage: 'spin',
      message: 'spin is CPU-bound but got only 2.5% of a core during its 1 s of own time: the OS preempted the process 130 times a second, so the host is oversubscribed',
      evidence: { cpuPercent: 2.5, involuntarySwitchesPerSec: 130, voluntarySwitchesPerSec: 10, starved: true },
    });
  });

  it('blocking sync I/O gives up the CPU voluntarily: still io_bound', () => {
    const io = rec('readAll', 0, 1000, { cpuMs: 40, sync: true });
    io.cpu = { ...io.cpu, voluntarySwitches: 5000, involuntarySwitches: 20 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [io] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', evidence: { starved: false, voluntarySwitchesPerSec: 5000, involuntarySwitchesPerSec: 20 } });
  });

  it('between 30 % and 70 % CPU, mostly user time: neither', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('mixed', 0, 1000, { cpuMs: 500 })] }), slow)).toEqual([]);
  });

  it('a container stage (own time under 10 %) is left to its children', () => {
    const p = rec('pipeline', 0, 1000, { cpuMs: 900 });
    const c = rec('crunch', 0, 950, { parentId: p.id, cpuMs: 880 });
    const findings = cpuIoBound.analyze(runOf({ stages: [p, c] }), slow);
    expect(findings.map((f) => [f.kind, f.stage, f.evidence?.cpuPercent])).toEqual([['cpu_bound', 'crunch', 92.6]]);
  });

  it('a stage neither slow nor holding a quarter of the run is not judged', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('quick', 0, 50, { cpuMs: 50 })], durationMs: 1000 }), slow)).toEqual([]);
  });

  it('without records it falls back to the summary CPU', () => {
    const data = runOf({ stages: [rec('s', 0, 1000, { cpuMs: 990 })] });
    const findings = cpuIoBound.analyze({ ...data, stages: [] }, slow);
    expect(findings).toMatchObject([{ kind: 'cpu_bound', evidence: { cpuPercent: 99 } }]);
  });

  it('a stage with no probed call gets no verdict', () => {
    const data = runOf({ stages: [rec('s', 0, 1000, { cpuMs: 990 })] });
    const summaries = data.stageSummaries.map((s) => ({ ...s, fidelity: { ...s.fidelity, probedCalls: 0 } }));
    expect(cpuIoBound.analyze({ ...data, stageSummaries: summaries }, slow)).toEqual([]);
  });
});
