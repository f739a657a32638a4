/**
 * Never break the host (in-process faults): after configuration no exception from stagemeter's
 * machinery reaches user code. A throwing analyzer, a failing logger, failing probes, metadata
 * that cannot be serialised, a report directory that vanished or cannot be written: each becomes
 * a quality flag (and a log line where a logger still works), and the pipeline's results are the
 * same as without monitoring.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import * as stagemeter from '../../src/index';
import { createPerformanceMonitor, withStage, type Analyzer, type MonitorOptions, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { expectValidReport } from '../helpers/schema';
import { sleep, useTempDir, waitFor } from './support';

// The modules' own export objects (an `import * as` namespace cannot be spied on).
const fs = require('node:fs') as typeof import('node:fs');
const v8 = require('node:v8') as typeof import('node:v8');

const tmp = useTempDir('host');
let monitors: PerformanceMonitor[] = [];

afterEach(() => {
  for (const m of monitors) if (m.isMonitoring) m.stopMonitoring();
  monitors = [];
  jest.restoreAllMocks();
});

function monitorWith(options: MonitorOptions): PerformanceMonitor {
  const m = createPerformanceMonitor({ enableMemoryTracking: false, ...options });
  monitors.push(m);
  return m;
}

/** A pipeline with sync, async, nested, throwing and decorated stages; returns what it computed. */
async function pipeline(monitor: PerformanceMonitor, api: typeof stagemeter = stagemeter): Promise<unknown> {
  const { withStage, MonitoredStage } = api;
  const load = withStage('load', (n: number) => Array.from({ length: n }, (_, i) => i), { monitor, metadata: { source: 'memory' } });
  const square = withStage('square', (rows: number[]) => rows.map((r) => r * r), { monitor });
  const fetchMore = withStage('fetch', async (n: number) => {
    await sleep(1);
    return square(load(n));
  }, { monitor });
  const explode = withStage('explode', () => {
    throw new RangeError('user error');
  }, { monitor });
  class Engine {
    @MonitoredStage({ monitor })
    sum(rows: number[]): number {
      return rows.reduce((a, b) => a + b, 0);
    }
  }
  const engine = new Engine();
  const results: unknown[] = [engine.sum(square(load(10))), (await fetchMore(5)).join(',')];
  try {
    explode();
  } catch (err) {
    results.push(`${(err as Error).name}: ${(err as Error).message}`);
  }
  const id = monitor.startStage('manual', { step: 1 });
  results.push(monitor.endStage(id, 7)?.rowsProcessed);
  return results;
}

const EXPECTED_RESULTS = [285, '0,1,4,9,16', 'RangeError: user error', 7];

function codes(report: PerformanceReport): string[] {
  return report.qualityFlags.map((f) => f.code ?? '');
}

/** A pino logger that keeps its lines. */
function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void raw.push(s) });
  return { logger, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('a custom analyzer that fails', () => {
  const failing: Analyzer[] = [
    { name: 'throws', analyze: () => { throw new Error('analyzer exploded'); } },
    { name: 'throws-a-string', analyze: () => { throw 'a bare string'; } },
    { name: 'async', analyze: (() => Promise.reject(new Error('async analyzer'))) as unknown as Analyzer['analyze'] },
    { name: 'returns-null', analyze: () => null as unknown as [] },
    { name: 'junk-findings', analyze: () => [{ kind: 'x', severity: 'fatal', message: 1n }] as unknown as [] },
  ];

  test('becomes a quality flag and a log line; the pipeline and the other analyzers are untouched', async () => {
    const { logger, lines } = capturingLogger();
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const m = monitorWith({ logger, analyzers: [...failing, { name: 'fine', analyze: () => [{ kind: 'custom', severity: 'info', message: 'still ran' }] }] });
      m.startMonitoring();
      expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
      const report = expectValidReport(m.stopMonitoring());
      const failures = report.bottlenecks.findings.filter((f) => f.kind === 'analyzer_failed');
      expect(failures.map((f) => f.evidence?.analyzer)).toEqual(failing.map((a) => a.name));
      expect(report.bottlenecks.findings.find((f) => f.kind === 'custom')?.message).toBe('still ran');
      expect(report.stageSummaries.map((s) => s.name).sort()).toEqual(['Engine.sum', 'explode', 'fetch', 'load', 'manual', 'square']);
      for (const a of failing) expect(lines().some((l) => String(l.msg).includes(`analyzer ${a.name}`))).toBe(true);
      // the issue: "each becomes a quality flag"
      const flagged = report.qualityFlags.filter((f) => /analyzer/.test(f.code ?? '') && failing.some((a) => f.message.includes(a.name)));
      expect(flagged.length).toBeGreaterThanOrEqual(failing.length);
      await sleep(5);
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  test('one that vandalises the run data it is given cannot corrupt the report', () => {
    const vandal: Analyzer = {
      name: 'vandal',
      analyze(run) {
        const r = run as unknown as { stages: unknown[]; stageSummaries: unknown[]; run: Record<string, unknown>; qualityFlags: unknown[] };
        r.stages.length = 0;
        r.stageSummaries.length = 0;
        r.run.status = 'hacked';
        r.run.rowsProcessed = -1;
        r.qualityFlags.push({ severity: 'fatal' });
        return [];
      },
    };
    const out = join(tmp(), 'vandal.json');
    const m = monitorWith({ outputPath: out, analyzers: [vandal] });
    m.startMonitoring();
    withStage('s', (rows: number[]) => rows.length, { monitor: m })([1, 2, 3]);
    const report = m.stopMonitoring();
    expect(report.run).toMatchObject({ status: 'completed', rowsProcessed: 3 });
    expect(report.stageSummaries.map((s) => [s.name, s.calls])).toEqual([['s', 1]]);
    expectValidReport(report);
    expectValidReport(readFileSync(out, 'utf8'));
  });
});

describe('a logger whose stream fails', () => {
  test('a stream that throws on write: nothing reaches the pipeline, and the run says its log was lost', async () => {
    let writes = 0;
    const logger = pino({ level: 'info' }, { write: () => { writes++; throw new Error('EPIPE: log stream closed'); } });
    const m = monitorWith({ logger, enableDetailedLogging: true });
    m.startMonitoring();
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    m.addQualityFlag('user flag', 'warning');
    const report = expectValidReport(m.stopMonitoring());
    expect(writes).toBeGreaterThan(0);
    expect(report.summary.totalStages).toBe(8);
    expect(codes(report)).toContain('user');
    expect(report.qualityFlags.some((f) => /log/.test(f.code ?? '') && /EPIPE: log stream closed/.test(f.message))).toBe(true);
  });

  test('a logger whose child() throws is replaced by a silent one', async () => {
    const logger = pino({ level: 'info' }, { write: () => undefined });
    jest.spyOn(logger, 'child').mockImplementation(() => {
      throw new Error('child broken');
    });
    const m = monitorWith({ logger });
    m.startMonitoring();
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    expectValidReport(m.stopMonitoring());
  });
});

describe('the probes fail (the equivalent of pidusage failing)', () => {
  test('process.memoryUsage, process.cpuUsage, process.resourceUsage and v8.getHeapStatistics throwing from before the start to the end never reach the pipeline', async () => {
    // A fresh copy of the package, so the one-time probe calibration also meets the failure.
    let fresh!: typeof stagemeter;
    jest.isolateModules(() => {
      fresh = require('../../src/index') as typeof stagemeter;
    });
    const fail = (what: string) => () => {
      throw new Error(`${what}: EPERM`);
    };
    jest.spyOn(process, 'memoryUsage').mockImplementation(fail('memoryUsage') as unknown as typeof process.memoryUsage);
    jest.spyOn(process, 'cpuUsage').mockImplementation(fail('cpuUsage'));
    jest.spyOn(process, 'resourceUsage').mockImplementation(fail('resourceUsage'));
    jest.spyOn(v8, 'getHeapStatistics').mockImplementation(fail('getHeapStatistics'));
    const m = fresh.createPerformanceMonitor({ memorySamplingIntervalMs: 10 });
    let report: PerformanceReport | undefined;
    const run = async (): Promise<unknown> => {
      m.startMonitoring();
      const result = await pipeline(m as unknown as PerformanceMonitor, fresh);
      await sleep(40); // a few sampler ticks with failing probes
      m.getLivePerformanceStats();
      report = m.stopMonitoring();
      return result;
    };
    try {
      await expect(run()).resolves.toEqual(EXPECTED_RESULTS);
    } finally {
      jest.restoreAllMocks();
      if (m.isMonitoring) m.stopMonitoring();
    }
    const r = expectValidReport(report!);
    expect(r.summary.totalStages).toBe(8);
    expect(r.qualityFlags.filter((f) => f.code === 'probe_failed').map((f) => f.message).join('\n')).toMatch(/memoryUsage/);
  });

  test('probes that start failing in the middle of a run are flagged, and stages keep being recorded', async () => {
    const m = monitorWith({ enableMemoryTracking: true, memorySamplingIntervalMs: 10 });
    m.startMonitoring();
    await sleep(25);
    jest.spyOn(process, 'cpuUsage').mockImplementation(() => {
      throw new Error('cpuUsage: EPERM');
    });
    jest.spyOn(process, 'resourceUsage').mockImplementation(() => {
      throw new Error('resourceUsage: EPERM');
    });
    jest.spyOn(process, 'memoryUsage').mockImplementation((() => {
      throw new Error('memoryUsage: EPERM');
    }) as unknown as typeof process.memoryUsage);
    let report: PerformanceReport | undefined;
    try {
      expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
      await sleep(30);
      report = m.stopMonitoring();
    } finally {
      jest.restoreAllMocks();
    }
    const r = expectValidReport(report!);
    expect(r.summary.totalStages).toBe(8);
    expect(codes(r)).toContain('probe_failed');
  });
});

describe('metadata that cannot be serialised', () => {
  function hostile(): Record<string, unknown> {
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const throwingGetter = Object.defineProperty({}, 'secretSauce', { enumerable: true, get: () => { throw new Error('getter exploded'); } });
    const trapAll = new Proxy({}, {
      ownKeys: () => { throw new Error('ownKeys trap'); },
      get: () => { throw new Error('get trap'); },
      getPrototypeOf: () => { throw new Error('getPrototypeOf trap'); },
    });
    return {
      circular,
      big: 2n ** 70n,
      fn: function transform() { return 1; },
      sym: Symbol('s'),
      [Symbol('hidden')]: 'symbol key',
      huge: 'x'.repeat(5_000_000),
      nan: NaN,
      inf: -Infinity,
      date: new Date(NaN),
      buffer: Buffer.alloc(1024 * 1024),
      map: new Map([[1, 2]]),
      throwingGetter,
      revoked: revoked.proxy,
      trapAll,
      deep: JSON.parse(`${'{"a":'.repeat(200)}1${'}'.repeat(200)}`) as unknown,
      wide: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])),
    };
  }

  test('as run, hook and manual-stage metadata: never thrown, the report is valid and small, the loss is flagged', async () => {
    const out = join(tmp(), 'meta.json');
    const m = monitorWith({ outputPath: out });
    m.startMonitoring({ metadata: hostile() });
    const hooked = withStage('hooked', (x: number) => x + 1, { monitor: m, metadata: hostile() });
    expect(hooked(1)).toBe(2);
    expect(m.endStage(m.startStage('manual', hostile()), 1)?.success).toBe(true);
    expect(m.endStage(m.startStage('proxy-as-metadata', new Proxy({}, { ownKeys: () => { throw new Error('no keys'); } }) as Record<string, unknown>), 1)).toBeDefined();
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    const report = expectValidReport(m.stopMonitoring());
    const text = readFileSync(out, 'utf8');
    expectValidReport(text);
    expect(text.length).toBeLessThan(1_000_000);
    const manual = report.stages.find((s) => s.name === 'manual')!.metadata!;
    expect(manual).toMatchObject({ circular: { name: 'loop', self: '[Circular]' }, big: (2n ** 70n).toString(), fn: '[Function transform]', nan: 'NaN', throwingGetter: { secretSauce: '[Unreadable]' } });
    // the issue: metadata that cannot be serialised "becomes a quality flag"
    expect(report.qualityFlags.some((f) => /metadata/.test(f.code ?? '') || /metadata/i.test(f.message))).toBe(true);
  });

  test('a thrown value that is hostile itself (revoked proxy, throwing getters) is rethrown as the same object', () => {
    const m = monitorWith({});
    m.startMonitoring();
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const nasty = Object.defineProperties(new Error('x'), {
      name: { get: () => { throw new Error('name getter'); } },
      message: { get: () => { throw new Error('message getter'); } },
    });
    for (const thrown of [revoked.proxy, nasty, Symbol('thrown'), null, undefined]) {
      const f = withStage('throws-hostile', () => {
        throw thrown;
      }, { monitor: m });
      let caught: unknown = 'nothing';
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBe(thrown);
    }
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries[0]).toMatchObject({ name: 'throws-hostile', calls: 5, failures: 5 });
  });
});

describe('the report location goes wrong before stopMonitoring()', () => {
  test('the directory vanished: it is created again and the report written', async () => {
    const dir = join(tmp(), 'reports');
    const out = join(dir, 'run.json');
    const m = monitorWith({ outputPath: out, checkpointIntervalMs: 100 });
    m.startMonitoring();
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    rmSync(dir, { recursive: true, force: true });
    const report = m.stopMonitoring();
    expect(report.output).toEqual({ path: out, written: true });
    expectValidReport(readFileSync(out, 'utf8'));
  });

  test('the directory became a file: flagged and logged, never thrown, the pipeline untouched', async () => {
    const { logger, lines } = capturingLogger();
    const dir = join(tmp(), 'reports');
    const out = join(dir, 'run.json');
    const m = monitorWith({ outputPath: out, logger });
    m.startMonitoring();
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'now a file');
    const report = expectValidReport(m.stopMonitoring());
    expect(report.output?.written).toBe(false);
    expect(codes(report)).toContain('report_write_failed');
    expect(lines().some((l) => l.event === 'report_write_failed')).toBe(true);
  });

  test('a location that cannot be written (read-only directory, or /proc for root): flagged and logged, never thrown', async () => {
    const { logger, lines } = capturingLogger();
    let out: string;
    let restore = (): void => undefined;
    if (process.getuid?.() === 0) {
      out = '/proc/self/stagemeter-report.json'; // root ignores file modes; /proc refuses new files
    } else {
      const dir = join(tmp(), 'ro');
      mkdirSync(dir);
      out = join(dir, 'run.json');
      chmodSync(dir, 0o500);
      restore = () => chmodSync(dir, 0o700);
    }
    try {
      const m = monitorWith({ outputPath: out, logger });
      m.startMonitoring();
      expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
      const report = expectValidReport(m.stopMonitoring());
      expect(report.output?.written).toBe(false);
      expect(report.qualityFlags.find((f) => f.code === 'report_write_failed')?.severity).toBe('error');
      expect(lines().some((l) => l.event === 'report_write_failed')).toBe(true);
      expect(existsSync(out)).toBe(false);
    } finally {
      restore();
    }
  });

  test('the disk fills up in the middle of the final write: the previous checkpoint stays whole, no temp file is left', async () => {
    const out = join(tmp(), 'full.json');
    const m = monitorWith({ outputPath: out, checkpointIntervalMs: 100 });
    m.startMonitoring({ runName: 'disk-full' });
    expect(await pipeline(m)).toEqual(EXPECTED_RESULTS);
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes('"name": "manual"'));
    const checkpoint = readFileSync(out, 'utf8');
    expect(JSON.parse(checkpoint).run.status).toBe('running');
    const real = fs.writeSync;
    jest.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: Buffer, off: number, len: number) => {
      // half of the first chunk goes out, then the disk is full
      if (len > 64) return (real as (fd: number, b: Buffer, o: number, l: number) => number)(fd, buf, off, Math.floor(len / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }) as unknown as typeof fs.writeSync);
    let report: PerformanceReport;
    try {
      report = m.stopMonitoring();
    } finally {
      jest.restoreAllMocks();
    }
    expect(report.output).toMatchObject({ written: false, error: expect.stringContaining('ENOSPC') });
    expect(readFileSync(out, 'utf8')).toBe(checkpoint);
    expect(readdirSync(tmp())).toEqual(['full.json']);
  });
});
