import { addRowsInContext } from '../src/callpath/accounting';

/**
 * Adds rows to the innermost active stage (a no-op outside one). Rows given this way win over
 * the `'input'` / `'output'` counting of the hook. A count that is not an integer >= 0 is
 * ignored and flagged in the report.
 *
 * @example
 * // The input is a list of batches, so 'input' would count batches: count rows instead.
 * const labelAll = withStage('label_all', (batches: Row[][]) => {
 *   for (const batch of batches) { label(batch); recordRows(batch.length); }
 * });
 */
export function recordRows(n: number): void {
  addRowsInContext(n);
}
