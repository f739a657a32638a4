/**
 * The inputs of a merge, checked: each one parsed, a stagemeter report of this schema version,
 * valid, not merged already, and given once. Every refusal is a MergeError that names the input.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import { ConfigError, describeValue, type ConfigIssue } from '../../errors';
import { reportSchema } from '../build';
import type {
  Analyzer,
  PerformanceReport,
  StageSummary,
  Thresholds,
} from '../../types';

/** Why a merge was refused. */
export type MergeErrorCode = 'empty' | 'invalid_json' | 'not_a_report' | 'schema_version' | 'invalid_report' | 'duplicate_run' | 'merged_input';

/**
 * Thrown by {@link mergeReports} (and {@link parseReportText}) when the inputs cannot be merged.
 * The message is meant for the user as is; `code`, `input` (0-based index) and `source` are there
 * for programs.
 *
 * @example
 * try { mergeReports([a, a]); }
 * catch (e) { if (e instanceof MergeError) console.error(e.message); } // "... the same run ..."
 */
export class MergeError extends Error {
  readonly code: MergeErrorCode;
  /** Index of the input at fault, when one is. */
  readonly input: number | undefined;
  /** Its source (file path), when known. */
  readonly source: string | undefined;

  constructor(code: MergeErrorCode, message: string, input?: number, source?: string) {
    super(message);
    this.name = 'MergeError';
    this.code = code;
    this.input = input;
    this.source = source;
  }
}

/** Options of {@link mergeReports}. */
export interface MergeOptions {
  /** Where each report came from (file paths, in input order): in error messages and `processes[].reportPath`. */
  sources?: readonly string[];
  /** Thresholds of the re-analysis (the reports do not record their runs' thresholds; default: the defaults). */
  thresholds?: Partial<Thresholds>;
  /** Extra analyzers, run after the built-in ones on the merged run. */
  analyzers?: readonly Analyzer[];
  /** Name of the merged run (default: the inputs' run name when they share one). */
  runName?: string;
}

/** Summary fields not every report has: merged only when every input has them (`threads` never: thread ids are per process). */
export type SummaryIn = StageSummary & { threads?: unknown };

/** Built-in finding kinds that come from a process's samples: analysed per process. */
export const PROCESS_FINDING_KINDS: ReadonlySet<string> = new Set(['memory_leak', 'memory_spike', 'gc_pressure']);
/** Recommendation categories that come from a process's samples. */
export const PROCESS_RECOMMENDATIONS: ReadonlySet<string> = new Set(['memory_leak', 'memory_spike', 'gc_pressure', 'memory_efficiency']);
/** Analysis flags about a process's samples and memory: taken from each process's analysis. */
export const PROCESS_FLAG_CODES: ReadonlySet<string> = new Set(['memory_budget_exceeded', 'sampler_slipped', 'too_few_samples', 'low_memory_efficiency']);

/**
 * Flag codes the analysis raises (analyzers/index.ts, analyzers/qualityFlags.ts). An input's flags
 * with these codes are its own analysis, redone on the merged data, so they are not carried over;
 * its other flags (the collector's notes on the measurement) are. A test keeps this list in step
 * with the analyzers.
 */
export const ANALYSIS_FLAG_CODES: ReadonlySet<string> = new Set([
  'analysis_failed',
  'analysis_section_failed',
  'analyzer_failed',
  'low_memory_efficiency',
  'low_throughput',
  'memory_budget_exceeded',
  'sampler_slipped',
  'stage_memory_over_limit',
  'stage_over_max_duration',
  'stage_too_short',
  'time_estimated',
  'time_share_extrapolated',
  'too_few_samples',
]);

let validator: ValidateFunction | undefined;

/** The report schema's validator, compiled on first use (~0.1-0.3 s) and kept. */
export function validateReport(report: unknown): readonly string[] {
  validator ??= new Ajv({ allErrors: true }).compile(reportSchema);
  if (validator(report)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
}

export function describe(index: number, source: string | undefined): string {
  return source !== undefined ? `report ${index + 1} (${source})` : `report ${index + 1}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : 'unreadable value';
}

/**
 * Parses the text of a report file for {@link mergeReports}: a clear {@link MergeError}
 * (`invalid_json`) for a truncated or otherwise broken file instead of a bare SyntaxError.
 *
 * @example
 * const report = parseReportText(readFileSync('a.json', 'utf8'), 'a.json');
 */
export function parseReportText(text: string, source?: string): unknown {
  const where = source !== undefined ? source : 'the report';
  if (text.trim() === '') throw new MergeError('invalid_json', `${where} is empty`, undefined, source);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MergeError('invalid_json', `${where} is not valid JSON (truncated?): ${errorText(err)}`, undefined, source);
  }
}

/** Throws a ConfigError listing every invalid option (a programming error, not a bad input). */
export function checkOptions(options: unknown): asserts options is MergeOptions {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigError([{ field: '(options)', message: `must be an object (got ${describeValue(options)})` }], 'invalid merge options');
  const o = options as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  for (const key of Object.keys(o)) if (!['sources', 'thresholds', 'analyzers', 'runName'].includes(key)) issues.push({ field: key, message: 'unknown option' });
  if (o.sources !== undefined && !(Array.isArray(o.sources) && o.sources.every((x) => typeof x === 'string'))) issues.push({ field: 'sources', message: `must be an array of strings (got ${describeValue(o.sources)})` });
  if (o.thresholds !== undefined && (typeof o.thresholds !== 'object' || o.thresholds === null || Array.isArray(o.thresholds))) issues.push({ field: 'thresholds', message: `must be an object (got ${describeValue(o.thresholds)})` });
  if (o.analyzers !== undefined && !Array.isArray(o.analyzers)) issues.push({ field: 'analyzers', message: `must be an array (got ${describeValue(o.analyzers)})` });
  if (o.runName !== undefined && (typeof o.runName !== 'string' || o.runName === '' || o.runName.length > 200)) {
    issues.push({ field: 'runName', message: `must be a non-empty string of at most 200 characters (got ${describeValue(o.runName)})` });
  }
  if (issues.length > 0) throw new ConfigError(issues, 'invalid merge options');
}

/** One input, checked. */
export interface Input {
  index: number;
  /** `p1`, `p2`...: the process id in the merged report. */
  label: string;
  source: string | undefined;
  report: PerformanceReport;
  startMs: number;
  /** Its start after the merged run's start, ms. */
  offsetMs: number;
}

/** Checks every input; returns them in input order or throws the first reason to refuse. */
export function checkInputs(reports: readonly unknown[], sources: readonly string[] | undefined): Input[] {
  if (!Array.isArray(reports) || reports.length === 0) throw new MergeError('empty', 'nothing to merge: give at least one report');
  const versions: Array<{ index: number; version: unknown }> = [];
  for (let i = 0; i < reports.length; i++) {
    const r: unknown = reports[i];
    const source = sources?.[i];
    let version: unknown;
    try {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('not an object');
      version = (r as { schemaVersion?: unknown }).schemaVersion;
    } catch (err) {
      throw new MergeError('not_a_report', `${describe(i, source)} is not a stagemeter report (${errorText(err)})`, i, source);
    }
    if (version === undefined) throw new MergeError('not_a_report', `${describe(i, source)} is not a stagemeter report (it has no schemaVersion)`, i, source);
    versions.push({ index: i, version });
  }
  const first = versions[0]!;
  const other = versions.find((v) => v.version !== first.version);
  if (other !== undefined) {
    const list = versions.map((v) => `${describe(v.index, sources?.[v.index])}: ${JSON.stringify(v.version)}`).join(', ');
    throw new MergeError('schema_version', `the reports have different schema versions (${list}): merge reports written by the same stagemeter version`, other.index, sources?.[other.index]);
  }
  if (first.version !== 1) {
    throw new MergeError('schema_version', `schema version ${JSON.stringify(first.version)} is not supported: this stagemeter reads version 1`, 0, sources?.[0]);
  }
  const inputs: Input[] = [];
  const runIds = new Map<string, number>();
  for (let i = 0; i < reports.length; i++) {
    const source = sources?.[i];
    let problems: readonly string[];
    try {
      problems = validateReport(reports[i]);
    } catch (err) {
      problems = [`unreadable (${errorText(err)})`];
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).join('; ');
      const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
      throw new MergeError('invalid_report', `${describe(i, source)} is not a valid stagemeter report (truncated or edited?): ${shown}${more}`, i, source);
    }
    const report = reports[i] as PerformanceReport;
    if ((report as { processes?: unknown }).processes !== undefined) {
      throw new MergeError('merged_input', `${describe(i, source)} is already a merged report: merge the reports it came from instead`, i, source);
    }
    const startMs = Date.parse(report.run.startedAt);
    if (!Number.isFinite(startMs)) throw new MergeError('invalid_report', `${describe(i, source)} has an impossible run.startedAt (${report.run.startedAt})`, i, source);
    const seen = runIds.get(report.run.id);
    if (seen !== undefined) {
      throw new MergeError(
        'duplicate_run',
        `${describe(seen, sources?.[seen])} and ${describe(i, source)} are the same run (id ${report.run.id}): each run must be given once`,
        i,
        source,
      );
    }
    runIds.set(report.run.id, i);
    inputs.push({ index: i, label: `p${i + 1}`, source, report, startMs, offsetMs: 0 });
  }
  const start = Math.min(...inputs.map((x) => x.startMs));
  for (const x of inputs) x.offsetMs = x.startMs - start;
  return inputs;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

