/**
 * `npm run bench`: every performance target of stagemeter, measured side by side in one process
 * (the load test and the worker-thread figures in child processes of their own), printed as one
 * table of target, measured figure (median over rounds, with the range) and pass/fail, and written
 * to bench/results.json.
 *
 *   node --expose-gc --allow-natives-syntax build/bench/run.js [--quick] [--only <sections>] [--out PATH]
 *
 * Sections: micro, stages, batches, memory, load, otel, merge, threads. --quick runs fewer rounds
 * and a tenth of the load (for trying a change; not for the figures).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runMicro, type MicroId, type MicroResult } from './micro';
import { runStages, type StageFigures } from './stages';
import { runBatches, type BatchesResult } from './batches';
import { runMemory, type MemoryResult } from './memory';
import { loadTable, loadTargets, runLoad, type LoadResult } from './load';
import { measureOtelExport } from './otelExport';
import { measureMerge, type MergeResult } from './merge';
import type { ThreadsResult } from './threads';
import { callPathFunctions, canReadJitState, tierOf } from './jit';
import { fmt, gcNow, max, median, min, round, table, watchInterference, type Interference } from './stats';

const SECTIONS = ['micro', 'stages', 'batches', 'memory', 'load', 'otel', 'merge', 'threads'] as const;
type Section = (typeof SECTIONS)[number];

/** One row of the targets table. pass is null for a figure shown for reference (no target). */
interface Target {
  what: string;
  limit: string;
  /** The figure: median, then the range over rounds or pairs. */
  value: string;
  range: string;
  pass: boolean | null;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The CPU model as /proc/cpuinfo names it (os.cpus() can shorten it). */
function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** Runs bench/threads.js in a child process (its singleton and worker stay out of this process). */
function threadsInChild(rounds: number): ThreadsResult {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_')) delete env[k];
  const r = spawnSync(process.execPath, [join(__dirname, 'threads.js'), String(rounds), '--json'], { env, encoding: 'utf8', maxBuffer: 1 << 20, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`the threads child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ThreadsResult;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const quick = process.argv.includes('--quick');
  const onlyArg = argValue('--only');
  const only = new Set<string>(onlyArg !== undefined ? onlyArg.split(',') : SECTIONS);
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s} (sections: ${SECTIONS.join(', ')})`);
  const has = (s: Section): boolean => only.has(s);
  const outPath = resolve(argValue('--out') ?? join(__dirname, '..', '..', 'bench', 'results.json'));
  // A STAGEMETER_OUTPUT in the environment would make the first hook call start the singleton.
  for (const key of Object.keys(process.env)) if (key.startsWith('STAGEMETER_')) delete process.env[key];
  const gcAvailable = gcNow();
  if (!gcAvailable) log('warning: run with --expose-gc: the heap figure needs global.gc()');
  if (!canReadJitState) log('warning: run with --allow-natives-syntax to see whether V8 optimised the call path');

  const machine = {
    cpuModel: cpuModel(),
    cpus: cpus().length,
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    loadAvgAtStart: loadavg().map((x) => round(x, 2)),
  };
  log(`stagemeter bench: ${machine.cpuModel} x${machine.cpus}, Node ${machine.node}, load average ${machine.loadAvgAtStart.join(' ')}${quick ? ' (--quick: not for figures)' : ''}`);

  const interference: Record<string, Interference> = {};
  /** Runs a section; `inChildren`: it measures in child processes, which /proc/stat counts as others. */
  const section = async <T>(name: string, title: string, f: () => Promise<T> | T, inChildren = false): Promise<T> => {
    log(`[${name}] ${title}`);
    const s0 = performance.now();
    const stop = watchInterference();
    const out = await f();
    const inf = stop();
    interference[name] = inf;
    const note = !inChildren && (inf.foreignCpuPercent > 10 || inf.stealPercent > 5) ? `; other processes used ${inf.foreignCpuPercent.toFixed(0)} % of a core meanwhile (steal ${inf.stealPercent.toFixed(0)} %): figures may be noisy` : '';
    log(`  ${((performance.now() - s0) / 1000).toFixed(1)} s${note}`);
    return out;
  };

  let micro: MicroResult | undefined;
  let jit: Array<{ name: string; tier: string; callerTier?: string; entry: boolean }> | undefined;
  let stages: StageFigures[] | undefined;
  let batches: BatchesResult | undefined;
  let memory: MemoryResult | undefined;
  let load: LoadResult | undefined;
  let otelExportMs: number | undefined;
  let merge: MergeResult | undefined;
  let threads: ThreadsResult | undefined;
  const otelRecords = quick ? 20_000 : 100_000;

  if (has('micro')) {
    micro = await section('micro', 'per call of a trivial function', () => runMicro(quick ? 3 : 9, log));
    // After warm-up and every round: the state the figures were measured in.
    jit = callPathFunctions(micro.wrappers).map(({ name, f, caller, entry }) => ({ name, tier: tierOf(f), ...(caller !== undefined ? { callerTier: tierOf(caller) } : {}), entry }));
  }
  if (has('stages')) stages = await section('stages', 'stages of 10 µs, 100 µs and 1 ms, paired with the raw call', () => runStages([10, 100, 1000], quick ? 3 : 9));
  if (has('batches')) batches = await section('batches', '100 batches x 3 stages of 20-200 µs, a new run each time, paired with unmonitored', () => runBatches(quick ? 8 : 80));
  if (has('memory')) memory = await section('memory', 'heap kept by the calls of one hot stage', () => runMemory(quick ? 2_000_000 : 10_000_000));
  if (has('otel')) otelExportMs = await section('otel', `OpenTelemetry export of a report of ${fmt(otelRecords, 0)} records`, () => measureOtelExport(otelRecords));
  if (has('merge')) merge = await section('merge', 'mergeReports of 10 reports of 10,000 records', () => measureMerge(10, 10_000, quick ? 1 : 3));
  if (has('threads')) threads = await section('threads', 'hot stage in a worker thread (child process)', () => threadsInChild(quick ? 3 : 5), true);
  if (has('load')) load = await section('load', 'load test (each scenario in a child process)', () => runLoad({ quick }, log), true);

  // ------------------------------------------------------------------ targets
  const targets: Target[] = [];
  const countProblems: string[] = [];
  const ns = (x: number): string => `${fmt(x)} ns`;
  if (micro !== undefined) {
    const m = micro;
    const v = (id: MicroId) => m.variants.find((x) => x.id === id)!;
    /** Per round: a's figure over b's (both measured in that round), ns. */
    const over = (a: MicroId, b: MicroId): number[] => v(a).roundsNs.map((x, r) => x - v(b).roundsNs[r]!);
    const ratio = (xs: number[], ys: number[]): number[] => xs.map((x, r) => x / ys[r]!);
    const row = (what: string, limit: string, xs: number[], pass: (x: number) => boolean | null, unit: (x: number) => string = ns): void => {
      const med = median(xs);
      targets.push({ what, limit, value: unit(med), range: `${unit(min(xs))} - ${unit(max(xs))}`, pass: pass(med) });
    };
    const times = (x: number): string => `${fmt(x)}x`;
    const hot = over('sm_hot', 'raw');
    const timer = over('timer', 'raw');
    row('hot sync stage, every call timed: over the raw call', '<= 150 ns', hot, (x) => x <= 150);
    row('hot sync stage over raw / a bare timer over raw (same rounds)', '<= 2x', ratio(hot, timer), (x) => x <= 2, times);
    row('hot nested stage: over the raw call', '<= 170 ns', over('sm_nested', 'raw'), (x) => x <= 170);
    row('hot async stage: over the raw async call (no hooks)', '<= 350 ns', over('sm_async', 'raw_async'), (x) => x <= 350);
    row('no active run: over the raw call', '<= 10 ns', over('sm_inactive', 'raw'), (x) => x <= 10);
    row('OpenTelemetry span over raw / hot sync stage over raw', '>= 15x', ratio(over('otel', 'raw'), hot), (x) => x >= 15, times);
    row('  (reference) a bare timer over the raw call', '', timer, () => null);
    row("  (reference) a run's promise hooks, per raw async call", '', over('raw_async_hooks', 'raw_async'), () => null);
    countProblems.push(...m.countProblems);
  }
  if (stages !== undefined) {
    for (const s of stages) {
      const limit = s.targetUs < 100 ? 2.5 : 1;
      const pct = s.roundsOverheadNs.map((x) => (x / s.workNs) * 100);
      const label = s.targetUs >= 1000 ? `${s.targetUs / 1000} ms` : `${s.targetUs} µs`;
      targets.push({
        what: `a ${label} stage (${fmt(s.workNs / 1000)} µs measured): over the raw call`,
        limit: `<= ${limit} %`,
        value: `${fmt(s.overheadPercent, 2)} % (${ns(s.overheadNs)})`,
        range: `${fmt(min(pct), 2)} - ${fmt(max(pct), 2)} %`,
        pass: s.overheadPercent <= limit,
      });
      targets.push({ what: '  (reference) a bare timer around the same work', limit: '', value: ns(s.timerOverheadNs), range: `${ns(min(s.roundsTimerOverheadNs))} - ${ns(max(s.roundsTimerOverheadNs))}`, pass: null });
      countProblems.push(...s.countProblems);
    }
  }
  if (batches !== undefined) {
    targets.push({
      what: `${batches.batches} batches x 3 stages of 20-200 µs, new run: monitored / unmonitored (median of ${batches.ratios.length} U M M U quadruples)`,
      limit: '<= 1.02x',
      value: `${fmt(batches.medianRatio, 4)}x`,
      range: `${fmt(batches.minRatio, 3)} - ${fmt(batches.maxRatio, 3)}x`,
      pass: batches.medianRatio <= 1.02,
    });
    targets.push({ what: `  (reference) the run's calls ${fmt(batches.monitoredMs, 1)} ms; startMonitoring / stopMonitoring, not in the ratio`, limit: '', value: `${fmt(batches.startMs, 2)} / ${fmt(batches.stopMs, 1)} ms`, range: '', pass: null });
    countProblems.push(...batches.countProblems);
  }
  if (memory !== undefined) {
    targets.push({
      what: `${fmt(memory.calls / 1e6, 0)}M calls of a hot stage: heap kept per call (forced GC before/after)`,
      limit: '<= 2 bytes',
      value: `${fmt(memory.bytesPerCall, 3)} bytes (${fmt(memory.heapGrowthMb, 2)} MB)`,
      range: '',
      pass: memory.gcAvailable ? memory.bytesPerCall <= 2 : null,
    });
    if (!memory.countsExact) countProblems.push(`memory: ${memory.reportedCalls ?? 'no'} calls in the report, ${memory.calls} were made`);
  }
  if (load !== undefined) {
    for (const t of loadTargets(load)) targets.push({ what: `load: ${t.what}`, limit: t.limit, value: t.value, range: '', pass: t.pass });
  }
  if (otelExportMs !== undefined) targets.push({ what: `(reference) OpenTelemetry export of ${fmt(otelRecords, 0)} records`, limit: '', value: `${fmt(otelExportMs, 0)} ms`, range: `${fmt((otelExportMs / otelRecords) * 1000, 2)} µs a record`, pass: null });
  if (merge !== undefined) targets.push({ what: `(reference) mergeReports of ${merge.reports} reports x ${fmt(merge.recordsEach, 0)} records`, limit: '', value: `${fmt(merge.ms, 0)} ms`, range: `${merge.runsMs.map((x) => fmt(x, 0)).join(', ')} ms`, pass: null });
  if (threads !== undefined) {
    const rounds = (f: ThreadsResult['main']): number[] => f.rounds.map(([raw, mon]) => mon - raw);
    const w = rounds(threads.worker);
    const mainT = rounds(threads.main);
    targets.push({ what: '(reference) hot stage in a worker thread over raw, CPU time (main thread beside it)', limit: '', value: `${ns(median(w))} (main ${ns(median(mainT))})`, range: `${ns(min(w))} - ${ns(max(w))}`, pass: null });
    targets.push({ what: `(reference) worker batches: ${threads.batchesSent}, latency to the main thread`, limit: '', value: `${fmt(threads.batchLatencyMs.median, 2)} ms`, range: `max ${fmt(threads.batchLatencyMs.max, 1)} ms`, pass: null });
    if (threads.reportedCalls !== threads.madeCalls) countProblems.push(`threads: ${threads.reportedCalls ?? 'no'} calls in the report, ${threads.madeCalls} were made on both threads`);
  }
  if (micro !== undefined || stages !== undefined || batches !== undefined || memory !== undefined || threads !== undefined) {
    targets.push({ what: 'every report counts every call made (all sections)', limit: 'exact', value: countProblems.length === 0 ? 'exact' : countProblems.join('; '), range: '', pass: countProblems.length === 0 });
  }

  // ------------------------------------------------------------------ tables
  if (micro !== undefined) {
    log(`\nPer call, ns (median over ${micro.rounds} rounds, range; batches of calls timed as a whole):`);
    log(table(['variant', 'ns/call', 'range', 'calls/batch', 'wrapper + callStage optimised at batch start'], micro.variants.map((x) => [
      x.label, fmt(x.ns), `${fmt(x.minNs)} - ${fmt(x.maxNs)}`, fmt(x.batchCalls, 0), x.jit !== undefined ? (canReadJitState ? `${x.jit.optimized} of ${x.jit.batches}` : 'unknown') : '',
    ])));
    log(`  OpenTelemetry: ${fmt(micro.otelSpans.exported, 0)} of ${fmt(micro.otelSpans.created, 0)} spans exported`);
  }
  if (jit !== undefined) {
    log('\nV8 tier of the call path after the per-call section (* called, not inlined: must be turbofan; the others run inlined in them, and show their own stand-alone copy):');
    log(table(['function', 'tier', 'the bench loop calling it (inlines it when turbofan)'], jit.map((j) => [`${j.entry ? '* ' : '  '}${j.name}`, j.tier, j.callerTier ?? ''])));
  }
  if (load !== undefined) {
    log('\nLoad test:');
    log(loadTable(load));
  }
  log('\nTargets (median; range over rounds or pairs):');
  log(table(['', 'target', 'limit', 'measured', 'range'], targets.map((t) => [t.pass === null ? '' : t.pass ? 'PASS' : 'FAIL', t.what, t.limit, t.value, t.range])));
  const failed = targets.filter((t) => t.pass === false).length;
  const wallS = (performance.now() - t0) / 1000;
  const loadAtEnd = loadavg().map((x) => round(x, 2));
  log(`\n${failed === 0 ? 'all targets met' : `${failed} target(s) missed`}; ${wallS.toFixed(0)} s; load average at the end ${loadAtEnd.join(' ')}`);

  const results = {
    schema: 'stagemeter-bench/2',
    date: new Date().toISOString(),
    quick,
    sections: [...only],
    machine,
    loadAvgAtEnd: loadAtEnd,
    wallSeconds: round(wallS, 1),
    interference,
    targets,
    micro: micro === undefined ? undefined : { ...micro, wrappers: undefined },
    jit,
    stages,
    batches,
    memory,
    load,
    otelExport: otelExportMs === undefined ? undefined : { records: otelRecords, ms: otelExportMs },
    merge,
    threads,
  };
  writeFileSync(outPath, `${JSON.stringify(results, (_k, val: unknown) => (typeof val === 'number' && !Number.isInteger(val) ? round(val, 4) : val), 2)}\n`);
  log(`results written to ${outPath}`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
