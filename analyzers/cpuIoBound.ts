/**
 * `cpu_bound` / `io_bound` for slow stages: process CPU time against the stage's own wall time
 * (child stages' CPU and wall time subtracted): CPU-bound from 70 % of a core, I/O-bound up to 30 %
 * (10 % for a stage whose calls are all synchronous). A stage whose CPU was taken away rather than
 * given up (involuntary context switches dominate, see STARVED_SWITCHES_PER_SEC) is CPU-bound
 * whatever its CPU share. A stage that is mostly a container for its child stages (own time under
 * 10 % of its calls' time) gets neither: its children get their own.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtMs, fmtNum, fmtPct } from './format';
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
 * Involuntary context switches per second at or above which (when they also outnumber the
 * voluntary ones) a stage's missing CPU was taken by the OS, not given up while waiting: the
 * process was preempted on an oversubscribed host. Measured on a 2-core VM: a busy loop alone on
 * its core sees ~12/s; sharing the core with another busy process, ~130/s at 50 % CPU; blocking
 * sync I/O shows thousands of voluntary switches a second instead.
 */
export const STARVED_SWITCHES_PER_SEC = 50;

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

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
    const evidence: Record<string, unknown> = {
      cpuPercent: round(cpuPercent, 1),
      cpuMs: round(cpuMs, 3),
      wallMs: round(wallMs, 3),
      sharePercent: view.shareOf(s.name).totalPercent,
      basis,
      estimated,
      synchronous: sync,
    };
    // Context switches over the probed calls tell CPU taken away from CPU given up.
    const probedS = (s.cpu.probedWallMs ?? 0) / 1000;
    let starved = false;
    if (probedS > 0) {
      const involuntary = (s.cpu.involuntarySwitches ?? 0) / probedS;
      const voluntary = (s.cpu.voluntarySwitches ?? 0) / probedS;
      starved = involuntary >= STARVED_SWITCHES_PER_SEC && involuntary > voluntary;
      evidence.involuntarySwitchesPerSec = round(involuntary, 1);
      evidence.voluntarySwitchesPerSec = round(voluntary, 1);
      evidence.starved = starved;
    }
    if (cpuPercent >= CPU_BOUND_PERCENT) {
      findings.push({
        kind: 'cpu_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is CPU-bound: the process used ${fmtPct(cpuPercent)} of a core during its ${fmtMs(wallMs)} of own time`,
        evidence,
      });
    } else if (starved) {
      findings.push({
        kind: 'cpu_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is CPU-bound but got only ${fmtPct(cpuPercent)} of a core during its ${fmtMs(wallMs)} of own time: the OS preempted the process ${fmtNum(num(evidence.involuntarySwitchesPerSec))} times a second, so the host is oversubscribed`,
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
