/**
 * Small statistics and formatting helpers shared by the benchmark sections.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * Median of a non-empty list (mean of the two middle values for an even count); NaN when empty.
 *
 * @example
 * median([3, 1, 2, 10]); // 2.5
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Smallest value (Infinity for an empty list).
 *
 * @example
 * min([3, 1, 2]); // 1
 */
export function min(values: readonly number[]): number {
  return values.reduce((a, b) => (b < a ? b : a), Number.POSITIVE_INFINITY);
}

/**
 * Largest value (-Infinity for an empty list).
 *
 * @example
 * max([3, 1, 2]); // 3
 */
export function max(values: readonly number[]): number {
  return values.reduce((a, b) => (b > a ? b : a), Number.NEGATIVE_INFINITY);
}

/**
 * Rounds to `digits` decimals (NaN stays NaN).
 *
 * @example
 * round(1.23456, 2); // 1.23
 */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * A number for the printed table: thousands separators, fewer decimals as it grows.
 *
 * @example
 * fmt(12345.6); // '12,346'
 */
export function fmt(x: number | undefined, digits?: number): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/**
 * A fixed-width table: the first column left-aligned, the others right-aligned.
 *
 * @example
 * table(['variant', 'ns'], [['raw', '1.0']]);
 */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Resolves after the current macrotask and everything it queued (microtasks, immediates queued earlier).
 *
 * @example
 * await drain();
 */
export function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Two full collections (global.gc()) when the process runs with --expose-gc; false without it.
 *
 * @example
 * if (!gcNow()) console.warn('run with --expose-gc');
 */
export function gcNow(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return false;
  gc();
  gc();
  return true;
}

interface CpuSnapshot {
  wallMs: number;
  ownUs: number;
  busyTicks: number;
  stealTicks: number;
}

/** Machine-wide busy and steal CPU ticks from /proc/stat (Linux; zeros elsewhere). */
function procStat(): { busy: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return { busy: user + nice + system + irq + softirq, steal };
  } catch {
    return { busy: 0, steal: 0 };
  }
}

function snapshot(): CpuSnapshot {
  const c = process.cpuUsage();
  const p = procStat();
  return { wallMs: performance.now(), ownUs: c.user + c.system, busyTicks: p.busy, stealTicks: p.steal };
}

export interface Interference {
  wallMs: number;
  /** CPU used by this process, % of one core. */
  ownCpuPercent: number;
  /** CPU used by every other process on the machine meanwhile, % of one core (10 ms ticks). */
  foreignCpuPercent: number;
  /** CPU stolen by the hypervisor, % of one core. */
  stealPercent: number;
}

/**
 * Measures what else ran on the machine while a section ran: call the returned function at its end.
 *
 * @example
 * const stop = watchInterference();
 * runSection();
 * stop().foreignCpuPercent; // CPU other processes used meanwhile, % of one core
 */
export function watchInterference(): () => Interference {
  const a = snapshot();
  return () => {
    const b = snapshot();
    const wallMs = b.wallMs - a.wallMs;
    const tickMs = 10; // USER_HZ = 100 on Linux
    const ownMs = (b.ownUs - a.ownUs) / 1000;
    const busyMs = (b.busyTicks - a.busyTicks) * tickMs;
    return {
      wallMs,
      ownCpuPercent: (ownMs / wallMs) * 100,
      foreignCpuPercent: Math.max(0, ((busyMs - ownMs) / wallMs) * 100),
      stealPercent: (((b.stealTicks - a.stealTicks) * tickMs) / wallMs) * 100,
    };
  };
}
