import { checkStageOptions, StageDefinition, type PerformanceMonitor } from '../src/collector';
import { ConfigError, describeValue, type ConfigIssue } from '../src/errors';
import type { StageOptions } from '../src/types';
import { makeWrapper } from './wrap';

const STAGE_OPTION_KEYS: ReadonlySet<string> = new Set(['rows', 'metadata', 'monitor']);

/** Checks a stage name; returns the issues found. */
export function checkStageName(name: unknown, field: string): ConfigIssue[] {
  if (typeof name !== 'string' || name.trim() === '') return [{ field, message: `must be a non-empty string (got ${describeValue(name)})` }];
  if (name.length > 200) return [{ field, message: `must be at most 200 characters (got ${name.length})` }];
  return [];
}

/** Checks an options object's keys and values; returns the issues found. */
export function checkOptionsObject(options: unknown, allowed: ReadonlySet<string>, prefix: string): ConfigIssue[] {
  if (options === undefined) return [];
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return [{ field: prefix.replace(/\.$/, '') || 'options', message: `must be an object (got ${describeValue(options)})` }];
  }
  const o = options as Record<string, unknown>;
  const issues: ConfigIssue[] = Object.keys(o)
    .filter((k) => !allowed.has(k))
    .map((k) => ({ field: `${prefix}${k}`, message: 'unknown option' }));
  issues.push(...checkStageOptions(o.rows, o.metadata, o.monitor, prefix));
  return issues;
}

/**
 * Wraps a function so every call is recorded as a stage. The wrapper behaves exactly like `fn`:
 * same result, same thrown error (the same object), same `this`; a sync function stays sync and
 * a promise-returning one returns a promise that settles the same way. Bad arguments throw a
 * {@link ConfigError} here, at wrap time, never later.
 *
 * @example
 * const loadMonth = withStage('load_month', async (month: string) => readRows(month), { rows: 'output' });
 * const rows = await loadMonth('2026-01');                  // rows: length of the resolved array
 * const label = withStage('label', (batch: Row[]) => batch.map(classify), { metadata: { model: 'v3' } });
 * label(rows);                                              // rows: length of the first argument
 */
export function withStage<F extends (...args: any[]) => any>(name: string, fn: F, options?: StageOptions): F {
  const issues = [
    ...checkStageName(name, 'name'),
    ...(typeof fn === 'function' ? [] : [{ field: 'fn', message: `must be a function (got ${describeValue(fn)})` }]),
    ...checkOptionsObject(options, STAGE_OPTION_KEYS, 'options.'),
  ];
  if (issues.length > 0) throw new ConfigError(issues, 'invalid withStage() arguments');
  const def = new StageDefinition(name, fn as (...args: unknown[]) => unknown, options?.rows, options?.metadata);
  return makeWrapper(def, options?.monitor as PerformanceMonitor | undefined) as F;
}
