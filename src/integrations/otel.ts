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
import type { Finding, PerformanceReport, StageMetrics, StageSummary } from '../types';
import { VERSION } from '../version';

type Api = typeof OtelApi;

/** The OpenTelemetry context that was active when the run started (see {@link captureOtelParent}). */
export interface OtelParent {
  /** An `@opentelemetry/api` `Context`; the run span becomes a child of the span active in it. */
  readonly context: unknown;
}

/** Anything with `getTracer()`, such as an SDK `BasicTracerProvider` or `NodeTracerProvider`. */
export interface OtelTracerProviderLike {
  getTracer(name: string, version?: string): unknown;
}

/** Anything with `getMeter()`, such as an SDK `MeterProvider`. */
export interface OtelMeterProviderLike {
  getMeter(name: string, version?: string): unknown;
}

/** Options of {@link createOtelRunExporter} and {@link exportRunToOtel}. */
export interface OtelExportOptions {
  /** Tracer provider to use instead of the global one (`trace.setGlobalTracerProvider`). */
  tracerProvider?: OtelTracerProviderLike;
  /** Meter provider to use instead of the global one (`metrics.setGlobalMeterProvider`). */
  meterProvider?: OtelMeterProviderLike;
  /**
   * Spans ended between two flushes of the tracer provider (default 512). An SDK
   * `BatchSpanProcessor` holds at most 2048 ended spans (its `maxQueueSize`) and drops the rest,
   * so a run of 100k records is handed over in chunks, each flushed before the next. `Infinity`
   * ends every span synchronously, before the first `await`, and flushes once at the end.
   */
  chunkSize?: number;
  /** Longest wait for one flush of a provider, ms (default 30_000); past it the export stops. */
  flushTimeoutMs?: number;
}

/** What one export did. It never throws: failures are in `errors`. */
export interface OtelExportResult {
  /** Spans ended by this call: one per exported stage record, plus the run span on the final export. */
  spans: number;
  /** Whether metrics were recorded (a meter provider is registered). */
  metrics: boolean;
  /** Why nothing was exported: the API is not installed, no provider is registered, the run was already exported. */
  skipped?: string;
  /** Records left for a later export because the call that encloses them has not ended yet (checkpoints only). */
  deferred: number;
  /** Records that could not be exported: no id or name, non-finite times, a duplicated id. */
  invalid: number;
  /** Stages summarised as events on the run span, because some of their calls have no record. */
  summarised: number;
  /** Errors of the API, the SDK or the exporter (at most 10 distinct messages, each with its count). */
  errors: string[];
}

/** Exports one run in steps: checkpoints send the records not sent yet, the final export ends the run span. */
export interface OtelRunExporter {
  /**
   * Sends the records of `report` that were not sent yet and whose enclosing calls have ended (a
   * child waits for its parent, so that it can be nested under it); the run span stays open.
   */
  exportCheckpoint(report: PerformanceReport): Promise<OtelExportResult>;
  /**
   * Sends every record not sent yet (one whose parent has no record hangs from the run span),
   * the stage summaries and findings, the metrics, and ends the run span. Later calls are skipped.
   */
  exportFinal(report: PerformanceReport): Promise<OtelExportResult>;
  /** True once `exportFinal` has run. */
  readonly finished: boolean;
}

/** Why the API could not be loaded, as said in `skipped`. */
export const OTEL_API_NOT_INSTALLED = '@opentelemetry/api is not installed';

const DEFAULT_CHUNK = 512;
const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;
/** Consecutive failed flushes after which the export gives up (a collector that is down). */
const MAX_FLUSH_FAILURES = 3;
const MAX_ERRORS = 10;
/** Longest span name and string attribute kept, characters (backends cut far shorter ones anyway). */
const MAX_NAME = 1024;
const MAX_STRING = 4096;
/** Evidence and metadata are flattened at most this deep and into at most this many attributes. */
const MAX_FLAT_DEPTH = 4;
const MAX_FLAT_KEYS = 64;
/**
 * Buckets of the per-call duration histogram, ms: from 10 µs to the 30-minute quality-flag
 * threshold (the SDK's default buckets stop at 10 s, where batch stages start).
 */
const DURATION_BUCKETS_MS = [0.01, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 60_000, 300_000, 1_800_000];

type LoadResult = { api: Api } | { missing: string };

/** Loads `@opentelemetry/api` when it is installed; never throws. */
function loadOtelApi(): LoadResult {
  try {
    const api = require('@opentelemetry/api') as Api;
    if (typeof api?.trace?.getTracer !== 'function' || typeof api.context?.active !== 'function') {
      return { missing: '@opentelemetry/api has no trace or context API (version 1.x is required)' };
    }
    return { api };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (e?.code === 'MODULE_NOT_FOUND' && String(e.message).includes("'@opentelemetry/api'")) return { missing: OTEL_API_NOT_INSTALLED };
    return { missing: `@opentelemetry/api could not be loaded: ${errorText(err)}` };
  }
}

/**
 * Captures the OpenTelemetry context active now, so that the run span can later be parented to
 * the user's active span. Returns `undefined` when `@opentelemetry/api` is not installed. Cheap
 * (one `context.active()`); call it when the run starts.
 *
 * @example
 * const parent = captureOtelParent();          // inside the user's active span
 * monitor.startMonitoring({ runName: 'nightly' });
 * // ... run ...
 * await exportRunToOtel(monitor.stopMonitoring(), parent);
 */
export function captureOtelParent(): OtelParent | undefined {
  const loaded = loadOtelApi();
  if (!('api' in loaded)) return undefined;
  try {
    return { context: loaded.api.context.active() };
  } catch {
    return undefined;
  }
}

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

const UNVISITED = 0;
const VISITING = 1;
const DONE = 2;
const DEFERRED = 3;
const SKIPPED = 4;

class RunExporter implements OtelRunExporter {
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

/**
 * Visits the records of one report so that a parent's span exists before its children's. Iterative
 * (a crafted report may chain 100k records), and safe against cycles, self-parents and duplicates.
 */
class RecordWalk {
  readonly #stages: readonly StageMetrics[];
  readonly #sent: Map<string, string>;
  readonly #final: boolean;
  readonly #state: Uint8Array;
  readonly #byId = new Map<string, number>();
  /** Records waiting for their parent to be emitted first (reused: one array for the whole walk). */
  readonly #stack: number[] = [];
  deferred = 0;

  constructor(stages: readonly StageMetrics[], sent: Map<string, string>, final: boolean, out: Outcome) {
    this.#stages = stages;
    this.#sent = sent;
    this.#final = final;
    this.#state = new Uint8Array(stages.length);
    for (let i = 0; i < stages.length; i++) {
      const r = stages[i];
      if (!validRecord(r)) {
        this.#state[i] = SKIPPED;
        out.invalid++;
      } else if (sent.has(r.id)) {
        this.#state[i] = SKIPPED;
      } else if (this.#byId.has(r.id)) {
        this.#state[i] = SKIPPED;
        out.invalid++;
      } else {
        this.#byId.set(r.id, i);
      }
    }
  }

  /**
   * Emits record `i` and, first, its unsent ancestors in this report. `emit` gets the parent's
   * span id, or undefined to hang the span from the run span. Returns how many were emitted.
   */
  resolve(i: number, emit: (r: StageMetrics, parentSpanId: string | undefined) => string): number {
    const state = this.#state;
    if (state[i] !== UNVISITED) return 0;
    let emitted = 0;
    const stack = this.#stack;
    stack.push(i);
    while (stack.length > 0) {
      const j = stack[stack.length - 1]!;
      if (state[j] !== UNVISITED && state[j] !== VISITING) {
        stack.pop();
        continue;
      }
      const r = this.#stages[j]!;
      const parentId = typeof r.parentId === 'string' ? r.parentId : undefined;
      let parentSpanId: string | undefined;
      let defer = false;
      if (parentId !== undefined && parentId !== r.id) {
        const k = this.#byId.get(parentId);
        if (k !== undefined) {
          const s = state[k];
          if (s === UNVISITED) {
            state[j] = VISITING;
            stack.push(k);
            continue;
          }
          // VISITING: a cycle of parent ids; it is cut here and this record hangs from the run.
          if (s === DONE) parentSpanId = spanIdOrRun(this.#sent.get(parentId));
          else if (s === DEFERRED) defer = true;
        } else if (this.#sent.has(parentId)) {
          parentSpanId = spanIdOrRun(this.#sent.get(parentId));
        } else if (!this.#final) {
          // The parent call is still open (or has no record): wait for it until the final export.
          defer = true;
        }
      }
      stack.pop();
      if (defer) {
        state[j] = DEFERRED;
        this.deferred++;
        continue;
      }
      this.#sent.set(r.id, emit(r, parentSpanId));
      state[j] = DONE;
      emitted++;
    }
    return emitted;
  }
}

function spanIdOrRun(spanId: string | undefined): string | undefined {
  return spanId === undefined || spanId === '' ? undefined : spanId;
}

function validRecord(r: unknown): r is StageMetrics {
  if (r === null || typeof r !== 'object') return false;
  const m = r as StageMetrics;
  return typeof m.id === 'string' && typeof m.name === 'string' && Number.isFinite(m.t) && Number.isFinite(m.durationMs);
}

/** Counts and the first few distinct error messages of one export. */
class Outcome {
  spans = 0;
  metrics = false;
  deferred = 0;
  invalid = 0;
  summarised = 0;
  #skipped: string | undefined = undefined;
  readonly #errors = new Map<string, number>();

  skip(why: string): void {
    this.#skipped = why;
  }

  error(err: unknown): void {
    const text = errorText(err);
    const n = this.#errors.get(text);
    if (n !== undefined) this.#errors.set(text, n + 1);
    else if (this.#errors.size < MAX_ERRORS) this.#errors.set(text, 1);
  }

  result(): OtelExportResult {
    const errors = [...this.#errors].map(([text, n]) => (n > 1 ? `${text} (${n} times)` : text));
    const r: OtelExportResult = { spans: this.spans, metrics: this.metrics, deferred: this.deferred, invalid: this.invalid, summarised: this.summarised, errors };
    if (this.#skipped !== undefined) {
      r.skipped = this.#skipped;
      r.metrics = false;
    }
    return r;
  }
}

/**
 * `baseMs` (whole epoch ms: the run's `startedAt`) plus `offsetMs` (with fractions) as an OTel
 * HrTime [seconds, nanoseconds], exact to the nanosecond for offsets up to ~104 days: an epoch in
 * ns (~1.7e18) is past 2^53, so the two parts are never added as one double.
 */
function hrTimeAt(baseMs: number, offsetMs: number): [number, number] {
  const offsetNs = Math.round(offsetMs * 1e6);
  const offsetS = Math.floor(offsetNs / 1e9);
  const baseS = Math.floor(baseMs / 1000);
  let seconds = baseS + offsetS;
  let nanos = (baseMs - baseS * 1000) * 1e6 + (offsetNs - offsetS * 1e9);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

function stageAttributes(r: StageMetrics, name: string): OtelApi.Attributes {
  const a: OtelApi.Attributes = {
    'code.function.name': name,
    'stagemeter.stage': name,
    'stagemeter.call.id': r.id,
    'stagemeter.rows': finite(r.rowsProcessed),
    'stagemeter.rows_per_second': finite(r.rowsPerSecond),
    'stagemeter.duration_ms': r.durationMs > 0 ? r.durationMs : 0,
    'stagemeter.success': r.success !== false,
    'stagemeter.sync': r.sync === true,
  };
  const cpu = r.cpu;
  if (cpu !== null && typeof cpu === 'object') {
    a['stagemeter.cpu.user_ms'] = finite(cpu.userMs);
    a['stagemeter.cpu.system_ms'] = finite(cpu.systemMs);
    a['stagemeter.cpu.percent'] = finite(cpu.percent);
    if (cpu.estimated === true) a['stagemeter.cpu.estimated'] = true;
  }
  const memory = r.memory;
  if (memory !== null && typeof memory === 'object') {
    a['stagemeter.memory.heap_used_delta_mb'] = finite(memory.heapUsedDeltaMb);
    if (memory.estimated === true) a['stagemeter.memory.estimated'] = true;
  }
  if (typeof r.fidelity === 'string') a['stagemeter.fidelity'] = r.fidelity;
  // Fields newer reports carry: the thread the call ran on (0 = main) and its self time.
  const extra = r as StageMetrics & { threadId?: unknown; selfMs?: unknown };
  if (typeof extra.threadId === 'number' && Number.isFinite(extra.threadId)) a['thread.id'] = extra.threadId;
  if (typeof extra.selfMs === 'number' && Number.isFinite(extra.selfMs)) a['stagemeter.self_ms'] = extra.selfMs;
  if (r.success === false) a['error.type'] = bounded(String(r.error?.name ?? 'Error'));
  if (r.metadata !== null && typeof r.metadata === 'object') flatten('stagemeter.metadata', r.metadata, a);
  return a;
}

function runAttributes(report: PerformanceReport, durationMs: number): OtelApi.Attributes {
  const run = report.run;
  const a: OtelApi.Attributes = {
    'stagemeter.run.id': bounded(run.id),
    'stagemeter.run.name': bounded(String(run.name)),
    'stagemeter.run.status': bounded(String(run.status)),
    'stagemeter.rows': finite(run.rowsProcessed),
    'stagemeter.rows_per_second': finite(run.rowsPerSecond),
    'stagemeter.duration_ms': durationMs,
  };
  if (typeof run.endReason === 'string') a['stagemeter.run.end_reason'] = bounded(run.endReason);
  if (typeof run.expectedRows === 'number') a['stagemeter.run.expected_rows'] = finite(run.expectedRows);
  if (typeof run.host?.pid === 'number') a['process.pid'] = run.host.pid;
  const summary = report.summary;
  if (summary !== null && typeof summary === 'object') {
    a['stagemeter.memory.peak_mb'] = finite(summary.peakMemoryMb);
    a['stagemeter.cpu.avg_percent'] = finite(summary.avgCpuPercent);
    a['stagemeter.stages.calls'] = finite(summary.totalStages);
    a['stagemeter.stages.failed'] = finite(summary.failedStages);
    a['stagemeter.memory.efficiency_score'] = finite(summary.memoryEfficiencyScore);
    if (typeof summary.slowestStage === 'string') a['stagemeter.slowest_stage'] = bounded(summary.slowestStage);
  }
  const trend = report.memory?.trend;
  if (trend !== null && typeof trend === 'object') {
    a['stagemeter.memory.leak_suspected'] = trend.leakSuspected === true;
    a['stagemeter.memory.leak_confidence'] = bounded(String(trend.confidence));
    a['stagemeter.memory.slope_mb_per_min'] = finite(trend.slopeMbPerMin);
  }
  const records = report.stageRecords;
  if (records !== null && typeof records === 'object') {
    a['stagemeter.records.kept'] = finite(records.kept);
    a['stagemeter.records.omitted'] = finite(records.omitted);
  }
  if (Array.isArray(report.bottlenecks?.findings)) a['stagemeter.findings'] = report.bottlenecks.findings.length;
  return a;
}

function summaryAttributes(s: StageSummary): OtelApi.Attributes {
  const a: OtelApi.Attributes = {
    'stagemeter.stage': bounded(String(s.name)),
    'stagemeter.calls': finite(s.calls),
    'stagemeter.failures': finite(s.failures),
    'stagemeter.records.kept': finite(s.recordsKept),
    'stagemeter.records.omitted': finite(s.recordsOmitted),
    'stagemeter.total_ms': finite(s.totalMs),
    'stagemeter.mean_ms': finite(s.meanMs),
    'stagemeter.p50_ms': finite(s.p50Ms),
    'stagemeter.p95_ms': finite(s.p95Ms),
    'stagemeter.p99_ms': finite(s.p99Ms),
    'stagemeter.max_ms': finite(s.maxMs),
    'stagemeter.rows': finite(s.rowsProcessed),
    'stagemeter.rows_per_second': finite(s.rowsPerSecond),
  };
  // Fields newer reports carry.
  const extra = s as StageSummary & { busyMs?: unknown; selfMs?: unknown };
  if (typeof extra.busyMs === 'number' && Number.isFinite(extra.busyMs)) a['stagemeter.busy_ms'] = extra.busyMs;
  if (typeof extra.selfMs === 'number' && Number.isFinite(extra.selfMs)) a['stagemeter.self_ms'] = extra.selfMs;
  if (s.firstError !== undefined && s.firstError !== null) a['error.type'] = bounded(String(s.firstError.name));
  return a;
}

function findingAttributes(f: Finding): OtelApi.Attributes {
  const a: OtelApi.Attributes = {
    'stagemeter.finding.severity': bounded(String(f.severity)),
    'stagemeter.finding.message': bounded(String(f.message), MAX_STRING),
  };
  if (typeof f.stage === 'string') a['stagemeter.stage'] = bounded(f.stage);
  if (f.evidence !== null && typeof f.evidence === 'object') flatten('stagemeter.finding.evidence', f.evidence, a);
  return a;
}

/**
 * Flattens an object into attributes (`prefix.key.sub`), keeping only what OTel accepts:
 * strings, finite numbers, booleans, and arrays of one of those. Anything else becomes its JSON
 * text. Bounded in depth and count; never calls a getter of a Proxy twice or follows a cycle.
 */
function flatten(prefix: string, value: object, into: OtelApi.Attributes): void {
  let budget = MAX_FLAT_KEYS;
  const visit = (path: string, v: unknown, depth: number): void => {
    if (budget <= 0 || v === undefined || v === null) return;
    if (typeof v === 'string') {
      into[path] = bounded(v, MAX_STRING);
      budget--;
    } else if (typeof v === 'number') {
      into[path] = Number.isFinite(v) ? v : String(v);
      budget--;
    } else if (typeof v === 'boolean') {
      into[path] = v;
      budget--;
    } else if (Array.isArray(v)) {
      into[path] = homogeneous(v) ?? jsonText(v);
      budget--;
    } else if (typeof v === 'object' && depth < MAX_FLAT_DEPTH) {
      for (const key of Object.keys(v)) {
        if (budget <= 0) break;
        visit(`${path}.${key}`, (v as Record<string, unknown>)[key], depth + 1);
      }
    } else {
      into[path] = typeof v === 'object' ? jsonText(v) : bounded(String(v));
      budget--;
    }
  };
  try {
    visit(prefix, value, 0);
  } catch {
    into[`${prefix}.unreadable`] = true;
  }
}

/** An array OTel takes as is: all strings, all finite numbers or all booleans, short enough. */
function homogeneous(list: unknown[]): string[] | number[] | boolean[] | undefined {
  if (list.length === 0 || list.length > MAX_FLAT_KEYS) return undefined;
  const kind = typeof list[0];
  if (kind === 'string') return list.every((x) => typeof x === 'string') ? (list as string[]).map((s) => bounded(s)) : undefined;
  if (kind === 'number') return list.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (list as number[]) : undefined;
  if (kind === 'boolean') return list.every((x) => typeof x === 'boolean') ? (list as boolean[]) : undefined;
  return undefined;
}

function jsonText(v: unknown): string {
  try {
    return bounded(JSON.stringify(v) ?? String(v), MAX_STRING);
  } catch {
    return '[unserialisable]';
  }
}

function finite(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

function bounded(s: string, max = MAX_NAME): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function errorText(err: unknown): string {
  try {
    // Exporters put the HTTP or gRPC status in `code` (OTLPExporterError: "Bad Request", code 400).
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof Error) return `${err.name}: ${err.message}${typeof code === 'number' ? ` (code ${code})` : ''}`;
    return String(err);
  } catch {
    return 'unprintable error';
  }
}
