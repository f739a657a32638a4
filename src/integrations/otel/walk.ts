/**
 * The bookkeeping of one export: the walk over a report's records that emits a parent's span
 * before its children's, and the outcome (counts and the first distinct errors).
 */
import type { StageMetrics } from '../../types';
import { errorText, type OtelExportResult } from './api';

const MAX_ERRORS = 10;
const UNVISITED = 0;
const VISITING = 1;
const DONE = 2;
const DEFERRED = 3;
const SKIPPED = 4;

/**
 * Visits the records of one report so that a parent's span exists before its children's. Iterative
 * (a crafted report may chain 100k records), and safe against cycles, self-parents and duplicates.
 */
export class RecordWalk {
  readonly #stages: readonly StageMetrics[];
  readonly #sent: Map<string, string>;
  readonly #final: boolean;
  readonly #state: Uint8Array;
  readonly #byId = new Map<string, number>();
  /** Records waiting for their parent to be emitted first (reused: one array for the whole walk). */
  readonly #stack: number[] = [];
  deferred = 0;

  constructor(stages: readonly StageMetrics[], sent: Map<string, string>, final: boolean, out: Outcome) {
    this.#stages = stages;
    this.#sent = sent;
    this.#final = final;
    this.#state = new Uint8Array(stages.length);
    for (let i = 0; i < stages.length; i++) {
      const r = stages[i];
      if (!validRecord(r)) {
        this.#state[i] = SKIPPED;
        out.invalid++;
      } else if (sent.has(r.id)) {
        this.#state[i] = SKIPPED;
      } else if (this.#byId.has(r.id)) {
        this.#state[i] = SKIPPED;
        out.invalid++;
      } else {
        this.#byId.set(r.id, i);
      }
    }
  }

  /**
   * Emits record `i` and, first, its unsent ancestors in this report. `emit` gets the parent's
   * span id, or undefined to hang the span from the run span. Returns how many were emitted.
   */
  resolve(i: number, emit: (r: StageMetrics, parentSpanId: string | undefined) => string): number {
    const state = this.#state;
    if (state[i] !== UNVISITED) return 0;
    let emitted = 0;
    const stack = this.#stack;
    stack.push(i);
    while (stack.length > 0) {
      const j = stack[stack.length - 1]!;
      if (state[j] !== UNVISITED && state[j] !== VISITING) {
        stack.pop();
        continue;
      }
      const r = this.#stages[j]!;
      const parentId = typeof r.parentId === 'string' ? r.parentId : undefined;
      let parentSpanId: string | undefined;
      let defer = false;
      if (parentId !== undefined && parentId !== r.id) {
        const k = this.#byId.get(parentId);
        if (k !== undefined) {
          const s = state[k];
          if (s === UNVISITED) {
            state[j] = VISITING;
            stack.push(k);
            continue;
          }
          // VISITING: a cycle of parent ids; it is cut here and this record hangs from the run.
          if (s === DONE) parentSpanId = spanIdOrRun(this.#sent.get(parentId));
          else if (s === DEFERRED) defer = true;
        } else if (this.#sent.has(parentId)) {
          parentSpanId = spanIdOrRun(this.#sent.get(parentId));
        } else if (!this.#final) {
          // The parent call is still open (or has no record): wait for it until the final export.
          defer = true;
        }
      }
      stack.pop();
      if (defer) {
        state[j] = DEFERRED;
        this.deferred++;
        continue;
      }
      this.#sent.set(r.id, emit(r, parentSpanId));
      state[j] = DONE;
      emitted++;
    }
    return emitted;
  }
}

export function spanIdOrRun(spanId: string | undefined): string | undefined {
  return spanId === undefined || spanId === '' ? undefined : spanId;
}

export function validRecord(r: unknown): r is StageMetrics {
  if (r === null || typeof r !== 'object') return false;
  const m = r as StageMetrics;
  return typeof m.id === 'string' && typeof m.name === 'string' && Number.isFinite(m.t) && Number.isFinite(m.durationMs);
}

/** Counts and the first few distinct error messages of one export. */
export class Outcome {
  spans = 0;
  metrics = false;
  deferred = 0;
  invalid = 0;
  summarised = 0;
  #skipped: string | undefined = undefined;
  readonly #errors = new Map<string, number>();

  skip(why: string): void {
    this.#skipped = why;
  }

  error(err: unknown): void {
    const text = errorText(err);
    const n = this.#errors.get(text);
    if (n !== undefined) this.#errors.set(text, n + 1);
    else if (this.#errors.size < MAX_ERRORS) this.#errors.set(text, 1);
  }

  result(): OtelExportResult {
    const errors = [...this.#errors].map(([text, n]) => (n > 1 ? `${text} (${n} times)` : text));
    const r: OtelExportResult = { spans: this.spans, metrics: this.metrics, deferred: this.deferred, invalid: this.invalid, summarised: this.summarised, errors };
    if (this.#skipped !== undefined) {
      r.skipped = this.#skipped;
      r.metrics = false;
    }
    return r;
  }
}

