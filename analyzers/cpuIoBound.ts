/**
 * What a stage that matters (slow, or holding a large share of the run) spends its time on:
 * `cpu_bound` (its own code keeps a core busy), `io_bound` (it waits for I/O or timers, or spends
 * its CPU in system calls), or `thread_contention` (it waits while other stages hold the thread:
 * neither its CPU nor I/O is the problem). CPU is the stage's own, measured over its calls'
 * segments on the thread (see src/run/probes.ts), child stages subtracted. A stage that is mostly
 * a container for its child stages (own time under 10 % of its calls' time) gets none of these:
 * its children get their own.
 */
import type { Finding, StageSummary } from '../src/types';
import { defineAnalyzer } from './builtin';
import { DOMINANT_SHARE_PERCENT } from './dominantStage';
import { fmtMs, fmtNum, fmtPct } from './format';
import { round } from './stats';
import { waitedOnOthersMs } from './timeline';
import type { RunView } from './view';

/** CPU of one core at or above which a stage is CPU-bound, percent. */
export const CPU_BOUND_PERCENT = 70;
/** CPU at or below which a stage is waiting (I/O, timers, locks), percent. */
export const IO_BOUND_PERCENT = 30;
/**
 * The same for a synchronous stage, percent. A synchronous call cannot await anything: its time
 * off the CPU is blocking syscalls (sync I/O, child processes, Atomics.wait), or the process being
 * preempted on a busy host, which looks the same in CPU figures; so the bar is lower.
 */
export const SYNC_IO_BOUND_PERCENT = 10;
/** A stage whose CPU is at least this share system time (and at least IO_BOUND_PERCENT of its time, SYNC_IO_BOUND_PERCENT when synchronous) is in system calls: file or network I/O. */
export const SYSTEM_SHARE = 0.5;
/** Waiting while other stages held the thread for at least this share of its time: contention, not I/O. */
export const CONTENTION_SHARE = 0.5;
/** Own time (without child stages) below this share of a stage's time: a container, not judged. */
export const MIN_SELF_SHARE = 0.1;
/**
 * Involuntary context switches per second at or above which (when they also outnumber the
 * voluntary ones) a stage's missing CPU was taken by the OS, not given up while waiting: the
 * process was preempted on an oversubscribed host (a busy loop alone on its core sees ~10/s;
 * sharing the core with another busy process, ~100/s; blocking I/O, thousands of voluntary ones).
 */
export const STARVED_SWITCHES_PER_SEC = 50;

/** The stages worth judging: slow ones and those with a large share of the run. */
function candidates(view: RunView): StageSummary[] {
  const out = new Map<string, StageSummary>();
  for (const s of view.slowStages) out.set(s.name, s);
  for (const share of view.timeShare) {
    if (share.sharePercent < DOMINANT_SHARE_PERCENT) continue;
    const s = view.summaries.get(share.stage);
    if (s !== undefined) out.set(s.name, s);
  }
  return [...out.values()];
}

/**
 * @example
 * cpuIoBound.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'cpu_bound', stage: 'parse', evidence: { cpuPercent: 97, ... } }]
 */
export const cpuIoBound = defineAnalyzer('cpuIoBound', (view) => {
  const findings: Finding[] = [];
  for (const s of candidates(view)) {
    if (s.calls === 0 || !(s.totalMs > 0)) continue;
    if (s.selfMs < MIN_SELF_SHARE * s.totalMs) continue;
    const times = view.timeline.stages.get(s.name);
    // Own CPU and own wall time: child stages' subtracted, from the kept records when there are any.
    const fromRecords = times !== undefined && times.sumMs > 0 && times.selfWallMs > 0;
    const wallMs = fromRecords ? times.selfWallMs : s.selfMs;
    const cpuMs = fromRecords ? times.selfCpuMs : ((s.cpu.userMs + s.cpu.systemMs) * s.selfMs) / s.totalMs;
    const cpuPercent = Math.min(100, wallMs > 0 ? (cpuMs / wallMs) * 100 : 0);
    const cpuTotal = s.cpu.userMs + s.cpu.systemMs;
    const systemShare = cpuTotal > 0 ? s.cpu.systemMs / cpuTotal : 0;
    const sync = s.syncCalls >= s.calls;
    const share = view.shareOf(s.name);
    const evidence: Record<string, unknown> = {
      cpuPercent: round(cpuPercent, 1),
      cpuMs: round(cpuMs, 3),
      wallMs: round(wallMs, 3),
      userMs: s.cpu.userMs,
      systemMs: s.cpu.systemMs,
      systemPercent: round(systemShare * 100, 1),
      onThreadPercent: s.cpu.onThreadPercent ?? 0,
      sharePercent: share.sharePercent,
      estimated: s.cpu.estimated,
      synchronous: sync,
      probedCalls: s.fidelity.probedCalls,
    };
    if (s.fidelity.probedCalls === 0) continue; // nothing measured: no verdict
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
    const of = `during its ${fmtMs(wallMs)} of own time`;
    // A synchronous call's time off the CPU is blocking syscalls (an fsync, a sync read): from
    // SYNC_IO_BOUND_PERCENT up, mostly-system CPU is I/O for it too, not a middle band.
    if (cpuPercent >= (sync ? SYNC_IO_BOUND_PERCENT : IO_BOUND_PERCENT) && systemShare >= SYSTEM_SHARE) {
      evidence.syscalls = true;
      findings.push({
        kind: 'io_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is in system calls: ${fmtPct(cpuPercent)} CPU ${of}, ${fmtPct(systemShare * 100)} of it system time (file or network I/O, syscalls), ${fmtMs(s.cpu.systemMs)} in all`,
        evidence,
      });
    } else if (cpuPercent >= CPU_BOUND_PERCENT) {
      findings.push({ kind: 'cpu_bound', severity: 'warning', stage: s.name, message: `${s.name} is CPU-bound: its own code used ${fmtPct(cpuPercent)} of a core ${of} (${fmtPct(systemShare * 100)} system time)`, evidence });
    } else if (starved) {
      findings.push({
        kind: 'cpu_bound',
        severity: 'warning',
        stage: s.name,
        message: `${s.name} is CPU-bound but got only ${fmtPct(cpuPercent)} of a core ${of}: the OS preempted the process ${fmtNum(Number(evidence.involuntarySwitchesPerSec))} times a second, so the host is oversubscribed`,
        evidence,
      });
    } else if (cpuPercent <= (sync ? SYNC_IO_BOUND_PERCENT : IO_BOUND_PERCENT)) {
      const waitedMs = sync ? 0 : waitedOnOthersMs(view.run.stages, s.name);
      const busy = times !== undefined && times.totalMs > 0 ? times.totalMs : s.busyMs;
      const waitedShare = busy > 0 ? waitedMs / busy : 0;
      if (waitedShare >= CONTENTION_SHARE) {
        evidence.waitedOnOthersMs = round(waitedMs, 3);
        evidence.waitedOnOthersPercent = round(waitedShare * 100, 1);
        findings.push({
          kind: 'thread_contention',
          severity: 'info',
          stage: s.name,
          message: `${s.name} mostly waits for the thread: other stages' synchronous calls held it for ${fmtPct(waitedShare * 100)} of the time ${s.name} was open; its own code used ${fmtPct(cpuPercent)} CPU ${of}. Speed up the stages beside it, not this one`,
          evidence,
        });
      } else {
        const how = sync ? 'blocked synchronously (sync I/O, sleeps, locks)' : 'waiting (I/O, timers, locks)';
        findings.push({ kind: 'io_bound', severity: 'warning', stage: s.name, message: `${s.name} is I/O-bound: only ${fmtPct(cpuPercent)} CPU ${of}; it spends the rest ${how}`, evidence });
      }
    }
  }
  return findings;
});
