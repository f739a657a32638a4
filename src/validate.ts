/**
 * Every check of what a user configures, in one place, with one constant per limit: monitor
 * options (ajv against a JSON Schema, every error at once), `startMonitoring()` options, hook
 * options and stage names, and the environment variables the singleton reads. Each throws a
 * {@link ConfigError} listing every offending field, with a "did you mean" for a misspelt name.
 */
import { isAbsolute } from 'node:path';
import { types } from 'node:util';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { AsyncContextMode } from './callpath/context';
import { ConfigError, describeValue, type ConfigIssue } from './errors';
import { compileRedactPaths, type RedactMatcher } from './sanitize';
import type { Analyzer, MonitorOptions, Thresholds } from './types';

/** Longest stage name, characters (hooks reject longer ones; startStage() truncates and flags). */
export const MAX_STAGE_NAME = 200;
/** Longest run name, characters. */
export const MAX_RUN_NAME = 200;
/** Distinct stage names per run by default (the rest are counted under "(other stages)"). */
export const DEFAULT_MAX_STAGE_NAMES = 1000;
/**
 * Per-call records kept for the whole run by default. A record is ~300-340 bytes of the (compact)
 * report, plus its metadata; a stage summary ~1-4 kB (most of it the quantile sketch), 1,000 of
 * them at most (maxStageNames); 10,000 memory samples ~1.5 MB. So 50,000 records make a report
 * of ~16 MB of records and ~20 MB in all at the default limits, under ~25 MB whatever the run
 * when records carry little metadata; and the final report's analysis of them takes well under a
 * second.
 */
export const DEFAULT_MAX_STAGE_RECORDS = 50_000;
export const DEFAULT_MAX_MEMORY_SAMPLES = 10_000;
export const DEFAULT_SAMPLING_INTERVAL_MS = 1000;
/** Shortest and longest sampler period, ms. */
export const MIN_SAMPLING_INTERVAL_MS = 10;
export const MAX_SAMPLING_INTERVAL_MS = 3_600_000;
/** Shortest and longest checkpoint period, ms. */
export const MIN_CHECKPOINT_MS = 100;
export const MAX_CHECKPOINT_MS = 86_400_000;

/** Defaults from the original requirements. */
export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({
  minThroughputRowsPerSec: 1000,
  maxMemoryMb: 8192,
  maxStageDurationMs: 30 * 60 * 1000,
  slowStageMs: 30_000,
  memoryIntensiveMb: 500,
  stageMemoryWarningMb: 1024,
  memoryEfficiencyThreshold: 70,
  eventLoopBlockedMs: 100,
  gcPressurePercent: 10,
  minLeakSlopeMbPerMin: 1,
});

/** Options after defaults and validation. */
export interface ResolvedConfig {
  readonly outputPath: string | undefined;
  readonly enableMemoryTracking: boolean;
  readonly memorySamplingIntervalMs: number;
  readonly enableDetailedLogging: boolean;
  readonly logger: Logger | undefined;
  readonly thresholds: Readonly<Thresholds>;
  readonly analyzers: readonly Analyzer[];
  readonly maxStageRecords: number;
  readonly maxStageNames: number;
  readonly maxMemorySamples: number;
  readonly checkpointIntervalMs: number | undefined;
  readonly redact: RedactMatcher | undefined;
  readonly captureStackTraces: boolean;
  readonly asyncContext: AsyncContextMode;
  readonly htmlOutputPath: string | undefined;
  readonly progress: boolean;
  readonly otel: boolean;
  /** The first process to claim `outputPath` writes it; the others write `<name>.<pid>.json` beside it. */
  readonly perProcessOutput: boolean;
  /** Option names given that no longer have an effect (reported as a flag in each run). */
  readonly deprecated: readonly string[];
}

const positive = { type: 'number', exclusiveMinimum: 0, maximum: 1e15 } as const;

/** JSON Schema of the JSON-typed options (`logger` and `analyzers` hold functions: checked by hand). */
export const optionsSchema = {
  $id: 'https://stagemeter.dev/schemas/monitor-options.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    outputPath: { type: 'string', minLength: 1, pattern: '^[^\\u0000]*$' },
    htmlOutputPath: { type: 'string', minLength: 1, pattern: '^[^\\u0000]*$' },
    enableMemoryTracking: { type: 'boolean' },
    memorySamplingIntervalMs: { type: 'integer', minimum: MIN_SAMPLING_INTERVAL_MS, maximum: MAX_SAMPLING_INTERVAL_MS },
    enableDetailedLogging: { type: 'boolean' },
    logger: {},
    analyzers: {},
    thresholds: {
      type: 'object',
      additionalProperties: false,
      properties: {
        minThroughputRowsPerSec: { type: 'number', minimum: 0, maximum: 1e15 },
        maxMemoryMb: positive,
        maxStageDurationMs: positive,
        slowStageMs: positive,
        memoryIntensiveMb: positive,
        stageMemoryWarningMb: positive,
        memoryEfficiencyThreshold: { type: 'number', minimum: 0, maximum: 100 },
        eventLoopBlockedMs: positive,
        gcPressurePercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        minLeakSlopeMbPerMin: positive,
      },
    },
    maxStageRecords: { type: 'integer', minimum: 0, maximum: 10_000_000 },
    maxStageNames: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    maxMemorySamples: { type: 'integer', minimum: 100, maximum: 10_000_000 },
    checkpointIntervalMs: { type: 'integer', minimum: MIN_CHECKPOINT_MS, maximum: MAX_CHECKPOINT_MS },
    redact: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1000 },
    captureStackTraces: { type: 'boolean' },
    asyncContext: { enum: ['promise', 'asyncLocalStorage'] },
    progress: { type: 'boolean' },
    otel: { type: 'boolean' },
    perProcessOutput: { type: 'boolean' },
    // Every call is timed now; the option is accepted so that older configurations still load.
    shortStageTiming: { enum: ['sampled', 'every'] },
  },
} as const;

let validateOptions: ValidateFunction | undefined;

function field(path: string): string {
  return path.replace(/^\//, '').replace(/\//g, '.');
}

/** Levenshtein distance, for "did you mean" on misspelt names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** "unknown option", with the closest known name when one is close (case ignored). */
export function unknownOption(name: string, known: Iterable<string>, what = 'option'): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(k.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? `unknown ${what} (did you mean ${best}?)` : `unknown ${what}`;
}

function issueOf(error: ErrorObject, root: unknown): ConfigIssue {
  if (error.keyword === 'additionalProperty' || error.keyword === 'additionalProperties') {
    const name = (error.params as { additionalProperty: string }).additionalProperty;
    const parent = field(error.instancePath);
    const known = parent === 'thresholds' ? Object.keys(optionsSchema.properties.thresholds.properties) : Object.keys(optionsSchema.properties);
    return { field: parent ? `${parent}.${name}` : name, message: unknownOption(name, known) };
  }
  const value = error.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((obj, key) => (obj as Record<string, unknown> | undefined)?.[key], root);
  return { field: field(error.instancePath) || '(options)', message: `${error.message ?? 'is invalid'} (got ${describeValue(value)})` };
}

function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === 'function';
}

/**
 * Validates options and fills in defaults. Throws a {@link ConfigError} naming every bad field.
 */
export function resolveConfig(options: MonitorOptions | undefined, context?: string): ResolvedConfig {
  const opts: unknown = options === undefined ? {} : options;
  const proxies = proxyIssues(opts, '');
  if (proxies.length > 0) throw new ConfigError(proxies, context);
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ConfigError([{ field: '(options)', message: `must be an object (got ${describeValue(opts)})` }], context);
  }
  const issues: ConfigIssue[] = [];
  // No options: nothing to validate, and no validator to compile (~70 ms, which every worker
  // thread's singleton would pay).
  if (options !== undefined) {
    validateOptions ??= new Ajv({ allErrors: true, strict: true }).compile(optionsSchema);
    if (!validateOptions(opts)) {
      for (const error of validateOptions.errors ?? []) issues.push(issueOf(error, opts));
    }
  }
  const o = opts as MonitorOptions;
  if (o.logger !== undefined) {
    const logger = o.logger as unknown as Record<string, unknown> | null;
    const missing = ['info', 'warn', 'error', 'child'].filter((m) => !isFunction(logger?.[m]));
    if (missing.length > 0) issues.push({ field: 'logger', message: `must be a pino logger (missing ${missing.join(', ')})` });
  }
  if (o.analyzers !== undefined) {
    if (!Array.isArray(o.analyzers)) {
      issues.push({ field: 'analyzers', message: `must be an array of { name, analyze } (got ${describeValue(o.analyzers)})` });
    } else {
      o.analyzers.forEach((a: unknown, i) => {
        const rec = a as Record<string, unknown> | null;
        if (typeof rec !== 'object' || rec === null || typeof rec.name !== 'string' || rec.name === '' || !isFunction(rec.analyze)) {
          issues.push({ field: `analyzers.${i}`, message: 'must be an object with a non-empty string `name` and a function `analyze(run, thresholds)`' });
        }
      });
    }
  }
  if (o.perProcessOutput === true && o.outputPath === undefined) {
    issues.push({ field: 'perProcessOutput', message: 'needs outputPath: it decides which process writes that path' });
  }
  let redact: RedactMatcher | undefined;
  if (Array.isArray(o.redact) && !issues.some((i) => i.field.startsWith('redact'))) {
    try {
      redact = o.redact.length > 0 ? compileRedactPaths(o.redact) : undefined;
    } catch (err) {
      issues.push({ field: 'redact', message: (err as Error).message });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, context);
  return Object.freeze({
    outputPath: o.outputPath,
    enableMemoryTracking: o.enableMemoryTracking ?? true,
    memorySamplingIntervalMs: o.memorySamplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS,
    enableDetailedLogging: o.enableDetailedLogging ?? false,
    logger: o.logger,
    thresholds: Object.freeze({ ...DEFAULT_THRESHOLDS, ...o.thresholds }),
    analyzers: Object.freeze([...(o.analyzers ?? [])]),
    maxStageRecords: o.maxStageRecords ?? DEFAULT_MAX_STAGE_RECORDS,
    maxStageNames: o.maxStageNames ?? DEFAULT_MAX_STAGE_NAMES,
    maxMemorySamples: o.maxMemorySamples ?? DEFAULT_MAX_MEMORY_SAMPLES,
    checkpointIntervalMs: o.checkpointIntervalMs,
    redact,
    captureStackTraces: o.captureStackTraces ?? false,
    asyncContext: o.asyncContext ?? 'promise',
    htmlOutputPath: o.htmlOutputPath,
    progress: o.progress ?? false,
    otel: o.otel ?? false,
    perProcessOutput: o.perProcessOutput ?? false,
    deprecated: (o as { shortStageTiming?: unknown }).shortStageTiming !== undefined ? ['shortStageTiming'] : [],
  });
}

/** Environment variables the singleton reads. */
export const ENV = {
  output: 'STAGEMETER_OUTPUT',
  sampleMs: 'STAGEMETER_SAMPLE_MS',
  log: 'STAGEMETER_LOG',
  checkpointMs: 'STAGEMETER_CHECKPOINT_MS',
  html: 'STAGEMETER_HTML',
  progress: 'STAGEMETER_PROGRESS',
  otel: 'STAGEMETER_OTEL',
  /** Set by stagemeter itself in the process that owns a report path, for its children (src/report/ownership.ts). */
  parent: 'STAGEMETER_PARENT',
} as const;

const KNOWN_ENV: ReadonlySet<string> = new Set(Object.values(ENV));

/** A `1`/`0` (or `true`/`false`) flag variable; undefined when unset or empty. */
function envFlag(env: NodeJS.ProcessEnv, name: string, issues: ConfigIssue[]): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim().toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  issues.push({ field: name, message: `must be 1 or 0 (got ${describeValue(raw)})` });
  return undefined;
}

/** A whole number of ms within [min, max]; undefined when unset or empty. */
function envMs(env: NodeJS.ProcessEnv, name: string, min: number, max: number, issues: ConfigIssue[]): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const ms = /^\s*\d{1,10}\s*$/.test(raw) ? Number(raw) : NaN;
  if (ms >= min && ms <= max) return ms;
  issues.push({ field: name, message: `must be a whole number of milliseconds from ${min} to ${max} (got ${describeValue(raw)})` });
  return undefined;
}

/**
 * Reads the singleton's options from the environment. Nothing is evaluated: values are parsed as
 * a path, a decimal integer and a flag. Junk values and unknown `STAGEMETER_*` variables throw a
 * {@link ConfigError} naming the variable.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): MonitorOptions {
  const issues: ConfigIssue[] = [];
  const options: MonitorOptions = {};
  const output = env[ENV.output];
  if (output !== undefined && output !== '') {
    if (output.includes('\u0000')) issues.push({ field: ENV.output, message: 'must be a file path' });
    else {
      options.outputPath = output;
      // Children inherit STAGEMETER_OUTPUT: the first process to claim the path writes it, the others beside it.
      options.perProcessOutput = true;
    }
  }
  const parent = env[ENV.parent];
  if (parent !== undefined && parent !== '' && parseParentMarker(parent) === undefined) {
    issues.push({ field: ENV.parent, message: `is set by stagemeter for child processes as <pid>:<run id>:<absolute path> (got ${describeValue(parent.length > 80 ? `${parent.slice(0, 80)}...` : parent)})` });
  }
  const sample = envMs(env, ENV.sampleMs, MIN_SAMPLING_INTERVAL_MS, MAX_SAMPLING_INTERVAL_MS, issues);
  if (sample !== undefined) options.memorySamplingIntervalMs = sample;
  const checkpoint = envMs(env, ENV.checkpointMs, MIN_CHECKPOINT_MS, MAX_CHECKPOINT_MS, issues);
  if (checkpoint !== undefined) options.checkpointIntervalMs = checkpoint;
  const log = envFlag(env, ENV.log, issues);
  if (log !== undefined) options.enableDetailedLogging = log;
  const progress = envFlag(env, ENV.progress, issues);
  if (progress !== undefined) options.progress = progress;
  const otel = envFlag(env, ENV.otel, issues);
  if (otel !== undefined) options.otel = otel;
  const html = envFlag(env, ENV.html, issues);
  if (html === true && options.outputPath !== undefined) options.htmlOutputPath = htmlPathFor(options.outputPath);
  for (const name of Object.keys(env)) {
    if (name.startsWith('STAGEMETER_') && !KNOWN_ENV.has(name)) {
      issues.push({ field: name, message: unknownOption(name, KNOWN_ENV, 'stagemeter environment variable') });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, 'invalid stagemeter environment');
  return options;
}

/**
 * The STAGEMETER_PARENT marker an owner of a report path leaves for its child processes:
 * `<pid>:<run id>:<absolute report path>`. Undefined when unset or malformed.
 */
export function parseParentMarker(value: string | undefined): { pid: number; runId: string; path: string } | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,10}):([\w-]{1,64}):(.+)$/s.exec(value);
  if (m === null || m[3]!.includes('\u0000') || !isAbsolute(m[3]!)) return undefined;
  const pid = Number(m[1]);
  return pid > 0 && Number.isSafeInteger(pid) ? { pid, runId: m[2]!, path: m[3]! } : undefined;
}

const TRACK_OPTION_KEYS = ['stage'] as const;

/** Checks `trackProcess()` options; returns the issues found. */
export function checkTrackOptions(options: unknown): ConfigIssue[] {
  if (options === undefined) return [];
  if (!isPlainObject(options)) return [{ field: '(options)', message: `must be an object (got ${describeValue(options)})` }];
  const o = options as Record<string, unknown>;
  const issues: ConfigIssue[] = Object.keys(o)
    .filter((k) => !(TRACK_OPTION_KEYS as readonly string[]).includes(k))
    .map((k) => ({ field: k, message: unknownOption(k, TRACK_OPTION_KEYS) }));
  if (o.stage !== undefined) issues.push(...checkStageName(o.stage, 'stage'));
  return issues;
}

/** A pid trackProcess() can sample: a positive integer (pid 0 and negatives name process groups). */
export function isTrackablePid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= 0x7fffffff;
}

/** The HTML report's path beside a JSON report: `run.json` -> `run.html`. */
export function htmlPathFor(jsonPath: string): string {
  return /\.json$/i.test(jsonPath) ? jsonPath.replace(/\.json$/i, '.html') : `${jsonPath}.html`;
}

const START_OPTION_KEYS = ['expectedRows', 'runName', 'metadata', 'rowsFrom'] as const;

/** Checks `startMonitoring()` options; returns the issues found. */
export function checkStartOptions(options: unknown): ConfigIssue[] {
  if (options === undefined) return [];
  const proxies = proxyIssues(options, '');
  if (proxies.length > 0) return proxies;
  if (!isPlainObject(options)) return [{ field: '(options)', message: `must be an object (got ${describeValue(options)})` }];
  const issues: ConfigIssue[] = [];
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(START_OPTION_KEYS as readonly string[]).includes(key)) issues.push({ field: key, message: unknownOption(key, START_OPTION_KEYS) });
  }
  if (o.expectedRows !== undefined && !(typeof o.expectedRows === 'number' && Number.isFinite(o.expectedRows) && o.expectedRows >= 0)) {
    issues.push({ field: 'expectedRows', message: `must be a finite number >= 0 (got ${describeValue(o.expectedRows)})` });
  }
  if (o.runName !== undefined && (typeof o.runName !== 'string' || o.runName === '' || o.runName.length > MAX_RUN_NAME)) {
    issues.push({ field: 'runName', message: `must be a non-empty string of at most ${MAX_RUN_NAME} characters (got ${describeValue(o.runName)})` });
  }
  if (o.metadata !== undefined && !isPlainObject(o.metadata)) {
    issues.push({ field: 'metadata', message: `must be a plain object (got ${describeValue(o.metadata)})` });
  }
  if (o.rowsFrom !== undefined) issues.push(...checkStageName(o.rowsFrom, 'rowsFrom'));
  return issues;
}

const isProxyValue = (v: unknown): boolean => (typeof v === 'object' || typeof v === 'function') && v !== null && types.isProxy(v);

/**
 * Options that are, or directly hold, a Proxy (as a field's value or an array field's element),
 * or that have a getter as a field, are refused before anything reads them: traps and getters
 * are the program's code, and a revoked proxy throws even from Array.isArray. (Proxies deeper inside metadata are fine: metadata is copied
 * without running them.)
 */
function proxyIssues(options: unknown, prefix: string): ConfigIssue[] {
  if (isProxyValue(options)) return [{ field: prefix.replace(/\.$/, '') || '(options)', message: 'must be a plain object, not a Proxy' }];
  if (typeof options !== 'object' || options === null) return [];
  const issues: ConfigIssue[] = [];
  for (const key of Object.keys(options)) {
    const desc = Object.getOwnPropertyDescriptor(options, key);
    if (desc !== undefined && !('value' in desc)) {
      issues.push({ field: `${prefix}${key}`, message: 'must be a data property, not a getter' });
      continue;
    }
    const value: unknown = desc?.value;
    if (isProxyValue(value)) issues.push({ field: `${prefix}${key}`, message: 'must not be a Proxy' });
    else if (Array.isArray(value)) value.forEach((v: unknown, i) => isProxyValue(v) && issues.push({ field: `${prefix}${key}[${i}]`, message: 'must not be a Proxy' }));
  }
  return issues;
}

/** An object that is not an array, null or a function (own keys read; nothing called). */
function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a stage name; returns the issues found. */
export function checkStageName(name: unknown, fieldName: string): ConfigIssue[] {
  if (typeof name !== 'string' || name.trim() === '') return [{ field: fieldName, message: `must be a non-empty string (got ${describeValue(name)})` }];
  if (name.length > MAX_STAGE_NAME) return [{ field: fieldName, message: `must be at most ${MAX_STAGE_NAME} characters (got ${name.length})` }];
  return [];
}

/**
 * Checks hook options (`withStage`'s third argument, `@MonitoredStage({...})`): known keys, rows,
 * metadata, monitor. `isMonitor` tells a monitor of any copy of the package.
 */
export function checkHookOptions(options: unknown, allowed: readonly string[], prefix: string, isMonitor: (m: unknown) => boolean): ConfigIssue[] {
  if (options === undefined) return [];
  const proxies = proxyIssues(options, prefix);
  if (proxies.length > 0) return proxies;
  if (!isPlainObject(options)) return [{ field: prefix.replace(/\.$/, '') || 'options', message: `must be an object (got ${describeValue(options)})` }];
  const o = options as Record<string, unknown>;
  const issues: ConfigIssue[] = Object.keys(o)
    .filter((k) => !allowed.includes(k))
    .map((k) => ({ field: `${prefix}${k}`, message: unknownOption(k, allowed) }));
  const rows = o.rows;
  const rowsOk = rows === undefined || rows === 'input' || rows === 'output' || typeof rows === 'function' || (typeof rows === 'number' && Number.isSafeInteger(rows) && rows >= 0);
  if (!rowsOk) issues.push({ field: `${prefix}rows`, message: `must be 'input', 'output', an integer >= 0 or a function (got ${describeValue(rows)})` });
  if (o.metadata !== undefined && !isPlainObject(o.metadata)) issues.push({ field: `${prefix}metadata`, message: `must be a plain object (got ${describeValue(o.metadata)})` });
  if (o.monitor !== undefined && !isMonitor(o.monitor)) issues.push({ field: `${prefix}monitor`, message: 'must be a monitor from createPerformanceMonitor()' });
  if ('name' in o && o.name !== undefined) issues.push(...checkStageName(o.name, `${prefix}name`));
  return issues;
}
