/**
 * OpenTelemetry export of a finished (or checkpointed) run: the run becomes a span, each kept
 * stage record a child span with its real start, end and nesting, the findings span events, and
 * per-stage figures OTel metrics. It works after the fact from the report, so a monitored call
 * costs nothing more with export on (a live OTel span costs ~2 µs per call).
 *
 * `@opentelemetry/api` is an optional peer dependency. It is loaded here with `require`, inside
 * the functions, only when an export or a capture is asked for; when it is missing the functions
 * say so in their result. Nothing else is ever loaded: the SDK is whatever the application
 * registered. Types from the API are used only inside this module, so the package's declarations
 * never name `@opentelemetry/api`.
 *
 * Nothing here throws into the host: every error of the API, the SDK or an exporter ends up in
 * the result's `errors`.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { PerformanceReport, StageMetrics, StageSummary } from '../../types';
import { VERSION } from '../../version';
import { loadOtelApi, type Api, type OtelExportOptions, type OtelExportResult, type OtelParent, type OtelRunExporter } from './api';
import { bounded, findingAttributes, finite, hrTimeAt, MAX_STRING, runAttributes, stageAttributes, summaryAttributes } from './attributes';
import { Outcome, RecordWalk } from './walk';

const DEFAULT_CHUNK = 512;
const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;
/** Consecutive failed flushes after which the export gives up (a collector that is down). */
const MAX_FLUSH_FAILURES = 3;
/**
 * Buckets of the per-call duration histogram, ms: from 10 µs to the 30-minute quality-flag
 * threshold (the SDK's default buckets stop at 10 s, where batch stages start).
 */
const DURATION_BUCKETS_MS = [0.01, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 60_000, 300_000, 1_800_000];


/**
 * Exports a finished run in one go: `createOtelRunExporter(parent, options).exportFinal(report)`.
 * Resolves (never rejects) once the spans are handed to the tracer provider and flushed.
 *
 * @example
 * import { trace } from '@opentelemetry/api';
 * import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
 * import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
 * trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] }));
 * const parent = captureOtelParent();
 * monitor.startMonitoring({ runName: 'nightly' });
 * await pipeline();
 * const result = await exportRunToOtel(monitor.stopMonitoring(), parent);
 * if (result.errors.length > 0) console.warn(result.errors);
 */
export function exportRunToOtel(report: PerformanceReport, parent: OtelParent | undefined, options: OtelExportOptions = {}): Promise<OtelExportResult> {
  return createOtelRunExporter(parent, options).exportFinal(report);
}

/**
 * An exporter for one run that remembers what it sent, so that checkpoints and the final export
 * never send a record twice. Calls are queued: a checkpoint still flushing delays the next call.
 *
 * @example
 * const exporter = createOtelRunExporter(captureOtelParent());
 * monitor.startMonitoring({ runName: 'nightly' });
 * // on each checkpoint:
 * await exporter.exportCheckpoint(checkpointReport);
 * // at the end:
 * const { spans, errors } = await exporter.exportFinal(monitor.stopMonitoring());
 */
export function createOtelRunExporter(parent: OtelParent | undefined, options: OtelExportOptions = {}): OtelRunExporter {
  return new RunExporter(parent, options);
}

/** Metric instruments, created once per exporter. */
interface Instruments {
  duration: OtelApi.Histogram;
  calls: OtelApi.Counter;
  failures: OtelApi.Counter;
  rows: OtelApi.Counter;
  time: OtelApi.Counter;
}

/** What the counters already got per stage (counters take deltas; checkpoints send increments). */
interface Counted {
  calls: number;
  failures: number;
  rows: number;
  totalMs: number;
}


export class RunExporter implements OtelRunExporter {
  readonly #parent: OtelParent | undefined;
  readonly #options: OtelExportOptions;
  #queue: Promise<unknown> = Promise.resolve();
  /** No export is running or queued. */
  #idle = true;
  #finished = false;
  #runId: string | undefined = undefined;
  #api: Api | undefined = undefined;
  #tracer: OtelApi.Tracer | undefined = undefined;
  #runSpan: OtelApi.Span | undefined = undefined;
  /** The run span's context: trace id and flags of every stage span's parent. */
  #runContext: OtelApi.SpanContext | undefined = undefined;
  #lastParentSpanId: string | undefined = undefined;
  #lastParentContext: OtelApi.Context | undefined = undefined;
  #base: OtelApi.Context | undefined = undefined;
  #instruments: Instruments | undefined | null = undefined;
  /** Ids of the records already sent, and the span id each got (empty string without tracing). */
  readonly #sent = new Map<string, string>();
  readonly #counted = new Map<string, Counted>();

  constructor(parent: OtelParent | undefined, options: OtelExportOptions) {
    this.#parent = parent;
    this.#options = options;
  }

  get finished(): boolean {
    return this.#finished;
  }

  exportCheckpoint(report: PerformanceReport): Promise<OtelExportResult> {
    return this.#enqueue(report, false);
  }

  exportFinal(report: PerformanceReport): Promise<OtelExportResult> {
    return this.#enqueue(report, true);
  }

  #enqueue(report: PerformanceReport, final: boolean): Promise<OtelExportResult> {
    // An export with nothing before it starts at once, so that its spans up to the first flush
    // (all of them with `chunkSize: Infinity`) are handed over before this returns.
    const next = this.#idle ? this.#export(report, final) : this.#queue.then(() => this.#export(report, final));
    this.#idle = false;
    this.#queue = next;
    void next.then(() => {
      if (this.#queue === next) this.#idle = true;
    });
    return next;
  }

  async #export(report: PerformanceReport, final: boolean): Promise<OtelExportResult> {
    const out = new Outcome();
    try {
      await this.#exportInto(out, report, final);
    } catch (err) {
      out.error(err);
    }
    return out.result();
  }

  async #exportInto(out: Outcome, report: PerformanceReport, final: boolean): Promise<void> {
    if (this.#finished) return out.skip('the run was already exported');
    const run = (report as Partial<PerformanceReport> | null | undefined)?.run;
    const baseMs = typeof run?.startedAt === 'string' ? Date.parse(run.startedAt) : NaN;
    if (run === undefined || run === null || typeof run.id !== 'string' || !Number.isFinite(baseMs)) {
      return out.skip('not a stagemeter report (no run id or start time)');
    }
    if (this.#runId !== undefined && this.#runId !== run.id) return out.skip(`report of another run (${bounded(run.id)})`);
    if (!this.#setUp(out, report)) return;
    this.#runId = run.id;
    if (final) this.#finished = true;
    const tracer = this.#tracer;
    const instruments = this.#instruments ?? undefined;
    out.metrics = instruments !== undefined;

    const chunk = this.#options.chunkSize !== undefined && this.#options.chunkSize >= 1 ? this.#options.chunkSize : DEFAULT_CHUNK;
    const stages = Array.isArray(report.stages) ? report.stages : [];
    const walk = new RecordWalk(stages, this.#sent, final, out);
    let sinceFlush = 0;
    let failedFlushes = 0;
    for (let i = 0; i < stages.length; i++) {
      sinceFlush += walk.resolve(i, (r, parentSpanId) => this.#emit(out, r, parentSpanId, baseMs, tracer, instruments));
      if (sinceFlush >= chunk && i < stages.length - 1) {
        sinceFlush = 0;
        const flushed = await this.#flush(out, 'tracer');
        if (flushed === 'timeout' || (flushed === 'failed' && ++failedFlushes >= MAX_FLUSH_FAILURES)) {
          out.error(new Error(`export stopped: ${stages.length - i - 1} records were not sent (${flushed === 'timeout' ? 'a flush timed out' : `${MAX_FLUSH_FAILURES} flushes failed in a row`})`));
          break;
        }
        if (flushed === 'ok') failedFlushes = 0;
      }
    }
    out.deferred = walk.deferred;

    if (instruments !== undefined) this.#count(out, report.stageSummaries, instruments);
    if (final) {
      if (this.#runSpan !== undefined) this.#endRun(out, report, baseMs);
      this.#sent.clear();
      this.#counted.clear();
    }
    if (tracer !== undefined && (final || sinceFlush > 0)) await this.#flush(out, 'tracer');
    if (final && instruments !== undefined) await this.#flush(out, 'meter');
  }

  /** Loads the API, finds the providers and starts the run span, on the first export. */
  #setUp(out: Outcome, report: PerformanceReport): boolean {
    if (this.#api === undefined) {
      const loaded = loadOtelApi();
      if (!('api' in loaded)) {
        out.skip(loaded.missing);
        return false;
      }
      this.#api = loaded.api;
    }
    const api = this.#api;
    if (this.#instruments === undefined) this.#instruments = this.#createInstruments(out, api);
    if (this.#runSpan === undefined) {
      try {
        const provider = this.#options.tracerProvider as OtelApi.TracerProvider | undefined;
        const tracer = provider !== undefined ? provider.getTracer('stagemeter', VERSION) : api.trace.getTracer('stagemeter', VERSION);
        const parentContext = (this.#parent?.context as OtelApi.Context | undefined) ?? api.ROOT_CONTEXT;
        const baseMs = Date.parse(report.run.startedAt);
        const span = tracer.startSpan(
          `stagemeter.run ${bounded(String(report.run.name))}`,
          { kind: api.SpanKind.INTERNAL, startTime: hrTimeAt(baseMs, 0), attributes: { 'stagemeter.run.id': bounded(report.run.id), 'stagemeter.run.name': bounded(String(report.run.name)) } },
          parentContext,
        );
        // A span that does not record means no tracer provider is registered, or the sampler
        // dropped the run: its stage spans would be dropped too, so none are made.
        if (span.isRecording()) {
          this.#tracer = tracer;
          this.#runSpan = span;
          this.#runContext = span.spanContext();
          this.#base = api.trace.setSpan(parentContext, span);
        }
      } catch (err) {
        out.error(err);
      }
    }
    if (this.#runSpan === undefined && this.#instruments === null) {
      out.skip('no OpenTelemetry tracer provider is registered (or its sampler dropped the run span), and no meter provider');
      return false;
    }
    return true;
  }

  #createInstruments(out: Outcome, api: Api): Instruments | null {
    try {
      const provider = this.#options.meterProvider as OtelApi.MeterProvider | undefined;
      let meter: OtelApi.Meter;
      if (provider !== undefined) meter = provider.getMeter('stagemeter', VERSION);
      else {
        if (typeof api.metrics?.getMeter !== 'function') return null;
        meter = api.metrics.getMeter('stagemeter', VERSION);
        // Without a registered provider the API hands out its no-op meter.
        if (meter.constructor === api.createNoopMeter().constructor) return null;
      }
      return {
        duration: meter.createHistogram('stagemeter.stage.duration', {
          unit: 'ms',
          description: 'Duration of the stage calls that have a record in the report',
          advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
        }),
        calls: meter.createCounter('stagemeter.stage.calls', { unit: '{call}', description: 'Stage calls, every call counted' }),
        failures: meter.createCounter('stagemeter.stage.failures', { unit: '{call}', description: 'Stage calls that threw or rejected' }),
        rows: meter.createCounter('stagemeter.stage.rows', { unit: '{row}', description: 'Rows processed by the stage calls' }),
        time: meter.createCounter('stagemeter.stage.time', { unit: 'ms', description: 'Summed duration of the stage calls (nested calls counted in their parent too)' }),
      };
    } catch (err) {
      out.error(err);
      return null;
    }
  }

  /** Ends one record's span and records its duration; returns the new span's id ('' without tracing). */
  #emit(out: Outcome, r: StageMetrics, parentSpanId: string | undefined, baseMs: number, tracer: OtelApi.Tracer | undefined, instruments: Instruments | undefined): string {
    const durationMs = r.durationMs > 0 ? r.durationMs : 0;
    const name = bounded(r.name);
    let spanId = '';
    if (tracer !== undefined) {
      try {
        const api = this.#api!;
        const base = this.#base!;
        let context = base;
        if (parentSpanId !== undefined) {
          // Siblings come one after another (a batch's calls): one context serves them all.
          if (parentSpanId !== this.#lastParentSpanId) {
            this.#lastParentContext = api.trace.setSpanContext(base, { ...this.#runContext!, spanId: parentSpanId, isRemote: false });
            this.#lastParentSpanId = parentSpanId;
          }
          context = this.#lastParentContext!;
        }
        const end = hrTimeAt(baseMs, r.t + durationMs);
        const span = tracer.startSpan(name, { kind: api.SpanKind.INTERNAL, startTime: hrTimeAt(baseMs, r.t), attributes: stageAttributes(r, name) }, context);
        if (r.success === false) {
          const errorName = bounded(String(r.error?.name ?? 'Error'));
          const message = bounded(String(r.error?.message ?? ''), MAX_STRING);
          span.setStatus({ code: api.SpanStatusCode.ERROR, message });
          span.recordException({ name: errorName, message }, end);
        }
        span.end(end);
        spanId = span.spanContext().spanId;
        out.spans++;
      } catch (err) {
        out.error(err);
      }
    }
    if (instruments !== undefined) {
      try {
        const attributes: OtelApi.Attributes = { 'stagemeter.stage': name };
        if (r.success === false) attributes['error.type'] = bounded(String(r.error?.name ?? 'Error'));
        instruments.duration.record(durationMs, attributes);
      } catch (err) {
        out.error(err);
      }
    }
    return spanId;
  }

  /** Adds to the counters what each stage summary gained since the previous export. */
  #count(out: Outcome, summaries: StageSummary[] | undefined, instruments: Instruments): void {
    if (!Array.isArray(summaries)) return;
    for (const s of summaries) {
      try {
        if (s === null || typeof s !== 'object' || typeof s.name !== 'string') continue;
        const name = bounded(s.name);
        const before = this.#counted.get(name) ?? { calls: 0, failures: 0, rows: 0, totalMs: 0 };
        const now: Counted = { calls: finite(s.calls), failures: finite(s.failures), rows: finite(s.rowsProcessed), totalMs: finite(s.totalMs) };
        const attributes = { 'stagemeter.stage': name };
        if (now.calls > before.calls) instruments.calls.add(now.calls - before.calls, attributes);
        if (now.failures > before.failures) instruments.failures.add(now.failures - before.failures, attributes);
        if (now.rows > before.rows) instruments.rows.add(now.rows - before.rows, attributes);
        if (now.totalMs > before.totalMs) instruments.time.add(now.totalMs - before.totalMs, attributes);
        this.#counted.set(name, {
          calls: Math.max(now.calls, before.calls),
          failures: Math.max(now.failures, before.failures),
          rows: Math.max(now.rows, before.rows),
          totalMs: Math.max(now.totalMs, before.totalMs),
        });
      } catch (err) {
        out.error(err);
      }
    }
  }

  /** Puts the run's figures, the stage summaries and the findings on the run span, and ends it. */
  #endRun(out: Outcome, report: PerformanceReport, baseMs: number): void {
    const api = this.#api!;
    const span = this.#runSpan!;
    const run = report.run;
    const durationMs = Number.isFinite(run.durationMs) && run.durationMs > 0 ? run.durationMs : 0;
    const end = hrTimeAt(baseMs, durationMs);
    try {
      span.setAttributes(runAttributes(report, durationMs));
    } catch (err) {
      out.error(err);
    }
    // Events beyond the SDK's limit (128 by default) push out the oldest: summaries go first so
    // that the findings are the ones kept.
    for (const s of Array.isArray(report.stageSummaries) ? report.stageSummaries : []) {
      if (s === null || typeof s !== 'object' || !(finite(s.calls) > finite(s.recordsKept))) continue;
      try {
        span.addEvent('stagemeter.stage_summary', summaryAttributes(s), end);
        out.summarised++;
      } catch (err) {
        out.error(err);
      }
    }
    const findings = report.bottlenecks?.findings;
    for (const f of Array.isArray(findings) ? findings : []) {
      try {
        if (f === null || typeof f !== 'object') continue;
        span.addEvent(bounded(String(f.kind)), findingAttributes(f), end);
      } catch (err) {
        out.error(err);
      }
    }
    try {
      if (run.status === 'aborted') {
        const why = run.fatalError !== undefined ? `${run.fatalError.name}: ${run.fatalError.message}` : `run aborted (${run.endReason ?? 'unknown reason'})`;
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: bounded(why) });
        if (run.fatalError !== undefined) span.setAttribute('error.type', bounded(String(run.fatalError.name)));
      }
      span.end(end);
      out.spans++;
    } catch (err) {
      out.error(err);
    }
  }

  /** Flushes a provider when it can be (SDK providers can), within the timeout. */
  async #flush(out: Outcome, which: 'tracer' | 'meter'): Promise<'ok' | 'none' | 'failed' | 'timeout'> {
    let provider: unknown;
    try {
      if (which === 'tracer') {
        provider = this.#options.tracerProvider ?? this.#api!.trace.getTracerProvider();
        // The global provider is a proxy in front of the registered one.
        const proxy = provider as { getDelegate?: () => unknown };
        if (typeof proxy.getDelegate === 'function') provider = proxy.getDelegate();
      } else {
        provider = this.#options.meterProvider ?? this.#api!.metrics.getMeterProvider();
      }
    } catch (err) {
      out.error(err);
      return 'failed';
    }
    const flushable = provider as { forceFlush?: () => Promise<unknown> } | null | undefined;
    if (typeof flushable?.forceFlush !== 'function') {
      // Not flushable: still give the event loop a turn between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return 'none';
    }
    const timeoutMs = this.#options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => flushable.forceFlush!())
          .then(() => 'ok' as const),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
          timer.unref();
        }),
      ]);
      if (outcome === 'timeout') out.error(new Error(`${which} provider flush did not finish within ${timeoutMs} ms`));
      return outcome;
    } catch (err) {
      // The SDK's TracerProvider rejects with the list of its processors' errors.
      if (Array.isArray(err)) for (const e of err) out.error(e);
      else out.error(err);
      return 'failed';
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

