import { ConfigError, createPerformanceMonitor, DEFAULT_THRESHOLDS } from '../../src/index';
import { checkTrackOptions, isTrackablePid, optionsFromEnv, parseParentMarker, resolveConfig } from '../../src/validate';
import { configErrorOf } from '../helpers/thrown';

function issuesOf(make: () => unknown): Array<{ field: string; message: string }> {
  return [...configErrorOf(make).issues];
}

describe('options', () => {
  test('defaults come from the original requirements', () => {
    const config = resolveConfig(undefined);
    expect(config.thresholds).toEqual(DEFAULT_THRESHOLDS);
    expect(DEFAULT_THRESHOLDS).toMatchObject({ minThroughputRowsPerSec: 1000, maxMemoryMb: 8192, maxStageDurationMs: 1_800_000, memoryEfficiencyThreshold: 70 });
    expect(config).toMatchObject({ enableMemoryTracking: true, memorySamplingIntervalMs: 1000, enableDetailedLogging: false, maxStageRecords: 50_000, maxStageNames: 1000, captureStackTraces: false });
  });

  test('partial thresholds override only what they name', () => {
    expect(resolveConfig({ thresholds: { slowStageMs: 5 } }).thresholds).toEqual({ ...DEFAULT_THRESHOLDS, slowStageMs: 5 });
  });

  test('every offending field is named in one ConfigError', () => {
    const issues = issuesOf(() =>
      createPerformanceMonitor({
        outputPath: '',
        memorySamplingIntervalMs: 0,
        enableMemoryTracking: 'yes',
        thresholds: { maxMemoryMb: -1, memoryEfficiencyThreshold: 101, bogus: 1 },
        maxStageRecords: 1.5,
        redact: ['ok', ''],
        outputPth: 'typo',
      } as never),
    );
    expect(issues.map((i) => i.field).sort()).toEqual(
      ['enableMemoryTracking', 'maxStageRecords', 'memorySamplingIntervalMs', 'outputPath', 'outputPth', 'redact.1', 'thresholds.bogus', 'thresholds.maxMemoryMb', 'thresholds.memoryEfficiencyThreshold'].sort(),
    );
    expect(issues.find((i) => i.field === 'memorySamplingIntervalMs')?.message).toBe('must be >= 10 (got 0)');
    expect(issues.find((i) => i.field === 'outputPth')?.message).toBe('unknown option (did you mean outputPath?)');
  });

  test('the message lists each field on its own line', () => {
    expect(() => createPerformanceMonitor({ memorySamplingIntervalMs: 5, checkpointIntervalMs: 1 })).toThrow(
      /invalid stagemeter configuration:\n {2}- memorySamplingIntervalMs: .*\n {2}- checkpointIntervalMs: /,
    );
  });

  test.each([null, 5, 'opts', []])('options that are not an object (%p) are rejected', (value) => {
    expect(issuesOf(() => createPerformanceMonitor(value as never))[0]?.field).toBe('(options)');
  });

  test('a logger must look like pino and analyzers like { name, analyze }', () => {
    const issues = issuesOf(() => createPerformanceMonitor({ logger: { info: () => undefined } as never, analyzers: [{ name: 'x' }, null, { name: '', analyze: () => [] }] as never }));
    expect(issues.map((i) => i.field)).toEqual(['logger', 'analyzers.0', 'analyzers.1', 'analyzers.2']);
    expect(issues[0]?.message).toContain('missing warn, error, child');
    expect(issuesOf(() => createPerformanceMonitor({ analyzers: 'all' as never }))[0]?.field).toBe('analyzers');
  });

  test('asyncContext is promise by default and accepts only its two modes', () => {
    expect(resolveConfig(undefined).asyncContext).toBe('promise');
    expect(resolveConfig({ asyncContext: 'asyncLocalStorage' }).asyncContext).toBe('asyncLocalStorage');
    for (const bad of ['als', 'AsyncLocalStorage', true, null]) {
      const issue = issuesOf(() => createPerformanceMonitor({ asyncContext: bad as never }))[0];
      expect(issue).toMatchObject({ field: 'asyncContext', message: expect.stringContaining('must be equal to one of the allowed values') });
    }
  });

  test('shortStageTiming, from when short stages could be sampled, still loads (every call is timed) and is reported as deprecated', () => {
    expect(resolveConfig(undefined).deprecated).toEqual([]);
    expect(resolveConfig({ shortStageTiming: 'every' }).deprecated).toEqual(['shortStageTiming']);
    expect(resolveConfig({ shortStageTiming: 'sampled' }).deprecated).toEqual(['shortStageTiming']);
    for (const bad of ['all', 'Sampled', 8, false, null]) {
      const issue = issuesOf(() => createPerformanceMonitor({ shortStageTiming: bad as never }))[0];
      expect(issue).toMatchObject({ field: 'shortStageTiming', message: expect.stringContaining('must be equal to one of the allowed values') });
    }
  });

  test('a malformed redact path is rejected', () => {
    expect(issuesOf(() => createPerformanceMonitor({ redact: ['a..b'] }))[0]).toMatchObject({ field: 'redact', message: expect.stringContaining('cannot parse redact path') });
  });
});

describe('environment', () => {
  test('reads the output path, the sampling interval and the log flag', () => {
    expect(optionsFromEnv({ STAGEMETER_OUTPUT: 'r/run.json', STAGEMETER_SAMPLE_MS: '250', STAGEMETER_LOG: '1' })).toEqual({
      outputPath: 'r/run.json',
      perProcessOutput: true,
      memorySamplingIntervalMs: 250,
      enableDetailedLogging: true,
    });
    expect(optionsFromEnv({ STAGEMETER_LOG: '0', STAGEMETER_OUTPUT: '' })).toEqual({ enableDetailedLogging: false });
    expect(optionsFromEnv({})).toEqual({});
  });

  test('junk values and unknown STAGEMETER_ variables are named, with a suggestion for typos', () => {
    const issues = issuesOf(() => optionsFromEnv({ STAGEMETER_SAMPLE_MS: '1e3', STAGEMETER_LOG: 'verbose', STAGEMETER_OUPUT: 'x.json' }));
    expect(issues).toEqual([
      { field: 'STAGEMETER_SAMPLE_MS', message: 'must be a whole number of milliseconds from 10 to 3600000 (got "1e3")' },
      { field: 'STAGEMETER_LOG', message: 'must be 1 or 0 (got "verbose")' },
      { field: 'STAGEMETER_OUPUT', message: 'unknown stagemeter environment variable (did you mean STAGEMETER_OUTPUT?)' },
    ]);
  });

  test.each(['0', '5', '-100', 'abc', '99999999999', ' ', '100ms'])('STAGEMETER_SAMPLE_MS=%p is rejected', (value) => {
    if (value.trim() === '') {
      expect(optionsFromEnv({ STAGEMETER_SAMPLE_MS: value })).toEqual({});
      return;
    }
    expect(issuesOf(() => optionsFromEnv({ STAGEMETER_SAMPLE_MS: value }))[0]?.field).toBe('STAGEMETER_SAMPLE_MS');
  });

  test('STAGEMETER_PARENT, which stagemeter sets for child processes, is known; a malformed value is named', () => {
    const marker = `4242:0b6a8c1e-5f0a-4e43-9d4c-6c2e7a1b9f00:${process.cwd()}/reports/run.json`;
    expect(optionsFromEnv({ STAGEMETER_OUTPUT: 'reports/run.json', STAGEMETER_PARENT: marker })).toEqual({ outputPath: 'reports/run.json', perProcessOutput: true });
    for (const junk of ['1', 'abc:def:/x', '12:id:relative/path', '0:id:/abs', '12:id:/a\u0000b', `99999999999:id:/abs`]) {
      expect(issuesOf(() => optionsFromEnv({ STAGEMETER_PARENT: junk }))).toEqual([{ field: 'STAGEMETER_PARENT', message: expect.stringContaining('<pid>:<run id>:<absolute path>') }]);
    }
    // a huge value is cut in the message, not echoed whole
    const message = issuesOf(() => optionsFromEnv({ STAGEMETER_PARENT: 'x'.repeat(10_000) }))[0]!.message;
    expect(message.length).toBeLessThan(300);
  });
});

describe('shared output paths and tracked processes', () => {
  test('perProcessOutput is a boolean, off by default, and needs outputPath', () => {
    expect(resolveConfig(undefined).perProcessOutput).toBe(false);
    expect(resolveConfig({ outputPath: 'r.json', perProcessOutput: true }).perProcessOutput).toBe(true);
    expect(resolveConfig({ perProcessOutput: false }).perProcessOutput).toBe(false);
    expect(issuesOf(() => createPerformanceMonitor({ perProcessOutput: true }))).toEqual([{ field: 'perProcessOutput', message: 'needs outputPath: it decides which process writes that path' }]);
    expect(issuesOf(() => createPerformanceMonitor({ outputPath: 'r.json', perProcessOutput: 'yes' as unknown as boolean }))).toEqual([{ field: 'perProcessOutput', message: 'must be boolean (got "yes")' }]);
    expect(issuesOf(() => createPerformanceMonitor({ outputPath: 'r.json', perProcesOutput: true } as never))[0]).toEqual({ field: 'perProcesOutput', message: 'unknown option (did you mean perProcessOutput?)' });
  });

  test('the parent marker parses pid, run id and an absolute path (which may hold colons)', () => {
    expect(parseParentMarker('17:run-1:/data/a:b/run.json')).toEqual({ pid: 17, runId: 'run-1', path: '/data/a:b/run.json' });
    expect(parseParentMarker(undefined)).toBeUndefined();
    expect(parseParentMarker('17:run-1:')).toBeUndefined();
    expect(parseParentMarker('-17:run-1:/x')).toBeUndefined();
    expect(parseParentMarker('17:run 1:/x')).toBeUndefined();
  });

  test('trackProcess options: only stage, a valid stage name; pids are positive integers', () => {
    expect(checkTrackOptions(undefined)).toEqual([]);
    expect(checkTrackOptions({ stage: 'transcode' })).toEqual([]);
    expect(checkTrackOptions({ stag: 'x' })).toEqual([{ field: 'stag', message: 'unknown option (did you mean stage?)' }]);
    expect(checkTrackOptions({ stage: '' })).toEqual([{ field: 'stage', message: 'must be a non-empty string (got "")' }]);
    expect(checkTrackOptions({ stage: 'x'.repeat(201) })[0]?.field).toBe('stage');
    expect(checkTrackOptions('load')).toEqual([{ field: '(options)', message: 'must be an object (got "load")' }]);
    expect([1, 4242, 2 ** 31 - 1].every(isTrackablePid)).toBe(true);
    expect([0, -1, 1.5, NaN, Infinity, 2 ** 31, '12', null, undefined].some(isTrackablePid)).toBe(false);
  });
});
