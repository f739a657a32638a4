/**
 * What a built-in analyzer is: a pure `Analyzer` whose findings come from a {@link RunView}, so
 * the pipeline can hand every built-in the same view (each shared figure computed once) while the
 * analyzer still works alone through `analyze(run, thresholds)`.
 */
import { DEFAULT_THRESHOLDS } from '../src/validate';
import type { Analyzer, Finding, RunData, Thresholds } from '../src/types';
import { RunView } from './view';

export interface BuiltinAnalyzer extends Analyzer {
  /** The findings, from a view shared with the other built-in analyzers. */
  readonly findingsOf: (view: RunView) => Finding[];
}

/**
 * Thresholds with every field a finite number: missing or invalid fields take their defaults
 * (the collector always passes complete ones; direct callers may not).
 *
 * @example
 * resolveThresholds({ slowStageMs: 100 }).maxMemoryMb; // 8192
 */
export function resolveThresholds(thresholds: Partial<Thresholds> | undefined): Thresholds {
  const out: Thresholds = { ...DEFAULT_THRESHOLDS };
  if (thresholds === undefined || thresholds === null || typeof thresholds !== 'object') return out;
  for (const key of Object.keys(DEFAULT_THRESHOLDS) as Array<keyof Thresholds>) {
    const v = thresholds[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[key] = v;
  }
  return out;
}

/**
 * Defines a built-in analyzer.
 *
 * @example
 * export const slowStages = defineAnalyzer('slowStages', (view) => view.slowStages.map(toFinding));
 */
export function defineAnalyzer(name: string, findingsOf: (view: RunView) => Finding[]): BuiltinAnalyzer {
  return Object.freeze({
    name,
    findingsOf,
    analyze: (run: RunData, thresholds: Thresholds): Finding[] => findingsOf(new RunView(run, resolveThresholds(thresholds))),
  });
}
