/**
 * A wrapped function's stage: built once when `withStage()` or `@MonitoredStage` is applied, and
 * alive as long as the wrapped function. It holds what every call needs (the function, how rows
 * are counted, the metadata) and, for speed, the stage's figures of the run it last recorded into
 * (`bound`), which that run clears when it stops: a stopped run is never reachable from a
 * definition.
 */
import { types } from 'node:util';
import { sanitizeMetadata } from '../sanitize';
import type { RowsOption } from '../types';
import type { RunState } from '../run/state';
import type { StageStats } from '../run/stageStats';

/** How a stage's function returns: a value, a promise (async function), or an iterator. */
export const FnKind = { Plain: 0, Async: 1, Generator: 2, AsyncGenerator: 3 } as const;
export type FnKind = (typeof FnKind)[keyof typeof FnKind];

/** How a stage's rows are counted (see RowsOption). */
export const RowsRule = { Input: 0, Output: 1, Fixed: 2, Function: 3, /** Generators: the items yielded. */ Yielded: 4 } as const;
export type RowsRule = (typeof RowsRule)[keyof typeof RowsRule];

function kindOf(fn: (...args: unknown[]) => unknown): FnKind {
  if (types.isGeneratorFunction(fn)) return types.isAsyncFunction(fn) ? FnKind.AsyncGenerator : FnKind.Generator;
  return types.isAsyncFunction(fn) ? FnKind.Async : FnKind.Plain;
}

export class StageDefinition {
  /** Resolved lazily for methods decorated in standard mode (the class is known at the first call). */
  name: string;
  readonly fn: (...args: unknown[]) => unknown;
  readonly kind: FnKind;
  readonly rowsRule: RowsRule;
  readonly rowsFixed: number;
  readonly rowsFn: ((result: unknown, args: unknown[]) => number) | undefined;
  /** JSON-safe snapshot of the metadata (redacted per monitor when the report is built). */
  readonly metadata: Record<string, unknown> | undefined;
  /** What had to be changed to make the metadata JSON (flagged in each run that calls the stage). */
  readonly metadataNotes: readonly string[] | undefined;
  /** Set by the standard-mode decorator until the declaring class is known. */
  resolveName: ((self: unknown) => void) | undefined = undefined;
  /** The run this definition last recorded into, and its figures there (cleared when that run stops). */
  boundRun: RunState | undefined = undefined;
  boundStats: StageStats | undefined = undefined;

  constructor(name: string, fn: (...args: unknown[]) => unknown, rows: RowsOption | undefined, metadata: Record<string, unknown> | undefined) {
    this.name = name;
    this.fn = fn;
    this.kind = kindOf(fn);
    const generator = this.kind === FnKind.Generator || this.kind === FnKind.AsyncGenerator;
    this.rowsRule =
      rows === 'output'
        ? RowsRule.Output
      : typeof rows === 'number' ? RowsRule.Fixed
      : typeof rows === 'function' ? RowsRule.Function
      : rows === undefined && generator ? RowsRule.Yielded
      : RowsRule.Input;
    this.rowsFixed = typeof rows === 'number' ? rows : 0;
    this.rowsFn = typeof rows === 'function' ? rows : undefined;
    const notes = new Set<string>();
    this.metadata = sanitizeMetadata(metadata, undefined, notes);
    this.metadataNotes = notes.size > 0 ? [...notes] : undefined;
  }
}
