/**
 * The report's text as written: indented JSON while it is small enough to read in an editor,
 * compact JSON (one line) above that, and the same text built in pieces, so a checkpoint can
 * serialise a report of tens of megabytes between the program's own tasks.
 *
 * Why compact above a size: indentation adds ~45 % to a report of many per-call records (~450
 * bytes a record indented, ~300 compact) and ~2/3 to a quantile sketch's bucket counts (one line
 * per count), and `JSON.stringify` with indentation is no faster. A report at the default record
 * budget is ~15 MB compact; indented, a run with many stages passed 25 MB.
 */

/**
 * Reports whose compact JSON is longer than this many characters (~2 MB; a few thousand per-call
 * records) are written compact; smaller ones are indented by two spaces.
 */
export const INDENTED_MAX_CHARS = 2 * 1024 * 1024;

/** Array elements serialised per piece: ~100 kB of per-call records, or up to ~1 MB of stage summaries. */
const ELEMENTS_PER_PIECE = 256;

/**
 * The text stagemeter writes for a report: `JSON.stringify(report, null, 2)` when the compact
 * JSON has at most {@link INDENTED_MAX_CHARS} characters, the compact JSON otherwise; both end
 * with a newline.
 *
 * @example
 * const text = reportText(monitor.stopMonitoring());
 * JSON.parse(text).schemaVersion; // 1
 */
export function reportText(report: object): string {
  const compact = JSON.stringify(report);
  return compact.length <= INDENTED_MAX_CHARS ? `${JSON.stringify(report, null, 2)}\n` : `${compact}\n`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** How JSON.stringify writes a value found inside an array (what it leaves out of objects becomes null). */
function element(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

/**
 * The compact JSON of `value` in pieces whose concatenation is exactly `JSON.stringify(value)`:
 * plain objects and arrays down to `depth` levels are opened, and arrays are cut every
 * {@link ELEMENTS_PER_PIECE} elements; anything else is serialised whole.
 */
function* compactPieces(value: unknown, depth: number): Generator<string> {
  if (Array.isArray(value) && depth > 0) {
    yield '[';
    for (let i = 0; i < value.length; i += ELEMENTS_PER_PIECE) {
      // one native call per piece: the slice's JSON without its brackets
      const json = JSON.stringify(value.slice(i, i + ELEMENTS_PER_PIECE));
      yield i > 0 ? `,${json.slice(1, -1)}` : json.slice(1, -1);
    }
    yield ']';
    return;
  }
  if (isPlainObject(value) && depth > 0) {
    yield '{';
    let first = true;
    for (const key of Object.keys(value)) {
      const v = value[key];
      // what JSON.stringify leaves out of an object
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      yield `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      yield* compactPieces(v, depth - 1);
    }
    yield '}';
    return;
  }
  yield element(value);
}

/**
 * {@link reportText} in pieces, built a slice at a time: after each piece, `pause()` is awaited
 * when it returns a promise (the caller decides when a slice has run long enough, and yields to
 * the event loop then). The pieces, joined, are exactly `reportText(report)`. Returns undefined
 * when `pause()` resolves to false (the caller gave up, e.g. the run ended).
 *
 * @example
 * const pieces = await reportTextInSlices(report, () => new Promise((r) => setImmediate(() => r(true))));
 * pieces?.join('') === reportText(report); // true
 */
export async function reportTextInSlices(report: object, pause: () => Promise<boolean> | undefined): Promise<string[] | undefined> {
  const pieces: string[] = [];
  let length = 0;
  // three levels: the report, its sections (memory), their lists (samples)
  for (const piece of compactPieces(report, 3)) {
    pieces.push(piece);
    length += piece.length;
    const wait = pause();
    if (wait !== undefined && !(await wait)) return undefined;
  }
  // A small report is indented in one go: at most a few ms.
  if (length <= INDENTED_MAX_CHARS) return [`${JSON.stringify(report, null, 2)}\n`];
  pieces.push('\n');
  return pieces;
}
