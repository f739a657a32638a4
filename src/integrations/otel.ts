/**
 * OpenTelemetry export of a finished (or checkpointed) run: see otel/exporter.ts. This entry keeps
 * the module's public face in one place.
 */
export { captureOtelParent, OTEL_API_NOT_INSTALLED } from './otel/api';
export type { OtelExportOptions, OtelExportResult, OtelMeterProviderLike, OtelParent, OtelRunExporter, OtelTracerProviderLike } from './otel/api';
export { createOtelRunExporter, exportRunToOtel } from './otel/exporter';
