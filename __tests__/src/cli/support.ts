/**
 * Shared by the CLI and diff tests: the `stagemeter` bin and the demo pipeline compiled to plain
 * JavaScript once per test file (a child then starts in ~0.2 s instead of ~2.5 s spent loading
 * the TypeScript compiler), real reports from monitored runs, and reports built field by field.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPerformanceMonitor } from '../../../src/index';
import type { PerformanceReport, StageMetrics, StageSummary } from '../../../src/types';
import type { ChildResult } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';
import { compileForNode } from '../../reliability/compile';

const ROOT = resolve(__dirname, '..', '..', '..');
const NODE_MODULES = join(ROOT, 'node_modules');

/** A temp directory per test file, holding the compiled bin and demo and the reports the tests write. */
export function testDirs(): { readonly dir: string; readonly cli: string; readonly demo: string } {
  const state = { dir: '', cli: '', demo: '' };
  beforeAll(() => {
    state.dir = mkdtempSync(join(tmpdir(), 'stagemeter-cli-'));
    const build = join(state.dir, 'build');
    const done = new Set<string>();
    state.cli = compileForNode(join(ROOT, 'src', 'cli.ts'), build, done);
    state.demo = compileForNode(join(ROOT, 'examples', 'demo.ts'), build, done);
  });
  afterAll(() => rmSync(state.dir, { recursive: true, force: true }));
  return state;
}

/** Runs `node <script> ...args` (NODE_PATH to the repository's packages, no STAGEMETER_* variables, no NO_COLOR). */
export function runNode(script: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: NODE_MODULES };
    for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_') || k === 'NO_COLOR' || k === 'FORCE_COLOR') delete env[k];
    const child = spawn(process.execPath, [script, ...args], { env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} timed out; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/**
 * One real run of the demo's labeling pipeline (12 months of 50,000 rows, ~3 s on an idle core)
 * under a fresh monitor, its report written to `output`. `slow` makes one stage do its work that
 * many times per call, e.g. `WeightedLabelingEngine.audit=2`.
 */
export async function runDemo(demo: string, output: string, slow?: string): Promise<PerformanceReport> {
  const r = await runNode(demo, ['--months', '12', '--rows', '50000', '--output', output, ...(slow !== undefined ? ['--slow', slow] : [])], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`demo exited ${r.code}: ${r.stderr}`);
  return expectValidReport(JSON.parse(readFileSync(output, 'utf8')) as PerformanceReport);
}

/** The report of a run that recorded no stage at all. */
export function emptyReport(name = 'empty-run'): PerformanceReport {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  m.startMonitoring({ runName: name });
  return expectValidReport(m.stopMonitoring());
}

/** A stage of a built report: its calls' durations, and optionally their CPU time and nesting. */
export interface StageSpec {
  name: string;
  /** Duration of each call, ms. */
  durationsMs: number[];
  /** CPU time of each call, ms (default: its duration, a stage that only computes). */
  cpuMs?: number[];
  /** Each call i runs inside call i of this stage (which must be listed before it). */
  parent?: string;
  /** Calls finished synchronously (default true). */
  sync?: boolean;
  /** Voluntary context switches per call (default 0). */
  voluntarySwitches?: number;
}

/**
 * A schema-valid report whose stages are exactly `specs`: one record per call, summaries that
 * agree with them, calls of top-level stages end to end, each nested call at the start of its
 * parent's call.
 */
export function builtReport(specs: readonly StageSpec[], name = 'built-run'): PerformanceReport {
  const report = emptyReport(name);
  const records: StageMetrics[] = [];
  const byName = new Map<string, StageMetrics[]>();
  let t = 0;
  let nextId = 1;
  const calls = Math.max(...specs.map((s) => s.durationsMs.length));
  for (let i = 0; i < calls; i++) {
    for (const spec of specs) {
      const d = spec.durationsMs[i];
      if (d === undefined) continue;
      const parent = spec.parent !== undefined ? byName.get(spec.parent)?.[i] : undefined;
      const start = parent !== undefined ? parent.t : t;
      const cpu = spec.cpuMs?.[i] ?? d;
      const r: StageMetrics = {
        id: String(nextId++),
        name: spec.name,
        ...(parent !== undefined ? { parentId: parent.id } : {}),
        t: start,
        durationMs: d,
        rowsProcessed: 100,
        rowsPerSecond: d > 0 ? (100 / d) * 1000 : 0,
        success: true,
        cpu: { userMs: cpu, systemMs: 0, percent: d > 0 ? (cpu / d) * 100 : 0, voluntarySwitches: spec.voluntarySwitches ?? 0, involuntarySwitches: 0 },
        memory: { heapUsedDeltaMb: 0.5 },
        fidelity: 'full',
        sync: spec.sync ?? true,
      };
      records.push(r);
      const list = byName.get(spec.name) ?? [];
      list.push(r);
      byName.set(spec.name, list);
      if (parent === undefined) t += d;
    }
  }
  report.stages = records;
  report.stageSummaries = specs.map((spec): StageSummary => {
    const own = byName.get(spec.name) ?? [];
    const ds = own.map((r) => r.durationMs).sort((a, b) => a - b);
    const total = ds.reduce((a, b) => a + b, 0);
    const cpu = own.reduce((a, r) => a + r.cpu.userMs, 0);
    const q = (p: number): number => ds[Math.min(ds.length - 1, Math.floor(p * (ds.length - 1)))] ?? 0;
    return {
      name: spec.name,
      calls: own.length,
      failures: 0,
      totalMs: total,
      // Calls of a stage never overlap here; a child starts with its parent.
      busyMs: total,
      selfMs: total - specs.filter((c) => c.parent === spec.name).reduce((a, c) => a + (byName.get(c.name) ?? []).reduce((b, r) => b + r.durationMs, 0), 0),
      meanMs: own.length > 0 ? total / own.length : 0,
      stdDevMs: own.length > 1 ? Math.sqrt(ds.reduce((a, d) => a + (d - total / own.length) ** 2, 0) / (own.length - 1)) : 0,
      p50Ms: q(0.5),
      p95Ms: q(0.95),
      p99Ms: q(0.99),
      maxMs: ds[ds.length - 1] ?? 0,
      minMs: ds[0] ?? 0,
      quantiles: 'exact',
      rowsProcessed: 100 * own.length,
      rowsPerSecond: total > 0 ? ((100 * own.length) / total) * 1000 : 0,
      rowsPerCallSecond: total > 0 ? ((100 * own.length) / total) * 1000 : 0,
      cpu: { userMs: cpu, systemMs: 0, percent: total > 0 ? (cpu / total) * 100 : 0, estimated: false, probedWallMs: total, voluntarySwitches: (spec.voluntarySwitches ?? 0) * own.length, involuntarySwitches: 0 },
      meanHeapUsedDeltaMb: 0.5,
      maxHeapUsedDeltaMb: 0.5,
      syncCalls: spec.sync === false ? 0 : own.length,
      maxSyncMs: spec.sync === false ? 0 : (ds[ds.length - 1] ?? 0),
      maxSyncAtMs: 0,
      rootCalls: spec.parent === undefined ? own.length : 0,
      fidelity: { mode: 'full', probedCalls: own.length, recordEvery: 1, timedCalls: own.length },
      recordsKept: own.length,
      recordsOmitted: 0,
    };
  });
  report.run.durationMs = t;
  report.summary.totalStages = records.length;
  report.stageRecords = { max: report.stageRecords.max, kept: records.length, omitted: 0 };
  delete report.timeShare;
  return expectValidReport(report);
}

/** Writes `value` as JSON (or `text` as is) to `dir/name` and returns the path. */
export function writeFile(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}

/**
 * Runs `node <script> ...args` with stdout on a pseudo-terminal, through util-linux `script`
 * (stdout.isTTY is then true); resolves with what the terminal showed (lines end in \r\n).
 */
export function runNodeInTty(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, script, ...args].map(quote).join(' ');
  return new Promise((resolvePromise, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: NODE_MODULES };
    for (const k of Object.keys(base)) if (k.startsWith('STAGEMETER_') || k === 'NO_COLOR' || k === 'FORCE_COLOR') delete base[k];
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}
