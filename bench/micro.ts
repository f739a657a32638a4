/**
 * Per-call cost of a trivial function, side by side in one process: raw, a bare timer (two clock
 * reads around the call), an OpenTelemetry span (SDK + BatchSpanProcessor), and stagemeter with no
 * active run, a hot sync stage, the same nested in a stage, and a hot async stage.
 *
 * How, and why:
 * - A trivial call costs ~1 ns, far below one clock read (~25-50 ns), so the unit timed is a batch
 *   of n calls (n sized so a batch takes ~BATCH_MS), timed as a whole and divided by n. A
 *   variant's figure for a round is its total time over its total calls (the mean, so a garbage
 *   collection that hits one batch in ten is charged in full); the bench reports the median over
 *   rounds and the range.
 * - Every variant runs its own copy of the loop (`new Function` with a distinct source): closures
 *   of one function literal share type feedback, and one shared loop would call every variant
 *   through a megamorphic call site.
 * - Every batch ends with one macrotask turn inside the timed window, so work an instrumentation
 *   defers (OpenTelemetry's span export) is charged to it: a few µs per ~2 ms batch, < 0.01 ns a call.
 * - Each variant is warmed (~1,000 calls unoptimised, then V8 compiles) before anything is timed,
 *   and rounds rotate the order of the variants. The synchronous stages record into one run that
 *   lasts the section, the async stage into a run per round; each report's call count is
 *   checked against the calls made.
 * - What installs an AsyncLocalStorage or promise hooks (OpenTelemetry's context manager, a run
 *   with async stages) is switched off when its variant ends, so it does not tax the promises of
 *   the variants timed after it.
 */
import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createPerformanceMonitor, setMonitor, withStage, type PerformanceMonitor, type PerformanceReport } from '../src/index';
import { slot } from '../src/callpath/global';
import { areOptimized, CALL_PATH } from './jit';
import { drain, gcNow, max, median, min } from './stats';

/** Wall time of one timed batch, ms. */
const BATCH_MS = 2;
/** Timed batches per variant and round. */
const BATCHES = 15;
/** Untimed batches after a variant's setup each round (a fresh run's first calls are cold). */
const WARM_BATCHES = 4;

type SyncFn = (x: number) => number;
type AsyncFn = (x: number) => Promise<number>;
type SyncLoop = (f: SyncFn, n: number) => number;
type AsyncLoop = (f: AsyncFn, n: number) => Promise<number>;

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

/** A fresh copy of the timed loop (see the file comment). */
function syncLoop(tag: string): SyncLoop {
  return new Function('f', 'n', `// loop of ${tag}\nlet s = 0;\nfor (let i = 0; i < n; i++) s = (s + f(i)) | 0;\nreturn s;`) as SyncLoop;
}

function asyncLoop(tag: string): AsyncLoop {
  return new AsyncFunction('f', 'n', `// loop of ${tag}\nlet s = 0;\nfor (let i = 0; i < n; i++) s = (s + (await f(i))) | 0;\nreturn s;`) as unknown as AsyncLoop;
}

/** The function every variant calls. */
function trivial(x: number): number {
  return (x * 3 + 1) | 0;
}

async function trivialAsync(x: number): Promise<number> {
  return (x * 3 + 1) | 0;
}

export type MicroId = 'raw' | 'timer' | 'otel' | 'sm_inactive' | 'sm_hot' | 'sm_nested' | 'raw_async' | 'raw_async_hooks' | 'sm_async';

interface Variant {
  id: MicroId;
  label: string;
  /** Runs n calls; returns a checksum. */
  run(n: number): number | Promise<number>;
  setup?(): void | Promise<void>;
  teardown?(): void | Promise<void>;
  n: number;
  roundsNs: number[];
  /**
   * stagemeter variants in a run: the wrapper and the loop that calls it, timed batches, and
   * those that began with callStage and the wrapper (or its caller, which inlines it) optimised.
   */
  jit?: { entry: unknown; caller: unknown; batches: number; optimized: number };
}

export interface MicroVariant {
  id: MicroId;
  label: string;
  /** Median over rounds of the per-call mean, ns; and the range over rounds. */
  ns: number;
  minNs: number;
  maxNs: number;
  roundsNs: number[];
  batchCalls: number;
  /** Stagemeter variants in a run: timed batches, and those that began with the stage's wrapper and callStage optimised by TurboFan. */
  jit?: { batches: number; optimized: number };
}

export interface MicroResult {
  variants: MicroVariant[];
  /** Report counts that did not match the calls made (empty when all did). */
  countProblems: string[];
  otelSpans: { created: number; exported: number };
  rounds: number;
  /** The wrapped stagemeter functions and the loops that call them, for the optimisation table. */
  wrappers: Record<string, { f: unknown; caller: unknown }>;
}

/**
 * Runs the per-call variants for `rounds` rounds and returns their figures.
 *
 * @example
 * const micro = await runMicro(9, console.log);
 * micro.variants.find((v) => v.id === 'sm_hot')!.ns - micro.variants.find((v) => v.id === 'raw')!.ns; // ~100-150
 */
export async function runMicro(rounds: number, log: (line: string) => void): Promise<MicroResult> {
  const variants: Variant[] = [];
  const countProblems: string[] = [];
  let checksum = 0;
  const add = (v: Omit<Variant, 'n' | 'roundsNs'>): Variant => {
    const full: Variant = { ...v, n: 1, roundsNs: [] };
    variants.push(full);
    return full;
  };
  const sync = (id: MicroId, label: string, f: SyncFn, extra: Partial<Variant> = {}): Variant => {
    const loop = syncLoop(id);
    return add({ id, label, run: (n) => loop(f, n), ...extra });
  };

  sync('raw', 'raw call', trivial);
  let timerSum = 0;
  // The floor of any timing: two clock reads around the call, the difference kept.
  sync('timer', 'bare timer (performance.now() x2)', (x) => {
    const t0 = performance.now();
    const r = trivial(x);
    timerSum += performance.now() - t0;
    return r;
  });

  // OpenTelemetry, the production set-up: NodeTracerProvider with an AsyncLocalStorage context
  // manager and a BatchSpanProcessor (default limits) exporting to a counting no-op exporter.
  let exported = 0;
  let created = 0;
  const exporter: SpanExporter = {
    export(spans, done) {
      exported += spans.length;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const contextManager = new AsyncLocalStorageContextManager();
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register({ contextManager });
  const tracer: Tracer = provider.getTracer('stagemeter-bench');
  const otelLoop = syncLoop('otel');
  const spanned = (x: number): number =>
    tracer.startActiveSpan('op', (span) => {
      const r = trivial(x);
      span.end();
      return r;
    });
  add({
    id: 'otel', label: 'OpenTelemetry span (SDK + BatchSpanProcessor)',
    run: (n) => {
      created += n;
      return otelLoop(spanned, n);
    },
    setup: () => {
      contextManager.enable();
    },
    teardown: async () => {
      await provider.forceFlush();
      contextManager.disable();
    },
  });

  // stagemeter: the singleton with a user's default options (sampler on, 1000 ms). Its run is
  // active through the whole section, for the synchronous stages: stopping a run (analysis and
  // report) takes longer than a variant's batches, and a run's first calls are the batches
  // section's subject. A run with sync stages only installs no promise hooks, so it costs the
  // other variants nothing but a sampler tick a second.
  const monitor: PerformanceMonitor = createPerformanceMonitor();
  setMonitor(monitor);
  const countCheck = (id: string, report: PerformanceReport | undefined, stage: string, expected: number): void => {
    const calls = report?.stageSummaries.find((s) => s.name === stage)?.calls;
    if (calls !== expected) countProblems.push(`${id}: ${stage} has ${calls ?? 'no'} calls in the report, ${expected} were made`);
  };

  // No active run: while this variant runs, the singleton is a monitor that is never started.
  const idle: PerformanceMonitor = createPerformanceMonitor();
  const inactive = withStage('bench_inactive', trivial);
  sync('sm_inactive', 'stagemeter, no active run', inactive, {
    setup: () => setMonitor(idle),
    teardown: () => setMonitor(monitor),
  });

  const hot = withStage('bench_hot', trivial);
  const hotLoop = syncLoop('sm_hot');
  let hotCalls = 0;
  add({
    id: 'sm_hot', label: 'stagemeter hot sync stage',
    run: (n) => {
      hotCalls += n;
      return hotLoop(hot, n);
    },
    jit: { entry: hot, caller: hotLoop, batches: 0, optimized: 0 },
  });

  // Nested: the hot stage inside an outer stage (one outer call per batch), so every call has a parent.
  const inner = withStage('bench_inner', trivial);
  const nestedLoop = syncLoop('sm_nested');
  const outer = withStage('bench_outer', (n: number) => nestedLoop(inner, n));
  let innerCalls = 0;
  let outerCalls = 0;
  add({
    id: 'sm_nested', label: 'stagemeter hot sync stage, nested in a stage',
    run: (n) => {
      innerCalls += n;
      outerCalls++;
      return outer(n);
    },
    jit: { entry: inner, caller: nestedLoop, batches: 0, optimized: 0 },
  });

  // Async stages record into a monitor of their own, whose run lasts one variant and round: its
  // promise hooks must be off while the raw async call is timed.
  const asyncMonitor: PerformanceMonitor = createPerformanceMonitor();
  const stopAsync = (): PerformanceReport | undefined => (asyncMonitor.isMonitoring ? asyncMonitor.stopMonitoring() : undefined);
  const rawAsyncLoop = asyncLoop('raw_async');
  add({
    id: 'raw_async', label: 'raw async call (no promise hooks)', run: (n) => rawAsyncLoop(trivialAsync, n),
    setup: () => {
      stopAsync();
      if (slot.hookUsers !== 0 || slot.alsUsers !== 0) throw new Error('a stagemeter async context is still on');
    },
  });

  const hotAsync = withStage('bench_async', trivialAsync, { monitor: asyncMonitor });
  const hooksLoop = asyncLoop('raw_async_hooks');
  add({
    id: 'raw_async_hooks', label: "raw async call, a run's promise hooks on", run: (n) => hooksLoop(trivialAsync, n),
    setup: async () => {
      stopAsync();
      asyncMonitor.startMonitoring({ runName: 'bench:raw_async_hooks' });
      await hotAsync(1); // a run's first async stage installs its promise hooks
      if (slot.hookUsers === 0) throw new Error('expected the run to install its promise hooks');
    },
    teardown: () => void stopAsync(),
  });

  const smAsyncLoop = asyncLoop('sm_async');
  let asyncCalls = 0;
  add({
    id: 'sm_async', label: 'stagemeter hot async stage',
    run: (n) => {
      asyncCalls += n;
      return smAsyncLoop(hotAsync, n);
    },
    setup: () => {
      stopAsync();
      asyncMonitor.startMonitoring({ runName: 'bench:sm_async' });
      asyncCalls = 0;
    },
    teardown: () => countCheck('sm_async', stopAsync(), 'bench_async', asyncCalls),
    jit: { entry: hotAsync, caller: smAsyncLoop, batches: 0, optimized: 0 },
  });

  const timeBatch = async (v: Variant, n: number): Promise<number> => {
    const t0 = performance.now();
    checksum ^= await v.run(n);
    await drain();
    return performance.now() - t0;
  };

  monitor.startMonitoring({ runName: 'bench:micro' });
  // Calibration and warm-up: each variant from n = 1 up (its first ~1,000 calls run unoptimised,
  // which would make it look slow and size its batch far too small), then re-sized once warm.
  log(`  calibrating and warming ${variants.length} variants`);
  for (const v of variants) {
    await v.setup?.();
    let n = 1;
    for (;;) {
      const dt = Math.min(await timeBatch(v, n), await timeBatch(v, n));
      if (dt >= BATCH_MS / 4 || n >= 1 << 24) break;
      n *= 4;
    }
    for (let i = 0; i < 20; i++) await timeBatch(v, n);
    const dt = Math.min(await timeBatch(v, n), await timeBatch(v, n), await timeBatch(v, n));
    v.n = Math.max(1, Math.round((n * BATCH_MS) / Math.max(dt, 1e-3)));
    await v.teardown?.();
  }
  countProblems.length = 0;

  gcNow();
  for (let r = 0; r < rounds; r++) {
    const rot = (r * 3) % variants.length;
    let order = [...variants.slice(rot), ...variants.slice(0, rot)];
    if (r % 2 === 1) order = order.reverse();
    for (const v of order) {
      await v.setup?.();
      for (let i = 0; i < WARM_BATCHES; i++) await timeBatch(v, v.n);
      let total = 0;
      for (let b = 0; b < BATCHES; b++) {
        if (v.jit !== undefined) {
          v.jit.batches++;
          // The wrapper counts as optimised when the loop that calls it is: V8 inlines it there.
          if (areOptimized(CALL_PATH) === true && (areOptimized(v.jit.entry) === true || areOptimized(v.jit.caller) === true)) v.jit.optimized++;
        }
        total += await timeBatch(v, v.n);
      }
      v.roundsNs.push((total * 1e6) / (BATCHES * v.n));
      await v.teardown?.();
    }
  }
  await provider.shutdown();
  const report = monitor.stopMonitoring();
  countCheck('sm_hot', report, 'bench_hot', hotCalls);
  countCheck('sm_nested', report, 'bench_inner', innerCalls);
  countCheck('sm_nested', report, 'bench_outer', outerCalls);
  if ((checksum ^ (timerSum | 0)) === 0.5) log('unreachable');
  return {
    variants: variants.map((v) => ({
      id: v.id, label: v.label, ns: median(v.roundsNs), minNs: min(v.roundsNs), maxNs: max(v.roundsNs), roundsNs: v.roundsNs, batchCalls: v.n,
      ...(v.jit !== undefined ? { jit: { batches: v.jit.batches, optimized: v.jit.optimized } } : {}),
    })),
    countProblems,
    otelSpans: { created, exported },
    rounds,
    wrappers: {
      'withStage wrapper of bench_hot': { f: hot, caller: hotLoop },
      'withStage wrapper of bench_inner': { f: inner, caller: nestedLoop },
      'withStage wrapper of bench_async': { f: hotAsync, caller: smAsyncLoop },
    },
  };
}
