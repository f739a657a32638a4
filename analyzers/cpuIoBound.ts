/**
 * `cpu_bound` / `io_bound` for slow stages: process CPU time against the stage's own wall time
 * (child stages' CPU and wall time subtracted): CPU-bound from 70 % of a core, I/O-bound up to 30 %
 * (10 % for a stage whose calls are all synchronous). A stage that is mostly a container for its child
 * stages (own time under 10 % of its calls' time) gets neither: its children get their own.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtPct } from './format';
import { round } from './stats';

/** CPU of one core at or above which a slow stage is CPU-bound, percent. */
export const CPU_BOUND_PERCENT = 70;
/** CPU at or below which a slow stage is waiting (I/O, timers, locks), percent. */
export const IO_BOUND_PERCENT = 30;
/**
 * The same for a synchronous stage, percent. A synchronous call cannot await anything: its time
 * off the CPU is blocking syscalls (sync I/O, child processes, Atomics.wait), or the process being
 * preempted on a busy host, which looks the same in CPU figures. A busy loop on a host where the
 * process gets a third of a core must not be called I/O-bound, so the bar is lower.
 */
export const SYNC_IO_BOUND_PERCENT = 10;
/** Own time (without child stages) below this share of a stage's time: a container, not judged. */
export const MIN_SELF_SHARE = 0.1;

/**
 * @example
 * cpuIoBound.analyze(run, { ...DEFAULT_THRESHOLDS, slowStageMs: 100 }); // [{ kind: 'cpu_bound', ... }]
 */
export const cpuIoBound = defineAnalyzer('cpuIoBound', (view) => {
  const findings: Finding[] = [];
  for (const s of view.slowStages) {
    const times = view.timeline.stages.get(s.name);
    let cpuPercent: number;
    let wallMs: number;
    let cpuMs: number;
    let estimated: boolean;
    let basis: string;
    if (times !== undefined && times.sumMs > 0) {
      if (times.selfWallMs < MIN_SELF_SHARE * times.sumMs) continue;
      wallMs = times.selfWallMs;
      cpuMs = times.selfCpuMs;
      cpuPercent = wallMs > 0 ? (cpuMs / wallMs) * 100 : 0;
      estimated = times.cpuEstimated;
      basis = 'own time (child stages subtracted)';
    } else {
      wallMs = s.totalMs;
      cpuMs = s.cpu.userMs + s.cpu.systemMs;
      cpuPercent = s.cpu.percent;
      estimated = s.cpu.estimated;
      basis = 'all calls';
    }
    const sync = s.syncCalls >= s.calls && s.calls > 0;
    const evidence = {
      cpuPercent: round(cpuPercent, 1),
      cpuMs: round(cpuMs, 3),
      wallMs: round(wallMs, 3),
      sharePercent: view.shareOf(s.name).totalPercent,
      basis,
      estimated,
      synchronous: sync,
    };
    if (cpuPercent >= CPU_BOUND_PERCENT) {
      findings.push({
        kind: 'cpu_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is CPU-bound: the process used ${fmtPct(cpuPercent)} of a core during its ${fmtMs(wallMs)} of own time`,
        evidence,
      });
    } else if (cpuPercent <= (sync ? SYNC_IO_BOUND_PERCENT : IO_BOUND_PERCENT)) {
      const how = sync ? 'blocked synchronously (sync I/O, sleeps, locks)' : 'waiting (I/O, timers, locks)';
      findings.push({
        kind: 'io_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is I/O-bound: only ${fmtPct(cpuPercent)} CPU during its ${fmtMs(wallMs)} of own time; it spends the rest ${how}`,
        evidence,
      });
    }
  }
  return findings;
});
