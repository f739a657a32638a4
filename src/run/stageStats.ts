/**
 * The figures of one stage name over every call of a run: counts, rows, time (summed, busy wall,
 * self), extremes, a quantile sketch, CPU and heap of the probed calls. Every call lands here;
 * the per-call records are a bounded subset (see RecordTable).
 */
import { QuantileSketch } from '../stores/sketch';

/** What the calls of one worker thread added to a stage (see run/threads.ts). */
export interface ThreadPart {
  calls: number;
  failures: number;
  totalMs: number;
  selfMs: number;
  busyMs: number;
  rows: number;
}

export class StageStats {
  readonly name: string;
  /** Position among the run's stages (records refer to their stage by it). */
  readonly index: number;
  calls = 0;
  failures = 0;
  /** Calls that finished synchronously. */
  syncCalls = 0;
  /** Calls with no parent in the run, and their rows. */
  rootCalls = 0;
  rootRows = 0;
  rows = 0;
  /** Rows of calls made inside a call of the same stage (recursion): already in the outer call's rows. */
  nestedRows = 0;
  /** Sum of call durations, ms, and of their squares (for the spread). */
  totalMs = 0;
  sumSqMs = 0;
  minMs = Infinity;
  maxMs = 0;
  /** Start of the longest call, ms since the run started. */
  maxAtMs = 0;
  /** Longest synchronous call: it held the thread (and the event loop) that long. */
  maxSyncMs = 0;
  maxSyncAtMs = 0;
  /** Sum over calls of duration minus the union of the call's own children's intervals, ms. */
  selfMs = 0;
  /** Calls open right now, and since when (ms, clock time) at least one has been: the busy wall time. */
  open = 0;
  busyFrom = 0;
  busyMs = 0;
  /** Replaced by an empty one in a worker's run each time its figures are sent (see run/batch.ts). */
  sketch = new QuantileSketch();
  /** Calls get a record when their number is a multiple of `stride` (a power of two; see RecordTable). */
  stride = 1;
  kept = 0;
  // Probes (see probes.ts)
  /** Probe spend this stage has earned and not spent, its price and cap, ns (see ProbeBudget). */
  probeCreditNs = 0;
  probePriceNs = 0;
  probeCreditCapNs = 0;
  probePriceMeasured = false;
  probedCalls = 0;
  /** Wall time of the probed calls, ms, and of their segments on the thread (the async ones' time not spent waiting). */
  probedWallMs = 0;
  probedOnThreadMs = 0;
  cpuUserUs = 0;
  cpuSystemUs = 0;
  voluntarySwitches = 0;
  involuntarySwitches = 0;
  heapDeltaSumMb = 0;
  heapDeltaMaxMb = -Infinity;
  /** The first failure, kept whether or not its call gets a record. */
  firstError: { name: string; message: string; t: number } | undefined = undefined;
  /** The part of each worker thread in the figures above, by thread id (undefined while no worker's calls came in). */
  threads: Map<number, ThreadPart> | undefined = undefined;

  constructor(name: string, index: number) {
    this.name = name;
    this.index = index;
  }

  /** A call starts at `t0` (clock ms): the stage's busy wall time runs while any call is open. */
  begin(t0: number): void {
    if (this.open++ === 0) this.busyFrom = t0;
  }

  /**
   * A timed call ended. Returns its number (1 for the first) so the caller can decide on a record.
   * `selfMs` is its duration less the union of its children's intervals.
   */
  end(durationMs: number, selfMs: number, t1: number, tRun: number, sync: boolean): number {
    if (--this.open === 0) this.busyMs += t1 - this.busyFrom;
    const c = ++this.calls;
    this.totalMs += durationMs;
    this.sumSqMs += durationMs * durationMs;
    this.selfMs += selfMs;
    if (durationMs < this.minMs) this.minMs = durationMs;
    if (durationMs > this.maxMs) {
      this.maxMs = durationMs;
      this.maxAtMs = tRun;
    }
    if (sync) {
      this.syncCalls++;
      if (durationMs > this.maxSyncMs) {
        this.maxSyncMs = durationMs;
        this.maxSyncAtMs = tRun;
      }
    }
    this.sketch.add(durationMs);
    return c;
  }

  /** Busy wall time so far, ms, counting the open stretch up to `now`. */
  busyMsAt(now: number): number {
    return this.open > 0 ? this.busyMs + Math.max(0, now - this.busyFrom) : this.busyMs;
  }
}
