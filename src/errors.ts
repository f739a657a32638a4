import { types } from 'node:util';

/** One offending configuration field. */
export interface ConfigIssue {
  /** Option path (`thresholds.maxMemoryMb`), environment variable, or hook argument. */
  field: string;
  /** What is wrong, in words a user can act on. */
  message: string;
}

/**
 * Thrown at configuration time (creating a monitor, wrapping a function, decorating a method)
 * when options are invalid. The message lists every offending field; `issues` has them as data.
 * stagemeter never throws after configuration: run-time misuse becomes a quality flag.
 *
 * @example
 * try { createPerformanceMonitor({ memorySamplingIntervalMs: 0 }); }
 * catch (e) { if (e instanceof ConfigError) console.error(e.issues); }
 */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], context = 'invalid stagemeter configuration') {
    super(`${context}:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Describes a value for an error message without dumping it whole. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  // a proxy's traps are the program's code (and a revoked proxy throws even from Array.isArray)
  if ((typeof value === 'object' || typeof value === 'function') && types.isProxy(value)) return 'a proxy';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      return 'an object';
  }
}
