/**
 * Worker threads, worker side. A worker created while the main thread's run was active inherits
 * its announcement (threads.ts); the worker's first hook call then starts a run of the worker's
 * own (same call path, same figures, the worker's thread id on every record), which sends what it
 * recorded to the main thread in batches and never writes a report:
 * - at most every FLUSH_MS: from a timer when the worker's event loop turns, and from the call
 *   path when it does not (a check every few thousand calls, one comparison per call);
 * - at the worker's end (`process.on('exit')` runs in a worker that ends normally; a worker
 *   stopped with `worker.terminate()` loses what it recorded since its last batch, and the main
 *   run's report says so).
 * When the main run stops, shared memory tells the worker: an idle worker sends its last batch at
 * once (Atomics.waitAsync wakes its event loop), a busy one at its next check; its run ends and its
 * hooks pass calls straight through from then on.
 */
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';
import { BroadcastChannel, getEnvironmentData, isMainThread, threadId } from 'node:worker_threads';
import { now } from '../callpath/clock';
import { releaseAsyncContext } from '../callpath/context';
import type { RunBox } from '../callpath/global';
import { createLogger } from '../logger';
import type { ResolvedConfig } from '../validate';
import { encodeRecords, FLUSH_MS, MAX_RECORDS_PER_BATCH, S_ACTIVE, S_ANSWERS, STATE_BYTES, takeStageDelta, THREAD_RUN_KEY, type FlagDelta, type RunAnnouncement, type StageDelta, type ThreadBatch } from './batch';
import { closeOpenCalls } from './finalise';
import { hotProbePriceNs } from './probes';
import { RunState } from './state';

/** Calls between two checks: at least MIN_CHECK_CALLS, at most MAX_CHECK_CALLS; about CHECKS_PER_FLUSH checks per FLUSH_MS. */
const MIN_CHECK_CALLS = 16;
const MAX_CHECK_CALLS = 65_536;
const CHECKS_PER_FLUSH = 4;

/**
 * The main thread's run this worker was created under, when it is still active; undefined on the
 * main thread, in a worker created while no run was active, and once that run has stopped.
 *
 * @example
 * const announced = announcedRun();
 * if (announced !== undefined) startForwarding(monitor[RUN_KEY], announced, configOf(monitor));
 */
export function announcedRun(): RunAnnouncement | undefined {
  if (isMainThread) return undefined;
  let a: unknown;
  try {
    a = getEnvironmentData(THREAD_RUN_KEY);
  } catch {
    return undefined;
  }
  if (!isAnnouncement(a)) return undefined;
  return Atomics.load(new Int32Array(a.state), S_ACTIVE) === 1 ? a : undefined;
}

function isAnnouncement(a: unknown): a is RunAnnouncement {
  if (typeof a !== 'object' || a === null) return false;
  const x = a as Partial<RunAnnouncement>;
  return (
    x.v === 1 &&
    typeof x.runId === 'string' &&
    typeof x.channel === 'string' &&
    types.isSharedArrayBuffer(x.state) &&
    x.state.byteLength >= STATE_BYTES &&
    Number.isSafeInteger(x.maxStageRecords) &&
    x.maxStageRecords! >= 0 &&
    Number.isSafeInteger(x.maxStageNames) &&
    x.maxStageNames! >= 1 &&
    typeof x.captureStackTraces === 'boolean'
  );
}

/**
 * Starts this worker's run in `box` (the singleton's run box), sending to the announced main run.
 * Returns the run, or undefined when it could not start (the worker then runs unmonitored).
 *
 * @example
 * const run = startForwarding(monitor[RUN_KEY], announcedRun()!, configOf(monitor));
 */
export function startForwarding(box: RunBox<RunState>, announced: RunAnnouncement, base: ResolvedConfig): RunState | undefined {
  try {
    // The holder's configuration (its async-context mode) with the main run's bounds; nothing of
    // its own to write, sample or log. The announced values were validated on the main thread.
    const config: ResolvedConfig = Object.freeze({
      ...base,
      outputPath: undefined,
      htmlOutputPath: undefined,
      checkpointIntervalMs: undefined,
      enableMemoryTracking: false,
      enableDetailedLogging: false,
      logger: undefined,
      progress: false,
      otel: false,
      maxStageRecords: Math.min(announced.maxStageRecords, MAX_RECORDS_PER_BATCH),
      maxStageNames: announced.maxStageNames,
      captureStackTraces: announced.captureStackTraces,
    });
    hotProbePriceNs();
    const run = new RunState(config, createLogger(config), { runName: `worker thread ${threadId}` }, threadId);
    return new Forwarder(box, run, announced).start() ? run : undefined;
  } catch {
    return undefined;
  }
}

/** `Atomics.waitAsync` (ES2024; Node 16+), typed here as the project's lib stops at ES2023. */
type WaitAsync = (cells: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };

class Forwarder {
  readonly #box: RunBox<RunState>;
  readonly #run: RunState;
  readonly #announced: RunAnnouncement;
  readonly #state: Int32Array;
  /** Each stage's `calls` at the last batch, by index. */
  readonly #sentCalls: number[] = [];
  readonly #sentFlags = new Map<string, number>();
  #n = 0;
  #sentStarted = -1;
  #lastSendT = 0;
  #lastCheckT = 0;
  #lastCheckId = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #onExit = (): void => this.#end();
  #done = false;

  constructor(box: RunBox<RunState>, run: RunState, announced: RunAnnouncement) {
    this.#box = box;
    this.#run = run;
    this.#announced = announced;
    this.#state = new Int32Array(announced.state);
  }

  /** False when the main run stopped meanwhile (nothing was started). */
  start(): boolean {
    const run = this.#run;
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    if (waitAsync !== undefined) {
      // Wakes this thread's event loop when the main run stops (a pending wait does not keep the
      // worker alive). Without waitAsync, the timer and the checks find out.
      const stop = waitAsync(this.#state, S_ACTIVE, 1);
      if (!stop.async) return false;
      void (stop.value as Promise<unknown>).then(() => this.#end());
    }
    this.#lastCheckT = this.#lastSendT = now();
    // The first batch tells the main run this thread exists, before any call: a worker terminated
    // before its next batch is still named in the report.
    this.#send(false);
    run.checkAtId = MIN_CHECK_CALLS;
    run.onCheck = () => this.#check();
    this.#timer = setInterval(() => this.#tick(), FLUSH_MS);
    this.#timer.unref();
    process.on('exit', this.#onExit);
    this.#box.run = run;
    return true;
  }

  #stopped(): boolean {
    return Atomics.load(this.#state, S_ACTIVE) !== 1;
  }

  /** From the call path (RunState.frame), every few calls: a batch when one is due. Never throws. */
  #check(): void {
    const run = this.#run;
    try {
      if (this.#stopped()) {
        this.#end();
        return;
      }
      const t = now();
      const id = run.lastId;
      if (t - this.#lastSendT >= FLUSH_MS) this.#send(false);
      // The next check about FLUSH_MS / CHECKS_PER_FLUSH from now, at the rate calls came in since the last one.
      const perMs = (id - this.#lastCheckId) / Math.max(t - this.#lastCheckT, 1e-3);
      const calls = Math.min(MAX_CHECK_CALLS, Math.max(MIN_CHECK_CALLS, Math.floor((perMs * FLUSH_MS) / CHECKS_PER_FLUSH)));
      this.#lastCheckT = t;
      this.#lastCheckId = id;
      run.checkAtId = id + calls;
    } catch {
      run.checkAtId = -1;
    }
  }

  /** From the timer, when the worker's event loop turns. */
  #tick(): void {
    try {
      // The main run stopped, or the program stopped the worker's monitor by hand.
      if (this.#stopped() || this.#box.run !== this.#run) this.#end();
      else if (now() - this.#lastSendT >= FLUSH_MS * 0.9 && this.#changed()) this.#send(false);
    } catch {
      // never into the worker's event loop
    }
  }

  #changed(): boolean {
    const run = this.#run;
    if (run.lastId !== this.#sentStarted) return true;
    for (const s of run.statsList) if (s.calls !== (this.#sentCalls[s.index] ?? 0)) return true;
    return false;
  }

  /** Sends what the run recorded since the last batch. */
  #send(final: boolean): void {
    const run = this.#run;
    const t = now();
    const stages: StageDelta[] = [];
    for (const s of run.statsList) {
      const sent = this.#sentCalls[s.index] ?? 0;
      if (s.calls === sent) continue;
      stages.push(takeStageDelta(s, sent));
      this.#sentCalls[s.index] = s.calls;
    }
    const { records, errors, metadata, omitted } = encodeRecords(run.records);
    for (const s of run.statsList) s.kept = 0;
    const flags: FlagDelta[] = [];
    for (const { flag, count } of run.flags.counts()) {
      const key = `${flag.code}\u0000${flag.stage ?? ''}\u0000${flag.message}`;
      const sent = this.#sentFlags.get(key) ?? 0;
      if (count <= sent) continue;
      this.#sentFlags.set(key, count);
      const f: FlagDelta = { severity: flag.severity, code: flag.code ?? 'worker', message: flag.message, t: flag.t, count: count - sent };
      if (flag.stage !== undefined) f.stage = flag.stage;
      flags.push(f);
    }
    const batch: ThreadBatch = {
      v: 1,
      kind: 'batch',
      runId: this.#announced.runId,
      threadId: run.threadId,
      n: this.#n++,
      final,
      started: run.lastId,
      t: t - run.t0,
      timeOrigin: performance.timeOrigin,
      runT0: run.t0,
      stages,
      records,
      errors,
      metadata,
      omitted,
      flags,
    };
    this.#sentStarted = run.lastId;
    this.#lastSendT = t;
    // A channel of its own for each batch, closed at once: a channel open in the worker would
    // receive (and decode) every other worker's batches too.
    const channel = new BroadcastChannel(this.#announced.channel);
    try {
      channel.postMessage(batch);
    } finally {
      channel.close();
    }
  }

  /**
   * Ends the worker's run, for good: the worker is ending, the main run stopped, or the program
   * stopped the worker's monitor by hand. Calls still open are closed as failed (as the main
   * thread's are at its stop) and the last batch goes; when the main run is stopping, the answer
   * tells it that this worker's last batch is sent. A batch that comes after the main run has
   * closed goes nowhere.
   */
  #end(): void {
    if (this.#done) return;
    this.#done = true;
    const run = this.#run;
    run.checkAtId = -1;
    run.onCheck = undefined;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    process.removeListener('exit', this.#onExit);
    const mine = this.#box.run === run;
    if (mine) this.#box.run = undefined;
    try {
      if (mine) {
        run.endReason ??= this.#stopped() ? 'main thread run ended' : 'worker exit';
        closeOpenCalls(run);
      }
      this.#send(true);
      if (this.#stopped()) {
        Atomics.add(this.#state, S_ANSWERS, 1);
        Atomics.notify(this.#state, S_ANSWERS);
      }
    } catch {
      // a batch that cannot be sent is named missing in the main report
    } finally {
      if (mine) {
        run.release();
        if (run.usesAsyncContext) releaseAsyncContext(run.config.asyncContext);
      }
    }
  }
}
