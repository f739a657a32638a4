/**
 * Per-call probes: CPU time (user and system, and context switches) from
 * `process.resourceUsage()` (~1 µs) and heap used from `v8.getHeapStatistics()` (~0.2 µs), read at
 * both ends of each of a call's segments on the thread. A synchronous call is one segment. An
 * asynchronous call is its synchronous start plus every continuation that runs its code (or its
 * children's) after an `await`: the promise hooks open and close those segments, so time spent
 * waiting while other stages use the thread is not counted as this call's CPU.
 *
 * Probes run on a budget, from a run's first call on: each stage earns PROBE_SHARE of its calls'
 * time (plus ALLOWANCE_NS a call) and spends it on probed calls at their measured price; a stage's
 * first probe may come from a small pool of the run's (INITIAL_POOL_NS, growing with the run's
 * wall time), so that a long first call, a 10 s load say, is measured.
 */
import { getHeapStatistics } from 'node:v8';
import { now } from '../callpath/clock';
import { slot } from '../callpath/global';

/** Share of a stage's call time its probes may cost. */
export const PROBE_SHARE = 0.004;
/** What each call adds to its stage's probe credit whatever its length, ns. */
const ALLOWANCE_NS = 1;
/** Credit a stage may hold, in probes: a burst after a long quiet stretch stays short. */
const MAX_CREDIT_PROBES = 4;
/** The run's pool for first probes at its start, ns, and what it earns per ms of the run's wall time. */
const INITIAL_POOL_NS = 50_000;
/** What a probed call costs outside its measured spans (the probe object, choosing to probe), ns. */
const PATH_NS = 300;
/** A price taken cold costs this many times one measured in a tight loop (caches after a long call). */
const COLD_FACTOR = 3;

let hotPairNs: number | undefined;

/** What one pair of readings costs on this machine in a tight loop, ns (measured once per process, < 1 ms). */
export function hotProbePriceNs(): number {
  if (hotPairNs !== undefined) return hotPairNs;
  try {
    const pair = (): void => {
      process.resourceUsage();
      getHeapStatistics();
    };
    for (let i = 0; i < 32; i++) pair();
    const batches: number[] = [];
    for (let b = 0; b < 5; b++) {
      const t0 = now();
      for (let i = 0; i < 16; i++) pair();
      batches.push(((now() - t0) * 1e6) / 16);
    }
    batches.sort((a, b) => a - b);
    // two pairs a probed call, the median batch (robust to a GC or a preemption)
    hotPairNs = Math.min(Math.max(2 * batches[2]!, 200), 50_000);
  } catch {
    hotPairNs = 50_000; // a probe that throws here throws per call too: price it high
  }
  return hotPairNs;
}

/** The readings of one probed call, and the segment open now. */
export class Probe {
  cpuUserUs = 0;
  cpuSystemUs = 0;
  voluntarySwitches = 0;
  involuntarySwitches = 0;
  heapDeltaBytes = 0;
  /** Wall time of the closed segments, ms. */
  onThreadMs = 0;
  /** What the probe's readings cost, ns (clock time spent in them). */
  spentNs = 0;
  /** False once a reading failed: the call then has no CPU or heap figures. */
  ok = true;
  /** The call went async: its later segments are opened by the promise hooks. */
  async = false;
  #usage: NodeJS.ResourceUsage | undefined = undefined;
  #heap = 0;
  #segmentT = 0;
  /** Clock ms when the last segment's closing readings were done. */
  #closedAt = 0;

  /** Opens a segment: readings now. */
  open(): void {
    const p0 = now();
    try {
      this.#usage = process.resourceUsage();
      this.#heap = getHeapStatistics().used_heap_size;
    } catch {
      this.ok = false;
      this.#usage = undefined;
    }
    const p1 = now();
    this.spentNs += (p1 - p0) * 1e6;
    this.#segmentT = p1;
  }

  /** Closes the open segment: adds what happened since `open()`. */
  close(): void {
    const u0 = this.#usage;
    if (u0 === undefined) return;
    this.#usage = undefined;
    const p0 = now();
    this.onThreadMs += Math.max(0, p0 - this.#segmentT);
    try {
      const heap = getHeapStatistics().used_heap_size;
      const u = process.resourceUsage();
      this.cpuUserUs += u.userCPUTime - u0.userCPUTime;
      this.cpuSystemUs += u.systemCPUTime - u0.systemCPUTime;
      this.voluntarySwitches += u.voluntaryContextSwitches - u0.voluntaryContextSwitches;
      this.involuntarySwitches += u.involuntaryContextSwitches - u0.involuntaryContextSwitches;
      this.heapDeltaBytes += heap - this.#heap;
    } catch {
      this.ok = false;
    }
    const p1 = now();
    this.spentNs += (p1 - p0) * 1e6;
    this.#closedAt = p1;
  }

  /**
   * The call's accounting is done (its end at `t1`): the time it took since the later of `t1` and
   * the last closing readings is the probe's too. A probed call takes the slow end of the call
   * path (the figures, a fuller record) right after its readings, with cold caches after a long
   * call: the readings alone come to a third or a half of what a probed call costs.
   */
  settled(t1: number): void {
    const from = this.#closedAt > t1 ? this.#closedAt : t1;
    const t = now();
    if (t > from) this.spentNs += (t - from) * 1e6;
  }

  get segmentOpen(): boolean {
    return this.#usage !== undefined;
  }

  /**
   * CPU of the call, ms, no more than its time on the thread: `resourceUsage()` counts every
   * thread of the process (GC helpers, the libuv pool, workers), and a stage's own code runs on
   * one. The user/system split is kept.
   */
  cpuMs(): { userMs: number; systemMs: number } {
    const user = Math.max(0, this.cpuUserUs) / 1000;
    const system = Math.max(0, this.cpuSystemUs) / 1000;
    const total = user + system;
    const cap = this.onThreadMs;
    if (total <= cap || total === 0) return { userMs: user, systemMs: system };
    const k = cap / total;
    return { userMs: user * k, systemMs: system * k };
  }
}

/** What the budget reads and writes on a stage's figures. */
export interface ProbeCredit {
  /** Probe spend earned and not spent, ns. */
  probeCreditNs: number;
  /** What one probed call costs here, ns: a call is probed when the credit reaches it. */
  probePriceNs: number;
  /** Most credit a stage may hold, ns (MAX_CREDIT_PROBES probes). */
  probeCreditCapNs: number;
  /** A probed call has priced the probes of this stage in full (see ProbeBudget.price). */
  probePriceMeasured: boolean;
}

/**
 * The probe budget of one run. A stage's calls earn credit as they end (`earn`, two arithmetic
 * operations on the hot path) and a call is probed when the credit covers its price (one
 * comparison, `due`); a stage's first call may draw on the run's pool instead.
 */
export class ProbeBudget {
  readonly #t0: number;
  readonly defaultPriceNs: number;
  #poolSpentNs = 0;

  constructor(t0: number) {
    this.#t0 = t0;
    this.defaultPriceNs = hotProbePriceNs() * COLD_FACTOR + PATH_NS;
  }

  /** A stage's first call in the run: its price, and credit for one probe if the run's pool can pay. */
  open(stats: ProbeCredit): void {
    const price = this.defaultPriceNs;
    stats.probePriceNs = price;
    stats.probeCreditCapNs = MAX_CREDIT_PROBES * price;
    const pool = INITIAL_POOL_NS + (now() - this.#t0) * 1e6 * PROBE_SHARE - this.#poolSpentNs;
    if (pool >= price) {
      this.#poolSpentNs += price;
      stats.probeCreditNs += price;
    }
  }

  /** Whether the stage's next call is probed (its credit is then spent). */
  static due(stats: ProbeCredit): boolean {
    if (stats.probeCreditNs < stats.probePriceNs) return false;
    stats.probeCreditNs -= stats.probePriceNs;
    return true;
  }

  /**
   * A probed call's measured price updates its stage's. `settled`: the price includes the
   * accounting the probe brought (see Probe.settled); the first such price replaces the run's
   * default (which a long stage's cold probes exceed several times over). Other prices move an
   * average clamped at twice the last. (A stage's first call in a run is priced on its readings
   * alone: its accounting also pays for what every first call sets up.)
   */
  static price(stats: ProbeCredit, probe: Probe, settled: boolean): void {
    const measured = probe.spentNs + PATH_NS;
    const prev = stats.probePriceNs;
    let price: number;
    if (settled && !stats.probePriceMeasured) {
      stats.probePriceMeasured = true;
      price = Math.min(measured, 8 * prev);
    } else {
      price = prev * 0.75 + Math.min(measured, 2 * prev) * 0.25;
    }
    stats.probePriceNs = price;
    stats.probeCreditCapNs = MAX_CREDIT_PROBES * price;
  }
}

/** What a call of `durationMs` earns its stage, ns. */
export const creditOf = (durationMs: number): number => durationMs * (1e6 * PROBE_SHARE) + ALLOWANCE_NS;

/** The frame fields the segment tracker reads (the call path's Frame has them). */
interface ProbedFrame {
  readonly outer: ProbedFrame | undefined;
  readonly probe?: Probe | undefined;
  readonly ended?: boolean;
}

/** Probes with a segment opened by the hooks, and where each `before` started in that list. */
const opened: Probe[] = [];
const openedFrom: number[] = [];
let asyncProbesOpen = 0;

/**
 * Opens a segment on every probed async call in the context chain of the continuation about to
 * run (its own frame and its ancestors: a call's CPU includes its children's), and closes them
 * when it ends. Installed on the slot only while a probed async call is open, so the hooks of
 * every other promise pay one load and a branch.
 */
const segmentTracker = {
  open(frame: unknown): void {
    openedFrom.push(opened.length);
    for (let f = frame as ProbedFrame | undefined; f !== undefined; f = f.outer) {
      const p = f.probe;
      if (p !== undefined && p.async && f.ended !== true && !p.segmentOpen) {
        p.open();
        opened.push(p);
      }
    }
  },
  close(): void {
    const from = openedFrom.pop() ?? 0;
    while (opened.length > from) opened.pop()!.close();
  },
};

/** A probed call goes async: the hooks start measuring its continuations. */
export function asyncProbeOpened(): void {
  if (asyncProbesOpen++ === 0) slot.segments = segmentTracker;
}

/** A probed async call ended. */
export function asyncProbeClosed(): void {
  if (asyncProbesOpen > 0 && --asyncProbesOpen === 0 && slot.segments === segmentTracker) {
    slot.segments = undefined;
    opened.length = 0;
    openedFrom.length = 0;
  }
}

/**
 * A probe kept alive for the life of the process, so that the call path optimised with a probe's
 * construction inlined keeps its hidden class through a memory-reducing GC (see frameMapAnchor in
 * src/callpath/frame.ts): probed calls are rare, and between two of them no probe is alive. It is
 * opened and closed once, as a probed call's probe is: a fresh probe's hidden class is not a used
 * one's, and anchoring the fresh one left the used class to die, deoptimising the call path.
 */
export const probeMapAnchor: Probe = anchorProbe();

function anchorProbe(): Probe {
  const p = new Probe();
  p.open();
  p.close();
  return p;
}
