/**
 * Per-call records kept as rows of one typed array rather than as the call objects themselves.
 * A kept call object would live on into the old generation (and every old-to-young pointer costs
 * the GC); copying a dozen numbers into a row lets the call's frame die young. Measured in the
 * bench: a kept call cost ~110 ns more than a dropped one with objects, a few ns with rows.
 */

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

/** What one finished call contributes to a record (the collector's frame satisfies it). */
export interface RecordSource {
  readonly id: number;
  readonly parent: { readonly id: number } | undefined;
  readonly t0: number;
  readonly durationMs: number;
  readonly rows: number;
  readonly sync: boolean;
  readonly error: ErrorInfo | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  readonly probe:
    | {
        readonly done: boolean;
        readonly cpuUserMs: number;
        readonly cpuSystemMs: number;
        readonly heapDeltaMb: number;
        readonly voluntarySwitches: number;
        readonly involuntarySwitches: number;
      }
    | undefined;
}

/** One record read back. */
export interface CallRecord {
  id: number;
  /** -1 when the call had no parent. */
  parentId: number;
  t0: number;
  durationMs: number;
  rows: number;
  /** Index of the stage (its stats) in the order stages were first seen. */
  stage: number;
  sync: boolean;
  /** CPU and heap were measured on this call. */
  probed: boolean;
  cpuUserMs: number;
  cpuSystemMs: number;
  heapDeltaMb: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  error: ErrorInfo | undefined;
  metadata: Record<string, unknown> | undefined;
}

const SYNC = 1;
const PROBED = 2;

// One row of doubles per call, fields in this order: a row is 96 bytes, one or two cache lines.
// (Column arrays cost a cache miss per field on a cold path, right after a long call.)
const ID = 0;
const PARENT = 1;
const T0 = 2;
const DURATION = 3;
const ROWS = 4;
const STAGE = 5;
const FLAGS = 6;
const CPU_USER = 7;
const CPU_SYSTEM = 8;
const HEAP = 9;
const VOLUNTARY = 10;
const INVOLUNTARY = 11;
const WIDTH = 12;

export class RecordTable {
  #length = 0;
  #rows = new Float64Array(0);
  /** Rows that have metadata, ascending, and their metadata (references: most calls of a stage
   *  share one object). Calls without metadata, most of them, touch neither array. */
  readonly #metadataRows: number[] = [];
  readonly #metadata: Array<Record<string, unknown>> = [];
  /** Failures are rare: kept aside by row. */
  readonly #errors = new Map<number, ErrorInfo>();

  get length(): number {
    return this.#length;
  }

  #grow(): void {
    const rows = new Float64Array(Math.max(256, (this.#rows.length / WIDTH) * 2) * WIDTH);
    rows.set(this.#rows);
    this.#rows = rows;
  }

  /** Appends one finished call (its start and duration passed apart: a deferred call's frame has neither). */
  add(call: RecordSource, stage: number, t0: number = call.t0, durationMs: number = call.durationMs): void {
    const probe = call.probe;
    const probed = probe !== undefined && probe.done;
    const o = this.#append(call.id, call.parent === undefined ? -1 : call.parent.id, t0, durationMs, call.rows, stage, (call.sync ? SYNC : 0) | (probed ? PROBED : 0), call.metadata);
    if (probed) {
      const r = this.#rows;
      r[o + CPU_USER] = probe.cpuUserMs;
      r[o + CPU_SYSTEM] = probe.cpuSystemMs;
      r[o + HEAP] = probe.heapDeltaMb;
      r[o + VOLUNTARY] = probe.voluntarySwitches;
      r[o + INVOLUNTARY] = probe.involuntarySwitches;
    }
    if (call.error !== undefined) this.#errors.set(this.#length - 1, call.error);
  }

  /** Appends a successful synchronous call without probes, from its fields (a queued call keeps no frame). */
  addSync(id: number, parentId: number, t0: number, durationMs: number, rows: number, stage: number, metadata: Record<string, unknown> | undefined): void {
    this.#append(id, parentId, t0, durationMs, rows, stage, SYNC, metadata);
  }

  /** Writes a new row's common fields; returns its offset. */
  #append(id: number, parentId: number, t0: number, durationMs: number, rows: number, stage: number, flags: number, metadata: Record<string, unknown> | undefined): number {
    const i = this.#length++;
    const o = i * WIDTH;
    if (o + WIDTH > this.#rows.length) this.#grow();
    const r = this.#rows;
    r[o + ID] = id;
    r[o + PARENT] = parentId;
    r[o + T0] = t0;
    r[o + DURATION] = durationMs;
    r[o + ROWS] = rows;
    r[o + STAGE] = stage;
    r[o + FLAGS] = flags;
    if (metadata !== undefined) {
      this.#metadataRows.push(i);
      this.#metadata.push(metadata);
    }
    return o;
  }

  /** Duration of row `i`, ms. */
  durationOf(i: number): number {
    return this.#rows[i * WIDTH + DURATION]!;
  }

  /** Stage index of row `i`. */
  stageOf(i: number): number {
    return this.#rows[i * WIDTH + STAGE]!;
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
      rows: r[o + ROWS]!,
      stage: r[o + STAGE]!,
      sync: (flags & SYNC) !== 0,
      probed: (flags & PROBED) !== 0,
      cpuUserMs: r[o + CPU_USER]!,
      cpuSystemMs: r[o + CPU_SYSTEM]!,
      heapDeltaMb: r[o + HEAP]!,
      voluntarySwitches: r[o + VOLUNTARY]!,
      involuntarySwitches: r[o + INVOLUNTARY]!,
      error: this.#errors.get(i),
      metadata: this.#metadataOf(i),
    };
  }

  #metadataOf(i: number): Record<string, unknown> | undefined {
    const rows = this.#metadataRows;
    let lo = 0;
    let hi = rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const row = rows[mid]!;
      if (row === i) return this.#metadata[mid];
      if (row < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

/** The record of a call that was not kept in a table (endStage returns it straight away). */
export function recordOf(call: RecordSource, stage: number): CallRecord {
  const probe = call.probe !== undefined && call.probe.done ? call.probe : undefined;
  return {
    id: call.id,
    parentId: call.parent === undefined ? -1 : call.parent.id,
    t0: call.t0,
    durationMs: call.durationMs,
    rows: call.rows,
    stage,
    sync: call.sync,
    probed: probe !== undefined,
    cpuUserMs: probe?.cpuUserMs ?? 0,
    cpuSystemMs: probe?.cpuSystemMs ?? 0,
    heapDeltaMb: probe?.heapDeltaMb ?? 0,
    voluntarySwitches: probe?.voluntarySwitches ?? 0,
    involuntarySwitches: probe?.involuntarySwitches ?? 0,
    error: call.error,
    metadata: call.metadata,
  };
}
