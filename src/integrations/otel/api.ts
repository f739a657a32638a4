/**
 * The OpenTelemetry API, loaded only when asked for: `@opentelemetry/api` is an optional peer
 * dependency, `require`d inside the functions here, so a program without it (or without `otel`)
 * loads nothing. The public types of the export live here too; types from the API are used only
 * inside src/integrations/otel/, so the package's declarations never name `@opentelemetry/api`.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { PerformanceReport } from '../../types';

/** @internal The API's module type (never in the package's declarations). */
export type Api = typeof OtelApi;

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


/** @internal */
export type LoadResult = { api: Api } | { missing: string };

/** @internal Loads `@opentelemetry/api` when it is installed; never throws. */
export function loadOtelApi(): LoadResult {
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


/** One line for an error of the API, the SDK or an exporter, with the status code when it has one. */
export function errorText(err: unknown): string {
  try {
    // Exporters put the HTTP or gRPC status in `code` (OTLPExporterError: "Bad Request", code 400).
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof Error) return `${err.name}: ${err.message}${typeof code === 'number' ? ` (code ${code})` : ''}`;
    return String(err);
  } catch {
    return 'unprintable error';
  }
}

