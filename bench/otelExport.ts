/**
 * Time to export a run of `records` recorded calls to OpenTelemetry after the fact: the real SDK
 * (BasicTracerProvider + BatchSpanProcessor, the production set-up) with an exporter that counts
 * spans and returns at once, so the figure is stagemeter's and the SDK's work, not a network's.
 *
 * The report comes from a real run (its run, summaries and findings); its records are that run's
 * records repeated under fresh ids and times, batches of one parent and 99 children, because a
 * real run keeping 100k records would take the bench most of a minute for the same figure.
 */
import { performance } from 'node:perf_hooks';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createPerformanceMonitor, withStage } from '../src/index';
import { exportRunToOtel } from '../src/integrations/otel';
import type { PerformanceReport, StageMetrics } from '../src/types';

/** An exporter that only counts what it is given. */
class CountingExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.spans += spans.length;
    done({ code: 0 }); // ExportResultCode.SUCCESS (@opentelemetry/core is not a direct dependency)
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A real report whose `stages` are `records` records: batches of a parent and 99 children.
 *
 * @example
 * const report = reportWithRecords(100_000);   // report.stages.length === 100_000
 */
export function reportWithRecords(records: number): PerformanceReport {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  const item = withStage('item', (x: number[]) => x.length, { monitor });
  const batch = withStage('batch', (n: number) => {
    let rows = 0;
    for (let i = 0; i < n; i++) rows += item([i, i]);
    return rows;
  }, { monitor });
  monitor.startMonitoring({ runName: 'otel-export-bench' });
  batch(99);
  const report = monitor.stopMonitoring();
  const parentTemplate = report.stages.find((r) => r.name === 'batch')!;
  const childTemplate = report.stages.find((r) => r.name === 'item')!;
  const stages: StageMetrics[] = new Array<StageMetrics>(records);
  let parentId = '';
  for (let i = 0; i < records; i++) {
    const t = i * 0.01;
    if (i % 100 === 0) {
      parentId = String(i + 1);
      stages[i] = { ...parentTemplate, id: parentId, t, durationMs: 0.99 };
    } else {
      stages[i] = { ...childTemplate, id: String(i + 1), parentId, t, durationMs: 0.008 };
    }
  }
  report.stages = stages;
  report.run.durationMs = records * 0.01;
  return report;
}

/**
 * Exports a report of `records` recorded calls and returns the wall time, ms, from the call to
 * the last span handed to the exporter (flushes included).
 *
 * @example
 * const ms = await measureOtelExport(100_000);   // 0.65-1.6 s on a shared 2-core VM
 */
export async function measureOtelExport(records = 100_000): Promise<number> {
  const report = reportWithRecords(records);
  const exporter = new CountingExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const started = performance.now();
  const result = await exportRunToOtel(report, undefined, { tracerProvider: provider });
  const elapsedMs = performance.now() - started;
  await provider.shutdown();
  if (result.errors.length > 0 || result.spans !== records + 1 || exporter.spans !== records + 1) {
    throw new Error(`the export lost spans: ${JSON.stringify(result)}, exporter got ${exporter.spans}`);
  }
  return elapsedMs;
}

if (require.main === module) {
  const records = Number(process.argv[2] ?? 100_000);
  measureOtelExport(records).then(
    (ms) => process.stdout.write(`OpenTelemetry export of ${records} records: ${ms.toFixed(0)} ms (${((ms / records) * 1000).toFixed(2)} µs per record)\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
