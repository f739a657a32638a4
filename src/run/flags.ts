/**
 * A run's quality flags: warnings about the run or about the measurement itself (misuse, probes
 * that failed, data that could not be kept). The same flag raised again is counted, not stored
 * again, and a run keeps at most MAX_FLAGS distinct ones, so a misuse inside a hot loop costs a
 * map lookup, not memory.
 */
import type { Logger } from 'pino';
import { safeLog } from '../logger';
import type { QualityFlag, Severity } from '../types';

/** Bound on distinct quality flags per run. */
export const MAX_FLAGS = 1000;

interface Entry {
  flag: QualityFlag;
  count: number;
}

export class FlagSet {
  readonly #entries = new Map<string, Entry>();
  readonly #log: Logger;
  #dropped = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Adds a flag raised at `t` (ms since the run started). With `once`, a repeat is not even
   * counted: for a state found again each time a report is built (checkpoints rebuild it), which
   * happened once, not once per report. `user` flags (addQualityFlag) are keyed by their message.
   * `times`: raised that many times (a worker thread's flags arrive counted).
   */
  add(t: number, severity: Severity, code: string, message: string, stage?: string, once = false, times = 1): void {
    const key = `${code}\u0000${stage ?? ''}\u0000${message}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (!once) entry.count += times;
      return;
    }
    if (this.#entries.size >= MAX_FLAGS) {
      this.#dropped++;
      return;
    }
    const flag: QualityFlag = { severity, message, t: Math.round(t * 1000) / 1000, code };
    if (stage !== undefined) flag.stage = stage;
    this.#entries.set(key, { flag, count: times });
    safeLog(this.#log, severity === 'info' ? 'info' : severity === 'warning' ? 'warn' : 'error', { event: 'quality_flag', code, stage }, message);
  }

  /** Each distinct flag as raised (its first `t`, message without the count) and how many times. */
  counts(): Array<{ flag: QualityFlag; count: number }> {
    return [...this.#entries.values()].map(({ flag, count }) => ({ flag: { ...flag }, count }));
  }

  /** Whether a flag with this code was raised. */
  has(code: string): boolean {
    for (const { flag } of this.#entries.values()) if (flag.code === code) return true;
    return false;
  }

  /** The flags as the report lists them (repeats counted in the message), at `t` for the overflow note. */
  list(t: number): QualityFlag[] {
    const out: QualityFlag[] = [];
    for (const { flag, count } of this.#entries.values()) out.push(count > 1 ? { ...flag, message: `${flag.message} (${count} times)` } : { ...flag });
    if (this.#dropped > 0) {
      out.push({ severity: 'warning', message: `${this.#dropped} further quality flags were dropped (bound: ${MAX_FLAGS})`, t: Math.round(t * 1000) / 1000, code: 'flags_dropped' });
    }
    return out;
  }
}
