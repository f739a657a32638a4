/**
 * Worker threads: what a hot stage call costs in a worker that records into the main thread's
 * run, against the same call on the main thread, and what the hand-over costs (batches sent, time
 * to send one, time until the main thread has it).
 *
 *   npx tsc -p tsconfig.demo.json && node build/bench/threads.js [rounds] [--main-only] [--json]
 *
 * (npm run bench runs it as a child process with --json: its singleton and worker stay out of the
 * bench's own process.)
 *
 * Each thread measures in turn (the other one idle, so they do not share a core): per round, a
 * raw loop and a monitored loop of a trivial sync stage, each its own compiled copy, BATCHES x
 * CALLS calls timed as a whole in CPU time of the process (on a shared host, wall time mostly
 * measures the neighbours), order alternated; the figure is the median over rounds of the
 * per-call mean. The worker's figure includes the batches it sends from its call path (it never
 * yields while it is measured). A tap on the run's channel counts the batches and their latency.
 */
import { performance } from 'node:perf_hooks';
import { BroadcastChannel, getEnvironmentData, isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { getMonitor, withStage } from '../src/index';
import { MAX_RECORDS_PER_BATCH, RECORD_WIDTH } from '../src/run/batch';

const CALLS = 200_000;
const BATCHES = 10;

export interface Figures {
  rawNs: number;
  monitoredNs: number;
  calls: number;
  /** Per round: [raw, monitored] ns per call. */
  rounds: Array<[number, number]>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A loop of its own (compiled separately) calling `f` n times. */
function loopFor(tag: string): (f: (x: number) => number, n: number) => number {
  return new Function('f', 'n', `/* ${tag} */ let s = 0; for (let i = 0; i < n; i++) s += f(i); return s;`) as (f: (x: number) => number, n: number) => number;
}

function measure(rounds: number): Figures {
  const raw = (x: number): number => x & 1;
  const hot = withStage('hot', (x: number) => x & 1, { rows: 1 });
  const rawLoop = loopFor('raw');
  const hotLoop = loopFor('hot');
  let checksum = 0;
  // warm both paths
  for (let i = 0; i < 3; i++) {
    checksum += rawLoop(raw, CALLS);
    checksum += hotLoop(hot, CALLS);
  }
  const out: Array<[number, number]> = [];
  let calls = 3 * CALLS;
  for (let r = 0; r < rounds; r++) {
    const times: [number, number] = [0, 0];
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const v of order) {
      // CPU time of the process, not wall time: the host is shared, and only this thread works
      // meanwhile (in the worker's turn the main thread's share is the batches it merges).
      const c0 = process.cpuUsage();
      for (let b = 0; b < BATCHES; b++) checksum += v === 0 ? rawLoop(raw, CALLS) : hotLoop(hot, CALLS);
      const c = process.cpuUsage(c0);
      times[v] = ((c.user + c.system) * 1e3) / (BATCHES * CALLS);
      if (v === 1) calls += BATCHES * CALLS;
    }
    out.push(times);
  }
  if (checksum === -1) console.log(checksum);
  return { rawNs: median(out.map((x) => x[0])), monitoredNs: median(out.map((x) => x[1])), calls, rounds: out };
}

/** What sending one full batch costs in this thread: a batch shaped like the worker's largest (MAX_RECORDS_PER_BATCH records, 1 stage). */
function sendCostMs(channelName: string): number {
  const records = new Float64Array(MAX_RECORDS_PER_BATCH * RECORD_WIDTH).map((_, i) => i * 0.5);
  const batch = { v: 1, kind: 'bench', stages: [{ name: 'hot', calls: 1, sketch: { v: 1, counts: Array.from({ length: 64 }, (_, i) => i) } }], records, errors: [], metadata: [], flags: [] };
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const ch = new BroadcastChannel(channelName);
    ch.postMessage(batch);
    ch.close();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** What the thread section reports (bench/run.ts reads it from this file run as a child, with --json). */
export interface ThreadsResult {
  rounds: number;
  main: Figures;
  worker: Figures;
  /** Calls in the run's report, and the calls made on both threads. */
  reportedCalls: number | undefined;
  madeCalls: number;
  batchesSent: number;
  medianRecordsPerBatch: number;
  batchLatencyMs: { median: number; max: number };
  sendOneBatchMs: number;
  firstWorkerCallMs: number;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 9);
  const monitor = getMonitor();
  monitor.startMonitoring({ runName: 'bench-threads' });
  const mainFigures = measure(rounds);
  const fmt = (x: number): string => x.toFixed(1);
  if (process.argv.includes('--main-only')) {
    monitor.stopMonitoring();
    console.log(`main thread, ns per call: raw ${fmt(mainFigures.rawNs)}, monitored ${fmt(mainFigures.monitoredNs)}; rounds ${mainFigures.rounds.map(([a, b]) => `${fmt(a)}/${fmt(b)}`).join(' ')}`);
    return;
  }
  const announced = getEnvironmentData('stagemeter.run.v1') as { channel: string };
  const tap = new BroadcastChannel(announced.channel);
  const latencies: number[] = [];
  const sizes: number[] = [];
  tap.onmessage = (e: unknown) => {
    const b = (e as { data: { kind: string; timeOrigin: number; runT0: number; t: number; records: Float64Array } }).data;
    if (b.kind !== 'batch') return;
    latencies.push(performance.timeOrigin + performance.now() - (b.timeOrigin + b.runT0 + b.t));
    sizes.push(b.records.length / RECORD_WIDTH);
  };
  const worker = new Worker(__filename, { workerData: { rounds } });
  const workerResult = await new Promise<{ figures: Figures; sendMs: number; firstCallMs: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await new Promise((r) => worker.once('exit', r));
  tap.close();
  const report = monitor.stopMonitoring();
  const hot = report.stageSummaries.find((s) => s.name === 'hot');
  const w = workerResult.figures;
  const result: ThreadsResult = {
    rounds,
    main: mainFigures,
    worker: w,
    reportedCalls: hot?.calls,
    madeCalls: mainFigures.calls + w.calls,
    batchesSent: latencies.length,
    medianRecordsPerBatch: median(sizes),
    batchLatencyMs: { median: median(latencies), max: Math.max(...latencies) },
    sendOneBatchMs: workerResult.sendMs,
    firstWorkerCallMs: workerResult.firstCallMs,
  };
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  console.log(`hot sync stage, ns per call (median of ${rounds} rounds of ${BATCHES} x ${CALLS} calls):`);
  console.log(`  main thread: raw ${fmt(mainFigures.rawNs)}, monitored ${fmt(mainFigures.monitoredNs)}, overhead ${fmt(mainFigures.monitoredNs - mainFigures.rawNs)}`);
  console.log(`  worker:      raw ${fmt(w.rawNs)}, monitored ${fmt(w.monitoredNs)}, overhead ${fmt(w.monitoredNs - w.rawNs)}`);
  console.log(`  rounds main: ${mainFigures.rounds.map(([a, b]) => `${fmt(a)}/${fmt(b)}`).join(' ')}`);
  console.log(`  rounds worker: ${w.rounds.map(([a, b]) => `${fmt(a)}/${fmt(b)}`).join(' ')}`);
  console.log(`calls counted: ${hot?.calls} (main ${mainFigures.calls} + worker ${w.calls} = ${mainFigures.calls + w.calls}); split ${JSON.stringify(hot?.threads?.map((t) => [t.threadId, t.calls]))}`);
  console.log(`worker batches: ${latencies.length} for ${w.calls} calls; records per batch median ${median(sizes)}, max ${Math.max(...sizes)}`);
  console.log(`batch latency (sent in the worker -> read on the main thread), ms: median ${median(latencies).toFixed(3)}, max ${Math.max(...latencies).toFixed(3)}`);
  console.log(`sending one batch of ${MAX_RECORDS_PER_BATCH} records in a worker: ${workerResult.sendMs.toFixed(3)} ms; first monitored call in a worker: ${workerResult.firstCallMs.toFixed(2)} ms`);
}

if (isMainThread) {
  if (require.main === module) void main();
} else {
  const t0 = performance.now();
  withStage('first', () => 0)();
  const firstCallMs = performance.now() - t0;
  const figures = measure((workerData as { rounds: number }).rounds);
  const sendMs = sendCostMs('stagemeter.bench.nobody');
  parentPort!.postMessage({ figures, sendMs, firstCallMs });
}
