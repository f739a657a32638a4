/**
 * The per-call records a run keeps, within one budget for the whole run (`maxStageRecords`), as
 * rows of one typed array rather than as the call objects themselves: a kept call object would
 * live on into the old generation, while copying eight numbers lets the frame die young.
 *
 * Which calls: a stage's calls are kept while their number is a multiple of the stage's stride
 * (1 at first). When the table is full, the stage with the most rows doubles its stride and drops
 * the rows that no longer fit it, so each stage keeps an evenly spaced sample of its calls over
 * the whole run, and stages with few calls keep them all. A call that failed, or that was its
 * stage's longest so far, is kept whatever the stride, and thinning leaves it, while such calls
 * hold under a quarter of the budget: the errors a user acts on and the longest blocks of each
 * stage stay in the report.
 *
 * Thinning is batched: one pass over the table costs ~2 ms at the default 50,000 rows (~10 ms the
 * first time, before V8 optimises it), paid by the call whose record found the table full; a
 * stage among a hundred holds ~1 % of the rows, so thinning one stage per pass would pay that pass
 * for every few hundred calls kept (a third of a busy run's time, and stalls of tens of ms).
 * Instead, each pass doubles the strides of as many of the biggest stages as it takes to free an
 * eighth of the budget, so a pass comes once per ~6,000 rows kept.
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

// A row's flags. Whether a call failed or was probed is not among them: its error or its probe
// figures, kept aside by row, say so.
const SYNC = 1;
/** Kept off the stride: failed, or the stage's longest call so far. */
const PROTECTED = 2;

// One row of eight doubles per call (64 bytes, a cache line): a record is written right after the
// stage's own work, when the caches are cold, and each line it touches costs a miss (~0.1 µs on a
// busy VM). The stage, the thread and the flags share one double (STAGE_THREAD_FLAGS); the probe
// figures of the few probed calls are kept aside by row.
const ID = 0;
const PARENT = 1;
const T0 = 2;
const DURATION = 3;
const SELF = 4;
const ROWS = 5;
const SEQ = 6;
const STAGE_THREAD_FLAGS = 7;
const WIDTH = 8;

/** stage * STAGE_UNIT + thread * FLAGS_UNIT + flags: 20 bits of stage (maxStageNames is at most 10^6), 28 of thread, 2 of flags. */
const FLAGS_UNIT = 4;
const THREAD_LIMIT = 2 ** 28;
const STAGE_UNIT = THREAD_LIMIT * FLAGS_UNIT;

function pack(stage: number, threadId: number, flags: number): number {
  const thread = threadId >= 0 && threadId < THREAD_LIMIT ? threadId : THREAD_LIMIT - 1;
  return stage * STAGE_UNIT + thread * FLAGS_UNIT + flags;
}

const flagsOf = (packed: number): number => packed % FLAGS_UNIT;
const threadOf = (packed: number): number => Math.floor(packed / FLAGS_UNIT) % THREAD_LIMIT;
const stageOf = (packed: number): number => Math.floor(packed / STAGE_UNIT);

/** Share of the budget one thinning pass frees (see the batching above). */
const FREED_PER_PASS = 1 / 8;

/** What the table asks of a stage to thin its rows. */
export interface ThinnedStage {
  stride: number;
  kept: number;
}

export class RecordTable {
  readonly #budget: number;
  #length = 0;
  #rows = new Float64Array(0);
  /** Metadata, errors and probe figures are rare or shared: kept aside by row. */
  #metadata = new Map<number, Record<string, unknown>>();
  #errors = new Map<number, ErrorInfo>();
  #probes = new Map<number, ProbeFigures>();
  /** Rows kept off the stride (PROTECTED), in all and by stage. */
  #protectedRows = 0;
  #protectedByStage: number[] = [];
  /** Calls that got no record (thinned out, or dropped when the table could not make room). */
  omitted = 0;
  #passes = 0;

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
    this.#probes = new Map();
    this.#protectedRows = 0;
    this.#protectedByStage = [];
    this.omitted = 0;
  }

  /** Thinning passes over the table so far (for tests and the curious: each pass reads every row). */
  get thinningPasses(): number {
    return this.#passes;
  }

  /** Whether call number `seq` of a stage with this stride gets a record (before `add`); `notable`: failed, or its stage's longest so far. */
  static wanted(stage: ThinnedStage, seq: number, notable: boolean): boolean {
    return (seq & (stage.stride - 1)) === 0 || notable;
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
    longest = false,
  ): boolean {
    const failed = error !== undefined;
    const onStride = (seq & (stages[stageIndex]!.stride - 1)) === 0;
    const notable = failed || longest;
    if (!onStride && (!notable || this.#protectedRows >= this.#budget / 4)) {
      this.omitted++;
      return false;
    }
    if (this.#length >= this.#budget && !this.#makeRoom(stages, stageIndex, seq, notable)) {
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
    r[o + SEQ] = seq;
    const protect = notable && this.#protectedRows < this.#budget / 4;
    r[o + STAGE_THREAD_FLAGS] = pack(stageIndex, threadId, (sync ? SYNC : 0) | (protect ? PROTECTED : 0));
    if (protect) {
      this.#protectedRows++;
      this.#protectedByStage[stageIndex] = (this.#protectedByStage[stageIndex] ?? 0) + 1;
    }
    if (probe !== undefined) this.#probes.set(i, probe);
    if (metadata !== undefined) this.#metadata.set(i, metadata);
    if (failed) this.#errors.set(i, error);
    stages[stageIndex]!.kept++;
    return true;
  }

  #grow(): void {
    const rows = new Float64Array(Math.min(Math.max(256, (this.#rows.length / WIDTH) * 2), Math.max(256, this.#budget)) * WIDTH);
    rows.set(this.#rows.subarray(0, Math.min(this.#rows.length, rows.length)));
    this.#rows = rows;
  }

  /**
   * The table is full: the biggest stages double their strides, and one pass drops their rows off
   * the new strides. False when no room can be made for this call (it does not fit its own
   * stage's new stride).
   */
  #makeRoom(stages: readonly ThinnedStage[], stageIndex: number, seq: number, notable: boolean): boolean {
    while (this.#length >= this.#budget) {
      // Rows thinning may drop, by stage (protected rows stay).
      const droppable = stages.map((st, s) => st.kept - (this.#protectedByStage[s] ?? 0));
      // About half of a stage's droppable rows are off its doubled stride (its call numbers are
      // evenly spaced); the pass below counts exactly.
      const target = this.#budget - Math.max(1, Math.floor(this.#budget * FREED_PER_PASS));
      const doubled = new Set<number>();
      for (let estimate = this.#length; estimate > target; ) {
        let biggest = -1;
        for (let s = 0; s < droppable.length; s++) if (biggest < 0 || droppable[s]! > droppable[biggest]!) biggest = s;
        if (biggest < 0 || droppable[biggest]! <= 1) break;
        const lost = Math.floor(droppable[biggest]! / 2);
        droppable[biggest] = droppable[biggest]! - lost;
        estimate -= lost;
        stages[biggest]!.stride *= 2;
        doubled.add(biggest);
      }
      if (doubled.size === 0) return false;
      this.#dropOffStride(stages, doubled);
      const own = stages[stageIndex]!;
      if (doubled.has(stageIndex) && (seq & (own.stride - 1)) !== 0 && !notable) return false;
    }
    return true;
  }

  /** Removes, in one pass, the rows of the given stages whose call number is off their stride (protected rows stay). */
  #dropOffStride(stages: readonly ThinnedStage[], thinned: ReadonlySet<number>): void {
    this.#passes++;
    const r = this.#rows;
    const masks = new Float64Array(stages.length);
    for (const s of thinned) masks[s] = stages[s]!.stride - 1;
    // Where each kept row moves, for the metadata, errors and probe figures kept aside by row.
    const moved = this.#metadata.size + this.#errors.size + this.#probes.size > 0 ? new Int32Array(this.#length).fill(-1) : undefined;
    let w = 0;
    for (let i = 0; i < this.#length; i++) {
      const o = i * WIDTH;
      const packed = r[o + STAGE_THREAD_FLAGS]!;
      const s = stageOf(packed);
      const mask = masks[s]!;
      if (mask !== 0 && (r[o + SEQ]! & mask) !== 0 && (flagsOf(packed) & PROTECTED) === 0) {
        stages[s]!.kept--;
        this.omitted++;
        continue;
      }
      if (w !== i) {
        const to = w * WIDTH;
        for (let k = 0; k < WIDTH; k++) r[to + k] = r[o + k]!;
      }
      if (moved !== undefined) moved[i] = w;
      w++;
    }
    this.#length = w;
    if (moved !== undefined) {
      this.#metadata = remap(this.#metadata, moved);
      this.#errors = remap(this.#errors, moved);
      this.#probes = remap(this.#probes, moved);
    }
  }

  /**
   * A copy of the table as it is now (its rows, errors and metadata), for a report built over
   * several ticks while the run goes on: ~1 ms per 10,000 rows.
   */
  copy(): RecordTable {
    const c = new RecordTable(this.#budget);
    c.#rows = this.#rows.slice(0, this.#length * WIDTH);
    c.#length = this.#length;
    c.#metadata = new Map(this.#metadata);
    c.#errors = new Map(this.#errors);
    c.#probes = new Map(this.#probes);
    c.#protectedRows = this.#protectedRows;
    c.#protectedByStage = [...this.#protectedByStage];
    c.omitted = this.omitted;
    return c;
  }

  /** Row `i`'s start (clock ms), call id, stage index and duration (ms), without reading the whole row. */
  t0At(i: number): number {
    return this.#rows[i * WIDTH + T0]!;
  }

  idAt(i: number): number {
    return this.#rows[i * WIDTH + ID]!;
  }

  stageAt(i: number): number {
    return stageOf(this.#rows[i * WIDTH + STAGE_THREAD_FLAGS]!);
  }

  durationAt(i: number): number {
    return this.#rows[i * WIDTH + DURATION]!;
  }

  /** Reads row `i` back. */
  get(i: number): CallRecord {
    const r = this.#rows;
    const o = i * WIDTH;
    const packed = r[o + STAGE_THREAD_FLAGS]!;
    const flags = flagsOf(packed);
    const probe = this.#probes.get(i);
    const error = this.#errors.get(i);
    return {
      id: r[o + ID]!,
      parentId: r[o + PARENT]!,
      t0: r[o + T0]!,
      durationMs: r[o + DURATION]!,
      selfMs: r[o + SELF]!,
      rows: r[o + ROWS]!,
      stage: stageOf(packed),
      seq: r[o + SEQ]!,
      threadId: threadOf(packed),
      sync: (flags & SYNC) !== 0,
      failed: error !== undefined,
      probed: probe !== undefined,
      cpuUserMs: probe?.cpuUserMs ?? 0,
      cpuSystemMs: probe?.cpuSystemMs ?? 0,
      onThreadMs: probe?.onThreadMs ?? 0,
      heapDeltaMb: probe?.heapDeltaMb ?? 0,
      voluntarySwitches: probe?.voluntarySwitches ?? 0,
      involuntarySwitches: probe?.involuntarySwitches ?? 0,
      error,
      metadata: this.#metadata.get(i),
    };
  }
}

/** The entries of rows that were kept, under their new row numbers (`moved[old]`, -1 when dropped). */
function remap<T>(byRow: Map<number, T>, moved: Int32Array): Map<number, T> {
  const out = new Map<number, T>();
  for (const [i, v] of byRow) {
    const to = moved[i]!;
    if (to >= 0) out.set(to, v);
  }
  return out;
}
