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
        message: 'score is CPU-bound: the process used 95% of a core during its 1 s of own time',
        evidence: { cpuPercent: 95, cpuMs: 950, wallMs: 1000, sharePercent: 100, basis: 'own time (child stages subtracted)', estimated: false, synchronous: true },
      },
    ]);
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

  it('a synchronous slow stage at 25 % CPU is neither: a preempted busy loop looks like that on a loaded host', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('spin', 0, 1000, { cpuMs: 250, sync: true })] }), slow)).toEqual([]);
  });

  it('a busy stage starved of CPU on a busy host is cpu_bound, not io_bound: involuntary switches tell', () => {
    const busy = rec('spin', 0, 1000, { cpuMs: 25, sync: true });
    busy.cpu = { ...busy.cpu, voluntarySwitches: 10, involuntarySwitches: 130 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [busy] }), slow);
    expect(f).toEqual({
      kind: 'cpu_bound',
      severity: 'warning',
      stage: 'spin',
      message: 'spin is CPU-bound but got only 2.5% of a core during its 1 s of own time: the OS preempted the process 130 times a second, so the host is oversubscribed',
      evidence: {
        cpuPercent: 2.5,
        cpuMs: 25,
        wallMs: 1000,
        sharePercent: 100,
        basis: 'own time (child stages subtracted)',
        estimated: false,
        synchronous: true,
        involuntarySwitchesPerSec: 130,
        voluntarySwitchesPerSec: 10,
        starved: true,
      },
    });
  });

  it('blocking sync I/O gives up the CPU voluntarily: still io_bound', () => {
    const io = rec('readAll', 0, 1000, { cpuMs: 40, sync: true });
    io.cpu = { ...io.cpu, voluntarySwitches: 5000, involuntarySwitches: 20 };
    const [f] = cpuIoBound.analyze(runOf({ stages: [io] }), slow);
    expect(f).toMatchObject({ kind: 'io_bound', evidence: { starved: false, voluntarySwitchesPerSec: 5000, involuntarySwitchesPerSec: 20 } });
  });

  it('between 30 % and 70 % CPU: neither', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('mixed', 0, 1000, { cpuMs: 500 })] }), slow)).toEqual([]);
  });

  it('a container stage (own time under 10 %) is left to its children', () => {
    const p = rec('pipeline', 0, 1000, { cpuMs: 900 });
    const c = rec('crunch', 0, 950, { parentId: p.id, cpuMs: 880 });
    const findings = cpuIoBound.analyze(runOf({ stages: [p, c] }), slow);
    expect(findings.map((f) => [f.kind, f.stage, f.evidence?.cpuPercent])).toEqual([['cpu_bound', 'crunch', 92.6]]);
  });

  it('stages that are not slow are not judged', () => {
    expect(cpuIoBound.analyze(runOf({ stages: [rec('quick', 0, 50, { cpuMs: 50 })] }), slow)).toEqual([]);
  });

  it('without records it falls back to the summary CPU', () => {
    const data = runOf({ stages: [rec('s', 0, 1000, { cpuMs: 990 })] });
    const findings = cpuIoBound.analyze({ ...data, stages: [] }, slow);
    expect(findings).toMatchObject([{ kind: 'cpu_bound', evidence: { cpuPercent: 99, basis: 'all calls' } }]);
  });
});
