/**
 * Worker threads, main side. While a run is active on the main thread, every worker created then
 * inherits an announcement of it (worker_threads environment data, copied into the worker when it
 * is created); the worker's hooks record into a run of their own and send its figures here in
 * batches (forward.ts), over a BroadcastChannel named after the run. Each batch is merged into
 * the run's stage figures, its per-thread parts, its records (with the worker's thread id) and its
 * quality flags. When the run stops, the workers still running are asked for their last batch
 * (through shared memory: a worker idle in its event loop answers at once), the batches sent are
 * read synchronously, and a worker whose last batch never came (terminated, or inside one long
 * call throughout) is named in a quality flag.
 */
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';
import { now } from '../callpath/clock';
import { BroadcastChannel, isMainThread, receiveMessageOnPort, setEnvironmentData, type MessagePort } from 'node:worker_threads';
import { describeError } from '../sanitize';
import { RecordTable } from '../stores/records';
import {
  addStageDelta,
  F_FAILED,
  F_PROBED,
  F_SYNC,
  R_CPU_SYSTEM,
  R_CPU_USER,
  R_DURATION,
  R_FLAGS,
  R_HEAP,
  R_ID,
  R_INVOLUNTARY,
  R_ON_THREAD,
  R_PARENT,
  R_ROWS,
  R_SELF,
  R_SEQ,
  R_STAGE,
  R_T0,
  R_VOLUNTARY,
  RECORD_WIDTH,
  S_ACTIVE,
  S_ANSWERS,
  STATE_BYTES,
  STOP_WAIT_MS,
  THREAD_RUN_KEY,
  type RunAnnouncement,
  type ThreadBatch,
} from './batch';
import type { StageStats } from './stageStats';
import type { RunState } from './state';

/** What the main run knows of one worker thread. */
interface ThreadLog {
  readonly threadId: number;
  /** Worker run ms + shiftMs = main run ms. */
  shiftMs: number;
  /** Worker clock ms + originDeltaMs = main clock ms. */
  originDeltaMs: number;
  /** The worker's stage indexes -> the main run's figures. */
  readonly stages: Array<StageStats | undefined>;
  batches: number;
  final: boolean;
  /** Calls the worker had started at its last batch, and the ended ones received so far. */
  started: number;
  received: number;
  /** When its last batch was sent, ms since the main run started. */
  lastT: number;
}

/** The announcements of the main thread's active runs, newest last: new workers get the newest. */
interface Published {
  readonly list: RunAnnouncement[];
}

// On globalThis: copies of the package loaded side by side announce through one environment key.
const published: Published = ((globalThis as Record<symbol, Published | undefined>)[Symbol.for('stagemeter.threads.v1')] ??= { list: [] });

function announceNewest(): void {
  // undefined deletes the key: workers created from now on are not monitored
  setEnvironmentData(THREAD_RUN_KEY, published.list[published.list.length - 1]);
}

/**
 * Opens the main run's side of the hand-over. Only on the main thread (a worker's own runs are not
 * announced to the workers it creates: those inherit the main thread's announcement). Never
 * throws: when worker_threads cannot be used, the run goes on without workers, with a flag.
 *
 * @example
 * run.threads = openThreadHub(run);
 */
export function openThreadHub(run: RunState): ThreadHub | undefined {
  if (!isMainThread) return undefined;
  try {
    return new ThreadHub(run);
  } catch (err) {
    run.flag('warning', 'threads_unavailable', `worker threads cannot report into this run: ${describeError(err).message}`);
    return undefined;
  }
}

/** @see openThreadHub */
export class ThreadHub {
  readonly #run: RunState;
  readonly #announcement: RunAnnouncement;
  readonly #state: Int32Array;
  readonly #channel: BroadcastChannel;
  readonly #threads = new Map<number, ThreadLog>();
  #closed = false;

  constructor(run: RunState) {
    this.#run = run;
    const state = new SharedArrayBuffer(STATE_BYTES);
    this.#state = new Int32Array(state);
    this.#state[S_ACTIVE] = 1;
    this.#announcement = {
      v: 1,
      runId: run.id,
      channel: `stagemeter.run.v1.${run.id}`,
      state,
      maxStageRecords: run.config.maxStageRecords,
      maxStageNames: run.config.maxStageNames,
      captureStackTraces: run.config.captureStackTraces,
    };
    const channel = new BroadcastChannel(this.#announcement.channel);
    channel.onmessage = (event: unknown) => this.receive((event as { data: unknown }).data);
    // Listening must not keep the process alive once the program is done.
    channel.unref();
    this.#channel = channel;
    published.list.push(this.#announcement);
    announceNewest();
  }

  /** One message from the channel: merged when it is a batch of this run, ignored otherwise. Never throws. */
  receive(message: unknown): void {
    if (this.#closed || this.#run.ended || !isBatch(message, this.#run.id)) return;
    try {
      mergeBatch(this.#run, this.#logOf(message), message);
    } catch (err) {
      this.#run.flag('warning', 'thread_batch_failed', `a batch of worker thread ${message.threadId} could not be merged: ${describeError(err).message}`, undefined, true);
    }
  }

  /**
   * The run ends: the workers are told (each sends its last batch and from then on passes its
   * calls straight through), their batches are merged, the channel closes, and each worker whose
   * last batch did not come is named in a flag. Waits up to STOP_WAIT_MS, and only while a worker
   * that has not ended has not answered either.
   */
  close(): void {
    if (this.#closed) return;
    const state = this.#state;
    Atomics.store(state, S_ACTIVE, 0);
    Atomics.notify(state, S_ACTIVE);
    try {
      this.#drain();
      let open = 0;
      for (const log of this.#threads.values()) if (!log.final) open++;
      const deadline = now() + STOP_WAIT_MS;
      for (let answers = Atomics.load(state, S_ANSWERS); answers < open; answers = Atomics.load(state, S_ANSWERS)) {
        const left = deadline - now();
        if (left <= 0) break;
        Atomics.wait(state, S_ANSWERS, answers, left);
      }
      this.#drain();
    } catch (err) {
      this.#run.flag('warning', 'thread_batch_failed', `the worker threads' last batches could not be read: ${describeError(err).message}`);
    }
    this.#closed = true;
    this.#channel.close();
    const i = published.list.indexOf(this.#announcement);
    if (i >= 0) published.list.splice(i, 1);
    announceNewest();
    for (const log of this.#threads.values()) {
      if (log.final) continue;
      const what =
        log.batches <= 1 && log.received === 0
          ? `its calls are not in the report (it had started ${log.started} when it last reported)`
          : `its calls after its last batch (at ${Math.round(log.lastT)} ms) are not in the report; by then it had started ${log.started} calls, ${log.received} of which had ended and are counted`;
      this.#run.flag('warning', 'thread_batch_lost', `worker thread ${log.threadId} did not send its last batch (it was terminated, or stayed inside one call while the run stopped): ${what}`);
    }
  }

  /** Merges the batches sent and not read yet. */
  #drain(): void {
    // Node reads a BroadcastChannel like a port here (its types say MessagePort only).
    const port = this.#channel as unknown as MessagePort;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) this.receive((m as { message: unknown }).message);
  }

  #logOf(batch: ThreadBatch): ThreadLog {
    let log = this.#threads.get(batch.threadId);
    if (log === undefined) {
      log = { threadId: batch.threadId, shiftMs: 0, originDeltaMs: 0, stages: [], batches: 0, final: false, started: 0, received: 0, lastT: 0 };
      this.#threads.set(batch.threadId, log);
    }
    log.originDeltaMs = batch.timeOrigin - performance.timeOrigin;
    log.shiftMs = batch.runT0 + log.originDeltaMs - this.#run.t0;
    return log;
  }
}

/**
 * Structure of a batch (its numbers come from stagemeter's own code in the worker). Types are
 * checked across realms: a message is decoded in the thread's main context, while this module
 * may run in another (a test runner's vm context).
 */
function isBatch(m: unknown, runId: string): m is ThreadBatch {
  if (typeof m !== 'object' || m === null) return false;
  const b = m as Partial<ThreadBatch>;
  return (
    b.v === 1 &&
    b.kind === 'batch' &&
    b.runId === runId &&
    Number.isSafeInteger(b.threadId) &&
    Number.isFinite(b.timeOrigin) &&
    Number.isFinite(b.runT0) &&
    Array.isArray(b.stages) &&
    b.stages.every((d) => typeof d === 'object' && d !== null && typeof d.name === 'string' && Number.isSafeInteger(d.i) && d.i >= 0 && Number.isSafeInteger(d.calls) && d.calls >= 0) &&
    types.isFloat64Array(b.records) &&
    b.records.length % RECORD_WIDTH === 0 &&
    Array.isArray(b.errors) &&
    Array.isArray(b.metadata) &&
    Array.isArray(b.flags)
  );
}

/**
 * Merges one worker batch into the main run: stage figures (and the thread's part of them),
 * records (within the run's record budget, under the worker's thread id), flags (named after the
 * thread), and what the thread announced.
 *
 * @example
 * mergeBatch(run, log, batch);
 */
function mergeBatch(run: RunState, log: ThreadLog, batch: ThreadBatch): void {
  const threadId = batch.threadId;
  for (const d of batch.stages) {
    const stats = (log.stages[d.i] ??= run.statsFor(d.name));
    addStageDelta(stats, d, threadId, log.shiftMs);
    log.received += d.calls;
  }
  const r = batch.records;
  const errors = new Map(batch.errors);
  const metadata = new Map(batch.metadata);
  const table = run.records;
  table.omitted += batch.omitted;
  for (let i = 0, o = 0; o < r.length; i++, o += RECORD_WIDTH) {
    const stats = log.stages[r[o + R_STAGE]!];
    const flags = r[o + R_FLAGS]!;
    const failed = (flags & F_FAILED) !== 0;
    const seq = r[o + R_SEQ]!;
    if (stats === undefined || table.budget === 0 || !RecordTable.wanted(stats, seq, failed)) {
      table.omitted++;
      continue;
    }
    const probe =
      (flags & F_PROBED) !== 0
        ? { cpuUserMs: r[o + R_CPU_USER]!, cpuSystemMs: r[o + R_CPU_SYSTEM]!, onThreadMs: r[o + R_ON_THREAD]!, heapDeltaMb: r[o + R_HEAP]!, voluntarySwitches: r[o + R_VOLUNTARY]!, involuntarySwitches: r[o + R_INVOLUNTARY]! }
        : undefined;
    const error = failed ? (errors.get(i) ?? { name: 'Error', message: '(not sent by the worker)' }) : undefined;
    table.add(run.statsList, stats.index, r[o + R_ID]!, r[o + R_PARENT]!, r[o + R_T0]! + log.originDeltaMs, r[o + R_DURATION]!, r[o + R_SELF]!, r[o + R_ROWS]!, seq, threadId, (flags & F_SYNC) !== 0, error, metadata.get(i), probe);
  }
  for (const f of batch.flags) {
    const t = Math.max(0, f.t + log.shiftMs);
    run.flags.add(t, f.severity, f.code, `${f.message} (worker thread ${threadId})`, f.stage, false, f.count);
  }
  log.batches++;
  log.started = Math.max(log.started, batch.started);
  log.lastT = Math.max(0, batch.t + log.shiftMs);
  if (batch.final) log.final = true;
}
