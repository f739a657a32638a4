/**
 * Per-call cost of a trivial function under every kind of instrumentation, side by side in one
 * process: raw, pass-through, time-only, AsyncLocalStorage, timerify, OpenTelemetry (real SDK),
 * the naive memoryUsage/cpuUsage wrapper, and stagemeter (inactive, hot, nested, medium, long,
 * async).
 *
 * How it is measured, and why:
 * - A trivial call costs ~1 ns, far below the cost of reading a timer (~30-50 ns), so one tinybench
 *   iteration is a *batch*: a tight loop of `n` calls (n chosen per variant so a batch takes about
 *   BATCH_MS), timed as a whole and divided by n. The per-call mean of the batch is handed to
 *   tinybench as `overriddenDuration`, the batch's wall time as `overriddenIterationCost`, so
 *   tinybench's statistics are over batch means and its time budget is honest. A variant's figure
 *   for a round is the *mean* of its batch means (all batches have the same n, so: total time /
 *   calls), so garbage collection, which hits only some batches, is charged in full; the median of
 *   batch means would leave it out for allocating variants (OpenTelemetry, stagemeter's records).
 * - Every variant gets its own copy of the same loop, compiled separately with `new Function`
 *   (the tag in the source defeats V8's compilation cache). Closures of one function literal
 *   share type feedback, so with one shared loop the raw call site would turn megamorphic and
 *   every variant would be measured through a slower call than its own.
 * - Each batch ends with one macrotask turn (setImmediate) inside the timed window, so work an
 *   instrumentation defers (OpenTelemetry's export promises, timerify's observer delivery) is
 *   charged to it. That turn costs a few µs per batch of ~2 ms: < 0.01 ns per trivial call.
 * - Loop results are summed into a checksum that is printed, so nothing is optimised away.
 * - All variants run once untimed (twice, in fact) before the first timed round, so every shared
 *   code path (stagemeter's wrapper and `_invoke`, which all stagemeter variants share as they
 *   would in a real pipeline) has seen all its shapes before anything is timed. Rounds then
 *   alternate the order of variants (rotated, and reversed every other round); the figure of a
 *   variant is the median over rounds of its per-round mean.
 * - Long and medium stages are measured as *pairs*: each iteration interleaves calls of the raw
 *   function and of the wrapped one (alternating which goes first), each timed on its own, so
 *   drift in CPU speed cancels out of the difference. An iteration holds several pairs (so the
 *   full probes a stage samples on 1 call in k are in it in proportion); a round's overhead is the
 *   median of its iterations' mean differences (a burst of another process spoils one iteration,
 *   not the figure), and the variant's is the median over rounds.
 * - Every instrumentation that installs an AsyncLocalStorage or promise hooks
 *   (AsyncLocalStorage.run, OpenTelemetry's context manager, a stagemeter run with async stages)
 *   is disabled again when its variant ends, so it does not tax the promises of the variants
 *   measured after it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createPerformanceMonitor, PerformanceMonitor, setMonitor, withStage, type PerformanceReport } from '../src/index';
import { slot } from '../src/callpath/global';
import { callStage } from '../src/callpath/invoke';
import { compileWork, stepsFor } from './work';
import { drain, gcNow, max, mean, median, min, watchInterference, type Interference } from './stats';

/**
 * V8's optimisation state of a function (`%GetOptimizationStatus`), when the bench runs with
 * --allow-natives-syntax (npm run bench does); undefined otherwise. Built at run time, since
 * TypeScript cannot parse `%`.
 */
const optimizationStatus: ((f: unknown) => number) | undefined = (() => {
  try {
    return new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  } catch {
    return undefined;
  }
})();
/** Bit of `%GetOptimizationStatus` set while a function runs as optimised (TurboFan) code. */
const V8_OPTIMIZED = 16;
/** stagemeter's per-call path, whose optimisation state each timed batch of a stagemeter variant records. */
const HOT_PATH = callStage;

/** Wall time of one timed batch, ms. */
const BATCH_MS = 2;
/** tinybench time budget per variant and round, ms (at least MIN_BATCHES batches are run). */
const ROUND_TIME_MS = 200;
const MIN_BATCHES = 12;
/** Untimed batches run after a variant's setup in each round (a fresh run must warm up). */
const SETUP_WARM_MS = 25;

export interface MicroOptions {
  rounds: number;
  /** Work of the paired stages, ns (about): medium, long (default 10 µs, 250 µs, 1 ms). */
  pairedWorkNs?: number[];
  /** Only these variants (plus the baselines); for trying changes. */
  variants?: string[];
}

type SyncLoop = (f: (x: number) => number, n: number) => number;
type AsyncLoop = (f: (x: number) => Promise<number>, n: number) => Promise<number>;

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

/** A fresh copy of the timed loop for one variant (see the file comment for why). */
function syncLoop(tag: string): SyncLoop {
  return new Function('f', 'n', `// loop of ${tag}\nlet s = 0;\nfor (let i = 0; i < n; i++) s = (s + f(i)) | 0;\nreturn s;`) as SyncLoop;
}

function asyncLoop(tag: string): AsyncLoop {
  return new AsyncFunction('f', 'n', `// loop of ${tag}\nlet s = 0;\nfor (let i = 0; i < n; i++) s = (s + (await f(i))) | 0;\nreturn s;`) as unknown as AsyncLoop;
}

let timeOnlyAcc = 0;

/** A bare timing wrapper: two clock reads around the call, the sum kept. */
function timeOnly(f: (x: number) => number): (x: number) => number {
  return function (this: unknown, ...args: unknown[]): number {
    const t0 = performance.now();
    const r = Reflect.apply(f, this, args) as number;
    timeOnlyAcc += performance.now() - t0;
    return r;
  };
}

/** The function every variant calls. */
function trivial(x: number): number {
  return (x * 3 + 1) | 0;
}

async function trivialAsync(x: number): Promise<number> {
  return (x * 3 + 1) | 0;
}

/** Deterministic CPU work of `steps` steps, no allocation, never inlined (long and medium stages). */
const work = compileWork('work');


export interface StageCheck {
  variant: string;
  stage: string;
  expectedCalls: number;
  reportedCalls: number | undefined;
  ok: boolean;
  fidelity?: unknown;
  meanMs?: number;
  quantiles?: string;
  recordsKept?: number;
  recordsOmitted?: number;
  note?: string;
}

interface Variant {
  id: string;
  label: string;
  /** Which raw figure its overhead is computed against. */
  baseline: string | undefined;
  kind: 'sync' | 'async' | 'paired';
  /** Runs n calls (or n pairs for paired variants); returns a checksum. */
  run(n: number): number | Promise<number>;
  setup?(): void | Promise<void>;
  teardown?(): void | Promise<void>;
  /** Outside the timed window, after every batch. */
  afterBatch?(): void;
  /** Calls made since setup (for the report's exact counts). */
  calls: number;
  /** Batch size, fixed after calibration. */
  n: number;
  /** Wall time a batch is sized for, ms (BATCH_MS unless set). */
  batchMs?: number;
  /** Per round: mean and median of the batch means (per-call ns), tinybench's min/max, batch count. */
  rounds: Array<{ meanNs: number; medianNs: number; minNs: number; maxNs: number; batches: number; n: number; heapUsedMbAtStart: number }>;
  /** Paired variants: per-round medians of raw, wrapped and difference, ns. */
  pairRounds?: Array<{ rawNs: number; wrappedNs: number; diffNs: number; meanDiffNs: number; batches: number }>;
  pairIter?: { raw: number[]; wrapped: number[]; diff: number[] };
  /** stagemeter variants: timed batches, and those that began with HOT_PATH optimised by V8. */
  jit?: { batches: number; optimized: number };
  note?: string;
}

export interface VariantResult {
  id: string;
  label: string;
  kind: 'sync' | 'async' | 'paired';
  baseline: string | undefined;
  medianNs: number;
  minNs: number;
  maxNs: number;
  /** Per-round figures. */
  roundsNs: number[];
  batchSize: number;
  batchesPerRound: number[];
  overheadNs?: number;
  ratioToRaw?: number;
  ratioToOtel?: number;
  /** Paired variants: the raw work's own duration. */
  rawNs?: number;
  /** Median over rounds of the per-round median batch mean (the table uses per-round means). */
  medianOfBatchMediansNs?: number;
  /**
   * stagemeter variants, when the bench runs with --allow-natives-syntax: the timed batches, and
   * those that began with stagemeter's per-call path optimised by V8.
   */
  pathOptimized?: { batches: number; optimized: number };
  /** Paired variants: per-round overhead (median of per-iteration means) and plain mean, ns. */
  roundsDiffNs?: number[];
  roundsMeanDiffNs?: number[];
  /** heapUsed (after a forced GC) when the variant started, per round, MB. */
  heapUsedMbAtStart?: number[];
  note?: string;
}

export interface MicroResult {
  variants: VariantResult[];
  stageChecks: StageCheck[];
  otel: { batchSpansCreated: number; batchSpansExported: number; simpleSpansExported: number };
  timerifyEntriesObserved: number;
  timerifyCalls: number;
  checksum: number;
  /** What else ran on the machine during each round. */
  interference: Interference[];
  rounds: number;
  batchMs: number;
  roundTimeMs: number;
  wallMs: number;
}

let checksum = 0;

function summaryOf(report: PerformanceReport, name: string) {
  return report.stageSummaries.find((s) => s.name === name);
}

export async function runMicro(options: MicroOptions, log: (line: string) => void): Promise<MicroResult> {
  const wall0 = performance.now();
  const stageChecks: StageCheck[] = [];
  const variants: Variant[] = [];
  const add = (v: Omit<Variant, 'calls' | 'n' | 'rounds'>): Variant => {
    const full: Variant = { ...v, calls: 0, n: 1, rounds: [] };
    // Every stagemeter variant in a run goes through the per-call path (the inactive one does not).
    if (v.id.startsWith('sm_') && v.id !== 'sm_inactive') full.jit = { batches: 0, optimized: 0 };
    variants.push(full);
    return full;
  };
  const simple = (id: string, label: string, f: (x: number) => number, baseline: string | undefined, extra: Partial<Variant> = {}): Variant => {
    const loop = syncLoop(id);
    return add({ id, label, baseline, kind: 'sync', run: (n) => loop(f, n), ...extra });
  };

  // --- Baselines and alternatives --------------------------------------------------------------
  simple('raw', 'raw call', trivial, undefined);
  simple('passthrough', 'rest-args pass-through (Reflect.apply)', function (this: unknown, ...args: unknown[]): number {
    return Reflect.apply(trivial, this, args) as number;
  }, 'raw');

  let hrAcc = 0n;
  simple('time_only', 'time-only wrapper (hrtime.bigint x2)', function (this: unknown, ...args: unknown[]): number {
    const t0 = process.hrtime.bigint();
    const r = Reflect.apply(trivial, this, args) as number;
    hrAcc += process.hrtime.bigint() - t0;
    return r;
  }, 'raw');

  const als = new AsyncLocalStorage<object>();
  const alsStore = { stage: 'x' };
  simple('als_run', 'AsyncLocalStorage.run (sync)', (x) => als.run(alsStore, trivial, x), 'raw', {
    // run() enables the storage for good: disable it so later variants' promises do not pay for it.
    teardown: () => als.disable(),
  });

  let timerifyEntries = 0;
  let timerifyCalls = 0;
  const timerifyObserver = new PerformanceObserver((list) => {
    timerifyEntries += list.getEntries().length;
  });
  const timerified = performance.timerify(trivial);
  const timerifyLoop = syncLoop('timerify');
  add({
    id: 'timerify', label: 'performance.timerify + observer', baseline: 'raw', kind: 'sync',
    run: (n) => {
      timerifyCalls += n;
      return timerifyLoop(timerified, n);
    },
    setup: () => timerifyObserver.observe({ entryTypes: ['function'] }),
    teardown: () => timerifyObserver.disconnect(),
  });

  // OpenTelemetry, real SDK: NodeTracerProvider registered with an AsyncLocalStorage context
  // manager, BatchSpanProcessor (default limits) exporting to a counting no-op exporter.
  let batchExported = 0;
  let batchCreated = 0;
  const noopExporter: SpanExporter = {
    export(spans, done) {
      batchExported += spans.length;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const contextManager = new AsyncLocalStorageContextManager();
  const batchProvider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(noopExporter)] });
  batchProvider.register({ contextManager });
  const batchTracer: Tracer = batchProvider.getTracer('stagemeter-bench');
  const memExporter = new InMemorySpanExporter();
  let simpleExported = 0;
  const simpleProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memExporter)] });
  const simpleTracer: Tracer = simpleProvider.getTracer('stagemeter-bench');
  const otelBatchLoop = syncLoop('otel_batch');
  const otelBatchFn = (x: number): number =>
    batchTracer.startActiveSpan('op', (span) => {
      const r = trivial(x);
      span.end();
      return r;
    });
  add({
    id: 'otel_batch', label: 'OpenTelemetry span, SDK + BatchSpanProcessor', baseline: 'raw', kind: 'sync',
    run: (n) => {
      batchCreated += n;
      return otelBatchLoop(otelBatchFn, n);
    },
    setup: () => {
      contextManager.enable();
    },
    teardown: async () => {
      await batchProvider.forceFlush();
      contextManager.disable();
    },
  });
  simple('otel_simple', 'OpenTelemetry span, SimpleSpanProcessor + InMemory', (x) =>
    simpleTracer.startActiveSpan('op', (span) => {
      const r = trivial(x);
      span.end();
      return r;
    }), 'raw', {
    setup: () => {
      contextManager.enable();
    },
    afterBatch: () => {
      simpleExported += memExporter.getFinishedSpans().length;
      memExporter.reset();
    },
    teardown: async () => {
      await simpleProvider.forceFlush();
      simpleExported += memExporter.getFinishedSpans().length;
      memExporter.reset();
      contextManager.disable();
    },
  });

  let naiveAcc = 0;
  simple('naive', 'naive wrapper (memoryUsage + cpuUsage x2)', function (this: unknown, ...args: unknown[]): number {
    const m0 = process.memoryUsage();
    const c0 = process.cpuUsage();
    const r = Reflect.apply(trivial, this, args) as number;
    const c1 = process.cpuUsage(c0);
    const m1 = process.memoryUsage();
    naiveAcc += m1.heapUsed - m0.heapUsed + c1.user + c1.system;
    return r;
  }, 'raw');

  // --- stagemeter ------------------------------------------------------------------------------
  // The singleton, with the options a user gets by default (sampler on, 1000 ms).
  const monitor: PerformanceMonitor = createPerformanceMonitor();
  setMonitor(monitor);
  const startRun = (id: string): void => {
    if (monitor.isMonitoring) monitor.stopMonitoring();
    monitor.startMonitoring({ runName: `bench:${id}` });
  };
  const stopRun = (): PerformanceReport => {
    return monitor.stopMonitoring();
  };
  const check = (variant: string, report: PerformanceReport, stage: string, expected: number, note?: string): void => {
    const s = summaryOf(report, stage);
    const c: StageCheck = { variant, stage, expectedCalls: expected, reportedCalls: s?.calls, ok: s?.calls === expected };
    if (s !== undefined) {
      c.fidelity = s.fidelity;
      c.meanMs = s.meanMs;
      c.quantiles = s.quantiles;
      c.recordsKept = s.recordsKept;
      c.recordsOmitted = s.recordsOmitted;
    }
    if (note !== undefined) c.note = note;
    stageChecks.push(c);
  };

  const inactive = withStage('bench_inactive', trivial);
  simple('sm_inactive', 'stagemeter, no active run (pass-through)', inactive, 'raw', {
    setup: () => {
      if (monitor.isMonitoring) monitor.stopMonitoring();
    },
  });

  /** A hot sync stage in a run of its own on `mon`; the report's count is checked against the calls made. */
  const hotSync = (id: string, label: string, stage: string, mon: PerformanceMonitor): Variant => {
    // The singleton's stage looks its monitor up at call time, as a user's stage does.
    const wrapped = mon === monitor ? withStage(stage, trivial) : withStage(stage, trivial, { monitor: mon });
    const v: Variant = simple(id, label, wrapped, 'raw', {
      setup: () => {
        if (monitor.isMonitoring) monitor.stopMonitoring();
        mon.startMonitoring({ runName: `bench:${id}` });
        v.calls = 0;
      },
      teardown: () => check(id, mon.stopMonitoring(), stage, v.calls),
    });
    const run = v.run;
    v.run = (n) => {
      v.calls += n;
      return run(n);
    };
    return v;
  };
  hotSync('sm_hot', 'stagemeter hot sync stage, active run', 'bench_hot', monitor);
  // The same hot stage with every call timed (shortStageTiming: 'every'): the exact-timing reference.
  const everyMonitor: PerformanceMonitor = createPerformanceMonitor();
  hotSync('sm_hot_every', "stagemeter hot sync stage, shortStageTiming: 'every'", 'bench_hot_every', everyMonitor);

  // Nested: the hot stage called inside an outer stage, so every call gets a parent. One outer
  // call per batch (amortised over thousands of inner calls).
  const hotNested = withStage('bench_hot_nested', trivial);
  const nestedLoop = syncLoop('sm_hot_nested');
  const outer = withStage('bench_outer', (n: number) => nestedLoop(hotNested, n));
  let outerCalls = 0;
  const nestedV: Variant = add({
    id: 'sm_hot_nested', label: 'stagemeter hot sync stage, nested in a stage', baseline: 'raw', kind: 'sync',
    run: (n) => {
      nestedV.calls += n;
      outerCalls++;
      return outer(n);
    },
    setup: () => {
      startRun('sm_hot_nested');
      nestedV.calls = 0;
      outerCalls = 0;
    },
    teardown: () => {
      const report = stopRun();
      const child = report.stages.find((s) => s.name === 'bench_hot_nested');
      const parent = child?.parentId !== undefined ? report.stages.find((s) => s.id === child.parentId) : undefined;
      check('sm_hot_nested', report, 'bench_hot_nested', nestedV.calls, `first kept record's parent: ${parent?.name ?? 'none'}`);
      check('sm_hot_nested', report, 'bench_outer', outerCalls);
    },
  });

  // Paired stages: raw work and the same work wrapped, interleaved.
  const paired = (id: string, label: string, iterations: number, stage: string | undefined, batchMs: number): Variant => {
    // One function, called raw and through the wrapper (stagemeter's, or a bare timer's).
    const fn = (seed: number): number => work(iterations, seed);
    const rawFn = fn;
    const wrapped = stage !== undefined ? withStage(stage, fn) : timeOnly(fn);
    const v: Variant = add({
      id, label, baseline: `${id}:raw`, kind: 'paired', batchMs,
      run: (k) => {
        let s = 0;
        let rawSum = 0;
        let wSum = 0;
        for (let i = 0; i < k; i++) {
          if ((i & 1) === 0) {
            const t0 = performance.now();
            s ^= rawFn(i);
            const t1 = performance.now();
            s ^= wrapped(i);
            const t2 = performance.now();
            rawSum += t1 - t0;
            wSum += t2 - t1;
          } else {
            const t0 = performance.now();
            s ^= wrapped(i);
            const t1 = performance.now();
            s ^= rawFn(i);
            const t2 = performance.now();
            wSum += t1 - t0;
            rawSum += t2 - t1;
          }
        }
        v.calls += k;
        if (v.pairIter !== undefined) {
          v.pairIter.raw.push((rawSum / k) * 1e6);
          v.pairIter.wrapped.push((wSum / k) * 1e6);
          v.pairIter.diff.push(((wSum - rawSum) / k) * 1e6);
        }
        return s;
      },
      setup: () => {
        startRun(id);
        v.calls = 0;
      },
      teardown: () => {
        const report = stopRun();
        if (stage !== undefined) check(id, report, stage, v.calls);
      },
    });
    v.pairRounds = [];
    return v;
  };
  for (const ns of options.pairedWorkNs ?? [10_000, 250_000, 1_000_000]) {
    const us = Math.round(ns / 1000);
    const id = ns < 100_000 ? `sm_medium_${us}us` : `sm_long_${us}us`;
    // The label gets the duration measured in the rounds (see results); the id keeps the target.
    const calibrated = stepsFor(work, ns);
    checksum ^= calibrated.checksum;
    const steps = calibrated.steps;
    // Pairs of long work are few per batch: longer batches, so each iteration's mean is steadier,
    // and so that each holds its share of the sampled probes (one call in 64-512 at 250 µs-1 ms).
    // With 40 ms batches, most 1 ms batches held no probe, and their median left probes out.
    const batchMs = ns < 100_000 ? 4 * BATCH_MS : 60 * BATCH_MS;
    paired(id, `stagemeter ${ns < 100_000 ? 'medium' : 'long'} stage`, steps, `bench_${id.slice(3)}`, batchMs);
    // The floor: the same work behind a bare timer (two clock reads), what any timing wrapper pays.
    paired(`time_only_${us}us`, `time-only wrapper (performance.now x2), ${ns < 100_000 ? 'medium' : 'long'} work`, steps, undefined, batchMs);
  }

  // --- async -----------------------------------------------------------------------------------
  const rawAsyncLoop = asyncLoop('raw_async');
  add({ id: 'raw_async', label: 'raw async call (no hooks of any kind)', baseline: undefined, kind: 'async', run: (n) => rawAsyncLoop(trivialAsync, n),
    setup: () => {
      if (monitor.isMonitoring) monitor.stopMonitoring();
      if (slot.alsUsers !== 0 || slot.hookUsers !== 0) throw new Error('stagemeter async context still in use');
    } });

  const hotAsync = withStage('bench_hot_async', trivialAsync);
  const ctxAsyncLoop = asyncLoop('raw_async_ctx');
  add({
    id: 'raw_async_ctx', label: 'raw async call, run\'s promise hooks on', baseline: 'raw_async', kind: 'async',
    run: (n) => ctxAsyncLoop(trivialAsync, n),
    setup: async () => {
      startRun('raw_async_ctx');
      await hotAsync(1); // the run's first async stage installs its promise hooks
      if (slot.hookUsers === 0) throw new Error('expected the run to install its promise hooks');
    },
    teardown: () => {
      stopRun();
    },
  });

  // A hot async stage in an active run of `mon` (the singleton, or one with other options).
  const asyncStage = (id: string, label: string, stage: string, wrapped: (x: number) => Promise<number>, mon: PerformanceMonitor): Variant => {
    const loop = asyncLoop(id);
    const v: Variant = add({
      id, label, baseline: 'raw_async', kind: 'async',
      run: (n) => {
        v.calls += n;
        return loop(wrapped, n);
      },
      setup: () => {
        if (monitor.isMonitoring) monitor.stopMonitoring();
        mon.startMonitoring({ runName: `bench:${id}` });
        v.calls = 0;
      },
      teardown: () => check(id, mon.stopMonitoring(), stage, v.calls),
    });
    return v;
  };
  asyncStage('sm_hot_async', 'stagemeter hot async stage, active run', 'bench_hot_async', hotAsync, monitor);
  // The same with asyncContext: 'asyncLocalStorage' (follows callbacks too, costs more).
  const alsMonitor: PerformanceMonitor = createPerformanceMonitor({ asyncContext: 'asyncLocalStorage' });
  asyncStage('sm_hot_async_als', 'stagemeter hot async stage, asyncContext: asyncLocalStorage', 'bench_hot_async_als', withStage('bench_hot_async_als', trivialAsync, { monitor: alsMonitor }), alsMonitor);
  asyncStage('sm_hot_async_every', "stagemeter hot async stage, shortStageTiming: 'every'", 'bench_hot_async_every', withStage('bench_hot_async_every', trivialAsync, { monitor: everyMonitor }), everyMonitor);

  // --- calibration and warm-up -----------------------------------------------------------------
  const timeBatch = async (v: Variant, n: number): Promise<number> => {
    const t0 = performance.now();
    checksum ^= await v.run(n);
    await drain();
    const dt = performance.now() - t0;
    v.afterBatch?.();
    return dt;
  };
  const warm = async (v: Variant, ms: number): Promise<void> => {
    const end = performance.now() + ms;
    do await timeBatch(v, v.n);
    while (performance.now() < end);
  };
  if (options.variants !== undefined) {
    const keep = new Set([...options.variants, 'raw', 'raw_async', 'otel_batch']);
    const selected = variants.filter((v) => keep.has(v.id));
    variants.length = 0;
    variants.push(...selected);
  }
  log(`  calibrating batch sizes and warming up ${variants.length} variants ...`);
  for (let pass = 0; pass < 2; pass++) {
    for (const v of variants) {
      await v.setup?.();
      if (pass === 0) {
        // Warm at n = 1 first: a cold first batch (JIT, a fresh run's calibration calls) would
        // otherwise make the variant look slow and its batch far too small.
        await warm(v, 20);
        const target = v.batchMs ?? BATCH_MS;
        let n = 1;
        for (;;) {
          const dt = Math.min(await timeBatch(v, n), await timeBatch(v, n), await timeBatch(v, n));
          if (dt >= target / 4 || n >= 1 << 24) {
            n = Math.max(1, Math.round((n * target) / Math.max(dt, 1e-3)));
            break;
          }
          n *= 4;
        }
        v.n = n;
      }
      if (pass === 1) {
        // Re-size the batch now that the variant is warm.
        const dt = Math.min(await timeBatch(v, v.n), await timeBatch(v, v.n), await timeBatch(v, v.n));
        v.n = Math.max(1, Math.round((v.n * (v.batchMs ?? BATCH_MS)) / Math.max(dt, 1e-3)));
      }
      await warm(v, 40);
      await v.teardown?.();
    }
  }

  // --- timed rounds ----------------------------------------------------------------------------
  // tinybench is ESM-only: a dynamic import works on every Node 20 (require(esm) needs 20.19+).
  const { Bench } = await import('tinybench');
  const heapAtStart = new Map<string, number>();
  const interference: Interference[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const rot = (r * 5) % variants.length;
    let order = [...variants.slice(rot), ...variants.slice(0, rot)];
    if (r % 2 === 1) order = order.reverse();
    const bench = new Bench({ name: `round ${r + 1}`, time: ROUND_TIME_MS, iterations: MIN_BATCHES, warmup: false, throws: true });
    for (const v of order) {
      bench.add(
        v.id,
        async () => {
          if (v.jit !== undefined && optimizationStatus !== undefined) {
            v.jit.batches++;
            if ((optimizationStatus(HOT_PATH) & V8_OPTIMIZED) !== 0) v.jit.optimized++;
          }
          const dt = await timeBatch(v, v.n);
          return { overriddenDuration: dt / v.n, overriddenIterationCost: dt };
        },
        {
          async: true,
          beforeAll: async () => {
            await v.setup?.();
            await warm(v, SETUP_WARM_MS);
            if (v.kind === 'paired') v.pairIter = { raw: [], wrapped: [], diff: [] };
            gcNow();
            heapAtStart.set(v.id, process.memoryUsage().heapUsed / 1048576);
          },
          afterAll: async () => {
            await v.teardown?.();
          },
        },
      );
    }
    const stopWatch = watchInterference();
    await bench.run();
    interference.push(stopWatch());
    for (const v of order) {
      const task = bench.getTask(v.id);
      const result = task?.result;
      if (result === undefined || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
        throw new Error(`variant ${v.id} did not complete in round ${r + 1}: ${result?.state ?? 'no result'}`);
      }
      const lat = result.latency;
      v.rounds.push({ meanNs: lat.mean * 1e6, medianNs: lat.p50 * 1e6, minNs: lat.min * 1e6, maxNs: lat.max * 1e6, batches: lat.samplesCount, n: v.n, heapUsedMbAtStart: heapAtStart.get(v.id) ?? Number.NaN });
      if (v.kind === 'paired' && v.pairIter !== undefined) {
        // Median of per-iteration means: each iteration holds several pairs, so sampled full
        // probes are in it in proportion, while a burst from another process spoils only one.
        v.pairRounds!.push({ rawNs: median(v.pairIter.raw), wrappedNs: median(v.pairIter.wrapped), diffNs: median(v.pairIter.diff), meanDiffNs: mean(v.pairIter.diff), batches: v.pairIter.diff.length });
        v.pairIter = undefined;
      }
    }
    const inf = interference[interference.length - 1]!;
    log(`  round ${r + 1}/${options.rounds} done (${((performance.now() - wall0) / 1000).toFixed(1)} s; other processes used ${inf.foreignCpuPercent.toFixed(0)} % of a core, steal ${inf.stealPercent.toFixed(0)} %)`);
  }

  // --- results ---------------------------------------------------------------------------------
  const byId = new Map<string, VariantResult>();
  const results: VariantResult[] = [];
  for (const v of variants) {
    if (v.kind === 'paired') {
      const pr = v.pairRounds!;
      const rawNs = pr.map((p) => p.rawNs);
      const us = median(rawNs) / 1000;
      v.label = `${v.label} (${us >= 100 ? Math.round(us).toLocaleString('en-US') : us.toFixed(1)} µs of work)`;
      const res: VariantResult = {
        id: `${v.id}:raw`, label: `${v.label.replace('stagemeter ', '')}: the work alone, raw`, kind: 'paired', baseline: undefined,
        medianNs: median(rawNs), minNs: min(rawNs), maxNs: max(rawNs), roundsNs: rawNs, batchSize: v.n, batchesPerRound: pr.map((p) => p.batches),
      };
      results.push(res);
      byId.set(res.id, res);
      const wNs = pr.map((p) => p.wrappedNs);
      const wres: VariantResult = {
        id: v.id, label: v.label, kind: 'paired', baseline: `${v.id}:raw`,
        medianNs: median(wNs), minNs: min(wNs), maxNs: max(wNs), roundsNs: wNs, batchSize: v.n, batchesPerRound: pr.map((p) => p.batches),
        overheadNs: median(pr.map((p) => p.diffNs)), rawNs: median(rawNs),
        roundsDiffNs: pr.map((p) => p.diffNs),
        roundsMeanDiffNs: pr.map((p) => p.meanDiffNs),
        note: 'paired with its raw work in the same iterations; overhead = median over rounds of the per-round median of per-iteration mean differences',
      };
      if (v.jit !== undefined && v.jit.batches > 0) wres.pathOptimized = { ...v.jit };
      results.push(wres);
      byId.set(wres.id, wres);
      continue;
    }
    const ns = v.rounds.map((x) => x.meanNs);
    const res: VariantResult = {
      id: v.id, label: v.label, kind: v.kind, baseline: v.baseline,
      medianNs: median(ns), minNs: min(ns), maxNs: max(ns), roundsNs: ns, batchSize: v.n, batchesPerRound: v.rounds.map((x) => x.batches),
      medianOfBatchMediansNs: median(v.rounds.map((x) => x.medianNs)),
      heapUsedMbAtStart: v.rounds.map((x) => x.heapUsedMbAtStart),
    };
    if (v.note !== undefined) res.note = v.note;
    if (v.jit !== undefined && v.jit.batches > 0) res.pathOptimized = { ...v.jit };
    results.push(res);
    byId.set(res.id, res);
  }
  const otel = byId.get('otel_batch')!;
  for (const res of results) {
    const base = res.baseline !== undefined ? byId.get(res.baseline) : undefined;
    if (base !== undefined && res.overheadNs === undefined) res.overheadNs = res.medianNs - base.medianNs;
    const raw = res.kind === 'async' ? byId.get('raw_async')! : res.kind === 'paired' ? base : byId.get('raw')!;
    if (raw !== undefined && raw !== res) res.ratioToRaw = res.medianNs / raw.medianNs;
    if (res.kind === 'sync') res.ratioToOtel = res.medianNs / otel.medianNs;
  }
  // Keep the sinks observable.
  checksum ^= Number(hrAcc & 0xffffn) ^ (naiveAcc | 0) ^ (timeOnlyAcc | 0);
  return {
    variants: results,
    stageChecks,
    otel: { batchSpansCreated: batchCreated, batchSpansExported: batchExported, simpleSpansExported: simpleExported },
    timerifyEntriesObserved: timerifyEntries,
    timerifyCalls,
    checksum,
    interference,
    rounds: options.rounds,
    batchMs: BATCH_MS,
    roundTimeMs: ROUND_TIME_MS,
    wallMs: performance.now() - wall0,
  };
}
