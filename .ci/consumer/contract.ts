// Compiled and run by .ci/pack-check.sh in a fresh TypeScript project that installed the packed
// tarball, once with standard decorators and once with experimentalDecorators. Every example
// of the public contract, with checks: any mismatch exits non-zero.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  analyzeMemoryTrend,
  ConfigError,
  createPerformanceMonitor,
  generatePerformanceReportJson,
  getMonitor,
  getMonitoredStages,
  MonitoredStage,
  recordRows,
  reportSchema,
  setMonitor,
  stageTransform,
  withStage,
  type Analyzer,
  type PerformanceReport,
} from 'stagemeter';

interface Row {
  id: number;
  score: number;
}

class WeightedLabelingEngine {
  @MonitoredStage()
  score(rows: Row[]): number[] {
    return rows.map((r) => r.score * 2);
  }

  @MonitoredStage('weighted_labeling')
  async label(rows: Row[]): Promise<string[]> {
    await new Promise((r) => setTimeout(r, 1));
    return rows.map((r) => (r.score > 0.5 ? 'high' : 'low'));
  }

  @MonitoredStage({ name: 'expand', rows: 'output', metadata: { version: 2 } })
  expand(n: number): Row[] {
    return Array.from({ length: n }, (_, id) => ({ id, score: id / n }));
  }

  @MonitoredStage()
  static create(): WeightedLabelingEngine {
    return new WeightedLabelingEngine();
  }
}

const countAnalyzer: Analyzer = {
  name: 'stage-count',
  analyze: (run) => [{ kind: 'stage_count', severity: 'info', message: `${run.stageSummaries.length} stage names` }],
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stagemeter-consumer-'));
  const outputPath = join(dir, 'reports', 'run.json');
  const monitor = createPerformanceMonitor({ outputPath, memorySamplingIntervalMs: 50, analyzers: [countAnalyzer], thresholds: { slowStageMs: 1 } });
  setMonitor(monitor);
  assert.equal(getMonitor(), monitor);
  monitor.startMonitoring({ expectedRows: 300, runName: 'consumer' });

  const engine = WeightedLabelingEngine.create();
  const load = withStage('load', async (n: number) => engine.expand(n));
  const rows = await load(300);
  assert.equal(engine.score(rows).length, 300);
  assert.equal((await engine.label(rows)).length, 300);
  withStage('count', (batches: Row[][]) => {
    for (const b of batches) recordRows(b.length);
  })([rows.slice(0, 100), rows.slice(100)]);
  const seen: number[] = [];
  await pipeline(
    Readable.from([[1, 2], [3, 4, 5]]),
    stageTransform('stream_chunk', (chunk: number[]) => chunk.length),
    new Writable({ objectMode: true, write: (n: number, _e, done) => (seen.push(n), done()) }),
  );
  assert.deepEqual(seen, [2, 3]);
  const id = monitor.startStage('manual', { note: 'by hand' });
  monitor.endStage(id, 5);
  monitor.addQualityFlag('consumer check', 'info');
  const live = monitor.getLivePerformanceStats();
  assert.ok(live.elapsedMs >= 0 && live.activeStages.length === 0);

  const report: PerformanceReport = monitor.stopMonitoring();
  assert.equal(report.schemaVersion, 1);
  assert.ok(existsSync(outputPath));
  const names = report.stageSummaries.map((s) => s.name).sort();
  assert.deepEqual(names, ['WeightedLabelingEngine.create', 'WeightedLabelingEngine.score', 'count', 'expand', 'load', 'manual', 'stream_chunk', 'weighted_labeling']);
  assert.equal(report.stageSummaries.find((s) => s.name === 'stream_chunk')?.rowsProcessed, 5);
  assert.equal(report.stages.find((s) => s.name === 'count')?.rowsProcessed, 300);
  assert.ok(report.bottlenecks.findings.some((f) => f.kind === 'stage_count'));
  assert.deepEqual(
    getMonitoredStages(WeightedLabelingEngine).map((s) => s.name).sort(),
    ['WeightedLabelingEngine.create', 'WeightedLabelingEngine.score', 'expand', 'weighted_labeling'],
  );
  const text = generatePerformanceReportJson(report);
  assert.equal(JSON.parse(text).run.id, JSON.parse(readFileSync(outputPath, 'utf8')).run.id);
  assert.equal((reportSchema as { type?: string }).type, 'object');

  const trend = analyzeMemoryTrend([{ t: 0, heapUsedMb: 10 }, { t: 1000, heapUsedMb: 10 }]);
  assert.equal(trend.leakSuspected, false);
  assert.throws(() => createPerformanceMonitor({ memorySamplingIntervalMs: -1 }), ConfigError);
  console.log(`contract ok: ${report.stages.length} stage records, ${report.bottlenecks.findings.length} findings`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
