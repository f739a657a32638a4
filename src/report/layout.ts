/**
 * Where each stage call goes on a timeline, shared by the trace export and the HTML Gantt: calls
 * are spread over tracks (lanes) so that on every track they are well nested, as a call stack
 * is. A call goes on its parent's track, inside the parent, when it fits there; a call that
 * outlives its parent, overlaps a sibling still open on that track, or runs concurrently with
 * another top-level call gets the first free track of its thread. Pure; O(n log n) in the calls.
 */
import type { Finding, StageMetrics } from '../types';

/** One track of the layout. */
export interface Track {
  /** Thread the calls on this track ran on (0 = main thread). */
  threadId: number;
  /** Position of the track among the tracks of its thread, from 0. */
  lane: number;
  /** Deepest nesting on the track (0 when no call has a child on it). */
  maxDepth: number;
}

/** The layout of a list of calls. */
export interface CallLayout {
  /** Per call (same order as the input): index of its track in `tracks`, -1 for a call left out (no finite start). */
  track: Int32Array;
  /** Per call: how many open calls enclose it on its track. */
  depth: Int32Array;
  /** Start and end of each call in integer nanoseconds since the run started (what nesting is decided on). */
  startNs: Float64Array;
  endNs: Float64Array;
  /** Tracks ordered by thread, then lane. */
  tracks: Track[];
}

/** A binary min-heap: free lanes by index, busy lanes by the end of their outermost call. */
class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const a = this.#items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.#less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.#less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** The tracks of one thread: their stacks, which are free, and when the busy ones free up. */
interface ThreadTracks {
  /** Global track index of each lane. */
  readonly lanes: number[];
  /** Free lanes, lowest first (so the display fills the top lanes first). */
  readonly free: MinHeap<number>;
  /** Busy lanes by the end of their outermost open call. */
  readonly busy: MinHeap<{ lane: number; endNs: number }>;
}

function threadOf(call: StageMetrics): number {
  const id = (call as { threadId?: unknown }).threadId;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : 0;
}

/**
 * Spreads the calls over tracks, well nested per track. Calls with a non-finite start are left
 * out (track -1); a negative or non-finite duration counts as 0.
 *
 * @example
 * const { track, depth, tracks } = layoutCalls(report.stages);
 * // report.stages[i] is drawn on tracks[track[i]] at nesting depth depth[i]
 */
export function layoutCalls(calls: readonly StageMetrics[]): CallLayout {
  const n = calls.length;
  const track = new Int32Array(n).fill(-1);
  const depth = new Int32Array(n);
  const startNs = new Float64Array(n);
  const endNs = new Float64Array(n);
  const byId = new Map<string, number>();
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = calls[i]!;
    const t = typeof c.t === 'number' ? c.t : NaN;
    const d = typeof c.durationMs === 'number' && c.durationMs > 0 && Number.isFinite(c.durationMs) ? c.durationMs : 0;
    if (!Number.isFinite(t)) continue;
    // Integer nanoseconds: containment is then decided exactly, and a consumer that rounds µs
    // with 3 decimals sees the same nesting.
    startNs[i] = Math.round(t * 1e6);
    endNs[i] = Math.round((t + d) * 1e6);
    if (typeof c.id === 'string') byId.set(c.id, i);
    order.push(i);
  }
  // Start order; at one start the longer call first, so that a parent precedes its children.
  order.sort((a, b) => startNs[a]! - startNs[b]! || endNs[b]! - endNs[a]! || a - b);

  const stacks: number[][] = [];
  const meta: Track[] = [];
  const threads = new Map<number, ThreadTracks>();
  const closeFinished = (stack: number[], s: number, e: number): void => {
    // A call ending exactly at s still encloses a zero-length call at s.
    while (stack.length > 0) {
      const top = endNs[stack[stack.length - 1]!]!;
      if (top < s || (top === s && e > s)) stack.pop();
      else break;
    }
  };

  for (const i of order) {
    const c = calls[i]!;
    const s = startNs[i]!;
    const e = endNs[i]!;
    const threadId = threadOf(c);
    let placed = -1;
    const parent = typeof c.parentId === 'string' ? byId.get(c.parentId) : undefined;
    if (parent !== undefined && parent !== i && track[parent]! >= 0 && meta[track[parent]!]!.threadId === threadId) {
      const stack = stacks[track[parent]!]!;
      closeFinished(stack, s, e);
      if (stack[stack.length - 1] === parent && endNs[parent]! >= e) placed = track[parent]!;
    }
    if (placed < 0) {
      let th = threads.get(threadId);
      if (th === undefined) {
        th = { lanes: [], free: new MinHeap<number>((a, b) => a < b), busy: new MinHeap((a, b) => a.endNs < b.endNs) };
        threads.set(threadId, th);
      }
      for (let top = th.busy.peek(); top !== undefined && top.endNs <= s; top = th.busy.peek()) {
        th.busy.pop();
        th.free.push(top.lane);
      }
      let lane = th.free.pop();
      if (lane === undefined) {
        lane = th.lanes.length;
        th.lanes.push(stacks.length);
        stacks.push([]);
        meta.push({ threadId, lane, maxDepth: 0 });
      }
      placed = th.lanes[lane]!;
      stacks[placed]!.length = 0;
      th.busy.push({ lane, endNs: e });
    }
    const stack = stacks[placed]!;
    track[i] = placed;
    depth[i] = stack.length;
    if (stack.length > meta[placed]!.maxDepth) meta[placed]!.maxDepth = stack.length;
    stack.push(i);
  }

  // Order the tracks by thread, then lane, and renumber.
  const sorted = meta.map((m, i) => ({ m, i })).sort((a, b) => a.m.threadId - b.m.threadId || a.m.lane - b.m.lane);
  const renumber = new Int32Array(meta.length);
  sorted.forEach((x, k) => (renumber[x.i] = k));
  for (let i = 0; i < n; i++) if (track[i]! >= 0) track[i] = renumber[track[i]!]!;
  return { track, depth, startNs, endNs, tracks: sorted.map((x) => x.m) };
}

/**
 * When a finding happened, ms since the run started, from its evidence: `t`, `atMs`, or the first
 * finite number under a key ending in `AtMs` (`slowestAtMs`, `longestAtMs`, ...). Undefined when
 * the evidence names no time.
 *
 * @example
 * findingTimeMs({ kind: 'memory_spike', severity: 'info', message: '', evidence: { atMs: 1200 } }); // 1200
 */
export function findingTimeMs(finding: Pick<Finding, 'evidence'>): number | undefined {
  const e = finding.evidence;
  if (e === null || typeof e !== 'object') return undefined;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (ok(e.t)) return e.t;
  if (ok(e.atMs)) return e.atMs;
  for (const key of Object.keys(e)) if (key.endsWith('AtMs') && ok(e[key])) return e[key];
  return undefined;
}
