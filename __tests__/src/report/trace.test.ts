import fc from 'fast-check';
import { createPerformanceMonitor, type PerformanceReport, type StageMetrics } from '../../../src/index';
import { generateTraceEvents, type TraceCompleteEvent, type TraceEvent } from '../../../src/report/trace';
import { HOSTILE_NAME, realRunReport } from './realRun';

/** A report with no stages and no samples, from a real (empty) run. */
function emptyReport(): PerformanceReport {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  m.startMonitoring({ runName: 'empty' });
  return m.stopMonitoring();
}

function call(id: string, name: string, t: number, durationMs: number, parentId?: string): StageMetrics {
  return {
    id, name, t, durationMs, rowsProcessed: 10, rowsPerSecond: 10 / (durationMs / 1000), success: true,
    cpu: { userMs: 1, systemMs: 0, percent: 50 }, memory: { heapUsedDeltaMb: 0.5 }, fidelity: 'full', sync: false,
    ...(parentId !== undefined ? { parentId } : {}),
  };
}

function withCalls(calls: StageMetrics[]): PerformanceReport {
  return { ...emptyReport(), stages: calls };
}

const ns = (us: number): number => Math.round(us * 1000);

/**
 * Independent check of the Trace Event rules for complete events: per (pid, tid), in start order
 * (longer first at one start), every event lies inside the innermost event still open.
 */
function nestingErrors(events: readonly TraceEvent[]): string[] {
  const errors: string[] = [];
  const byTrack = new Map<string, TraceCompleteEvent[]>();
  for (const e of events) {
    if (e.ph !== 'X') continue;
    const key = `${e.pid}:${e.tid}`;
    const list = byTrack.get(key);
    if (list === undefined) byTrack.set(key, [e]);
    else list.push(e);
  }
  for (const [key, list] of byTrack) {
    list.sort((a, b) => ns(a.ts) - ns(b.ts) || ns(b.ts + b.dur) - ns(a.ts + a.dur));
    const open: TraceCompleteEvent[] = [];
    for (const e of list) {
      const start = ns(e.ts);
      const end = ns(e.ts + e.dur);
      // An event ending at `start` is closed, except for a zero-length event right at its end.
      const endOfTop = (): number => ns(open[open.length - 1]!.ts + open[open.length - 1]!.dur);
      while (open.length > 0 && (endOfTop() < start || (endOfTop() === start && end > start))) open.pop();
      const top = open[open.length - 1];
      if (top !== undefined && end > ns(top.ts + top.dur)) errors.push(`${key}: ${e.name} [${e.ts}, ${e.ts + e.dur}] crosses ${top.name} [${top.ts}, ${top.ts + top.dur}]`);
      open.push(e);
    }
  }
  return errors;
}

function completeEvents(events: readonly TraceEvent[]): TraceCompleteEvent[] {
  return events.filter((e): e is TraceCompleteEvent => e.ph === 'X');
}

function byStageId(events: readonly TraceEvent[]): Map<string, TraceCompleteEvent> {
  return new Map(completeEvents(events).map((e) => [String(e.args.stageId), e]));
}

/** Checks every event against the Trace Event format's fields and types. */
function expectWellFormed(trace: ReturnType<typeof generateTraceEvents>): void {
  expect(trace.displayTimeUnit).toBe('ms');
  for (const e of trace.traceEvents) {
    expect(['X', 'C', 'i', 'M']).toContain(e.ph);
    expect(typeof e.name).toBe('string');
    expect(Number.isInteger(e.pid)).toBe(true);
    expect(Number.isInteger(e.tid)).toBe(true);
    expect(Number.isFinite(e.ts)).toBe(true);
    if (e.ph === 'X') {
      expect(Number.isFinite(e.dur)).toBe(true);
      expect(e.dur).toBeGreaterThanOrEqual(0);
      expect(e.ts).toBeGreaterThanOrEqual(0);
    }
    if (e.ph === 'C') {
      expect(Object.keys(e.args).length).toBeGreaterThan(0);
      for (const v of Object.values(e.args)) expect(Number.isFinite(v)).toBe(true);
    }
    if (e.ph === 'i') expect(['g', 'p', 't']).toContain(e.s);
  }
  const named = new Set(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => `${e.pid}:${e.tid}`));
  for (const e of completeEvents(trace.traceEvents)) expect(named.has(`${e.pid}:${e.tid}`)).toBe(true);
  expect(nestingErrors(trace.traceEvents)).toEqual([]);
  // The file is JSON: raw control characters never reach the text.
  expect(JSON.stringify(trace)).not.toMatch(/[\u0000-\u001f]/);
}

describe('generateTraceEvents on a real run', () => {
  let report: PerformanceReport;
  let trace: ReturnType<typeof generateTraceEvents>;
  beforeAll(async () => {
    report = await realRunReport();
    trace = generateTraceEvents(report);
  });

  test('every event has the fields and types of the Trace Event format, and nesting is well formed per track', () => {
    expectWellFormed(trace);
    const reparsed = JSON.parse(JSON.stringify(trace)) as typeof trace;
    expect(reparsed).toEqual(trace);
  });

  test('every recorded call is one complete event at its own time, in µs', () => {
    const events = byStageId(trace.traceEvents);
    expect(events.size).toBe(report.stages.length);
    for (const c of report.stages) {
      const e = events.get(c.id)!;
      expect(e.name).toBe(c.name);
      expect(e.ts).toBeCloseTo(c.t * 1000, 2);
      expect(e.dur).toBeCloseTo(c.durationMs * 1000, 2);
      expect(e.args).toMatchObject({ rows: c.rowsProcessed, success: c.success });
    }
  });

  test('a child that fits in its parent is drawn inside it, on its track', () => {
    const events = byStageId(trace.traceEvents);
    const parse = report.stages.find((c) => c.name === 'parse')!;
    const transform = report.stages.find((c) => c.name === 'transform')!;
    expect(parse.parentId).toBe(transform.id);
    const child = events.get(parse.id)!;
    const parent = events.get(transform.id)!;
    expect(child.tid).toBe(parent.tid);
    expect(child.ts).toBeGreaterThanOrEqual(parent.ts);
    expect(child.ts + child.dur).toBeLessThanOrEqual(parent.ts + parent.dur);
  });

  test('concurrent calls under Promise.all go on separate tracks', () => {
    const events = byStageId(trace.traceEvents);
    const parts = report.stages.filter((c) => c.name === 'fetch_part');
    expect(parts).toHaveLength(3);
    // They really overlapped in time.
    expect(Math.max(...parts.map((p) => p.t))).toBeLessThan(Math.min(...parts.map((p) => p.t + p.durationMs)));
    expect(new Set(parts.map((p) => events.get(p.id)!.tid)).size).toBe(3);
  });

  test('a child that outlives its parent goes to another track', () => {
    const events = byStageId(trace.traceEvents);
    const spawner = report.stages.find((c) => c.name === 'spawner')!;
    const straggler = report.stages.find((c) => c.name === 'straggler')!;
    expect(straggler.parentId).toBe(spawner.id);
    expect(straggler.t + straggler.durationMs).toBeGreaterThan(spawner.t + spawner.durationMs);
    expect(events.get(straggler.id)!.tid).not.toBe(events.get(spawner.id)!.tid);
  });

  test('a failed call carries its error, and probed calls their rows, rows/s, CPU and heap delta', () => {
    const failed = completeEvents(trace.traceEvents).find((e) => e.name === 'validate')!;
    expect(failed.args).toMatchObject({ success: false, error: 'RangeError: row 3 out of range' });
    expect(failed.cat).toContain('failed');
    const load = completeEvents(trace.traceEvents).find((e) => e.name === 'load')!;
    expect(load.args.rows).toBe(6);
    for (const key of ['rowsPerSecond', 'cpuPercent', 'heapDeltaMb']) expect(typeof load.args[key]).toBe('number');
  });

  test('memory, CPU and loop delay are counters with numeric values at the sample times', () => {
    const counters = trace.traceEvents.filter((e) => e.ph === 'C');
    const memory = counters.filter((e) => e.name === 'memory (MB)');
    expect(memory.length).toBe(report.memory.samples.length);
    expect(memory[0]!.args).toMatchObject({ rss: report.memory.samples[0]!.rssMb, heapUsed: report.memory.samples[0]!.heapUsedMb });
    expect(counters.some((e) => e.name === 'CPU (%)')).toBe(true);
    expect(counters.some((e) => e.name === 'event-loop delay (ms)')).toBe(true);
  });

  test('the hostile stage name is kept exactly and escaped by JSON', () => {
    const text = JSON.stringify(trace);
    const back = JSON.parse(text) as typeof trace;
    expect(completeEvents(back.traceEvents).some((e) => e.name === HOSTILE_NAME)).toBe(true);
  });

  test('findings are instant events with a scope', () => {
    const instants = trace.traceEvents.filter((e) => e.ph === 'i' && e.cat.startsWith('finding'));
    expect(instants).toHaveLength(report.bottlenecks.findings.length);
  });
});

describe('generateTraceEvents on constructed and hostile reports', () => {
  test('an empty report gives the process and findings tracks and nothing else', () => {
    const trace = generateTraceEvents(emptyReport());
    expectWellFormed(trace);
    expect(trace.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'C')).toEqual([]);
    expect(trace.metadata).toMatchObject({ runName: 'empty' });
  });

  test('overlapping siblings and a child that outlives its parent get exactly the expected tracks', () => {
    const trace = generateTraceEvents(
      withCalls([call('a', 'parent', 0, 100), call('b', 'first', 10, 40, 'a'), call('c', 'overlaps first', 40, 40, 'a'), call('d', 'outlives parent', 60, 60, 'a'), call('e', 'later', 130, 10)]),
    );
    expectWellFormed(trace);
    const tids = Object.fromEntries(completeEvents(trace.traceEvents).map((e) => [e.args.stageId, e.tid]));
    expect(tids).toEqual({ a: 1, b: 1, c: 2, d: 3, e: 1 });
    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, (e.args as { name: string }).name]);
    expect(names).toEqual([[1, 'stages'], [2, 'stages (concurrent 2)'], [3, 'stages (concurrent 3)'], [0, 'findings']]);
  });

  test('self-parenting, unknown and __proto__ parent ids, repeated ids, NaN and negative figures neither throw nor break nesting', () => {
    const bad = [
      call('x', '__proto__', 5, 10, 'x'),
      call('y', 'constructor', 6, 2, '__proto__'),
      call('y', 'repeated id', 7, 1, 'nope'),
      { ...call('z', 'no start', NaN, 5), cpu: { userMs: NaN, systemMs: 0, percent: Infinity } },
      call('w', 'negative', 20, -3),
      { ...call('v', HOSTILE_NAME, 30, 1), memory: { heapUsedDeltaMb: NaN } },
    ];
    const report = withCalls(bad);
    report.memory = { ...report.memory, samples: [{ t: 1, rssMb: NaN, heapUsedMb: 3, heapTotalMb: Infinity, externalMb: 0, cpuPercent: NaN }, { t: NaN, rssMb: 1, heapUsedMb: 1, heapTotalMb: 1, externalMb: 1 }] };
    const trace = generateTraceEvents(report);
    expectWellFormed(trace);
    const x = completeEvents(trace.traceEvents);
    expect(x.map((e) => e.name).sort()).toEqual(['__proto__', 'constructor', 'negative', 'repeated id', HOSTILE_NAME].sort());
    expect(x.find((e) => e.name === 'negative')!.dur).toBe(0);
    expect(x.find((e) => e.name === HOSTILE_NAME)!.args.heapDeltaMb).toBeUndefined();
    // Only the finite figures of the one sample with a finite time remain.
    expect(trace.traceEvents.filter((e) => e.ph === 'C')).toEqual([{ ph: 'C', name: 'memory (MB)', ts: 1000, pid: expect.any(Number), tid: 0, args: { heapUsed: 3, external: 0 } }]);
  });

  test('a report missing its optional and even some required sections still converts', () => {
    const partial = { schemaVersion: 1, run: { name: 'partial' } } as unknown as PerformanceReport;
    const trace = generateTraceEvents(partial);
    expectWellFormed(trace);
    expect(trace.traceEvents.map((e) => e.ph)).toEqual(['M', 'M']);
  });

  test('any set of calls with any parents is well nested per track, each call exactly once', () => {
    const arbCalls = fc.array(
      fc.record({ t: fc.integer({ min: 0, max: 1000 }), d: fc.integer({ min: 0, max: 300 }), parent: fc.option(fc.nat(40), { nil: undefined }) }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(arbCalls, (spec) => {
        const calls = spec.map((s, i) => call(String(i), `s${i % 5}`, s.t / 7, s.d / 3, s.parent !== undefined ? String(s.parent) : undefined));
        const trace = generateTraceEvents(withCalls(calls));
        expect(nestingErrors(trace.traceEvents)).toEqual([]);
        expect(completeEvents(trace.traceEvents).map((e) => e.args.stageId).sort()).toEqual(calls.map((c) => c.id).sort());
      }),
      { numRuns: 300 },
    );
  });

  test('40,000 calls convert, every one of them, well nested (their time is in npm run bench)', () => {
    const calls: StageMetrics[] = [];
    for (let i = 0; i < 10_000; i++) {
      const t = i * 2;
      calls.push(call(`p${i}`, 'batch', t, 1.5), call(`c${i}`, 'row', t + 0.1, 0.5, `p${i}`), call(`d${i}`, 'row', t + 0.7, 0.5, `p${i}`), call(`q${i}`, 'side', t + 0.2, 3));
    }
    const trace = generateTraceEvents(withCalls(calls));
    expect(completeEvents(trace.traceEvents)).toHaveLength(40_000);
    expect(nestingErrors(trace.traceEvents)).toEqual([]);
  });
});
