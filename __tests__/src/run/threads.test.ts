/**
 * Worker threads record into the main thread's run: real workers (`new Worker(file)`, the
 * TypeScript sources through the register hook) against a run on the main thread.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BroadcastChannel, getEnvironmentData, Worker } from 'node:worker_threads';
import { createPerformanceMonitor, withStage, type PerformanceMonitor, type PerformanceReport, type StageSummary } from '../../../src/index';
import { MAX_RECORDS_PER_BATCH, RECORD_WIDTH } from '../../../src/run/batch';
import { QuantileSketch } from '../../../src/stores/sketch';
import { runChild, REGISTER } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';

const WORKER = join(__dirname, '..', '..', 'fixtures', 'threadWorker.ts');
const ZERO_CODE = join(__dirname, '..', '..', 'fixtures', 'threadsZeroCode.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Running {
  worker: Worker;
  threadId: number;
  messages: Array<Record<string, unknown>>;
  /** Errors the worker died of. */
  errors: Error[];
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Resolves with the first message that has `key`. */
  next(key: string): Promise<Record<string, unknown>>;
}

const running: Running[] = [];
const monitors: PerformanceMonitor[] = [];

function startWorker(workerData: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Running {
  const worker = new Worker(WORKER, { execArgv: ['-r', REGISTER], workerData, env, stdout: false, stderr: false });
  const messages: Array<Record<string, unknown>> = [];
  const waiting: Array<{ key: string; resolve: (m: Record<string, unknown>) => void }> = [];
  worker.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiting]) {
      if (w.key in m) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const errors: Error[] = [];
  worker.on('error', (err) => errors.push(err));
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  const r: Running = {
    worker,
    threadId: worker.threadId,
    messages,
    errors,
    exited,
    next: (key) => {
      const seen = messages.find((m) => key in m);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ key, resolve }));
    },
  };
  running.push(r);
  return r;
}

function quiet(): PerformanceMonitor {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  monitors.push(m);
  return m;
}

function summary(report: PerformanceReport, name: string): StageSummary {
  const s = report.stageSummaries.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no stage ${name} in ${report.stageSummaries.map((x) => x.name).join(', ')}`);
  return s;
}

function lostFlags(report: PerformanceReport): string[] {
  return report.qualityFlags.filter((f) => f.code === 'thread_batch_lost').map((f) => f.message);
}

// The first worker transpiles the sources (cached on disk for the next ones): seconds, once.
beforeAll(async () => {
  const w = startWorker({ mode: 'load' });
  expect(await w.exited).toBe(0);
}, 180_000);

afterEach(async () => {
  for (const m of monitors.splice(0)) if (m.isMonitoring) m.stopMonitoring();
  await Promise.all(running.splice(0).map((r) => r.worker.terminate()));
});

jest.setTimeout(60_000);

describe('stages in worker threads land in the main thread run', () => {
  test('two workers x 5 calls: exact counts and rows, the split per thread, records under the workers thread ids', async () => {
    const m = quiet();
    m.startMonitoring({ runName: 'threads' });
    const transform = withStage('transform', (batch: number[]) => batch.map((x) => x + 1), { monitor: m });
    for (let i = 0; i < 3; i++) transform([1, 2, 3, 4, 5, 6, 7]);
    const a = startWorker({ mode: 'calls', calls: 5, rows: 10 });
    const b = startWorker({ mode: 'calls', calls: 5, rows: 10 });
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    expect([...a.errors, ...b.errors]).toEqual([]);
    // The hooks returned what the functions returned (5 calls x 10 rows doubled).
    expect(a.messages).toEqual([{ threadId: a.threadId, doubled: 50 }]);
    expect(b.messages).toEqual([{ threadId: b.threadId, doubled: 50 }]);
    const report = expectValidReport(m.stopMonitoring());

    const s = summary(report, 'transform');
    expect(s).toMatchObject({ calls: 13, failures: 0, rowsProcessed: 121, rootCalls: 13, syncCalls: 13, quantiles: 'exact', recordsKept: 13, recordsOmitted: 0 });
    const [lo, hi] = [a.threadId, b.threadId].sort((x, y) => x - y);
    expect(s.threads?.map((t) => [t.threadId, t.calls, t.failures, t.rowsProcessed])).toEqual([
      [0, 3, 0, 21],
      [lo, 5, 0, 50],
      [hi, 5, 0, 50],
    ]);
    // Each thread's part is exactly its calls: their durations, as recorded, add up to it.
    for (const part of s.threads!) {
      const own = report.stages.filter((r) => r.name === 'transform' && r.threadId === part.threadId);
      expect(own).toHaveLength(part.calls);
      expect(part.totalMs).toBeCloseTo(own.reduce((sum, r) => sum + r.durationMs, 0), 5);
      expect(part.selfMs).toBeCloseTo(part.totalMs, 6);
      // sync calls on one thread never overlap: busy = summed time
      expect(part.busyMs).toBeCloseTo(part.totalMs, 5);
    }
    expect(s.threads!.reduce((sum, t) => sum + t.totalMs, 0)).toBeCloseTo(s.totalMs, 5);
    expect(s.busyMs).toBeCloseTo(s.threads!.reduce((sum, t) => sum + t.busyMs, 0), 5);
    // Records: ids unique, a worker's read t<thread>:<n>, times inside the run.
    const ids = report.stages.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const w of [a, b]) {
      const own = report.stages.filter((r) => r.threadId === w.threadId);
      expect(own.map((r) => r.id)).toEqual([1, 2, 3, 4, 5].map((n) => `t${w.threadId}:${n}`));
      expect(own.every((r) => r.rowsProcessed === 10 && r.success && r.parentId === undefined)).toBe(true);
      for (const r of own) {
        expect(r.t).toBeGreaterThan(0);
        expect(r.t + r.durationMs).toBeLessThanOrEqual(report.run.durationMs);
      }
    }
    // The run's rows: the top-level stage with the most rows, every thread's included.
    expect(report.run.rowsProcessed).toBe(121);
    expect(lostFlags(report)).toEqual([]);
    // Quantiles over every call of every thread: the sketch holds 13 durations.
    expect(QuantileSketch.decode(s.sketch).count).toBe(13);
  });

  test('a stage called in a worker nests under the worker own stages, never under a main-thread stage', async () => {
    const m = quiet();
    m.startMonitoring();
    let w: Running | undefined;
    const spawn = withStage(
      'spawn',
      async () => {
        w = startWorker({ mode: 'nested', calls: 3, rows: 4 });
        return w.exited;
      },
      { monitor: m },
    );
    expect(await spawn()).toBe(0);
    const report = expectValidReport(m.stopMonitoring());
    const tid = w!.threadId;
    const outer = report.stages.filter((r) => r.name === 'outer');
    const inner = report.stages.filter((r) => r.name === 'inner');
    expect(outer).toHaveLength(3);
    expect(inner).toHaveLength(6);
    // Open on the main thread while the worker ran, yet no worker call is its child.
    expect(outer.every((r) => r.parentId === undefined && r.threadId === tid)).toBe(true);
    for (const o of outer) {
      const kids = inner.filter((r) => r.parentId === o.id);
      expect(kids).toHaveLength(2);
      expect(kids.every((k) => k.threadId === tid && k.t >= o.t && k.t + k.durationMs <= o.t + o.durationMs + 1e-6)).toBe(true);
      const covered = kids.reduce((sum, k) => sum + k.durationMs, 0);
      expect(o.selfMs).toBeCloseTo(o.durationMs - covered, 5);
    }
    expect(summary(report, 'inner')).toMatchObject({ calls: 6, rootCalls: 0, rowsProcessed: 24 });
    expect(summary(report, 'outer')).toMatchObject({ calls: 3, rootCalls: 3, rowsProcessed: 12 });
    expect(summary(report, 'spawn').threads).toBeUndefined();
  });

  test('failures, row counts, metadata and flags of a worker reach the main report', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'failing', calls: 5 });
    expect(await w.exited).toBe(0);
    expect(w.messages).toEqual([{ threadId: w.threadId, failed: 2 }]);
    const report = expectValidReport(m.stopMonitoring());
    const s = summary(report, 'parse');
    expect(s).toMatchObject({ calls: 5, failures: 2, rowsProcessed: 9 });
    expect(s.firstError).toMatchObject({ name: 'RangeError', message: 'row 1 is not a number' });
    expect(s.threads).toEqual([expect.objectContaining({ threadId: w.threadId, calls: 5, failures: 2, rowsProcessed: 9 })]);
    const records = report.stages.filter((r) => r.name === 'parse');
    expect(records.map((r) => r.success)).toEqual([true, false, true, false, true]);
    expect(records.map((r) => r.rowsProcessed)).toEqual([3, 0, 3, 0, 3]);
    expect(records[1]!.error).toEqual({ name: 'RangeError', message: 'row 1 is not a number' });
    expect(records.every((r) => JSON.stringify(r.metadata) === '{"source":"worker"}')).toBe(true);
    const flag = report.qualityFlags.find((f) => f.code === 'invalid_rows');
    expect(flag).toMatchObject({ severity: 'warning', stage: 'bad_rows' });
    expect(flag!.message).toMatch(new RegExp(`\\(worker thread ${w.threadId}\\) \\(2 times\\)$`));
  });

  test('stages started by hand on the singleton in a worker are recorded too', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'manual' });
    expect(await w.exited).toBe(0);
    expect(w.messages).toEqual([{ threadId: w.threadId, id: '1', endedId: `t${w.threadId}:1`, endedThreadId: w.threadId, monitoring: true }]);
    const report = expectValidReport(m.stopMonitoring());
    expect(summary(report, 'manual')).toMatchObject({ calls: 1, rowsProcessed: 7, threads: [expect.objectContaining({ threadId: w.threadId, calls: 1, rowsProcessed: 7 })] });
    expect(report.stages).toEqual([expect.objectContaining({ id: `t${w.threadId}:1`, name: 'manual', threadId: w.threadId, metadata: { part: 1 } })]);
  });

  test("a worker's own workers record into the main thread run too", async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'spawn', calls: 2, rows: 3 });
    expect(await w.exited).toBe(0);
    const { childThreadId, code } = w.messages[0] as { childThreadId: number; code: number };
    expect(code).toBe(0);
    const report = expectValidReport(m.stopMonitoring());
    expect(summary(report, 'transform').threads?.map((t) => [t.threadId, t.calls, t.rowsProcessed])).toEqual([
      [w.threadId, 2, 6],
      [childThreadId, 2, 6],
    ]);
    expect(lostFlags(report)).toEqual([]);
  });

  test('a worker that dies of an uncaught error still sends its last batch', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'throw', calls: 4, rows: 2 });
    expect(await w.exited).toBe(1);
    expect(w.errors.map((e) => e.message)).toEqual(['the worker failed']);
    const report = expectValidReport(m.stopMonitoring());
    expect(summary(report, 'transform')).toMatchObject({ calls: 4, rowsProcessed: 8 });
    expect(lostFlags(report)).toEqual([]);
  });

  test('a decorated class used in workers, under both decorator modes', async () => {
    const m = quiet();
    m.startMonitoring();
    const standard = startWorker({ mode: 'decorated', calls: 5, rows: 6 });
    const legacy = startWorker({ mode: 'decorated', calls: 5, rows: 6 }, { ...process.env, STAGEMETER_TEST_LEGACY_DECORATORS: '1' });
    expect(await Promise.all([standard.exited, legacy.exited])).toEqual([0, 0]);
    expect(standard.messages).toEqual([{ threadId: standard.threadId, labelled: 30, name: 'label', decoratorMode: 'standard' }]);
    expect(legacy.messages).toEqual([{ threadId: legacy.threadId, labelled: 30, name: 'label', decoratorMode: 'experimentalDecorators' }]);
    const report = expectValidReport(m.stopMonitoring());
    const s = summary(report, 'Labeler.label');
    expect(s).toMatchObject({ calls: 10, rowsProcessed: 60 });
    expect(s.threads?.map((t) => [t.threadId, t.calls, t.rowsProcessed])).toEqual(
      [standard.threadId, legacy.threadId].sort((x, y) => x - y).map((id) => [id, 5, 30]),
    );
  });
});

describe('what a worker can lose, and when it is not monitored', () => {
  test('a worker started before startMonitoring is not monitored: its calls pass straight through', async () => {
    const m = quiet();
    const w = startWorker({ mode: 'waitThenCalls', calls: 5, rows: 10 });
    await w.next('ready');
    m.startMonitoring();
    w.worker.postMessage('go');
    expect(await w.exited).toBe(0);
    expect(w.messages[1]).toEqual({ threadId: w.threadId, doubled: 50 });
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries).toEqual([]);
    expect(report.stages).toEqual([]);
    expect(lostFlags(report)).toEqual([]);
  });

  test('a terminated worker loses only the calls after its last batch, and the report says how many it had started', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'terminate', calls: 5, rows: 10 });
    await w.next('blocked');
    await w.worker.terminate();
    const report = expectValidReport(m.stopMonitoring());
    // Five calls ended before its last batch; the open one (hang) and the three after it are lost.
    expect(summary(report, 'transform')).toMatchObject({ calls: 5, rowsProcessed: 50 });
    expect(report.stageSummaries.map((s) => s.name)).toEqual(['transform']);
    const lost = lostFlags(report);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain(`worker thread ${w.threadId} did not send its last batch`);
    expect(lost[0]).toContain('by then it had started 6 calls, 5 of which had ended and are counted');
  });

  test('a worker that never yields still sends batches, from its call path', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'hot' });
    const done = await w.next('calls');
    await w.worker.terminate();
    const report = expectValidReport(m.stopMonitoring());
    // The first batch goes before any call; every call counted came in a batch sent between calls.
    const s = summary(report, 'inner');
    expect(s.calls).toBeGreaterThan(0);
    expect(s.calls).toBeLessThanOrEqual(done.calls as number);
    expect(lostFlags(report)[0]).toContain(`${s.calls} of which had ended and are counted`);
  });

  test('a worker idle at the stop sends its last batch when asked: its open call is closed as failed, nothing is lost', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'idleOpen', calls: 3, rows: 10 });
    await w.next('ready');
    const report = expectValidReport(m.stopMonitoring());
    expect(summary(report, 'transform')).toMatchObject({ calls: 3, rowsProcessed: 30 });
    expect(summary(report, 'hang')).toMatchObject({ calls: 1, failures: 1, firstError: expect.objectContaining({ name: 'StageNotEnded' }) });
    expect(report.stages.find((r) => r.name === 'hang')).toMatchObject({ threadId: w.threadId, success: false, error: { name: 'StageNotEnded' } });
    expect(lostFlags(report)).toEqual([]);
    // From then on its calls pass straight through.
    w.worker.postMessage('end');
    expect(await w.exited).toBe(0);
  });

  test('a batch that arrives after stopMonitoring is ignored without error, and never reaches the next run', async () => {
    const m = quiet();
    m.startMonitoring();
    const w = startWorker({ mode: 'afterStop', calls: 5, rows: 10 });
    await w.next('ready');
    await sleep(300); // the worker is idle: its timer sends the five calls
    const first = expectValidReport(m.stopMonitoring());
    expect(summary(first, 'transform')).toMatchObject({ calls: 5, rowsProcessed: 50 });
    // Idle at the stop: it answered with its last batch.
    expect(lostFlags(first)).toEqual([]);
    m.startMonitoring();
    w.worker.postMessage('go');
    await w.next('posted');
    expect(await w.exited).toBe(0);
    await sleep(200);
    const second = expectValidReport(m.stopMonitoring());
    expect(second.stageSummaries).toEqual([]);
    expect(second.qualityFlags.filter((f) => f.code?.startsWith('thread_'))).toEqual([]);
    expect(JSON.stringify(m.stopMonitoring())).toBe(JSON.stringify(second));
  });
});

describe('the hand-over', () => {
  test('batches, not messages per call: a hot worker sends about one batch per 100 ms', async () => {
    const m = quiet();
    m.startMonitoring();
    const announced = getEnvironmentData('stagemeter.run.v1') as { channel: string };
    // Another listener on the run's channel sees every batch.
    const tap = new BroadcastChannel(announced.channel);
    const batches: Array<{ n: number; records: Float64Array; stages: Array<{ calls: number }> }> = [];
    tap.onmessage = (e: unknown) => void batches.push((e as { data: (typeof batches)[number] }).data);
    try {
      const w = startWorker({ mode: 'hot' });
      const done = await w.next('calls');
      await sleep(50);
      await w.worker.terminate();
      const report = m.stopMonitoring();
      const calls = summary(report, 'inner').calls;
      const sentCalls = batches.reduce((sum, b) => sum + b.stages.reduce((x, d) => x + d.calls, 0), 0);
      expect(sentCalls).toBe(calls);
      // 600 ms of calls: the first batch, then one per ~100 ms (a check may come a little late).
      expect(batches.length).toBeGreaterThanOrEqual(2);
      expect(batches.length).toBeLessThanOrEqual(10);
      expect(done.calls as number).toBeGreaterThan(100 * batches.length);
      // Records a worker sends per batch are bounded.
      for (const b of batches) expect(b.records.length / RECORD_WIDTH).toBeLessThanOrEqual(MAX_RECORDS_PER_BATCH);
    } finally {
      tap.close();
    }
  });

  test('merges a batch exactly, and ignores what is not a batch of this run', async () => {
    const m = quiet();
    m.startMonitoring();
    const announced = getEnvironmentData('stagemeter.run.v1') as { runId: string; channel: string };
    const sketch = new QuantileSketch();
    for (const ms of [1, 2, 5]) sketch.add(ms);
    const delta = {
      i: 0, name: 'remote', calls: 3, failures: 1, syncCalls: 3, rootCalls: 3, rootRows: 30, rows: 30, totalMs: 8, sumSqMs: 30, selfMs: 8, busyMs: 8,
      minMs: 1, maxMs: 5, maxAtMs: 4, maxSyncMs: 5, maxSyncAtMs: 4, probedCalls: 0, probedWallMs: 0, probedOnThreadMs: 0, cpuUserUs: 0, cpuSystemUs: 0,
      voluntarySwitches: 0, involuntarySwitches: 0, heapDeltaSumMb: 0, heapDeltaMaxMb: -Infinity, firstError: { name: 'TypeError', message: 'bad', t: 2 }, sketch: sketch.encode(),
    };
    const records = new Float64Array(15);
    // A worker on this clock whose run starts now, with one call from now on.
    const t0 = performance.now();
    records.set([7, -1, t0, 5, 5, 10, 0, 0, 1 | 4]);
    const batch = {
      v: 1, kind: 'batch', runId: announced.runId, threadId: 77, n: 1, final: true, started: 3, t: 10, timeOrigin: performance.timeOrigin, runT0: t0,
      stages: [delta], records, errors: [[0, { name: 'TypeError', message: 'bad' }]], metadata: [[0, { k: '</script>\u001b[31m' }]], omitted: 2,
      flags: [{ severity: 'warning', code: 'invalid_rows', message: 'x', stage: 'remote', t: 1, count: 4 }],
    };
    const post = new BroadcastChannel(announced.channel);
    try {
      for (const junk of [null, 'batch', { ...batch, runId: 'another-run' }, { ...batch, v: 2 }, { ...batch, records: new Float64Array(7) }, { ...batch, stages: [{ ...delta, name: 5 }] }, { ...batch, threadId: 1.5 }]) post.postMessage(junk);
      post.postMessage(batch);
    } finally {
      post.close();
    }
    await sleep(100);
    const report = expectValidReport(m.stopMonitoring());
    expect(report.stageSummaries).toHaveLength(1);
    const s = summary(report, 'remote');
    expect(s).toMatchObject({ calls: 3, failures: 1, rowsProcessed: 30, totalMs: 8, selfMs: 8, busyMs: 8, minMs: 1, maxMs: 5, recordsKept: 1, recordsOmitted: 2 });
    expect(s.threads).toEqual([{ threadId: 77, calls: 3, failures: 1, totalMs: 8, selfMs: 8, busyMs: 8, rowsProcessed: 30 }]);
    expect(s.firstError).toEqual({ name: 'TypeError', message: 'bad', t: expect.any(Number) });
    expect(report.stages).toEqual([expect.objectContaining({ id: 't77:7', threadId: 77, durationMs: 5, rowsProcessed: 10, success: false, error: { name: 'TypeError', message: 'bad' }, metadata: { k: '</script>\u001b[31m' } })]);
    expect(report.qualityFlags.find((f) => f.code === 'invalid_rows')?.message).toBe('x (worker thread 77) (4 times)');
    expect(report.qualityFlags.filter((f) => f.code === 'thread_batch_failed')).toEqual([]);
    expect(lostFlags(report)).toEqual([]);
  });

  test('zero-code mode: workers record into the report at STAGEMETER_OUTPUT and never write one of their own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagemeter-threads-'));
    try {
      const out = join(dir, 'run.json');
      const child = await runChild(ZERO_CODE, [], { env: { STAGEMETER_OUTPUT: out }, timeoutMs: 120_000 });
      expect(child.stderr).toBe('');
      expect(child.code).toBe(0);
      expect(readdirSync(dir)).toEqual(['run.json']);
      const report = expectValidReport(readFileSync(out, 'utf8'));
      expect(summary(report, 'load')).toMatchObject({ calls: 1, rowsProcessed: 100 });
      const t = summary(report, 'transform');
      expect(t).toMatchObject({ calls: 10, rowsProcessed: 100 });
      expect(t.threads).toHaveLength(2);
      expect(t.threads!.every((p) => p.threadId > 0 && p.calls === 5 && p.rowsProcessed === 50)).toBe(true);
      expect(lostFlags(report)).toEqual([]);
      expect(existsSync(`${out}.tmp`)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
