/**
 * Each stage's exclusive share of its thread's time: every instant of a thread is given to one
 * stage, or split between stages, or to none (idle), so a thread's shares never add up past
 * 100 % of the run, however concurrent its stages.
 *
 * At each instant: a synchronous call holds the thread for its whole length (synchronous calls of
 * one thread nest strictly), so the innermost open synchronous call owns it. Otherwise the
 * innermost open calls (open calls none of whose own children is open) split it evenly: a call
 * waiting beside a busy sibling gets none of the sibling's synchronous stretch, only its share of
 * the time when no stage's code held the thread.
 *
 * From the kept records; a stage whose calls were not all kept has its share scaled up by its
 * summed call time over its kept records' (an evenly spaced sample of its calls), and a thread's
 * shares are scaled down together if that pushes them past the run.
 */
import type { StageMetrics, StageSummary } from '../src/types';

/** A stage's exclusive time on one thread, ms. */
export interface ExclusiveShare {
  stage: string;
  threadId: number;
  shareMs: number;
}

/** The fields the sweep reads of a record. */
interface Call {
  id: string;
  name: string;
  parentId: string | undefined;
  t: number;
  durationMs: number;
  sync: boolean;
  threadId: number;
}

/** A record's fields, read once; undefined for a record that cannot be read (a hand-made run's getter that throws). */
function callOf(r: StageMetrics): Call | undefined {
  try {
    return { id: r.id, name: r.name, parentId: r.parentId, t: r.t, durationMs: r.durationMs, sync: r.sync === true, threadId: typeof r.threadId === 'number' ? r.threadId : 0 };
  } catch {
    return undefined;
  }
}

interface Edge {
  t: number;
  /** +1 open, -1 close. */
  kind: 1 | -1;
  i: number;
}

/**
 * @example
 * exclusiveShares(run.stages, run.stageSummaries, run.run.durationMs);
 * // [{ stage: 'heavy_sync', threadId: 0, shareMs: 450 }, { stage: 'cheap_wait', threadId: 0, shareMs: 3 }]
 */
export function exclusiveShares(records: readonly StageMetrics[], summaries: readonly StageSummary[], durationMs: number): ExclusiveShare[] {
  const byThread = new Map<number, Call[]>();
  const keptMs = new Map<string, number>();
  for (const r of records) {
    const c = callOf(r);
    if (c === undefined || !(c.durationMs > 0) || !Number.isFinite(c.t)) continue;
    const list = byThread.get(c.threadId);
    if (list === undefined) byThread.set(c.threadId, [c]);
    else list.push(c);
    keptMs.set(c.name, (keptMs.get(c.name) ?? 0) + c.durationMs);
  }
  // Scale for stages with omitted records: summed call time over the kept records' summed time.
  const scale = new Map<string, number>();
  for (const s of summaries) {
    const kept = keptMs.get(s.name) ?? 0;
    scale.set(s.name, s.recordsOmitted > 0 && kept > 0 ? Math.max(1, s.totalMs / kept) : 1);
  }
  const out: ExclusiveShare[] = [];
  for (const [threadId, list] of byThread) {
    const shares = sweep(list);
    let total = 0;
    for (const [stage, ms] of shares) {
      const scaled = ms * (scale.get(stage) ?? 1);
      shares.set(stage, scaled);
      total += scaled;
    }
    const k = durationMs > 0 && total > durationMs ? durationMs / total : 1;
    for (const [stage, ms] of shares) out.push({ stage, threadId, shareMs: ms * k });
  }
  return out;
}

/**
 * The exclusive time of each stage name over one thread's records, ms. O(m log m): while no
 * synchronous call is open, `perLeaf` grows by dt / (open leaves) and a call collects its growth
 * over the stretches when it is a leaf, so no event walks the open calls.
 */
function sweep(records: readonly Call[]): Map<string, number> {
  const n = records.length;
  const edges: Edge[] = new Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    edges[2 * i] = { t: r.t, kind: 1, i };
    edges[2 * i + 1] = { t: r.t + r.durationMs, kind: -1, i };
  }
  // closes before opens at the same instant: a call that ends as another starts does not overlap it
  edges.sort((a, b) => a.t - b.t || a.kind - b.kind);
  const idIndex = new Map<string, number>();
  for (let i = 0; i < n; i++) idIndex.set(records[i]!.id, i);
  const parentOf = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const p = records[i]!.parentId;
    const j = p === undefined ? undefined : idIndex.get(p);
    if (j !== undefined && j !== i) parentOf[i] = j;
  }
  const isOpen = new Uint8Array(n);
  /** Open children of each open call. */
  const openChildren = new Int32Array(n);
  /** `perLeaf` when the call last became a leaf (NaN while it is not one). */
  const leafSince = new Float64Array(n).fill(Number.NaN);
  /** Open synchronous calls, in the order they opened (they nest: the last is innermost). */
  const syncStack: number[] = [];
  let leaves = 0;
  let perLeaf = 0;
  const out = new Map<string, number>();
  const add = (i: number, ms: number): void => {
    if (!(ms > 0)) return;
    const name = records[i]!.name;
    out.set(name, (out.get(name) ?? 0) + ms);
  };
  const becomeLeaf = (i: number): void => {
    leafSince[i] = perLeaf;
    leaves++;
  };
  const stopBeingLeaf = (i: number): void => {
    if (Number.isNaN(leafSince[i]!)) return;
    add(i, perLeaf - leafSince[i]!);
    leafSince[i] = Number.NaN;
    leaves--;
  };
  let prevT = edges.length > 0 ? edges[0]!.t : 0;
  for (const e of edges) {
    const dt = e.t - prevT;
    if (dt > 0) {
      if (syncStack.length > 0) add(syncStack[syncStack.length - 1]!, dt);
      else if (leaves > 0) perLeaf += dt / leaves;
    }
    prevT = e.t;
    const i = e.i;
    const p = parentOf[i]!;
    const parentOpen = p >= 0 && isOpen[p] === 1;
    if (e.kind === 1) {
      if (isOpen[i] === 1) continue;
      isOpen[i] = 1;
      if (parentOpen) {
        const c = openChildren[p]!;
        openChildren[p] = c + 1;
        if (c === 0) stopBeingLeaf(p);
      }
      becomeLeaf(i);
      if (records[i]!.sync) syncStack.push(i);
    } else {
      if (isOpen[i] === 0) continue;
      isOpen[i] = 0;
      stopBeingLeaf(i);
      openChildren[i] = 0;
      if (parentOpen) {
        const c = openChildren[p]!;
        if (c > 0) {
          openChildren[p] = c - 1;
          if (c === 1) becomeLeaf(p);
        }
      }
      if (records[i]!.sync) {
        const at = syncStack.lastIndexOf(i);
        if (at >= 0) syncStack.splice(at, 1);
      }
    }
  }
  return out;
}
