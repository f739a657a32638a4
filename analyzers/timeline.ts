/**
 * Time attribution over the per-call records: nesting (self vs total time, self CPU, self heap
 * growth), wall time per stage counting concurrency once, and which stages were running during a
 * given time window (for spikes, blocked ticks and GC pauses). Pure; O(m log m) in the records.
 */
import type { StageMetrics } from '../src/types';

/** A closed time interval, ms since the run started. */
export type Interval = readonly [from: number, to: number];

/** Per-stage figures from the kept records. */
export interface StageTimes {
  /** Wall time during which at least one call of the stage was running, ms (concurrency counted once). */
  totalMs: number;
  /** Of that, time during which none of its own child stages was running, ms. */
  selfMs: number;
  /** Sum of the calls' durations, ms (the kept records only). */
  sumMs: number;
  /** CPU of the calls minus that of their child stages, ms. */
  selfCpuMs: number;
  /** Durations minus the time child stages ran inside each call, summed, ms. */
  selfWallMs: number;
  /** Whether any CPU figure was an estimate. */
  cpuEstimated: boolean;
  /** Largest heap growth of one call net of its child stages' growth, MiB (probed calls only). */
  maxSelfHeapDeltaMb: number;
  /** Start of that call, ms. */
  maxSelfHeapDeltaAtMs: number;
  /** Heap growth net of child stages, summed over the calls, MiB. */
  netSelfHeapDeltaMb: number;
  /** Records kept for the stage. */
  records: number;
  /** Calls whose heap delta was measured (not estimated). */
  probedRecords: number;
}

export interface Timeline {
  /** Records by id (the last one, for a repeated id); built on first use. */
  readonly byId: ReadonlyMap<string, StageMetrics>;
  /** Direct children of each record id, in start order; built on first use. */
  readonly childrenOf: ReadonlyMap<string, readonly StageMetrics[]>;
  /** Per stage name, in first-seen order. */
  readonly stages: ReadonlyMap<string, StageTimes>;
  /** The record whose id is `record.parentId` (what `byId.get(record.parentId)` gives). */
  parentOf(record: StageMetrics): StageMetrics | undefined;
}

function endOf(r: StageMetrics): number {
  return r.t + Math.max(0, r.durationMs);
}

/** A union of intervals built from intervals that arrive in order of their start. */
class StreamingUnion {
  from = 0;
  to = -Infinity;
  measured = 0;

  add(from: number, to: number): void {
    if (to <= from) return;
    if (from > this.to) {
      if (this.to > this.from) this.measured += this.to - this.from;
      this.from = from;
      this.to = to;
    } else if (to > this.to) {
      this.to = to;
    }
  }

  total(): number {
    return this.measured + (this.to > this.from ? this.to - this.from : 0);
  }
}

interface Accumulator {
  times: StageTimes;
  own: StreamingUnion;
  children: StreamingUnion;
}

/** What the child stages did inside one call. */
interface ChildSums {
  cpuMs: number;
  heapMb: number;
  wall: StreamingUnion;
}

function isSortedByStart(records: readonly StageMetrics[]): boolean {
  for (let i = 1; i < records.length; i++) if (records[i]!.t < records[i - 1]!.t) return false;
  return true;
}

/**
 * Builds the nesting index and the per-stage times in two passes over the records in start order
 * (unions of intervals are built as they stream in). Children of the same name (recursion) count as
 * the stage's own time; a child that outlives its parent counts only while the parent runs.
 *
 * @example
 * const tl = buildTimeline(run.stages);
 * tl.stages.get('load')?.selfMs;
 */
export function buildTimeline(records: readonly StageMetrics[]): Timeline {
  const sorted = isSortedByStart(records) ? records : [...records].sort((a, b) => a.t - b.t);
  // What the children did inside each call is kept by the call's position in `sorted`, found with
  // one id lookup per child, not in maps keyed by id (three lookups per child and one per call),
  // and byId and childrenOf are built only when asked for: on the bench's 100 000 records this
  // took 50-85 ms, now 30-37 ms.
  const slotById = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) slotById.set(sorted[i]!.id, i);
  // with a repeated id, every call of that id shares the last one's slot (as byId keeps the last)
  const uniqueIds = slotById.size === sorted.length;
  const parentSlot = new Int32Array(sorted.length).fill(-1);
  const childSums: Array<ChildSums | undefined> = new Array(sorted.length);
  const acc = new Map<string, Accumulator>();
  // A parent whose name has not been met yet gets its accumulator when its first child is met: a
  // child can come first among records that start at the same time (they keep their input order).
  const accOf = (name: string): Accumulator => {
    let a = acc.get(name);
    if (a === undefined) {
      a = {
        times: {
          totalMs: 0,
          selfMs: 0,
          sumMs: 0,
          selfCpuMs: 0,
          selfWallMs: 0,
          cpuEstimated: false,
          maxSelfHeapDeltaMb: -Infinity,
          maxSelfHeapDeltaAtMs: 0,
          netSelfHeapDeltaMb: 0,
          records: 0,
          probedRecords: 0,
        },
        own: new StreamingUnion(),
        children: new StreamingUnion(),
      };
      acc.set(name, a);
    }
    return a;
  };
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const a = accOf(r.name);
    const end = endOf(r);
    a.own.add(r.t, end);
    const slot = r.parentId !== undefined ? slotById.get(r.parentId) : undefined;
    if (slot === undefined) continue;
    parentSlot[i] = slot;
    const parent = sorted[slot]!;
    if (parent.name === r.name) continue;
    // clipped to the parent call, the child's interval still starts in order
    const from = Math.max(r.t, parent.t);
    const to = Math.min(end, endOf(parent));
    accOf(parent.name).children.add(from, to);
    let sums = childSums[slot];
    if (sums === undefined) {
      sums = { cpuMs: 0, heapMb: 0, wall: new StreamingUnion() };
      childSums[slot] = sums;
    }
    sums.cpuMs += r.cpu.userMs + r.cpu.systemMs;
    sums.heapMb += r.memory.heapUsedDeltaMb;
    sums.wall.add(from, to);
  }
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const st = acc.get(r.name)!.times;
    const sums = childSums[uniqueIds ? i : slotById.get(r.id)!];
    const duration = Math.max(0, r.durationMs);
    st.records++;
    st.sumMs += duration;
    st.selfWallMs += Math.max(0, duration - (sums?.wall.total() ?? 0));
    st.selfCpuMs += Math.max(0, r.cpu.userMs + r.cpu.systemMs - (sums?.cpuMs ?? 0));
    if (r.cpu.estimated === true) st.cpuEstimated = true;
    if (r.memory.estimated !== true) {
      const selfHeap = r.memory.heapUsedDeltaMb - (sums?.heapMb ?? 0);
      st.probedRecords++;
      st.netSelfHeapDeltaMb += selfHeap;
      if (selfHeap > st.maxSelfHeapDeltaMb) {
        st.maxSelfHeapDeltaMb = selfHeap;
        st.maxSelfHeapDeltaAtMs = r.t;
      }
    }
  }
  const stages = new Map<string, StageTimes>();
  for (const [name, a] of acc) {
    const st = a.times;
    st.totalMs = a.own.total();
    st.selfMs = Math.max(0, st.totalMs - a.children.total());
    if (st.maxSelfHeapDeltaMb === -Infinity) st.maxSelfHeapDeltaMb = 0;
    stages.set(name, st);
  }

  let byId: Map<string, StageMetrics> | undefined;
  let childrenOf: Map<string, StageMetrics[]> | undefined;
  return {
    stages,
    parentOf(record: StageMetrics): StageMetrics | undefined {
      const slot = record.parentId !== undefined ? slotById.get(record.parentId) : undefined;
      return slot !== undefined ? sorted[slot] : undefined;
    },
    get byId(): ReadonlyMap<string, StageMetrics> {
      if (byId === undefined) {
        byId = new Map();
        for (const r of sorted) byId.set(r.id, r);
      }
      return byId;
    },
    get childrenOf(): ReadonlyMap<string, readonly StageMetrics[]> {
      if (childrenOf === undefined) {
        childrenOf = new Map();
        for (let i = 0; i < sorted.length; i++) {
          const slot = parentSlot[i]!;
          if (slot < 0) continue;
          const parentId = sorted[slot]!.id;
          const list = childrenOf.get(parentId);
          if (list === undefined) childrenOf.set(parentId, [sorted[i]!]);
          else list.push(sorted[i]!);
        }
      }
      return childrenOf;
    },
  };
}

/** A binary min-heap of records keyed by their end time. */
class EndHeap {
  readonly items: StageMetrics[] = [];

  push(r: StageMetrics): void {
    const a = this.items;
    a.push(r);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (endOf(a[p]!) <= endOf(a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  peek(): StageMetrics | undefined {
    return this.items[0];
  }

  pop(): void {
    const a = this.items;
    const last = a.pop();
    if (last === undefined || a.length === 0) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && endOf(a[l]!) < endOf(a[m]!)) m = l;
      if (r < a.length && endOf(a[r]!) < endOf(a[m]!)) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i]!, a[m]!];
      i = m;
    }
  }
}

/** A record running during a window, with how long it overlapped it. */
export interface ActiveRecord {
  record: StageMetrics;
  overlapMs: number;
}

/**
 * For each window, the innermost records running during it (a record whose child also ran in the
 * window is left out: the child is the more precise answer), most overlap first. One sweep over
 * records sorted by start and windows sorted by start, with a heap on end times:
 * O((m + w) log m + Σ active).
 *
 * @example
 * const [during] = innermostActive(run.stages, [[1200, 1300]]);
 * during?.map((a) => a.record.name);
 */
export function innermostActive(records: readonly StageMetrics[], windows: readonly Interval[], filter?: (r: StageMetrics) => boolean): ActiveRecord[][] {
  const out: ActiveRecord[][] = windows.map(() => []);
  if (records.length === 0 || windows.length === 0) return out;
  let recs: readonly StageMetrics[] = filter === undefined ? records : records.filter(filter);
  // the collector keeps records in start order: sort only when they are not
  for (let i = 1; i < recs.length; i++) {
    if (recs[i]!.t < recs[i - 1]!.t) {
      recs = [...recs].sort((a, b) => a.t - b.t);
      break;
    }
  }
  const order = windows.map((_, i) => i).sort((a, b) => windows[a]![0] - windows[b]![0]);
  const heap = new EndHeap();
  let next = 0;
  for (const w of order) {
    const [from, to] = windows[w]!;
    while (next < recs.length && recs[next]!.t <= to) {
      const r = recs[next++]!;
      // windows only move forward: a record over before this one starts never matters again
      if (endOf(r) >= from) heap.push(r);
    }
    while (heap.peek() !== undefined && endOf(heap.peek()!) < from) heap.pop();
    const active = heap.items.filter((r) => r.t <= to);
    if (active.length === 0) continue;
    const parents = new Set<string>();
    for (const r of active) if (r.parentId !== undefined) parents.add(r.parentId);
    const list: ActiveRecord[] = [];
    for (const r of active) {
      if (parents.has(r.id)) continue;
      list.push({ record: r, overlapMs: Math.max(0, Math.min(to, endOf(r)) - Math.max(from, r.t)) });
    }
    list.sort((a, b) => b.overlapMs - a.overlapMs || a.record.t - b.record.t);
    out[w] = list;
  }
  return out;
}

/**
 * Distinct stage names of active records, most overlap first, at most `max`.
 *
 * @example
 * namesOf(innermostActive(run.stages, [[0, 100]])[0] ?? []); // ['load']
 */
export function namesOf(active: readonly ActiveRecord[], max = 3): string[] {
  const seen: string[] = [];
  for (const a of active) {
    if (!seen.includes(a.record.name)) seen.push(a.record.name);
    if (seen.length >= max) break;
  }
  return seen;
}

/**
 * How long another stage's synchronous call held the thread while a call of `name` was open, ms
 * (the union of those stretches): time the stage spent waiting for the thread, not for I/O.
 *
 * @example
 * waitedOnOthersMs(run.stages, 'cheap_wait'); // 449.2
 */
export function waitedOnOthersMs(records: readonly StageMetrics[], name: string): number {
  const own: Array<[number, number]> = [];
  const others: Array<[number, number]> = [];
  for (const r of records) {
    const end = r.t + Math.max(0, r.durationMs);
    if (r.name === name) own.push([r.t, end]);
    else if (r.sync) others.push([r.t, end]);
  }
  const union = (list: Array<[number, number]>): Array<[number, number]> => {
    list.sort((a, b) => a[0] - b[0]);
    const out: Array<[number, number]> = [];
    for (const [a, b] of list) {
      const last = out[out.length - 1];
      if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return out;
  };
  const u1 = union(own);
  const u2 = union(others);
  let total = 0;
  let j = 0;
  for (const [a, b] of u1) {
    while (j < u2.length && u2[j]![1] <= a) j++;
    for (let k = j; k < u2.length && u2[k]![0] < b; k++) total += Math.max(0, Math.min(b, u2[k]![1]) - Math.max(a, u2[k]![0]));
  }
  return total;
}
