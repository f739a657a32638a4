// Worker threads from the packed package: two workers x 5 calls of a stage land in the main
// thread's run with exact counts, rows and per-thread parts.
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createPerformanceMonitor, withStage } from 'stagemeter';

if (isMainThread) {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  monitor.startMonitoring({ runName: 'threads' });
  const run = () =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url));
      const threadId = worker.threadId; // -1 once it has exited
      worker.on('error', reject);
      worker.on('exit', () => resolve(threadId));
    });
  const ids = (await Promise.all([run(), run()])).sort((a, b) => a - b);
  const report = monitor.stopMonitoring();
  const s = report.stageSummaries.find((x) => x.name === 'transform');
  assert.equal(s?.calls, 10);
  assert.equal(s?.rowsProcessed, 40);
  assert.deepEqual(s?.threads?.map((t) => [t.threadId, t.calls, t.rowsProcessed]), ids.map((id) => [id, 5, 20]));
  assert.equal(report.stages.filter((r) => r.threadId === ids[0]).length, 5);
  assert.ok(!report.qualityFlags.some((f) => f.code === 'thread_batch_lost'));
  console.log('threads ok');
} else {
  const transform = withStage('transform', (rows) => rows.map((x) => x * 2));
  for (let i = 0; i < 5; i++) transform([1, 2, 3, 4]);
  parentPort.postMessage('done');
}
