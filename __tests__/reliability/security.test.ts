/**
 * Security: a report (and a log line) never holds function arguments or return values, only
 * counts; metadata keys are redacted with pino-style paths wherever metadata ends up; error
 * messages are kept and stack traces only with captureStackTraces; nothing in the configuration
 * or the environment is ever evaluated.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createPerformanceMonitor, MonitoredStage, setMonitor, withStage } from '../../src/index';
import { resetGlobalStateForTests } from '../../src/callpath/global';
import { expectValidReport } from '../helpers/schema';
import { outcome, readReport, runFixture, sleep, useTempDir, waitFor } from './support';

jest.setTimeout(60_000);
const tmp = useTempDir('security');
afterEach(() => resetGlobalStateForTests()); // one test routes a hook through the singleton

const SECRETS = ['s3cr3t-argument', 'hunter2-return', 'tok_live_resolved', 'row-pii-4111111111111111', 'this-field-secret', 'extra-prop-secret', 'rows-fn-secret'];

function capturing(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  return { logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }), text: () => lines.join('') };
}

describe('security', () => {
  test('arguments, return values, resolved values, `this` and extra error properties never reach the report or the log', async () => {
    const out = join(tmp(), 'run.json');
    const { logger, text: logText } = capturing();
    const m = createPerformanceMonitor({ outputPath: out, checkpointIntervalMs: 100, memorySamplingIntervalMs: 20, logger, enableDetailedLogging: true, captureStackTraces: false });
    m.startMonitoring();
    const login = withStage('login', (user: string, password: string) => `${user}:${password}:hunter2-return`, { monitor: m });
    const fetchToken = withStage('fetch-token', async (req: { apiKey: string }) => {
      await sleep(1);
      return { token: 'tok_live_resolved', echo: req };
    }, { monitor: m, rows: 'output' });
    const rows = withStage('rows', (batch: Array<{ card: string }>) => batch.map((r) => r.card.length), { monitor: m, rows: (_result, args) => (args[0] as unknown[]).length + ('rows-fn-secret'.length > 0 ? 0 : 1) });
    class Vault {
      readonly field = 'this-field-secret';
      @MonitoredStage({ monitor: m })
      open(key: string): string {
        return `${this.field}:${key}`;
      }
    }
    const fail = withStage('fail', (arg: string) => {
      throw Object.assign(new Error('rejected the request'), { detail: 'extra-prop-secret', arg });
    }, { monitor: m });

    expect(login('alice', 's3cr3t-argument')).toBe('alice:s3cr3t-argument:hunter2-return');
    expect((await fetchToken({ apiKey: 's3cr3t-argument' })).token).toBe('tok_live_resolved');
    expect(rows([{ card: 'row-pii-4111111111111111' }, { card: 'row-pii-4111111111111111' }])).toEqual([24, 24]);
    expect(new Vault().open('s3cr3t-argument')).toContain('this-field-secret');
    expect(() => fail('s3cr3t-argument')).toThrow('rejected the request');
    // a checkpoint written while the run goes on, after the calls above
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes('"name": "fail"'));
    const checkpoint = readFileSync(out, 'utf8');
    const report = expectValidReport(m.stopMonitoring());

    const texts = { report: JSON.stringify(report), file: readFileSync(out, 'utf8'), checkpoint, log: logText() };
    for (const [where, text] of Object.entries(texts)) for (const secret of SECRETS) expect({ where, found: text.includes(secret) ? secret : undefined }).toEqual({ where, found: undefined });
    // only counts are kept, and the error's name and message
    expect(report.stages.find((s) => s.name === 'rows')?.rowsProcessed).toBe(2);
    expect(report.stages.find((s) => s.name === 'fail')?.error).toEqual({ name: 'Error', message: 'rejected the request' });
  });

  test('metadata keys are redacted with pino-style paths in the run, hook and manual metadata, in the report and its checkpoints', async () => {
    const out = join(tmp(), 'redacted.json');
    const secretMeta = () => ({
      team: 'labels',
      password: 'pw-secret-1',
      db: { user: 'db-user-secret', host: 'db.internal' },
      tokens: [{ value: 'tok-secret-1', scope: 'read' }, { value: 'tok-secret-2', scope: 'write' }],
      service: { apiKey: 'key-secret-1', region: 'eu' },
      headers: { 'x-api-key': 'hdr-secret-1', accept: 'json' },
      nested: { deeper: { password: 'pw-secret-2' } },
    });
    const redact = ['password', 'db.user', 'tokens[*].value', '*.apiKey', 'headers["x-api-key"]'];
    const m = createPerformanceMonitor({ outputPath: out, redact, checkpointIntervalMs: 100, enableMemoryTracking: false });
    // one hook, shared by a monitor that redacts and one that does not: redaction is per monitor
    const open = createPerformanceMonitor({ enableMemoryTracking: false });
    const hook = withStage('hook', () => 1, { metadata: secretMeta() });
    m.startMonitoring({ metadata: secretMeta() });
    open.startMonitoring();
    setMonitor(m);
    hook();
    m.endStage(m.startStage('manual', secretMeta()));
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes('"name": "manual"'));
    const checkpoint = readFileSync(out, 'utf8');
    setMonitor(open);
    hook();
    const openReport = open.stopMonitoring();
    const report = expectValidReport(m.stopMonitoring());
    const leaked = ['pw-secret-1', 'pw-secret-2', 'db-user-secret', 'tok-secret-1', 'tok-secret-2', 'key-secret-1', 'hdr-secret-1'];
    for (const text of [JSON.stringify(report), readFileSync(out, 'utf8'), checkpoint]) for (const s of leaked) expect(text).not.toContain(s);
    const expected = {
      team: 'labels',
      password: '[Redacted]',
      db: { user: '[Redacted]', host: 'db.internal' },
      tokens: [{ value: '[Redacted]', scope: 'read' }, { value: '[Redacted]', scope: 'write' }],
      service: { apiKey: '[Redacted]', region: 'eu' },
      headers: { 'x-api-key': '[Redacted]', accept: 'json' },
      nested: { deeper: { password: '[Redacted]' } },
    };
    expect(report.run.metadata).toEqual(expected);
    expect(report.stages.find((s) => s.name === 'hook')?.metadata).toEqual(expected);
    expect(report.stages.find((s) => s.name === 'manual')?.metadata).toEqual(expected);
    // the monitor without redact keeps what it was given
    expect(openReport.stages[0]?.metadata).toMatchObject({ password: 'pw-secret-1' });
  });

  test('error messages are kept; stacks only with captureStackTraces, for stage errors and for the fatal error', async () => {
    for (const captureStackTraces of [false, true]) {
      const m = createPerformanceMonitor({ enableMemoryTracking: false, captureStackTraces });
      m.startMonitoring();
      try {
        withStage('boom', () => {
          throw new TypeError('bad input at row 7');
        }, { monitor: m })();
      } catch {
        // expected
      }
      m.endStage(m.startStage('manual'), 0, { success: false, error: new RangeError('manual failure') });
      const report = expectValidReport(m.stopMonitoring());
      expect(report.stages.map((s) => [s.error?.name, s.error?.message, s.error?.stack !== undefined])).toEqual([
        ['TypeError', 'bad input at row 7', captureStackTraces],
        ['RangeError', 'manual failure', captureStackTraces],
      ]);
    }
    const plainOut = join(tmp(), 'fatal-plain.json');
    const stackOut = join(tmp(), 'fatal-stack.json');
    await Promise.all([
      runFixture('crashModes.ts', ['uncaught-timer'], { env: { REL_OUTPUT: plainOut } }),
      runFixture('crashModes.ts', ['uncaught-timer'], { env: { REL_OUTPUT: stackOut, REL_STACKS: '1' } }),
    ]);
    expect(readReport(stackOut).run.fatalError).toMatchObject({ name: 'Error', message: 'boom in a timer', stack: expect.stringContaining('boom in a timer') });
    expect(readReport(plainOut).run.fatalError).toEqual({ name: 'Error', message: 'boom in a timer' });
  });

  test('nothing in the configuration is evaluated, and nothing pollutes a prototype', () => {
    const out = join(tmp(), 'plain.json');
    const m = createPerformanceMonitor({
      outputPath: out,
      enableMemoryTracking: false,
      redact: ['__proto__.polluted', 'constructor.prototype.polluted', 'password'],
    });
    m.startMonitoring({ runName: '${process.exit(9)}', metadata: JSON.parse('{"__proto__": {"polluted": "yes"}, "template": "{{constructor.constructor(\\"return process\\")().exit(9)}}"}') as Record<string, unknown> });
    m.endStage(m.startStage('`touch /tmp/stagemeter-pwned`', JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}') as Record<string, unknown>));
    m.addQualityFlag('$(touch /tmp/stagemeter-pwned)', 'info');
    const report = expectValidReport(m.stopMonitoring());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    expect(report.run.name).toBe('${process.exit(9)}');
    expect(report.stages[0]?.name).toBe('`touch /tmp/stagemeter-pwned`');
    expect(existsSync('/tmp/stagemeter-pwned')).toBe(false);
  });

  test('nothing in the environment is evaluated: shell and JavaScript in STAGEMETER_* values are plain text', async () => {
    const dir = tmp();
    const shellPath = join(dir, `$(touch ${join(dir, 'pwned-shell')})`, '`touch pwned-tick`', 'run.json');
    const [asPath, asNumber] = await Promise.all([
      runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: shellPath } }),
      runFixture('host.ts', [], { env: { REL_MONITOR: 'off', STAGEMETER_OUTPUT: join(dir, 'never.json'), STAGEMETER_SAMPLE_MS: `require('child_process').execSync('touch ${join(dir, 'pwned-js')}')` } }),
    ]);
    expect(outcome(asPath).code).toBe(4);
    expect(outcome(asNumber).code).toBe(4);
    // the path was used literally: the report sits in directories named after the "commands"
    expect(readReport(shellPath).run.status).toBe('aborted');
    expect(asNumber.stderr).toContain('STAGEMETER_SAMPLE_MS');
    expect(readdirSync(dir).sort()).toEqual([`$(touch `]);
    expect(existsSync(join(dir, 'pwned-shell'))).toBe(false);
    expect(existsSync(join(dir, 'pwned-js'))).toBe(false);
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });
});
