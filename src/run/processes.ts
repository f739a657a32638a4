/**
 * Processes that are not the monitored one (a Python step, ffmpeg, a database loader), sampled by
 * pid with pidusage: Node's own APIs see only the current process.
 *
 * - One read per sampler tick for every tracked pid together (pidusage takes a list): ~0.5 ms of
 *   CPU for a handful of pids on Linux (it reads /proc/<pid>/stat), never on a stage call. The
 *   first read in a process costs more (~35 ms: pidusage runs `getconf` twice, once).
 * - Reads never overlap: a tick that finds the previous read still running is skipped.
 * - CPU comes from the process's cumulative CPU time (10 ms clock ticks) between two reads, so at
 *   the default 1 s interval a figure is within about ±2 % of a core.
 * - A ChildProcess's `exit` event gives the exit code or signal; a bare pid is ended at the first
 *   read that fails. Either way that is a note (a quality flag of severity info), never an error.
 * - Tracking stops when the run stops: the tick stops with the sampler, the `exit` listeners are
 *   removed, and a read still running is ignored when it returns.
 */
import { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { currentFrame } from '../callpath/context';
import type { Frame } from '../callpath/frame';
import { describeError } from '../sanitize';
import type { TrackedProcess, TrackedProcessSample } from '../types';
import { startTicker, type Sampler } from './sampler';
import type { RunState } from './state';

const MB = 1024 * 1024;
/** Tracked processes per run; more are ignored (flagged once). Each costs a /proc read per tick. */
export const MAX_TRACKED_PROCESSES = 1000;
/** Reads kept per tracked process before older ones are merged two by two (~40 bytes each in the report). */
export const MAX_TRACKED_SAMPLES = 120;
/** Exits and failed reads flagged one by one; past this they share one counted flag. */
const MAX_PROCESS_NOTES = 50;
/** Longest command kept, characters. */
const MAX_COMMAND = 200;

/** What one read of a process gives (pidusage's fields that stagemeter uses). */
export interface ProcessStat {
  /** Resident set size, bytes. */
  memory: number;
  /** CPU time used since the process started (user + system), ms. */
  ctime: number;
  /** Time since the process started, ms. */
  elapsed: number;
}

/** Reads several pids at once: a stat per pid, or the error that kept it from being read. */
export type ProcessReader = (pids: number[]) => Promise<Map<number, ProcessStat | Error>>;

type Pidusage = (pids: number[], callback: (err: Error | null, stats: Record<string, ProcessStat | null | undefined> | null | undefined) => void) => void;
let pidusage: Pidusage | undefined;

/** A read that found the process gone. */
function gone(code: 'ENOENT' | 'ESRCH'): Error {
  return Object.assign(new Error('no such process'), { code });
}

/**
 * The reader stagemeter uses: pidusage, loaded on the first read. With several pids pidusage
 * leaves a pid it cannot read out of its answer; with one it fails with that pid's error. It keeps
 * /proc/<pid>/stat open between reads, and once the process is reaped that file can read empty,
 * which pidusage turns into NaN figures: that is the process gone too.
 */
export const pidusageReader: ProcessReader = (pids) =>
  new Promise((resolve) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pidusage ??= require('pidusage') as Pidusage;
    pidusage(pids, (err, stats) => {
      const out = new Map<number, ProcessStat | Error>();
      for (const pid of pids) {
        const stat = err === null ? stats?.[pid] : undefined;
        if (stat === undefined || stat === null) out.set(pid, err ?? gone('ENOENT'));
        else out.set(pid, Number.isFinite(stat.memory) && Number.isFinite(stat.ctime) && Number.isFinite(stat.elapsed) ? stat : gone('ESRCH'));
      }
      resolve(out);
    });
  });

interface Entry {
  readonly pid: number;
  readonly command: string | undefined;
  readonly stage: string | undefined;
  readonly startedAt: number;
  child: ChildProcess | undefined;
  onExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  /** Still read on each tick. */
  active: boolean;
  endedAt: number | undefined;
  endedBy: 'exit' | 'read_failed' | undefined;
  exitCode: number | undefined;
  signal: string | undefined;
  readError: string | undefined;
  /** The end was flagged. */
  noted: boolean;
  sampleCount: number;
  peakRssMb: number;
  cpuMax: number;
  first: { t: number; ctime: number } | undefined;
  last: { t: number; ctime: number; elapsed: number } | undefined;
  samples: TrackedProcessSample[];
  /** Reads each stored sample stands for, and the partly filled one. */
  span: number;
  pending: TrackedProcessSample | undefined;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function mergeTracked(a: TrackedProcessSample, b: TrackedProcessSample): TrackedProcessSample {
  const spanA = a.span ?? 1;
  const spanB = b.span ?? 1;
  const merged: TrackedProcessSample = { t: a.t, rssMb: Math.max(a.rssMb, b.rssMb), span: spanA + spanB };
  if (a.cpuPercent !== undefined || b.cpuPercent !== undefined) {
    const ca = a.cpuPercent ?? b.cpuPercent ?? 0;
    const cb = b.cpuPercent ?? ca;
    merged.cpuPercent = round3((ca * spanA + cb * spanB) / (spanA + spanB));
  }
  return merged;
}

function store(e: Entry, sample: TrackedProcessSample): void {
  if (e.span > 1) {
    e.pending = e.pending === undefined ? sample : mergeTracked(e.pending, sample);
    if ((e.pending.span ?? 1) < e.span) return;
    sample = e.pending;
    e.pending = undefined;
  }
  e.samples.push(sample);
  if (e.samples.length >= MAX_TRACKED_SAMPLES) {
    const out: TrackedProcessSample[] = [];
    for (let i = 0; i + 1 < e.samples.length; i += 2) out.push(mergeTracked(e.samples[i]!, e.samples[i + 1]!));
    e.samples = out;
    e.span *= 2;
  }
}

/** ENOENT (no /proc entry) and ESRCH (a held /proc file whose process was reaped): the process is gone. */
function isGone(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** The innermost open stage of `run` where the caller is. */
function innermostStage(run: RunState): string | undefined {
  for (let f = currentFrame(); f !== undefined; f = f.outer) {
    const frame = f as Frame;
    if (frame.run === run.link && !frame.ended) return frame.stats.name;
  }
  return undefined;
}

/** The executable of a ChildProcess, never its arguments. */
function commandOf(child: ChildProcess): string | undefined {
  const file = child.spawnfile;
  if (typeof file !== 'string' || file === '') return undefined;
  const name = basename(file);
  return name.length > MAX_COMMAND ? `${name.slice(0, MAX_COMMAND)}...` : name;
}

/**
 * The processes a run tracks. Created by the run's first `trackProcess()`; its tick rides on the
 * sampler's (or on a ticker of the same period when memory tracking is off).
 */
export class ProcessTracker {
  readonly #run: RunState;
  readonly #read: ProcessReader;
  readonly #entries: Entry[] = [];
  #reading = false;
  #stopped = false;
  #stopTicker: (() => void) | undefined;
  #notes = 0;
  /** Ticks skipped because the previous read was still running. */
  skippedTicks = 0;
  /** Reads made (one per tick with active processes). */
  reads = 0;

  constructor(run: RunState, read: ProcessReader = pidusageReader) {
    this.#run = run;
    this.#read = read;
  }

  /** Reads on every tick of `sampler`, or of a ticker of `intervalMs` when there is no sampler. */
  attach(sampler: Sampler | undefined, intervalMs: number): void {
    const tick = (): void => this.tick();
    if (sampler === undefined) {
      this.#stopTicker = startTicker(intervalMs, tick, (err) => this.#run.flag('warning', 'probe_failed', `tracked process read failed: ${describeError(err).message}`, undefined, true));
      return;
    }
    const previous = sampler.onTick;
    sampler.onTick =
      previous === undefined
        ? tick
        : () => {
            try {
              previous();
            } finally {
              tick();
            }
          };
  }

  /** Starts tracking a ChildProcess or a pid; misuse is flagged. Reads it at once (unless a read is running). */
  track(target: ChildProcess | number, stageOption: string | undefined): void {
    const run = this.#run;
    let pid: number;
    let child: ChildProcess | undefined;
    if (target instanceof ChildProcess) {
      if (typeof target.pid !== 'number') {
        const command = commandOf(target);
        run.flag('info', 'process_not_tracked', `trackProcess(): the child process${command !== undefined ? ` ${command}` : ''} has no pid (it failed to start); not tracked`);
        return;
      }
      pid = target.pid;
      child = target;
    } else {
      pid = target;
    }
    if (this.#entries.some((e) => e.pid === pid && e.active)) {
      run.flag('info', 'process_already_tracked', `trackProcess(): process ${pid} is already tracked; the call was ignored`);
      return;
    }
    if (this.#entries.length >= MAX_TRACKED_PROCESSES) {
      run.flag('warning', 'too_many_tracked_processes', `more than ${MAX_TRACKED_PROCESSES} processes tracked in one run: the others are not`, undefined, true);
      return;
    }
    const t = run.t();
    const e: Entry = {
      pid,
      command: child !== undefined ? commandOf(child) : undefined,
      stage: stageOption ?? innermostStage(run),
      startedAt: t,
      child,
      onExit: undefined,
      active: true,
      endedAt: undefined,
      endedBy: undefined,
      exitCode: undefined,
      signal: undefined,
      readError: undefined,
      noted: false,
      sampleCount: 0,
      peakRssMb: 0,
      cpuMax: 0,
      first: undefined,
      last: undefined,
      samples: [],
      span: 1,
      pending: undefined,
    };
    this.#entries.push(e);
    if (child !== undefined) {
      if (child.exitCode !== null || child.signalCode !== null) {
        // It ended before it was tracked: nothing to read; its end is known, not when.
        this.#exited(e, child.exitCode, child.signalCode, t);
        return;
      }
      e.onExit = (code, signal) => this.#exited(e, code, signal, run.t());
      child.once('exit', e.onExit);
    }
    this.tick();
  }

  /** One read of every active pid, unless the previous one is still running. Never throws. */
  tick(): void {
    if (this.#stopped) return;
    if (this.#reading) {
      this.skippedTicks++;
      return;
    }
    const active = this.#entries.filter((e) => e.active);
    if (active.length === 0) return;
    this.#reading = true;
    this.reads++;
    let pending: Promise<Map<number, ProcessStat | Error>>;
    try {
      pending = this.#read(active.map((e) => e.pid));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending
      .then((stats) => {
        this.#reading = false;
        if (!this.#stopped) this.#apply(active, stats, this.#run.t());
      })
      .catch((err: unknown) => {
        // a reader that failed, or an answer that could not be used: never an unhandled rejection
        this.#reading = false;
        if (!this.#stopped) this.#run.flag('warning', 'probe_failed', `tracked processes could not be read: ${describeError(err).message}`, undefined, true);
      });
  }

  #apply(entries: Entry[], stats: Map<number, ProcessStat | Error>, t: number): void {
    for (const e of entries) {
      if (!e.active) continue; // its exit event came while the read was running
      const stat = stats.get(e.pid);
      if (stat === undefined) continue;
      if (stat instanceof Error) this.#readFailed(e, stat, t);
      else if (typeof stat !== 'object' || stat === null || !(Number.isFinite(stat.memory) && Number.isFinite(stat.ctime) && Number.isFinite(stat.elapsed))) this.#readFailed(e, gone('ESRCH'), t);
      else this.#sample(e, stat, t);
    }
  }

  #sample(e: Entry, stat: ProcessStat, t: number): void {
    const rssMb = round3(Math.max(0, stat.memory) / MB);
    const ctime = Math.max(0, stat.ctime);
    const sample: TrackedProcessSample = { t: round3(t), rssMb };
    const last = e.last;
    if (last !== undefined && t > last.t) {
      const cpu = round3(Math.max(0, ((ctime - last.ctime) / (t - last.t)) * 100));
      sample.cpuPercent = cpu;
      if (cpu > e.cpuMax) e.cpuMax = cpu;
    }
    e.first ??= { t, ctime };
    e.last = { t, ctime, elapsed: Math.max(0, stat.elapsed) };
    e.sampleCount++;
    if (rssMb > e.peakRssMb) e.peakRssMb = rssMb;
    store(e, sample);
  }

  #readFailed(e: Entry, err: Error, t: number): void {
    e.active = false;
    if (!isGone(err)) e.readError = (err as NodeJS.ErrnoException).code ?? describeError(err).message;
    if (e.endedBy !== undefined) return;
    e.endedAt = t;
    e.endedBy = 'read_failed';
    // A ChildProcess's exit event follows (with its code): it is noted then.
    if (e.child === undefined || e.readError !== undefined) this.#note(e);
  }

  #exited(e: Entry, code: number | null, signal: NodeJS.Signals | null, t: number): void {
    if (this.#stopped) return;
    e.active = false;
    // A read that failed first saw the process gone already; the event is when Node reaped it.
    e.endedAt = e.endedBy === 'read_failed' ? Math.min(e.endedAt ?? t, t) : t;
    e.endedBy = 'exit';
    if (code !== null) e.exitCode = code;
    if (signal !== null) e.signal = signal;
    this.#unlisten(e);
    this.#note(e);
  }

  #note(e: Entry): void {
    if (e.noted) return;
    e.noted = true;
    const run = this.#run;
    if (this.#notes >= MAX_PROCESS_NOTES) {
      run.flag('info', 'tracked_process_ended', `further tracked processes ended or could not be read (see trackedProcesses)`);
      return;
    }
    this.#notes++;
    const who = `tracked process ${e.pid}${e.command !== undefined ? ` (${e.command})` : ''}`;
    const after = e.endedAt !== undefined ? ` after ${round3(e.endedAt - e.startedAt)} ms` : '';
    let message: string;
    if (e.readError !== undefined) message = `${who} could not be read (${e.readError}); it is no longer sampled`;
    else if (e.endedBy === 'exit') message = e.signal !== undefined ? `${who} was ended by ${e.signal}${after}` : `${who} exited with code ${e.exitCode ?? 'unknown'}${after}`;
    else message = e.sampleCount === 0 ? `${who} could not be read: no such process` : `${who} ended (gone at a read)${after}`;
    run.flag('info', 'tracked_process_ended', message, e.stage);
  }

  #unlisten(e: Entry): void {
    if (e.child !== undefined && e.onExit !== undefined) e.child.removeListener('exit', e.onExit);
    e.child = undefined;
    e.onExit = undefined;
  }

  /** Stops reading: the ticker, the exit listeners; a read still running is ignored. */
  stop(): void {
    if (this.#stopped) return;
    for (const e of this.#entries) {
      // a child whose end was seen only as a failed read, its exit event not yet delivered
      if (e.endedBy === 'read_failed' && !e.noted) this.#note(e);
      this.#unlisten(e);
      e.active = false;
    }
    this.#stopped = true;
    this.#stopTicker?.();
    this.#stopTicker = undefined;
  }

  /** The report's section, at `endT` (ms since the run started) for processes still running. */
  report(endT: number): TrackedProcess[] {
    return this.#entries.map((e) => {
      const end = e.endedAt ?? endT;
      const p: TrackedProcess = {
        pid: e.pid,
        startedAtMs: round3(e.startedAt),
        lifetimeMs: round3(Math.max(0, end - e.startedAt)),
        peakRssMb: e.peakRssMb,
        cpuPercentMean: 0,
        cpuPercentMax: e.cpuMax,
        cpuMs: round3(e.last?.ctime ?? 0),
        sampleCount: e.sampleCount,
        samples: e.pending === undefined ? [...e.samples] : [...e.samples, e.pending],
      };
      const { first, last } = e;
      if (first !== undefined && last !== undefined) {
        if (last.t > first.t) p.cpuPercentMean = round3(Math.max(0, ((last.ctime - first.ctime) / (last.t - first.t)) * 100));
        else if (last.elapsed > 0) p.cpuPercentMean = round3((last.ctime / last.elapsed) * 100);
      }
      if (e.command !== undefined) p.command = e.command;
      if (e.stage !== undefined) p.stage = e.stage;
      if (e.endedAt !== undefined) p.endedAtMs = round3(e.endedAt);
      if (e.endedBy !== undefined) p.endedBy = e.endedBy;
      if (e.exitCode !== undefined) p.exitCode = e.exitCode;
      if (e.signal !== undefined) p.signal = e.signal;
      if (e.readError !== undefined) p.readError = e.readError;
      return p;
    });
  }
}
