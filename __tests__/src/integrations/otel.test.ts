/**
 * The OpenTelemetry export against the real SDK: reports of real runs (nested, concurrent async
 * and failing stages; a real checkpoint file) exported into an InMemorySpanExporter, through
 * OTLP/HTTP into a receiver on 127.0.0.1, and into an SDK MeterProvider; hostile reports and
 * failing SDK parts; and, in child processes, what gets loaded when.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { context, metrics, SpanStatusCode, trace, type Attributes, type HrTime } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader, type HistogramMetricData, type MetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import { captureOtelParent, createOtelRunExporter, exportRunToOtel, OTEL_API_NOT_INSTALLED } from '../../../src/integrations/otel';
import type { OtelExportResult } from '../../../src/integrations/otel';
import type { PerformanceReport, StageMetrics } from '../../../src/types';
import { runChild } from '../../helpers/child';
import { compileForNode } from '../../reliability/compile';

const ROOT = resolve(__dirname, '..', '..', '..');

// ---------------------------------------------------------------------------------------------
// Real runs
// ---------------------------------------------------------------------------------------------

function busyMs(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A real run: `load` (sync) with a nested `parse`; two concurrent async `fetch` calls, each with
 * a nested `decode` after an await (rows 3 and 7 tell them apart); a `write` that throws.
 */
async function realReport(runName = 'otel-run'): Promise<PerformanceReport> {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false, thresholds: { slowStageMs: 1 } });
  const parse = withStage('parse', (rows: number[]) => (busyMs(1), rows.length), { monitor });
  const load = withStage('load', (rows: number[]) => (busyMs(1), parse(rows)), { monitor });
  const decode = withStage('decode', (rows: number[]) => (busyMs(0.5), rows.length), { monitor });
  const fetch = withStage(
    'fetch',
    async (rows: number[], waitMs: number) => {
      await sleep(waitMs);
      return decode(rows);
    },
    { monitor },
  );
  const write = withStage(
    'write',
    (_rows: number[]) => {
      busyMs(0.5);
      throw new RangeError('disk full');
    },
    { monitor },
  );
  monitor.startMonitoring({ runName });
  load([1, 2, 3, 4, 5]);
  await Promise.all([fetch([1, 2, 3], 30), fetch([1, 2, 3, 4, 5, 6, 7], 5)]);
  expect(() => write([1])).toThrow('disk full');
  return monitor.stopMonitoring();
}

// ---------------------------------------------------------------------------------------------
// Expected values, derived from the report independently of the exporter
// ---------------------------------------------------------------------------------------------

function ns(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

function startNs(report: PerformanceReport, offsetMs: number): bigint {
  return BigInt(Date.parse(report.run.startedAt)) * 1_000_000n + BigInt(Math.round(offsetMs * 1e6));
}

function expectedStageAttributes(r: StageMetrics): Attributes {
  const a: Attributes = {
    'code.function.name': r.name,
    'stagemeter.stage': r.name,
    'stagemeter.call.id': r.id,
    'stagemeter.rows': r.rowsProcessed,
    'stagemeter.rows_per_second': r.rowsPerSecond,
    'stagemeter.duration_ms': r.durationMs,
    'stagemeter.success': r.success,
    'stagemeter.sync': r.sync,
    'stagemeter.cpu.user_ms': r.cpu.userMs,
    'stagemeter.cpu.system_ms': r.cpu.systemMs,
    'stagemeter.cpu.percent': r.cpu.percent,
    'stagemeter.memory.heap_used_delta_mb': r.memory.heapUsedDeltaMb,
    'stagemeter.fidelity': r.fidelity,
  };
  if (r.selfMs !== undefined) a['stagemeter.self_ms'] = r.selfMs;
  if (r.threadId !== undefined) a['thread.id'] = r.threadId;
  if (r.cpu.estimated === true) a['stagemeter.cpu.estimated'] = true;
  if (r.memory.estimated === true) a['stagemeter.memory.estimated'] = true;
  if (!r.success) a['error.type'] = r.error!.name;
  return a;
}

function byCallId(spans: readonly ReadableSpan[]): Map<string, ReadableSpan> {
  const m = new Map<string, ReadableSpan>();
  for (const s of spans) {
    const id = s.attributes['stagemeter.call.id'];
    if (typeof id === 'string') m.set(id, s);
  }
  return m;
}

function runSpanOf(spans: readonly ReadableSpan[]): ReadableSpan {
  const runs = spans.filter((s) => s.name.startsWith('stagemeter.run '));
  expect(runs).toHaveLength(1);
  return runs[0]!;
}

// ---------------------------------------------------------------------------------------------
// SDK set-up
// ---------------------------------------------------------------------------------------------

function memoryTracing(processors: SpanProcessor[] = []): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), ...processors] });
  trace.setGlobalTracerProvider(provider);
  return { provider, exporter };
}

/** A pull reader: `collect()` returns what the meter provider holds now. */
class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

async function collectMetrics(reader: TestReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

function pointsByStage<T>(metric: MetricData | undefined): Map<string, T> {
  const m = new Map<string, T>();
  for (const p of metric?.dataPoints ?? []) m.set(String(p.attributes['stagemeter.stage']), p.value as T);
  return m;
}

afterEach(() => {
  trace.disable();
  metrics.disable();
  context.disable();
});

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

describe('exportRunToOtel with the real SDK', () => {
  test('every record becomes a span with its name, parent, start, end and attributes; the run span is parented to the active user span', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const { exporter } = memoryTracing();
    const tracer = trace.getTracer('user-app');
    let userSpanId = '';
    let userTraceId = '';
    const { report, parent } = await tracer.startActiveSpan('nightly-job', async (userSpan) => {
      userSpanId = userSpan.spanContext().spanId;
      userTraceId = userSpan.spanContext().traceId;
      const captured = captureOtelParent();
      const r = await realReport();
      userSpan.end();
      return { report: r, parent: captured };
    });
    expect(parent).toBeDefined();

    // Outside the user's span now: the parent comes from the capture, not from the active context.
    const result = await exportRunToOtel(report, parent);
    expect(result).toEqual({ spans: report.stages.length + 1, metrics: false, deferred: 0, invalid: 0, summarised: 0, errors: [] });

    const spans = exporter.getFinishedSpans().filter((s) => s.name !== 'nightly-job');
    expect(spans).toHaveLength(report.stages.length + 1);
    const run = runSpanOf(spans);
    expect(run.name).toBe('stagemeter.run otel-run');
    expect(run.parentSpanContext?.spanId).toBe(userSpanId);
    expect(run.spanContext().traceId).toBe(userTraceId);
    expect(ns(run.startTime)).toBe(startNs(report, 0));
    expect(ns(run.endTime)).toBe(startNs(report, report.run.durationMs));

    const calls = byCallId(spans);
    expect(report.stages.map((r) => r.name).sort()).toEqual(['decode', 'decode', 'fetch', 'fetch', 'load', 'parse', 'write']);
    for (const r of report.stages) {
      const span = calls.get(r.id)!;
      expect(span.name).toBe(r.name);
      expect(span.spanContext().traceId).toBe(userTraceId);
      const parentSpan = r.parentId === undefined ? run : calls.get(r.parentId)!;
      expect(span.parentSpanContext?.spanId).toBe(parentSpan.spanContext().spanId);
      expect(ns(span.startTime)).toBe(startNs(report, r.t));
      // Nanosecond precision: end - start is the recorded duration, within the 1 ns of rounding.
      const lag = ns(span.endTime) - ns(span.startTime) - BigInt(Math.round(r.durationMs * 1e6));
      expect(lag >= -1n && lag <= 1n).toBe(true);
      expect(span.attributes).toEqual(expectedStageAttributes(r));
      if (r.success) expect(span.status.code).toBe(SpanStatusCode.UNSET);
      else {
        expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'disk full' });
        expect(span.events.map((e) => [e.name, e.attributes])).toEqual([['exception', { 'exception.type': 'RangeError', 'exception.message': 'disk full' }]]);
      }
    }

    // The nesting is the real one: each child lies inside its parent, and the two concurrent
    // fetches (which overlap) each got their own decode (rows 3 and 7).
    for (const r of report.stages.filter((x) => x.parentId !== undefined)) {
      const child = calls.get(r.id)!;
      const parentSpan = calls.get(r.parentId!)!;
      expect(ns(child.startTime) >= ns(parentSpan.startTime) && ns(child.endTime) <= ns(parentSpan.endTime)).toBe(true);
      expect(parentSpan.attributes['stagemeter.rows']).toBe(child.attributes['stagemeter.rows']);
    }
    const fetches = spans.filter((s) => s.name === 'fetch');
    expect(ns(fetches[0]!.startTime) < ns(fetches[1]!.endTime) && ns(fetches[1]!.startTime) < ns(fetches[0]!.endTime)).toBe(true);
    expect(spans.filter((s) => s.name === 'decode').map((s) => s.attributes['stagemeter.rows']).sort()).toEqual([3, 7]);

    // The run's figures, and one event per finding.
    expect(run.attributes).toMatchObject({
      'stagemeter.run.id': report.run.id,
      'stagemeter.run.name': 'otel-run',
      'stagemeter.run.status': 'completed',
      'stagemeter.rows': report.run.rowsProcessed,
      'stagemeter.rows_per_second': report.run.rowsPerSecond,
      'stagemeter.duration_ms': report.run.durationMs,
      'stagemeter.memory.peak_mb': report.summary.peakMemoryMb,
      'stagemeter.memory.leak_suspected': report.memory.trend.leakSuspected,
      'stagemeter.memory.leak_confidence': report.memory.trend.confidence,
      'stagemeter.stages.calls': 7,
      'stagemeter.stages.failed': 1,
      'stagemeter.records.kept': 7,
      'stagemeter.records.omitted': 0,
      'process.pid': process.pid,
    });
    const findings = report.bottlenecks.findings;
    expect(findings.map((f) => f.kind)).toEqual(expect.arrayContaining(['slow_stage', 'stage_failed']));
    expect(run.events.map((e) => e.name)).toEqual(findings.map((f) => f.kind));
    for (const [i, f] of findings.entries()) {
      const event = run.events[i]!;
      expect(ns(event.time)).toBe(ns(run.endTime));
      expect(event.attributes).toMatchObject({ 'stagemeter.finding.severity': f.severity, 'stagemeter.finding.message': f.message });
      if (f.stage !== undefined) expect(event.attributes?.['stagemeter.stage']).toBe(f.stage);
      for (const [key, value] of Object.entries(f.evidence ?? {})) {
        if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') expect(event.attributes?.[`stagemeter.finding.evidence.${key}`]).toBe(value);
      }
    }
  });

  test('without a captured parent the run span is a root span, even when a span is active at export time', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const { exporter } = memoryTracing();
    const report = await realReport();
    await trace.getTracer('user-app').startActiveSpan('unrelated', async (span) => {
      await exportRunToOtel(report, undefined);
      span.end();
    });
    const run = runSpanOf(exporter.getFinishedSpans());
    expect(run.parentSpanContext).toBeUndefined();
  });

  test('stages whose calls were not all kept are summarised on the run span, never invented as spans', async () => {
    const { exporter } = memoryTracing();
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false, maxStageRecords: 3, shortStageTiming: 'every' });
    const step = withStage('step', (rows: number[]) => rows.length, { monitor });
    monitor.startMonitoring({ runName: 'bounded' });
    for (let i = 0; i < 50; i++) step([1, 2]);
    const report = monitor.stopMonitoring();
    const summary = report.stageSummaries.find((s) => s.name === 'step')!;
    expect(summary.calls).toBe(50);
    expect(summary.recordsKept).toBe(report.stages.length);
    expect(summary.recordsKept).toBeLessThan(50);

    const result = await exportRunToOtel(report, undefined);
    expect(result.spans).toBe(report.stages.length + 1);
    expect(result.summarised).toBe(1);
    const spans = exporter.getFinishedSpans();
    expect(spans.filter((s) => s.name === 'step')).toHaveLength(summary.recordsKept);
    const events = runSpanOf(spans).events.filter((e) => e.name === 'stagemeter.stage_summary');
    expect(events.map((e) => e.attributes)).toEqual([
      {
        'stagemeter.stage': 'step',
        'stagemeter.calls': 50,
        'stagemeter.failures': 0,
        'stagemeter.records.kept': summary.recordsKept,
        'stagemeter.records.omitted': summary.recordsOmitted,
        'stagemeter.total_ms': summary.totalMs,
        'stagemeter.busy_ms': summary.busyMs,
        'stagemeter.self_ms': summary.selfMs,
        'stagemeter.mean_ms': summary.meanMs,
        'stagemeter.p50_ms': summary.p50Ms,
        'stagemeter.p95_ms': summary.p95Ms,
        'stagemeter.p99_ms': summary.p99Ms,
        'stagemeter.max_ms': summary.maxMs,
        'stagemeter.rows': 100,
        'stagemeter.rows_per_second': summary.rowsPerSecond,
      },
    ]);
  });

  test('with chunkSize Infinity every span is handed over before the call returns', async () => {
    const { exporter } = memoryTracing();
    const report = await realReport();
    const pending = exportRunToOtel(report, undefined, { chunkSize: Infinity });
    expect(exporter.getFinishedSpans()).toHaveLength(report.stages.length + 1);
    expect((await pending).spans).toBe(report.stages.length + 1);
  });

  test('a sampler that drops the run span, or no provider at all, exports nothing and says why', async () => {
    const report = await realReport();
    expect(await exportRunToOtel(report, undefined)).toMatchObject({ spans: 0, metrics: false, skipped: expect.stringContaining('no OpenTelemetry tracer provider') });

    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    expect(await exportRunToOtel(report, undefined)).toMatchObject({ spans: 0, skipped: expect.stringContaining('sampler') });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

describe('checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagemeter-otel-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a checkpoint sends the calls that ended, children wait for their open parent, and the final export sends each record once', async () => {
    const { exporter } = memoryTracing();
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const path = join(dir, 'run.json');
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false, outputPath: path, checkpointIntervalMs: 100 });
    const inner = withStage('inner', (rows: number[]) => (busyMs(0.2), rows.length), { monitor });
    const load = withStage('load', (rows: number[]) => inner(rows), { monitor });
    let checkpoint: PerformanceReport | undefined;
    const outer = withStage(
      'outer',
      async (rows: number[]) => {
        inner(rows);
        inner(rows);
        // Wait for a checkpoint written while this call is open.
        for (let i = 0; i < 250 && checkpoint === undefined; i++) {
          await sleep(20);
          if (existsSync(path)) checkpoint = JSON.parse(readFileSync(path, 'utf8')) as PerformanceReport;
        }
        inner(rows);
        return rows.length;
      },
      { monitor },
    );
    const exp = createOtelRunExporter(captureOtelParent());
    monitor.startMonitoring({ runName: 'checkpointed' });
    load([1, 2]);
    await outer([1, 2, 3]);
    const final = monitor.stopMonitoring();

    expect(checkpoint?.run.status).toBe('running');
    const cp = checkpoint!;
    const outerId = final.stages.find((r) => r.name === 'outer')!.id;
    // The checkpoint has load, its inner, and outer's first two inners (outer is still open).
    expect(cp.stages.map((r) => r.name)).toEqual(['load', 'inner', 'inner', 'inner']);
    expect(cp.stages.filter((r) => r.parentId === outerId)).toHaveLength(2);

    const first = await exp.exportCheckpoint(cp);
    expect(first).toEqual({ spans: 2, metrics: true, deferred: 2, invalid: 0, summarised: 0, errors: [] });
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['load', 'inner']);
    // The same checkpoint again sends nothing new.
    expect(await exp.exportCheckpoint(cp)).toMatchObject({ spans: 0, deferred: 2 });
    const cpMetrics = await collectMetrics(reader);
    expect(pointsByStage<number>(cpMetrics.get('stagemeter.stage.calls'))).toEqual(new Map([['load', 1], ['inner', 3]]));

    const last = await exp.exportFinal(final);
    expect(last).toMatchObject({ spans: final.stages.length - 2 + 1, deferred: 0, errors: [] });
    expect(exp.finished).toBe(true);
    expect(await exp.exportFinal(final)).toMatchObject({ spans: 0, skipped: 'the run was already exported' });

    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(final.stages.length + 1);
    const calls = byCallId(spans);
    expect(calls.size).toBe(final.stages.length);
    const run = runSpanOf(spans);
    for (const r of final.stages) {
      const parentSpan = r.parentId === undefined ? run : calls.get(r.parentId)!;
      expect(calls.get(r.id)!.parentSpanContext?.spanId).toBe(parentSpan.spanContext().spanId);
      expect(ns(calls.get(r.id)!.startTime)).toBe(startNs(final, r.t));
    }
    // Counters got increments: after the final export they equal the final summaries.
    const m = await collectMetrics(reader);
    expect(pointsByStage<number>(m.get('stagemeter.stage.calls'))).toEqual(new Map([['load', 1], ['inner', 4], ['outer', 1]]));
    expect(pointsByStage<{ count: number }>(m.get('stagemeter.stage.duration')).get('inner')?.count).toBe(4);
  });

  test('exports called without waiting for each other run one after the other and send each record once', async () => {
    const { exporter } = memoryTracing();
    const report = await realReport();
    const exp = createOtelRunExporter(undefined, { chunkSize: 2 });
    const results = await Promise.all([exp.exportCheckpoint(report), exp.exportCheckpoint(report), exp.exportFinal(report), exp.exportCheckpoint(report)]);
    expect(results.map((r) => r.spans)).toEqual([report.stages.length, 0, 1, 0]);
    expect(results[3]!.skipped).toBe('the run was already exported');
    expect(byCallId(exporter.getFinishedSpans()).size).toBe(report.stages.length);
    expect(exporter.getFinishedSpans()).toHaveLength(report.stages.length + 1);
  });

  test('a report of another run, or no report at all, is refused without touching the exporter', async () => {
    const { exporter } = memoryTracing();
    const a = await realReport('a');
    const b = await realReport('b');
    const exp = createOtelRunExporter(undefined);
    expect((await exp.exportCheckpoint(a)).spans).toBe(a.stages.length);
    expect(await exp.exportFinal(b)).toMatchObject({ spans: 0, skipped: expect.stringContaining('another run') });
    expect(await exportRunToOtel(null as unknown as PerformanceReport, undefined)).toMatchObject({ spans: 0, skipped: expect.stringContaining('not a stagemeter report') });
    expect(await exportRunToOtel({ run: { id: 'x', startedAt: 'yesterday' } } as unknown as PerformanceReport, undefined)).toMatchObject({ skipped: expect.stringContaining('not a stagemeter report') });
    expect(exporter.getFinishedSpans()).toHaveLength(a.stages.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

describe('metrics', () => {
  test('per-call durations go to a histogram, and every call, failure, row and ms to counters, per stage', async () => {
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const report = await realReport();
    const result = await exportRunToOtel(report, undefined);
    // No tracer provider: metrics only.
    expect(result).toEqual({ spans: 0, metrics: true, deferred: 0, invalid: 0, summarised: 0, errors: [] });

    const m = await collectMetrics(reader);
    const histogram = m.get('stagemeter.stage.duration') as HistogramMetricData;
    expect(histogram.descriptor.unit).toBe('ms');
    // One point per stage (and per error type: the failed write has its own).
    const points = histogram.dataPoints.map((p) => ({ attributes: p.attributes, count: p.value.count, sum: p.value.sum }));
    const expected = new Map<string, { attributes: Attributes; count: number; sum: number }>();
    for (const r of report.stages) {
      const key = `${r.name}/${r.success}`;
      const e = expected.get(key) ?? { attributes: r.success ? { 'stagemeter.stage': r.name } : { 'stagemeter.stage': r.name, 'error.type': r.error!.name }, count: 0, sum: 0 };
      e.count++;
      e.sum += r.durationMs;
      expected.set(key, e);
    }
    expect(points).toHaveLength(expected.size);
    for (const e of expected.values()) {
      const p = points.find((x) => JSON.stringify(x.attributes) === JSON.stringify(e.attributes))!;
      expect(p.count).toBe(e.count);
      expect(p.sum).toBeCloseTo(e.sum, 9);
    }
    const counter = (name: string): Map<string, number> => {
      expect((m.get(name) as SumMetricData).isMonotonic).toBe(true);
      return pointsByStage<number>(m.get(name));
    };
    const summaries = report.stageSummaries;
    expect(counter('stagemeter.stage.calls')).toEqual(new Map(summaries.map((s) => [s.name, s.calls])));
    expect(counter('stagemeter.stage.rows')).toEqual(new Map(summaries.filter((s) => s.rowsProcessed > 0).map((s) => [s.name, s.rowsProcessed])));
    expect(counter('stagemeter.stage.failures')).toEqual(new Map([['write', 1]]));
    const time = counter('stagemeter.stage.time');
    for (const s of summaries) expect(time.get(s.name)).toBeCloseTo(s.totalMs, 9);
  });
});

// ---------------------------------------------------------------------------------------------
// OTLP/HTTP to a receiver on 127.0.0.1
// ---------------------------------------------------------------------------------------------

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

describe('OTLP/HTTP export', () => {
  let server: Server;
  let url: string;
  const bodies: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${address.port}/v1/traces`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Runs the fixture (a real run exported over OTLP/HTTP to `target`) in a plain Node child. */
  async function exportInChild(target: string, batches: number): Promise<{ report: PerformanceReport; result: OtelExportResult }> {
    const child = await runChild(join(ROOT, '__tests__', 'fixtures', 'otlpExport.ts'), [target, String(batches)], { timeoutMs: 60_000 });
    if (child.code !== 0) throw new Error(`the exporting child failed (${child.code}): ${child.stderr}`);
    return JSON.parse(child.stdout) as { report: PerformanceReport; result: OtelExportResult };
  }

  test('a real run of 3,000 calls reaches the receiver through a BatchSpanProcessor, none dropped, with names, parents and times', async () => {
    bodies.length = 0;
    const { report, result } = await exportInChild(url, 30);
    // More records than a BatchSpanProcessor queue (2048) holds: without the chunked flush most would be dropped.
    expect(report.stages.length).toBeGreaterThan(2048);
    expect(result.errors).toEqual([]);
    expect(result.spans).toBe(report.stages.length + 1);

    const received: OtlpSpan[] = [];
    for (const body of bodies) {
      const payload = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }> };
      for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) {
        expect(ss.scope.name).toBe('stagemeter');
        received.push(...ss.spans);
      }
    }
    expect(received).toHaveLength(report.stages.length + 1);
    const attr = (s: OtlpSpan, key: string): unknown => {
      const v = s.attributes.find((a) => a.key === key)?.value;
      return v === undefined ? undefined : Object.values(v)[0];
    };
    const run = received.find((s) => s.name === 'stagemeter.run otlp </script>')!;
    expect(run.parentSpanId ?? '').toBe('');
    expect(BigInt(run.startTimeUnixNano)).toBe(startNs(report, 0));
    expect(BigInt(run.endTimeUnixNano)).toBe(startNs(report, report.run.durationMs));
    expect(attr(run, 'stagemeter.run.id')).toBe(report.run.id);
    const bySpanId = new Map(received.map((s) => [s.spanId, s]));
    const byId = new Map(received.filter((s) => s !== run).map((s) => [attr(s, 'stagemeter.call.id'), s]));
    expect(byId.size).toBe(report.stages.length);
    for (const r of report.stages) {
      const s = byId.get(r.id)!;
      expect(s.name).toBe(r.name);
      expect(s.traceId).toBe(run.traceId);
      expect(bySpanId.get(s.parentSpanId!)).toBe(r.parentId === undefined ? run : byId.get(r.parentId));
      expect(BigInt(s.startTimeUnixNano)).toBe(startNs(report, r.t));
      const lag = BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano) - BigInt(Math.round(r.durationMs * 1e6));
      expect(lag >= -1n && lag <= 1n).toBe(true);
      expect(Number(attr(s, 'stagemeter.rows'))).toBe(r.rowsProcessed);
    }
  }, 90_000);

  test('a receiver that refuses the spans is reported in the result, and the export still resolves', async () => {
    const refusing = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400);
        res.end('no');
      });
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const address = refusing.address() as { port: number };
      const { report, result } = await exportInChild(`http://127.0.0.1:${address.port}/v1/traces`, 1);
      expect(result.spans).toBe(report.stages.length + 1);
      expect(result.errors.length).toBeGreaterThan(0);
      expect(result.errors).toContain('OTLPExporterError: Bad Request (code 400)');
    } finally {
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------
// Hostile input and failing SDK parts
// ---------------------------------------------------------------------------------------------

describe('hostile input', () => {
  test('odd names, missing and cyclic parents, duplicated ids, non-finite times and zero or negative durations', async () => {
    const { exporter } = memoryTracing();
    const report = structuredClone(await realReport());
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "nested": {"deep": {"deeper": {"deepest": {"gone": 1}}}}, "list": [1, "a"], "ok": [1, 2]}') as Record<string, unknown>;
    const base = report.stages[0]!;
    const odd = ['\u001b[31mred\u001b[0m', '</script><script>alert(1)</script>', '__proto__', 'nul\u0000and\u0007bell', 'x'.repeat(5000), 'constructor'];
    const extra: StageMetrics[] = odd.map((name, i) => ({ ...base, id: `odd-${i}`, name, parentId: undefined }));
    extra.push({ ...base, id: 'orphan', name: 'orphan', parentId: 'no-such-call' });
    extra.push({ ...base, id: 'cycle-a', name: 'cycle-a', parentId: 'cycle-b' }, { ...base, id: 'cycle-b', name: 'cycle-b', parentId: 'cycle-a' });
    extra.push({ ...base, id: 'self', name: 'self', parentId: 'self' });
    extra.push({ ...base, id: 'zero', name: 'zero', durationMs: 0, t: 5 });
    extra.push({ ...base, id: 'negative', name: 'negative', durationMs: -3, t: 5 });
    extra.push({ ...base, id: 'odd-0', name: 'duplicate' });
    extra.push({ ...base, id: 'nan', name: 'nan', t: Number.NaN });
    extra.push({ ...base, id: 'meta', name: 'meta', metadata: proto });
    extra.push(null as unknown as StageMetrics, { id: 7 } as unknown as StageMetrics);
    // A chain far deeper than any stack: children first, so each waits for its parent.
    const depth = 20_000;
    for (let i = depth - 1; i >= 0; i--) extra.push({ ...base, id: `chain-${i}`, name: 'chain', parentId: i === 0 ? undefined : `chain-${i - 1}` });
    report.stages = [...report.stages, ...extra];
    report.bottlenecks.findings.push({ kind: '\u001b[2Jodd kind', severity: 'warning', message: '</script>', evidence: proto });

    const result = await exportRunToOtel(report, undefined);
    expect(result.errors).toEqual([]);
    expect(result.invalid).toBe(4); // duplicate id, NaN t, null, no name
    const valid = report.stages.length - 4;
    expect(result.spans).toBe(valid + 1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const spans = exporter.getFinishedSpans();
    const run = runSpanOf(spans);
    const calls = byCallId(spans);
    for (let i = 0; i < odd.length; i++) {
      const name = odd[i]!;
      expect(calls.get(`odd-${i}`)!.name).toBe(name.length > 1024 ? `${name.slice(0, 1023)}…` : name);
    }
    expect(calls.get('orphan')!.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(calls.get('self')!.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    const a = calls.get('cycle-a')!;
    const b = calls.get('cycle-b')!;
    // The cycle is cut once: one of the two hangs from the run, the other from it.
    const [top, below] = a.parentSpanContext?.spanId === run.spanContext().spanId ? [a, b] : [b, a];
    expect(top.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(below.parentSpanContext?.spanId).toBe(top.spanContext().spanId);
    for (const id of ['zero', 'negative']) {
      const s = calls.get(id)!;
      expect(ns(s.endTime)).toBe(ns(s.startTime));
      expect(s.attributes['stagemeter.duration_ms']).toBe(0);
    }
    expect(calls.get('duplicate')).toBeUndefined();
    expect(calls.get('nan')).toBeUndefined();
    for (let i = 1; i < depth; i++) expect(calls.get(`chain-${i}`)!.parentSpanContext?.spanId).toBe(calls.get(`chain-${i - 1}`)!.spanContext().spanId);
    expect(calls.get('meta')!.attributes).toMatchObject({
      'stagemeter.metadata.__proto__.polluted': true,
      'stagemeter.metadata.nested.deep.deeper.deepest': '{"gone":1}',
      'stagemeter.metadata.list': '[1,"a"]',
      'stagemeter.metadata.ok': [1, 2],
    });
    const event = run.events.find((e) => e.name === '\u001b[2Jodd kind')!;
    expect(event.attributes).toMatchObject({ 'stagemeter.finding.message': '</script>', 'stagemeter.finding.evidence.__proto__.polluted': true });
  }, 30_000);

  test('an exporter that throws, a processor that throws, a provider that throws and a flush that never ends all come back in the result', async () => {
    const report = await realReport();
    const throwing: SpanExporter = {
      export: () => {
        throw new Error('exporter exploded');
      },
      shutdown: () => Promise.resolve(),
    };
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(throwing)] }));
    const r1 = await exportRunToOtel(report, undefined);
    expect(r1.spans).toBe(report.stages.length + 1);
    expect(r1.errors.join('\n')).toContain('exporter exploded');
    trace.disable();

    const badProcessor: SpanProcessor = {
      onStart: () => undefined,
      onEnd: () => {
        throw new TypeError('processor exploded');
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [badProcessor] }));
    const r2 = await exportRunToOtel(report, undefined);
    expect(r2.errors).toEqual([`TypeError: processor exploded (${report.stages.length + 1} times)`]);
    trace.disable();

    const r3 = await exportRunToOtel(report, undefined, {
      tracerProvider: {
        getTracer: () => {
          throw new Error('no tracer for you');
        },
      },
    });
    expect(r3).toMatchObject({ spans: 0, errors: ['Error: no tracer for you'], skipped: expect.stringContaining('no OpenTelemetry tracer provider') });

    const hanging = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
    const neverFlushes = Object.assign(Object.create(hanging) as BasicTracerProvider, { forceFlush: () => new Promise<void>(() => undefined) });
    const started = performance.now();
    const r4 = await exportRunToOtel(report, undefined, { tracerProvider: neverFlushes, flushTimeoutMs: 50 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(r4.spans).toBe(report.stages.length + 1);
    expect(r4.errors).toEqual(['Error: tracer provider flush did not finish within 50 ms']);
  });
});

// ---------------------------------------------------------------------------------------------
// What gets loaded, in fresh processes
// ---------------------------------------------------------------------------------------------

describe('loading', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagemeter-otel-load-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Compiles the package entry into `<dir>/<name>` with a node_modules that links every installed
   * package, leaving out @opentelemetry when asked, so that the child resolves packages there
   * and only there.
   */
  function install(name: string, withOtel: boolean): string {
    const out = join(dir, name);
    const entry = compileForNode(join(ROOT, 'src', 'index.ts'), out);
    const modules = join(out, 'node_modules');
    mkdirSync(modules, { recursive: true });
    for (const pkg of readdirSync(join(ROOT, 'node_modules'))) {
      if (pkg.startsWith('.') || (!withOtel && pkg === '@opentelemetry')) continue;
      symlinkSync(join(ROOT, 'node_modules', pkg), join(modules, pkg));
    }
    return entry;
  }

  const script = `
    const entry = process.argv[1];
    const otelLoaded = () => Object.keys(require.cache).filter((k) => k.includes('@opentelemetry'));
    let resolvable = true;
    try { require.resolve('@opentelemetry/api', { paths: [require('node:path').dirname(entry)] }); } catch { resolvable = false; }
    const sm = require(entry);
    const m = sm.createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ runName: 'off' });
    sm.withStage('s', (x) => x.length, { monitor: m })([1, 2]);
    const report = m.stopMonitoring();
    const afterRun = otelLoaded();
    const parent = sm.captureOtelParent();
    sm.exportRunToOtel(report, parent).then((result) => {
      process.stdout.write(JSON.stringify({ resolvable, afterRun, parent: parent !== undefined, result, afterExport: otelLoaded() }));
    });
  `;

  function runLoader(entry: string): Promise<{ resolvable: boolean; afterRun: string[]; parent: boolean; result: Record<string, unknown>; afterExport: string[] }> {
    return new Promise((resolvePromise, reject) => {
      const env = { ...process.env };
      delete env.NODE_PATH;
      for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_')) delete env[k];
      const child = spawn(process.execPath, ['-e', script, entry], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`child exited ${code}: ${stderr}`));
        else resolvePromise(JSON.parse(stdout));
      });
    });
  }

  test('with the API installed, a monitored run loads nothing of OpenTelemetry; an export loads the API and nothing else', async () => {
    const r = await runLoader(install('with-api', true));
    expect(r.resolvable).toBe(true);
    expect(r.afterRun).toEqual([]);
    expect(r.parent).toBe(true);
    expect(r.result).toMatchObject({ spans: 0, metrics: false, skipped: expect.stringContaining('no OpenTelemetry tracer provider') });
    expect(r.afterExport.length).toBeGreaterThan(0);
    for (const path of r.afterExport) expect(path).toMatch(/[\\/]@opentelemetry[\\/]api[\\/]/);
  }, 60_000);

  test('without the API installed, nothing is loaded and the export says it is not installed', async () => {
    const r = await runLoader(install('without-api', false));
    expect(r.resolvable).toBe(false);
    expect(r.afterRun).toEqual([]);
    expect(r.parent).toBe(false);
    expect(r.result).toEqual({ spans: 0, metrics: false, deferred: 0, invalid: 0, summarised: 0, errors: [], skipped: OTEL_API_NOT_INSTALLED });
    expect(r.afterExport).toEqual([]);
  }, 60_000);
});
