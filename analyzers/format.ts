/**
 * Number formatting for finding messages and recommendations: the numbers a reader needs, with
 * their units, and no more digits than mean something.
 */

/**
 * A duration: `850 ms`, `12.4 s`, `3.2 min`, `1.5 h`.
 *
 * @example
 * fmtMs(12_400); // '12.4 s'
 */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '0 ms';
  const a = Math.abs(ms);
  if (a < 1) return `${trim(ms, 3)} ms`;
  if (a < 1000) return `${trim(ms, a < 10 ? 1 : 0)} ms`;
  if (a < 120_000) return `${trim(ms / 1000, a < 10_000 ? 2 : 1)} s`;
  if (a < 7_200_000) return `${trim(ms / 60_000, 1)} min`;
  return `${trim(ms / 3_600_000, 1)} h`;
}

/**
 * A point in the run: `t=12.4 s`.
 *
 * @example
 * fmtAt(1500); // 't=1.5 s'
 */
export function fmtAt(ms: number): string {
  return `t=${fmtMs(ms)}`;
}

/**
 * MiB: `512 MB`, `3.4 MB`, `0.25 MB`.
 *
 * @example
 * fmtMb(34.56); // '34.6 MB'
 */
export function fmtMb(mb: number): string {
  const a = Math.abs(mb);
  return `${trim(mb, a >= 100 ? 0 : a >= 10 ? 1 : 2)} MB`;
}

/**
 * A percentage: `72%`, `4.5%`, `0.31%`.
 *
 * @example
 * fmtPct(4.55); // '4.6%'
 */
export function fmtPct(pct: number): string {
  const a = Math.abs(pct);
  return `${trim(pct, a >= 10 ? 0 : a >= 1 ? 1 : 2)}%`;
}

/**
 * A plain number with thousands separators: `12,345`, `0.5`.
 *
 * @example
 * fmtNum(1234567); // '1,234,567'
 */
export function fmtNum(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '0';
  return FORMATS[Math.min(3, Math.max(0, digits))]!.grouped.format(x);
}

/**
 * A throughput in rows/s: one decimal below 100 rows/s, whole rows above.
 *
 * @example
 * fmtRate(409569.2); // '409,569'
 * fmtRate(12.34);    // '12.3'
 */
export function fmtRate(x: number): string {
  return fmtNum(x, Math.abs(x) < 100 ? 1 : 0);
}

/**
 * A p-value: `p<0.001` or `p=0.004`.
 *
 * @example
 * fmtP(0.0123); // 'p=0.012'
 */
export function fmtP(p: number): string {
  return p < 0.001 ? 'p<0.001' : `p=${trim(p, 3)}`;
}

/** Formatters built once: constructing an Intl.NumberFormat per call costs ~50 µs. */
const FORMATS: ReadonlyArray<{ grouped: Intl.NumberFormat; plain: Intl.NumberFormat }> = [0, 1, 2, 3].map((digits) => ({
  grouped: new Intl.NumberFormat('en-US', { maximumFractionDigits: digits, useGrouping: true }),
  plain: new Intl.NumberFormat('en-US', { maximumFractionDigits: digits, useGrouping: false }),
}));

function trim(x: number, digits: number): string {
  if (!Number.isFinite(x)) return '0';
  const f = FORMATS[Math.min(3, Math.max(0, digits))]!;
  return (Math.abs(x) >= 10_000 ? f.grouped : f.plain).format(x);
}
