// The OpenTelemetry export from the packed package, with the optional peer dependency installed
// beside it: `otel: true` sends the run span and one span per recorded call, nested, to the
// provider the program registered, and waitForOtelExport() resolves once they are flushed.
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createPerformanceMonitor, withStage } from 'stagemeter';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);

const monitor = createPerformanceMonitor({ otel: true, enableMemoryTracking: false });
monitor.startMonitoring({ runName: 'otel-consumer' });
const parse = withStage('parse', (rows) => rows.map((x) => x * 2), { monitor });
const load = withStage('load', async (n) => parse(Array.from({ length: n }, (_, i) => i)), { monitor });
for (let i = 0; i < 5; i++) await load(10);
monitor.stopMonitoring();
const result = await monitor.waitForOtelExport();
assert.deepEqual(result.errors, []);
const spans = exporter.getFinishedSpans();
const run = spans.find((s) => s.name === 'stagemeter.run otel-consumer');
assert.ok(run, 'the run span');
const loads = spans.filter((s) => s.name === 'load');
const parses = spans.filter((s) => s.name === 'parse');
assert.equal(loads.length, 5);
assert.equal(parses.length, 5);
const loadIds = new Set(loads.map((s) => s.spanContext().spanId));
for (const p of parses) assert.ok(loadIds.has(p.parentSpanContext?.spanId), 'parse nests under load');
for (const l of loads) assert.equal(l.parentSpanContext?.spanId, run.spanContext().spanId);
await provider.shutdown();
console.log(`otel ok: ${spans.length} spans (run, 5 load, 5 parse)`);
