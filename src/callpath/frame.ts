/**
 * One open stage call. A frame is the stage context while its call runs (`slot.current`, and the
 * promises made inside it carry it to their continuations), and it keeps what its call's
 * accounting needs when it ends.
 */
import type { ContextFrame } from './global';
import type { RunState } from '../run/state';
import type { StageStats } from '../run/stageStats';
import type { Probe } from '../run/probes';

/**
 * What frames hold of their run. The run clears `state` when it stops, so a frame that outlives
 * its run (carried by a promise the program keeps, say) keeps a few bytes alive, never the run's
 * records. Frames of one run share one link, and compare runs by it.
 */
export class RunLink {
  state: RunState | undefined;

  constructor(state: RunState) {
    this.state = state;
  }
}

/**
 * Initial value of the time fields few frames use: `undefined` typed as a number. A field that
 * starts as a number holds a heap-allocated double box from construction on; one that starts
 * undefined allocates it only when written.
 */
const UNSET = undefined as unknown as number;

export class Frame implements ContextFrame {
  readonly run: RunLink;
  readonly stats: StageStats;
  readonly id: number;
  /** The nearest enclosing call of the same run (its id is the record's parentId). */
  readonly parent: Frame | undefined;
  /** The frame that was innermost when this call started, whichever monitor owns it. */
  readonly outer: ContextFrame | undefined;
  readonly metadata: Record<string, unknown> | undefined;
  rows = 0;
  rowsRecorded = false;
  ended = false;
  /** Finished synchronously: it held the thread for its whole duration. */
  sync = true;
  /** Start, ms (set for calls that end in a later turn: async, generators, manual). */
  t0: number = UNSET;
  /** Depth among the run's synchronous hook calls (their starts are in RunState.starts); -1 for others. */
  depth = -1;
  /** Child calls open right now, since when the union of their intervals runs, and its length so far (self time = duration - union). */
  openChildren = 0;
  childFrom: number = UNSET;
  coveredMs: number = UNSET;
  error: { name: string; message: string; stack?: string } | undefined = undefined;
  probe: Probe | undefined = undefined;
  /** Links of the run's list of open asynchronous calls (synchronous ones are on the context chain). */
  prevOpen: Frame | undefined = undefined;
  nextOpen: Frame | undefined = undefined;

  /** Printed (`util.inspect`, an AsyncLocalStorage's store on a promise) as an opaque token: no run, no metadata. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[stage context]';
  }

  constructor(run: RunLink, stats: StageStats, id: number, outer: ContextFrame | undefined, metadata: Record<string, unknown> | undefined) {
    this.run = run;
    this.stats = stats;
    this.id = id;
    this.outer = outer;
    let p = outer;
    while (p !== undefined && p.run !== run) p = p.outer;
    this.parent = p as Frame | undefined;
    this.metadata = metadata;
  }
}

/**
 * A frame in no run, kept for the life of the process (by this module's export, read by the run
 * state), so that frames keep their final hidden class. V8 reaches an object's final map through
 * a chain of transitions that only live instances keep alive; frames die young, and a
 * memory-reducing full GC between two calls (`global.gc()`, or V8's own memory reducer once
 * allocation slows down) would drop that map and every optimised function that checks for it:
 * the call path would then run unoptimised for its next ~2,000 calls, at several times the cost.
 */
export const frameMapAnchor: Frame = new Frame(new RunLink(undefined as unknown as RunState), undefined as unknown as StageStats, 0, undefined, undefined);
