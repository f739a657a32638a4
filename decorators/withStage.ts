import { hookFunction } from '../src/callpath/wrapper';
import { ConfigError, describeValue } from '../src/errors';
import { isMonitor } from '../src/monitor';
import type { StageOptions } from '../src/types';
import { checkHookOptions, checkStageName } from '../src/validate';

const STAGE_OPTION_KEYS = ['rows', 'metadata', 'monitor'] as const;

/**
 * Wraps a function so every call is recorded as a stage. The wrapper behaves exactly like `fn`:
 * same result (the very object, promises included), same thrown error (the same object), same
 * `this`; a sync function stays sync. A generator function's stage spans its iteration, from the
 * first `next()` to the end. Bad arguments throw a {@link ConfigError} here, at wrap time, never later.
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
    ...checkHookOptions(options, STAGE_OPTION_KEYS, 'options.', isMonitor),
  ];
  if (issues.length > 0) throw new ConfigError(issues, 'invalid withStage() arguments');
  return hookFunction({ name, fn: fn as (...args: unknown[]) => unknown, rows: options?.rows, metadata: options?.metadata, monitor: options?.monitor }).wrapped as F;
}
