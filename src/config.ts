/**
 * Options: defaults, validation (ajv against a JSON Schema, every error at once) and the
 * environment variables the singleton reads.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import { ConfigError, describeValue, type ConfigIssue } from './errors';
import type { AsyncContextMode } from './context';
import { compileRedactPaths, type RedactMatcher } from './sanitize';
import type { Analyzer, MonitorOptions, Thresholds } from './types';

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

export const DEFAULT_SAMPLING_INTERVAL_MS = 1000;
export const DEFAULT_MAX_STAGE_RECORDS = 10_000;
export const DEFAULT_MAX_MEMORY_SAMPLES = 10_000;

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
  readonly maxMemorySamples: number;
  readonly checkpointIntervalMs: number | undefined;
  readonly redact: RedactMatcher | undefined;
  readonly captureStackTraces: boolean;
  readonly asyncContext: AsyncContextMode;
  readonly shortStageTiming: 'sampled' | 'every';
}

const positive = { type: 'number', exclusiveMinimum: 0, maximum: 1e15 } as const;

/** JSON Schema of the JSON-typed options (`logger` and `analyzers` hold functions: checked by hand). */
export const optionsSchema = {
  $id: 'https://stagemeter.dev/schemas/monitor-options.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    outputPath: { type: 'string', minLength: 1, pattern: '^[^\\u0000]*$' },
    enableMemoryTracking: { type: 'boolean' },
    memorySamplingIntervalMs: { type: 'integer', minimum: 10, maximum: 3_600_000 },
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
    maxMemorySamples: { type: 'integer', minimum: 100, maximum: 10_000_000 },
    checkpointIntervalMs: { type: 'integer', minimum: 100, maximum: 86_400_000 },
    redact: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1000 },
    captureStackTraces: { type: 'boolean' },
    asyncContext: { enum: ['promise', 'asyncLocalStorage'] },
    shortStageTiming: { enum: ['sampled', 'every'] },
  },
} as const;

let validateOptions: ValidateFunction | undefined;

function field(path: string): string {
  return path.replace(/^\//, '').replace(/\//g, '.');
}

function issueOf(error: ErrorObject, root: unknown): ConfigIssue {
  if (error.keyword === 'additionalProperty' || error.keyword === 'additionalProperties') {
    const name = (error.params as { additionalProperty: string }).additionalProperty;
    const parent = field(error.instancePath);
    return { field: parent ? `${parent}.${name}` : name, message: 'unknown option' };
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
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ConfigError([{ field: '(options)', message: `must be an object (got ${describeValue(opts)})` }], context);
  }
  validateOptions ??= new Ajv({ allErrors: true, strict: true }).compile(optionsSchema);
  const issues: ConfigIssue[] = [];
  if (!validateOptions(opts)) {
    for (const error of validateOptions.errors ?? []) issues.push(issueOf(error, opts));
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
    maxMemorySamples: o.maxMemorySamples ?? DEFAULT_MAX_MEMORY_SAMPLES,
    checkpointIntervalMs: o.checkpointIntervalMs,
    redact,
    captureStackTraces: o.captureStackTraces ?? false,
    asyncContext: o.asyncContext ?? 'promise',
    shortStageTiming: o.shortStageTiming ?? 'sampled',
  });
}

/** Environment variables the singleton reads. */
export const ENV = {
  output: 'STAGEMETER_OUTPUT',
  sampleMs: 'STAGEMETER_SAMPLE_MS',
  log: 'STAGEMETER_LOG',
} as const;

const KNOWN_ENV: ReadonlySet<string> = new Set(Object.values(ENV));

/** Levenshtein distance, for "did you mean" on misspelt variable names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
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
    else options.outputPath = output;
  }
  const sample = env[ENV.sampleMs];
  if (sample !== undefined && sample.trim() !== '') {
    const ms = /^\s*\d{1,10}\s*$/.test(sample) ? Number(sample) : NaN;
    if (!(ms >= 10 && ms <= 3_600_000)) {
      issues.push({ field: ENV.sampleMs, message: `must be a whole number of milliseconds from 10 to 3600000 (got ${describeValue(sample)})` });
    } else {
      options.memorySamplingIntervalMs = ms;
    }
  }
  const log = env[ENV.log];
  if (log !== undefined && log.trim() !== '') {
    const v = log.trim().toLowerCase();
    if (v === '1' || v === 'true') options.enableDetailedLogging = true;
    else if (v === '0' || v === 'false') options.enableDetailedLogging = false;
    else issues.push({ field: ENV.log, message: `must be 1 or 0 (got ${describeValue(log)})` });
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('STAGEMETER_') && !KNOWN_ENV.has(name)) {
      const guess = [...KNOWN_ENV].find((k) => editDistance(k, name) <= 3);
      issues.push({ field: name, message: `unknown stagemeter environment variable${guess ? ` (did you mean ${guess}?)` : ''}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, 'invalid stagemeter environment');
  return options;
}
