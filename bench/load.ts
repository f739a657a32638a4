/**
 * Load: what a big run costs the program it watches. Each scenario runs in a fresh child process
 * (this file with `--child`), so RSS and JIT state start clean:
 * - busy: 100 stages x 250,000 calls of a trivial function (25M calls), cut into macrotasks of
 *   2,500 calls (~1 ms), with checkpoints every 1,000 ms, and again without checkpoints: the
 *   report's size, stopMonitoring's time, the worst lateness of a 1 ms interval timer (how long
 *   anything held the event loop), RSS growth, and how much longer the same work took with
 *   checkpoints;
 * - names: 20,000 distinct stage names, 5 calls each: the same figures (past maxStageNames, the
 *   names are counted under "(other stages)").
 *
 *   node build/bench/load.js [--quick] [--out PATH]     (alone; or runLoad() from bench/run.ts)
 *
 * --quick runs a tenth of the calls. The full section takes ~25-40 s on a 2-core VM.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, setMonitor, withStage } from '../src/index';
import { fmt, table } from './stats';

const MB = 1024 * 1024;

interface Scenario {
  stages: number;
  calls: number;
  names: number;
  callsPerName: number;
  checkpointMs?: number;
  out: string;
}

/** What one child measured. */
export interface LoadFigures {
  scenario: string;
  calls: number;
  /** The calls' wall time, ms (stopMonitoring not included). */
  runMs: number;
  stopMs: number;
  reportMb: number;
  records: number;
  stageSummaries: number;
  /** Worst lateness of a 1 ms interval timer during the calls, ms: the longest the loop was held. */
  worstStallMs: number;
  /** RSS after the calls (before the stop) minus RSS before startMonitoring, MB; and the peak seen. */
  rssGrowthMb: number;
  peakRssGrowthMb: number;
  /** Checkpoints seen during the run (each is a new file renamed over the report) and the largest, MB. */
  checkpoints: number;
  largestCheckpointMb: number;
}

export interface LoadResult {
  quick: boolean;
  busyWithCheckpoints: LoadFigures;
  busyWithoutCheckpoints: LoadFigures;
  names: LoadFigures;
  /** How much longer the busy calls took with checkpoints every second, % of the time without. */
  checkpointSlowdownPercent: number;
  wallMs: number;
}

/** A row for bench/run.ts's targets table. */
export interface LoadTarget {
  id: string;
  what: string;
  limit: string;
  value: string;
  pass: boolean | null;
}

// ------------------------------------------------------------------ the child

async function child(s: Scenario): Promise<LoadFigures> {
  const rss0 = process.memoryUsage.rss();
  let peakRss = rss0;
  const monitor = createPerformanceMonitor({ outputPath: s.out, ...(s.checkpointMs !== undefined ? { checkpointIntervalMs: s.checkpointMs } : {}) });
  setMonitor(monitor);
  monitor.startMonitoring({ runName: 'bench:load' });
  let worstStallMs = 0;
  let last = performance.now();
  let ticks = 0;
  const lateness = setInterval(() => {
    const t = performance.now();
    worstStallMs = Math.max(worstStallMs, t - last);
    last = t;
    if (++ticks % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 1);
  const checkpoints = new Map<number, number>();
  const watch = setInterval(() => {
    try {
      const st = statSync(s.out);
      checkpoints.set(st.ino, st.size);
    } catch {
      // none yet
    }
  }, 10);
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const CHUNK = 2500;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < s.names; i++) {
    const f = withStage(`name_${i}`, (x: number) => x + 1);
    for (let k = 0; k < s.callsPerName; k++) sink ^= f(k);
    if (i % 200 === 0) await turn();
  }
  const stages = Array.from({ length: s.stages }, (_, k) => withStage(`stage_${k}`, (x: number) => (x * 3 + k) | 0));
  for (let done = 0; done < s.calls; done += CHUNK) {
    for (const f of stages) {
      for (let i = 0; i < CHUNK; i++) sink = (sink + f(i)) | 0;
      await turn();
    }
  }
  const runMs = performance.now() - t0;
  const rss1 = process.memoryUsage.rss();
  clearInterval(lateness);
  clearInterval(watch);
  const s0 = performance.now();
  const report = monitor.stopMonitoring();
  const stopMs = performance.now() - s0;
  if (sink === 0.5) console.error('unreachable');
  const sizes = [...checkpoints.values()];
  return {
    scenario: '',
    calls: report.summary.totalStages,
    runMs,
    stopMs,
    reportMb: statSync(s.out).size / MB,
    records: report.stages.length,
    stageSummaries: report.stageSummaries.length,
    worstStallMs,
    rssGrowthMb: (rss1 - rss0) / MB,
    peakRssGrowthMb: (Math.max(peakRss, rss1) - rss0) / MB,
    checkpoints: sizes.length,
    largestCheckpointMb: sizes.length > 0 ? Math.max(...sizes) / MB : 0,
  };
}

// ------------------------------------------------------------------ the parent

function inChild(name: string, s: Scenario): LoadFigures {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_')) delete env[k];
  const r = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(s)], { env, encoding: 'utf8', maxBuffer: 1 << 20, timeout: 180_000 });
  if (r.status !== 0) throw new Error(`load child ${name} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as LoadFigures), scenario: name };
}

/**
 * Runs the load scenarios, each in a child process, and returns their figures.
 *
 * @example
 * const load = runLoad({ quick: false }, console.log);
 * load.busyWithCheckpoints.worstStallMs; // ~40-90 on a 2-core VM
 */
export function runLoad(options: { quick?: boolean } = {}, log: (line: string) => void = () => undefined): LoadResult {
  const t0 = performance.now();
  const quick = options.quick === true;
  const dir = mkdtempSync(join(tmpdir(), 'stagemeter-load-'));
  try {
    const calls = quick ? 25_000 : 250_000;
    const busy = { stages: 100, calls, names: 0, callsPerName: 0 };
    log(`  busy: 100 stages x ${fmt(calls, 0)} calls, checkpoints every 1000 ms`);
    const busyWithCheckpoints = inChild('busy, checkpoints 1 s', { ...busy, checkpointMs: 1000, out: join(dir, 'busy-ckpt.json') });
    log('  busy: the same without checkpoints');
    const busyWithoutCheckpoints = inChild('busy, no checkpoints', { ...busy, out: join(dir, 'busy.json') });
    log('  names: 20,000 distinct stage names, 5 calls each');
    const names = inChild('20k names', { stages: 0, calls: 0, names: 20_000, callsPerName: 5, checkpointMs: 1000, out: join(dir, 'names.json') });
    return {
      quick,
      busyWithCheckpoints,
      busyWithoutCheckpoints,
      names,
      checkpointSlowdownPercent: (busyWithCheckpoints.runMs / busyWithoutCheckpoints.runMs - 1) * 100,
      wallMs: performance.now() - t0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The figures as a table, one column per scenario.
 *
 * @example
 * console.log(loadTable(runLoad({ quick: true })));
 */
export function loadTable(r: LoadResult): string {
  const list = [r.busyWithCheckpoints, r.busyWithoutCheckpoints, r.names];
  const row = (label: string, f: (x: LoadFigures) => string): string[] => [label, ...list.map(f)];
  return table(['', ...list.map((x) => x.scenario)], [
    row('calls', (x) => fmt(x.calls, 0)),
    row('report MB', (x) => fmt(x.reportMb, 1)),
    row('records / summaries', (x) => `${fmt(x.records, 0)} / ${fmt(x.stageSummaries, 0)}`),
    row('stopMonitoring ms', (x) => fmt(x.stopMs, 0)),
    row('worst loop stall ms', (x) => fmt(x.worstStallMs, 0)),
    row('checkpoints (largest MB)', (x) => `${x.checkpoints} (${fmt(x.largestCheckpointMb, 1)})`),
    row('RSS growth MB (peak)', (x) => `${fmt(x.rssGrowthMb, 0)} (${fmt(x.peakRssGrowthMb, 0)})`),
    row('calls wall s', (x) => fmt(x.runMs / 1000, 2)),
  ]);
}

/**
 * Pass/fail rows against issue 17's limits.
 *
 * @example
 * loadTargets(runLoad()).filter((t) => t.pass === false); // the limits missed
 */
export function loadTargets(r: LoadResult): LoadTarget[] {
  const ck = r.busyWithCheckpoints;
  const n = r.names;
  const biggest = Math.max(ck.reportMb, r.busyWithoutCheckpoints.reportMb, n.reportMb);
  return [
    { id: 'load_report_size', what: 'report size, 100 busy stages / 20k names', limit: '< 25 MB', value: `${fmt(ck.reportMb, 1)} / ${fmt(n.reportMb, 1)} MB`, pass: biggest < 25 },
    { id: 'load_stop', what: `stopMonitoring, 100 stages x ${fmt(ck.calls / 100, 0)} calls / 20k names`, limit: '< 2000 ms', value: `${fmt(ck.stopMs, 0)} / ${fmt(n.stopMs, 0)} ms`, pass: Math.max(ck.stopMs, n.stopMs) < 2000 },
    {
      id: 'load_checkpoint_stall',
      what: `worst event-loop stall with checkpoints every 1 s (${ck.checkpoints} written; without checkpoints: ${fmt(r.busyWithoutCheckpoints.worstStallMs, 0)} ms)`,
      limit: '<= ~100 ms',
      value: `${fmt(ck.worstStallMs, 0)} ms`,
      pass: ck.checkpoints > 0 ? ck.worstStallMs <= 110 : null,
    },
    { id: 'load_checkpoint_cost', what: 'the busy calls with checkpoints every 1 s vs without, extra wall time', limit: '(reference; spacing caps it near 10 %)', value: `${fmt(r.checkpointSlowdownPercent, 1)} %`, pass: null },
    { id: 'load_names_rss', what: '20k distinct stage names: RSS growth', limit: '< 100 MB', value: `${fmt(n.rssGrowthMb, 0)} MB (peak ${fmt(n.peakRssGrowthMb, 0)})`, pass: n.rssGrowthMb < 100 },
  ];
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const childArg = argValue('--child');
  if (childArg !== undefined) {
    child(JSON.parse(childArg) as Scenario).then(
      (figures) => process.stdout.write(`${JSON.stringify(figures)}\n`),
      (err: unknown) => {
        console.error(err);
        process.exitCode = 1;
      },
    );
  } else {
    const log = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    log('load: what a big run costs the program (each scenario in a fresh child process)');
    const result = runLoad({ quick: process.argv.includes('--quick') }, log);
    log(loadTable(result));
    log(table(['', 'target', 'limit', 'measured'], loadTargets(result).map((t) => [t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL', t.what, t.limit, t.value])));
    log(`load section: ${fmt(result.wallMs / 1000, 1)} s`);
    const out = argValue('--out');
    if (out !== undefined) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  }
}
