/**
 * `npm run bench`: stagemeter's overhead against every alternative, side by side in one process
 * (issue 4), plus heap growth for 10M calls, the demo pipeline monitored vs not, the analyzer
 * timing (issue 3) and the sampler's CPU cost. Prints tables and writes bench/results.json.
 *
 *   node --expose-gc --allow-natives-syntax build/bench/run.js [--quick] [--only micro,memory,demo,analyzer,sampler] [--out PATH]
 *
 * --quick runs fewer rounds and a smaller demo (for trying changes; not for the figures).
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, release, loadavg, platform, arch } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runMicro, type MicroResult, type VariantResult } from './micro';
import { runMemory, type MemoryResult } from './memory';
import { runPipeline, type PipelineResult } from './pipeline';
import { runAnalyzerTiming, type AnalyzerResult } from './analyzer';
import type { SamplerResult } from './sampler';
import { fmt, gcNow, max, min, round, table, watchInterference, type Interference } from './stats';

interface Target {
  id: string;
  what: string;
  limit: string;
  value: string;
  pass: boolean | null;
  detail?: string;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Monitored/unmonitored pairs of demo runs (each pair in alternating order). */
const DEMO_ROUNDS = 10;

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The sampler phases in a fresh child process (see samplerChild.ts); its log lines are passed on. */
function samplerCostInChild(phaseMs: number, log: (line: string) => void): SamplerResult {
  // --expose-gc: each phase starts from a collected heap, so garbage of one phase is not collected
  // (and charged) in the next one, which had made an idle phase cost 0.7 % of a core.
  const child = spawnSync(process.execPath, ['--expose-gc', join(__dirname, 'samplerChild.js'), String(phaseMs)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  for (const line of child.stderr.split('\n')) if (line !== '') log(line);
  if (child.status !== 0) throw new Error(`the sampler child failed (exit ${child.status ?? child.signal})`);
  return JSON.parse(child.stdout) as SamplerResult;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const quick = process.argv.includes('--quick');
  const only = new Set((argValue('--only') ?? 'micro,memory,demo,analyzer,sampler').split(','));
  const outPath = resolve(argValue('--out') ?? join(__dirname, '..', '..', 'bench', 'results.json'));
  // A STAGEMETER_OUTPUT in the environment would make the first hook call start the singleton.
  for (const key of Object.keys(process.env)) if (key.startsWith('STAGEMETER_')) delete process.env[key];
  const gcAvailable = gcNow();
  if (!gcAvailable) log('warning: run with --expose-gc (global.gc() is needed for the heap figures and between variants)');

  const machine = {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    cpuMHz: cpus()[0]?.speed ?? 0,
    totalMemoryMb: Math.round(totalmem() / 1048576),
    platform: platform(),
    arch: arch(),
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    loadAvgAtStart: loadavg().map((x) => round(x, 2)),
  };
  log(`stagemeter bench: ${machine.cpuModel} x${machine.cpus}, node ${machine.node}, load ${machine.loadAvgAtStart.join(' ')}${quick ? ' (--quick)' : ''}`);

  let micro: MicroResult | undefined;
  let memory: MemoryResult | undefined;
  let pipeline: PipelineResult | undefined;
  let analyzer: AnalyzerResult | undefined;
  let sampler: SamplerResult | undefined;
  const interference: Record<string, Interference> = {};
  const section = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const stop = watchInterference();
    const out = await f();
    const inf = stop();
    interference[name] = inf;
    if (inf.foreignCpuPercent > 10 || inf.stealPercent > 5) log(`  note: other processes used ${inf.foreignCpuPercent.toFixed(0)} % of a core during ${name} (steal ${inf.stealPercent.toFixed(0)} %): figures may be noisy`);
    return out;
  };

  if (only.has('micro')) {
    log('\n[1/5] per-call overhead');
    const picked = argValue('--variants')?.split(',');
    micro = await section('micro', () => runMicro(picked !== undefined ? { rounds: quick ? 3 : 9, variants: picked } : { rounds: quick ? 3 : 9 }, log));
  }
  if (only.has('memory')) {
    log('\n[2/5] heap growth of 10M calls of one hot stage');
    memory = await section('memory', () => runMemory(quick ? 2_000_000 : 10_000_000));
    log(`  done: ${fmt(memory.heapGrowthMb, 2)} MB, ${fmt(memory.nsPerCall)} ns/call`);
  }
  if (only.has('demo')) {
    log('\n[3/5] demo pipeline, monitored vs unmonitored (alternated)');
    pipeline = await section('demo', () => runPipeline(quick ? 2 : DEMO_ROUNDS, 12, quick ? 25_000 : 100_000, log));
  }
  if (only.has('analyzer')) {
    log('\n[4/5] analyzer timing (1M samples, 100k records), in a worker thread');
    analyzer = await section('analyzer', () => runAnalyzerTiming(1_000_000, 100_000, quick ? 3 : 5, 120_000));
    log(analyzer.error !== undefined ? `  error: ${analyzer.error}` : `  done: ${analyzer.timesMs.map((x) => x.toFixed(0)).join(', ')} ms`);
  }
  if (only.has('sampler')) {
    log('\n[5/5] sampler CPU cost (idle process)');
    sampler = await section('sampler', () => samplerCostInChild(quick ? 1500 : 2500, log));
  }

  // ------------------------------------------------------------------ tables and targets
  const targets: Target[] = [];
  const v = (id: string): VariantResult | undefined => micro?.variants.find((x) => x.id === id);
  if (micro !== undefined) {
    log('\n== Per call of a trivial function (median over rounds of the per-round mean; GC included) ==');
    const rows = micro.variants.map((x) => [
      x.label,
      fmt(x.medianNs),
      `${fmt(x.minNs)}-${fmt(x.maxNs)}`,
      x.overheadNs !== undefined ? `${fmt(x.overheadNs)} (${x.baseline})` : '-',
      x.ratioToRaw !== undefined ? `${fmt(x.ratioToRaw)}x` : '-',
      x.ratioToOtel !== undefined ? fmt(x.ratioToOtel, 3) : '-',
      fmt(x.batchSize, 0),
    ]);
    log(table(['variant', 'ns/call', 'round range', 'overhead ns (vs)', 'x raw', '/ OTel batch', 'calls/batch'], rows));
    log(`  ${micro.rounds} rounds, batches of ~${micro.batchMs} ms, ${micro.roundTimeMs} ms per variant and round; async rows: x raw is vs raw_async (no hooks of any kind)`);
    log(`  OTel batch: ${micro.otel.batchSpansExported}/${micro.otel.batchSpansCreated} spans exported; simple: ${micro.otel.simpleSpansExported} exported; timerify entries observed ${micro.timerifyEntriesObserved}/${micro.timerifyCalls} calls`);
    const jit = micro.variants.filter((x) => x.pathOptimized !== undefined);
    if (jit.length === 0) {
      log('  V8 state of stagemeter\'s per-call path: not checked (run with --allow-natives-syntax, as npm run bench does)');
    } else {
      const notAll = jit.filter((x) => x.pathOptimized!.optimized < x.pathOptimized!.batches);
      log(`  V8 state of stagemeter's per-call path at the start of each timed batch: optimised in every batch of ${jit.length - notAll.length} of ${jit.length} stagemeter variants` +
        (notAll.length === 0 ? '' : `; the others: ${notAll.map((x) => `${x.id} in ${x.pathOptimized!.optimized} of ${x.pathOptimized!.batches} batches`).join(', ')}`));
    }
    log('\n== stagemeter report counts and fidelity per variant (last round) ==');
    const lastChecks = new Map<string, (typeof micro.stageChecks)[number]>();
    for (const c of micro.stageChecks) lastChecks.set(`${c.variant}/${c.stage}`, c);
    log(table(['variant / stage', 'calls made', 'calls in report', 'ok', 'fidelity', 'records kept/omitted'], [...lastChecks.values()].map((c) => [
      `${c.variant} / ${c.stage}`,
      String(c.expectedCalls),
      String(c.reportedCalls ?? '-'),
      c.ok ? 'yes' : 'NO',
      c.fidelity !== undefined ? JSON.stringify(c.fidelity) : '-',
      `${c.recordsKept ?? '-'}/${c.recordsOmitted ?? '-'}${c.note !== undefined ? ` (${c.note})` : ''}`,
    ])));

    const raw = v('raw');
    const otel = v('otel_batch');
    const timerify = v('timerify');
    const inactive = v('sm_inactive');
    const nested = v('sm_hot_nested');
    for (const id of ['sm_hot', 'sm_hot_nested']) {
      const x = v(id);
      if (x?.overheadNs !== undefined) targets.push({ id: `${id}_overhead`, what: `${x.label}: overhead over raw`, limit: '<= 150 ns', value: `${fmt(x.overheadNs)} ns`, pass: x.overheadNs <= 150 });
    }
    if (raw !== undefined && otel !== undefined && nested?.overheadNs !== undefined) {
      const otelOver = otel.medianNs - raw.medianNs;
      targets.push({ id: 'vs_otel', what: 'hot sync (nested) vs OTel span (SDK + BatchSpanProcessor), overhead ratio', limit: '> 15x cheaper', value: `${fmt(otelOver / nested.overheadNs)}x (${fmt(otelOver)} vs ${fmt(nested.overheadNs)} ns)`, pass: otelOver / nested.overheadNs > 15 });
    }
    if (raw !== undefined && timerify !== undefined && nested?.overheadNs !== undefined) {
      const timerifyOver = timerify.medianNs - raw.medianNs;
      targets.push({ id: 'vs_timerify', what: 'hot sync (nested) vs performance.timerify, overhead', limit: 'cheaper', value: `${fmt(nested.overheadNs)} vs ${fmt(timerifyOver)} ns`, pass: nested.overheadNs < timerifyOver });
    }
    const asyncV = v('sm_hot_async');
    const rawAsync = v('raw_async');
    const rawAsyncCtx = v('raw_async_ctx');
    if (asyncV !== undefined && rawAsync !== undefined) {
      const detail = rawAsyncCtx !== undefined ? `the run's promise hooks alone cost every promise of the process ${fmt(rawAsyncCtx.medianNs - rawAsync.medianNs)} ns per awaited call here, inside the figure` : undefined;
      targets.push({ id: 'async_vs_raw', what: 'hot async stage over the raw async call (no hooks of any kind)', limit: '<= 300 ns', value: `${fmt(asyncV.medianNs - rawAsync.medianNs)} ns (${fmt(asyncV.medianNs)} - ${fmt(rawAsync.medianNs)})`, pass: asyncV.medianNs - rawAsync.medianNs <= 300, ...(detail !== undefined ? { detail } : {}) });
    }
    const asyncAls = v('sm_hot_async_als');
    if (asyncAls !== undefined && rawAsync !== undefined) {
      targets.push({ id: 'async_als_vs_raw', what: "hot async stage with asyncContext: 'asyncLocalStorage' (opt-in) over the raw async call", limit: '(reference)', value: `${fmt(asyncAls.medianNs - rawAsync.medianNs)} ns`, pass: null });
    }
    const hotEvery = v('sm_hot_every');
    if (hotEvery?.overheadNs !== undefined) {
      targets.push({ id: 'hot_every_vs_raw', what: "hot sync stage with shortStageTiming: 'every' (every call timed, opt-in) over raw", limit: '(reference)', value: `${fmt(hotEvery.overheadNs)} ns`, pass: null });
    }
    const asyncEvery = v('sm_hot_async_every');
    if (asyncEvery !== undefined && rawAsync !== undefined) {
      targets.push({ id: 'async_every_vs_raw', what: "hot async stage with shortStageTiming: 'every' (opt-in) over the raw async call", limit: '(reference)', value: `${fmt(asyncEvery.medianNs - rawAsync.medianNs)} ns`, pass: null });
    }
    if (inactive?.overheadNs !== undefined) {
      targets.push({ id: 'inactive', what: 'no active run: wrapped call over raw', limit: '<= 20 ns', value: `${fmt(inactive.overheadNs)} ns`, pass: inactive.overheadNs <= 20, detail: `plain rest-args pass-through: ${fmt(v('passthrough')?.overheadNs)} ns` });
    }
    for (const x of micro.variants) {
      if (x.kind !== 'paired' || x.overheadNs === undefined || x.rawNs === undefined) continue;
      const id = x.id;
      if (!id.startsWith('sm_')) continue;
      const limit = Math.max(150, 0.01 * x.rawNs);
      // The same work behind a bare timer: what any timing wrapper pays on this machine.
      const floor = v(`time_only_${id.slice(id.lastIndexOf('_') + 1)}`);
      const detail = floor?.overheadNs !== undefined ? `a bare timer (two clock reads) around the same work: ${fmt(floor.overheadNs)} ns` : undefined;
      targets.push({ id: `${id}_overhead`, what: `${x.label}: overhead vs its own mean (${fmt(x.rawNs / 1000)} µs)`, limit: `<= max(150 ns, 1 %) = ${fmt(limit)} ns`, value: `${fmt(x.overheadNs)} ns (${fmt((x.overheadNs / x.rawNs) * 100, 3)} %)`, pass: x.overheadNs <= limit, ...(detail !== undefined ? { detail } : {}) });
    }
    const bad = micro.stageChecks.filter((c) => !c.ok);
    targets.push({ id: 'micro_counts', what: 'stageSummaries count every call (all micro variants, all rounds)', limit: 'exact', value: bad.length === 0 ? `${micro.stageChecks.length} checks exact` : bad.map((c) => `${c.variant}/${c.stage}: ${c.reportedCalls} vs ${c.expectedCalls}`).join('; '), pass: bad.length === 0 });
  }
  if (memory !== undefined) {
    log('\n== Memory: hot stage, one active run ==');
    log(table(['calls', 'heap growth MB', 'MB / 1M calls', 'peak above start MB', 'ns/call', 'calls in report', 'kept/omitted', 'stopMonitoring ms', 'left after stop MB'], [[
      fmt(memory.calls, 0), fmt(memory.heapGrowthMb, 2), fmt(memory.heapGrowthMbPerMillionCalls, 3), fmt(memory.peakHeapAboveStartMb, 1), fmt(memory.nsPerCall),
      String(memory.reportedCalls ?? '-'), `${memory.recordsKept ?? '-'}/${memory.recordsOmitted ?? '-'}`, fmt(memory.stopMonitoringMs), fmt(memory.retainedAfterStopMb, 2),
    ]]));
    targets.push({ id: 'memory', what: `heap growth of ${fmt(memory.calls, 0)} calls (forced GC before/after)`, limit: '< 20 MB', value: `${fmt(memory.heapGrowthMb, 2)} MB (${fmt(memory.heapGrowthMbPerMillionCalls, 3)} MB per million)`, pass: memory.gcAvailable ? memory.heapGrowthMb < 20 : null });
    targets.push({ id: 'memory_counts', what: 'stageSummaries calls === calls made', limit: 'exact', value: `${memory.reportedCalls} of ${memory.calls}`, pass: memory.countsExact });
  }
  if (pipeline !== undefined) {
    log(`\n== Demo pipeline (${pipeline.months} months x ${fmt(pipeline.rowsPerMonth, 0)} rows), ${pipeline.runs.length / 2} runs each, alternated ==`);
    log(table(['mode', 'median wall s', 'rows/s', 'wall of each run (s)', 'CPU of each run (s)'], [
      ['unmonitored', fmt(pipeline.unmonitoredMedianMs / 1000, 3), fmt(pipeline.unmonitoredRowsPerSecond, 0), pipeline.runs.filter((r) => !r.monitored).map((r) => (r.wallMs / 1000).toFixed(3)).join(' '), pipeline.runs.filter((r) => !r.monitored).map((r) => (r.cpuMs / 1000).toFixed(3)).join(' ')],
      ['monitored', fmt(pipeline.monitoredMedianMs / 1000, 3), fmt(pipeline.monitoredRowsPerSecond, 0), pipeline.runs.filter((r) => r.monitored).map((r) => (r.wallMs / 1000).toFixed(3)).join(' '), pipeline.runs.filter((r) => r.monitored).map((r) => (r.cpuMs / 1000).toFixed(3)).join(' ')],
    ]));
    log(`  wall ratio of medians ${fmt(pipeline.ratio, 4)}; median of per-round wall ratios ${fmt(pipeline.pairedRatioMedian, 4)}; CPU-time ratio of medians ${fmt(pipeline.cpuRatio, 4)}; stopMonitoring (analysis + report) median ${fmt(pipeline.stopMonitoringMedianMs, 1)} ms, not in the wall times`);
    if (pipeline.anomalies.length > 0) log(`  report anomalies: ${pipeline.anomalies.join('; ')}`);
    // The target is read on the pairs: each monitored run against the unmonitored run next to it, so
    // that the host's drift over the minute the section takes cancels out. One run of the demo differs
    // from the next by 5-8 % here, monitored or not (allocation-heavy work on a shared VM), and the
    // ratio of the two medians moved by as much between bench runs of the same code.
    const pairs = pipeline.pairRatios;
    targets.push({ id: 'demo_ratio', what: `demo wall time monitored / unmonitored (median of ${pairs.length} adjacent pairs)`, limit: '<= 1.02', value: `${fmt(pipeline.pairedRatioMedian, 4)} (pairs ${fmt(min(pairs), 3)}-${fmt(max(pairs), 3)}; ratio of the medians ${fmt(pipeline.ratio, 4)}, CPU-time ratio ${fmt(pipeline.cpuRatio, 4)})`, pass: pipeline.pairedRatioMedian <= 1.02 });
    targets.push({ id: 'demo_counts', what: 'demo report: calls, rows and nesting as made', limit: 'exact', value: pipeline.anomalies.length === 0 ? 'all as expected' : pipeline.anomalies.join('; '), pass: pipeline.anomalies.length === 0 });
  }
  if (analyzer !== undefined) {
    log('\n== Analyzers: runAnalysis(run, DEFAULT_THRESHOLDS), 1M samples + 100k records ==');
    log(`  runs: ${analyzer.timesMs.map((x) => `${x.toFixed(1)} ms`).join(', ')}; median ${fmt(analyzer.medianMs, 1)} ms; first ${fmt(analyzer.firstMs, 1)} ms; synthetic data built in ${fmt(analyzer.buildMs, 0)} ms`);
    log(`  findings: ${analyzer.findings ?? '-'} (${(analyzer.findingKinds ?? []).join(', ')}); trend method: ${analyzer.trendMethod ?? '-'}${analyzer.error !== undefined ? `; ERROR: ${analyzer.error}` : ''}`);
    targets.push({ id: 'analyzer', what: 'runAnalysis on 1M samples + 100k records (median)', limit: '< 1000 ms', value: analyzer.medianMs !== undefined ? `${fmt(analyzer.medianMs, 1)} ms (first ${fmt(analyzer.firstMs, 1)} ms)` : (analyzer.error ?? 'no result'), pass: analyzer.error === undefined && analyzer.medianMs !== undefined ? analyzer.medianMs < 1000 : false });
  }
  if (sampler !== undefined) {
    log('\n== Sampler at 1000 ms (idle process, % of one core) ==');
    log(table(['idle, no run', 'idle, run active', 'sampler (difference)', 'one 200 ms ELD histogram alone', 'one tick (JS)', 'tick x 1/s'], [[
      fmt(sampler.idleCpuPercent, 4), fmt(sampler.runCpuPercent, 4), fmt(sampler.samplerCpuPercent, 4), fmt(sampler.eldCpuPercent, 4),
      `${fmt(sampler.tickMedianUs, 1)} µs (first ${fmt(sampler.tickFirstUs, 0)})`, fmt(sampler.tickCpuPercent, 5),
    ]]));
    // A negative difference means an idle phase without a run was disturbed: not a measurement.
    const disturbed = sampler.samplerCpuPercent < 0;
    targets.push({ id: 'sampler', what: 'sampler CPU at the default interval (run - no run, idle process)', limit: '< 0.1 %', value: `${fmt(sampler.samplerCpuPercent, 4)} %${disturbed ? ' (negative: the idle phases were disturbed; run again)' : ''}`, pass: disturbed ? null : sampler.samplerCpuPercent < 0.1, detail: `one monitorEventLoopDelay at 200 ms alone: ${fmt(sampler.eldCpuPercent, 4)} %; the JS tick: ${fmt(sampler.tickCpuPercent, 5)} %` });
  }

  log('\n== Targets ==');
  log(table(['', 'target', 'limit', 'measured'], targets.map((t) => [t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL', t.what, t.limit, t.value + (t.detail !== undefined ? ` [${t.detail}]` : '')])));
  const wallS = (performance.now() - t0) / 1000;
  log(`\nchecksum ${micro?.checksum ?? 0}; total bench wall time ${wallS.toFixed(1)} s`);

  const results = {
    schema: 'stagemeter-bench/1',
    date: new Date().toISOString(),
    quick,
    machine,
    gcAvailable,
    wallSeconds: round(wallS, 1),
    loadAvgAtEnd: loadavg().map((x) => round(x, 2)),
    interference,
    targets,
    micro,
    memory,
    pipeline,
    analyzer,
    sampler,
  };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(results, (_k, val: unknown) => (typeof val === 'number' && !Number.isInteger(val) ? round(val, 4) : val), 2)}\n`);
  log(`results written to ${outPath}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
