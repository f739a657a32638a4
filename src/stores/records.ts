/**
 * The per-call records a run keeps, within one budget for the whole run (`maxStageRecords`), as
 * rows of one typed array rather than as the call objects themselves: a kept call object would
 * live on into the old generation, while copying a dozen numbers lets the frame die young.
 *
 * Which calls: a stage's calls are kept while their number is a multiple of the stage's stride
 * (1 at first). When the table is full, the stage with the most rows doubles its stride and drops
 * the rows that no longer fit it, so each stage keeps an evenly spaced sample of its calls over
 * the whole run, and stages with few calls keep them all. A failed call is kept whatever the
 * stride, and thinning leaves it, while failures hold under a quarter of the budget.
 */

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

/** The measured figures of a probed call. */
export interface ProbeFigures {
  cpuUserMs: number;
  cpuSystemMs: number;
  onThreadMs: number;
  heapDeltaMb: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
}

/** One record read back (probe figures are 0 when `probed` is false). */
export interface CallRecord extends ProbeFigures {
  id: number;
  /** -1 when the call had no parent. */
  parentId: number;
  /** Start, clock ms. */
  t0: number;
  durationMs: number;
  selfMs: number;
  rows: number;
  /** Index of the stage (its stats) in the order stages were first seen. */
  stage: number;
  /** The call's number within its stage, from 0. */
  seq: number;
  threadId: number;
  sync: boolean;
  failed: boolean;
  /** CPU and heap were measured on this call. */
  probed: boolean;
  error: ErrorInfo | undefined;
  metadata: Record<string, unknown> | undefined;
}

const SYNC = 1;
const PROBED = 2;
const FAILED = 4;

// One row of doubles per call, in this order.
const ID = 0;
const PARENT = 1;
const T0 = 2;
const DURATION = 3;
const SELF = 4;
const ROWS = 5;
const STAGE = 6;
const SEQ = 7;
const FLAGS = 8;
const THREAD = 9;
const CPU_USER = 10;
const CPU_SYSTEM = 11;
const ON_THREAD = 12;
const HEAP = 13;
const VOLUNTARY = 14;
const INVOLUNTARY = 15;
const WIDTH = 16;

/** What the table asks of a stage to thin its rows. */
export interface ThinnedStage {
  stride: number;
  kept: number;
}

export class RecordTable {
  readonly #budget: number;
  #length = 0;
  #rows = new Float64Array(0);
  /** Metadata and errors are rare or shared: kept aside by row. */
  #metadata = new Map<number, Record<string, unknown>>();
  #errors = new Map<number, ErrorInfo>();
  #failedRows = 0;
  /** Calls that got no record (thinned out, or dropped when the table could not make room). */
  omitted = 0;

  constructor(budget: number) {
    this.#budget = Math.max(0, Math.floor(budget));
  }

  get length(): number {
    return this.#length;
  }

  get budget(): number {
    return this.#budget;
  }

  /** Forgets every row (a worker's run empties its table each time it sends the rows on). */
  clear(): void {
    this.#length = 0;
    this.#metadata = new Map();
    this.#errors = new Map();
    this.#failedRows = 0;
    this.omitted = 0;
  }

  /** Whether call number `seq` of a stage with this stride gets a record (before `add`). */
  static wanted(stage: ThinnedStage, seq: number, failed: boolean): boolean {
    return (seq & (stage.stride - 1)) === 0 || failed;
  }

  /**
   * Appends one finished call. `stages` lets a full table thin the stage with the most rows.
   * Returns false when the call got no record.
   */
  add(
    stages: readonly ThinnedStage[],
    stageIndex: number,
    id: number,
    parentId: number,
    t0: number,
    durationMs: number,
    selfMs: number,
    rows: number,
    seq: number,
    threadId: number,
    sync: boolean,
    error: ErrorInfo | undefined,
    metadata: Record<string, unknown> | undefined,
    probe: ProbeFigures | undefined,
  ): boolean {
    const failed = error !== undefined;
    if (this.#length >= this.#budget && !this.#makeRoom(stages, stageIndex, seq, failed)) {
      this.omitted++;
      return false;
    }
    if (failed && this.#failedRows >= this.#budget / 4 && (seq & (stages[stageIndex]!.stride - 1)) !== 0) {
      this.omitted++;
      return false;
    }
    const i = this.#length++;
    const o = i * WIDTH;
    if (o + WIDTH > this.#rows.length) this.#grow();
    const r = this.#rows;
    r[o + ID] = id;
    r[o + PARENT] = parentId;
    r[o + T0] = t0;
    r[o + DURATION] = durationMs;
    r[o + SELF] = selfMs;
    r[o + ROWS] = rows;
    r[o + STAGE] = stageIndex;
    r[o + SEQ] = seq;
    r[o + FLAGS] = (sync ? SYNC : 0) | (probe !== undefined ? PROBED : 0) | (failed ? FAILED : 0);
    r[o + THREAD] = threadId;
    if (probe !== undefined) {
      r[o + CPU_USER] = probe.cpuUserMs;
      r[o + CPU_SYSTEM] = probe.cpuSystemMs;
      r[o + ON_THREAD] = probe.onThreadMs;
      r[o + HEAP] = probe.heapDeltaMb;
      r[o + VOLUNTARY] = probe.voluntarySwitches;
      r[o + INVOLUNTARY] = probe.involuntarySwitches;
    } else {
      r.fill(0, o + CPU_USER, o + WIDTH);
    }
    if (metadata !== undefined) this.#metadata.set(i, metadata);
    if (failed) {
      this.#errors.set(i, error);
      this.#failedRows++;
    }
    stages[stageIndex]!.kept++;
    return true;
  }

  #grow(): void {
    const rows = new Float64Array(Math.min(Math.max(256, (this.#rows.length / WIDTH) * 2), Math.max(256, this.#budget)) * WIDTH);
    rows.set(this.#rows.subarray(0, Math.min(this.#rows.length, rows.length)));
    this.#rows = rows;
  }

  /**
   * The table is full: the stage with the most rows doubles its stride and drops its rows off it.
   * False when no room can be made for this call (it does not fit its own stage's new stride).
   */
  #makeRoom(stages: readonly ThinnedStage[], stageIndex: number, seq: number, failed: boolean): boolean {
    while (this.#length >= this.#budget) {
      // The stage with the most rows that thinning may drop: failures stay while they hold under
      // a quarter of the budget.
      const keepFailed = this.#failedRows <= this.#budget / 4;
      const droppable = new Array<number>(stages.length).fill(0);
      const r = this.#rows;
      for (let i = 0; i < this.#length; i++) if (!keepFailed || (r[i * WIDTH + FLAGS]! & FAILED) === 0) droppable[r[i * WIDTH + STAGE]!]!++;
      let biggest = -1;
      for (let s = 0; s < stages.length; s++) if (biggest < 0 || droppable[s]! > droppable[biggest]!) biggest = s;
      if (biggest < 0 || droppable[biggest]! <= 1) return false;
      const stage = stages[biggest]!;
      stage.stride *= 2;
      this.#dropOffStride(biggest, stage, keepFailed);
      if (biggest === stageIndex && (seq & (stage.stride - 1)) !== 0 && !failed) return false;
    }
    return true;
  }

  /** Removes the rows of one stage whose call number is off its stride (failures stay with `keepFailed`). */
  #dropOffStride(stageIndex: number, stage: ThinnedStage, keepFailed: boolean): void {
    const r = this.#rows;
    const mask = stage.stride - 1;
    const metadata = new Map<number, Record<string, unknown>>();
    const errors = new Map<number, ErrorInfo>();
    let w = 0;
    for (let i = 0; i < this.#length; i++) {
      const o = i * WIDTH;
      const failed = (r[o + FLAGS]! & FAILED) !== 0;
      if (r[o + STAGE] === stageIndex && (r[o + SEQ]! & mask) !== 0 && !(failed && keepFailed)) {
        stage.kept--;
        this.omitted++;
        if (failed) this.#failedRows--;
        continue;
      }
      if (w !== i) r.copyWithin(w * WIDTH, o, o + WIDTH);
      const m = this.#metadata.get(i);
      if (m !== undefined) metadata.set(w, m);
      const e = this.#errors.get(i);
      if (e !== undefined) errors.set(w, e);
      w++;
    }
    this.#length = w;
    this.#metadata = metadata;
    this.#errors = errors;
  }

  /** Reads row `i` back. */
  get(i: number): CallRecord {
    const r = this.#rows;
    const o = i * WIDTH;
    const flags = r[o + FLAGS]!;
    return {
      id: r[o + ID]!,
      parentId: r[o + PARENT]!,
      t0: r[o + T0]!,
      durationMs: r[o + DURATION]!,
      selfMs: r[o + SELF]!,
      rows: r[o + ROWS]!,
      stage: r[o + STAGE]!,
      seq: r[o + SEQ]!,
      threadId: r[o + THREAD]!,
      sync: (flags & SYNC) !== 0,
      failed: (flags & FAILED) !== 0,
      probed: (flags & PROBED) !== 0,
      cpuUserMs: r[o + CPU_USER]!,
      cpuSystemMs: r[o + CPU_SYSTEM]!,
      onThreadMs: r[o + ON_THREAD]!,
      heapDeltaMb: r[o + HEAP]!,
      voluntarySwitches: r[o + VOLUNTARY]!,
      involuntarySwitches: r[o + INVOLUNTARY]!,
      error: this.#errors.get(i),
      metadata: this.#metadata.get(i),
    };
  }
}
