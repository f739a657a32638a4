// Processes from the packed package. Zero-code mode (STAGEMETER_OUTPUT set by pack-check.sh): this
// process owns the report path, a forked child writes <name>.<pid>.json beside it and is listed in
// the parent's report. Explicit mode: trackProcess() samples a `sleep` child by pid.
import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createPerformanceMonitor, withStage } from 'stagemeter';

const work = withStage('work', (rows) => rows.length);

if (process.argv[2] === 'child') {
  for (let i = 0; i < 5; i++) work([1, 2, 3]);
} else {
  for (let i = 0; i < 3; i++) work([1, 2]);
  const child = fork(new URL(import.meta.url).pathname, ['child']);
  await new Promise((resolve) => child.once('exit', resolve));
  const childReport = process.env.STAGEMETER_OUTPUT.replace(/\.json$/, `.${child.pid}.json`);
  assert.ok(existsSync(childReport), `the child's report ${childReport}`);
  assert.equal(JSON.parse(readFileSync(childReport, 'utf8')).stageSummaries.find((s) => s.name === 'work').calls, 5);

  const monitor = createPerformanceMonitor({ enableMemoryTracking: true, memorySamplingIntervalMs: 50 });
  monitor.startMonitoring({ runName: 'tracked' });
  const sleeper = spawn('sleep', ['0.5']);
  monitor.trackProcess(sleeper, { stage: 'external' });
  await new Promise((resolve) => sleeper.once('exit', resolve));
  const tracked = monitor.stopMonitoring().trackedProcesses;
  assert.equal(tracked?.length, 1);
  assert.equal(tracked[0].exitCode, 0);
  assert.ok(tracked[0].sampleCount > 0 && tracked[0].peakRssMb > 0);
  console.log(`processes ok: child report ${childReport.split('/').pop()}, tracked sleep ${tracked[0].lifetimeMs} ms`);
}
