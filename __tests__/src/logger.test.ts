import { Writable } from 'node:stream';
import pino from 'pino';
import { createPerformanceMonitor, withStage } from '../../src/index';

/** A pino logger writing into an array of parsed lines. */
function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('logging', () => {
  test('with detailed logging, one structured line per stage start and end, per finding and per flag', async () => {
    const { logger, lines } = capture();
    const m = createPerformanceMonitor({ logger, enableDetailedLogging: true, enableMemoryTracking: false, thresholds: { slowStageMs: 1 } });
    m.startMonitoring({ runName: 'logged' });
    const slow = withStage('slow', () => {
      const end = performance.now() + 5;
      while (performance.now() < end) {
        // 5 ms: over the 1 ms slow-stage threshold
      }
    }, { monitor: m });
    slow();
    m.endStage('no-such-id');
    m.stopMonitoring();
    await flush();
    const events = lines.map((l) => l.event);
    expect(events.filter((e) => e === 'stage_start')).toHaveLength(1);
    expect(events.filter((e) => e === 'stage_end')).toHaveLength(1);
    expect(lines.find((l) => l.event === 'stage_end')).toMatchObject({ component: 'stagemeter', stage: 'slow', success: true, msg: 'stage end' });
    expect(lines.find((l) => l.event === 'finding' && l.kind === 'slow_stage')).toMatchObject({ stage: 'slow', level: 40 });
    expect(lines.find((l) => l.event === 'quality_flag')).toMatchObject({ code: 'unknown_stage_id', level: 40 });
    expect(events[0]).toBe('run_start');
    expect(events[events.length - 1]).toBe('run_end');
  });

  test("the application's logger without detailed logging gets the run, findings and flags, not a line per stage", async () => {
    const { logger, lines } = capture();
    const m = createPerformanceMonitor({ logger, enableMemoryTracking: false });
    m.startMonitoring();
    for (let i = 0; i < 100; i++) withStage('quiet', () => i, { monitor: m })();
    m.stopMonitoring();
    await flush();
    expect(lines.map((l) => l.event)).toEqual(['run_start', 'run_end']);
  });

  test('per-call lines stop once a stage has maxStageRecords calls', async () => {
    const { logger, lines } = capture();
    const m = createPerformanceMonitor({ logger, enableDetailedLogging: true, enableMemoryTracking: false, maxStageRecords: 5 });
    m.startMonitoring();
    const hot = withStage('hot', (x: number) => x, { monitor: m });
    for (let i = 0; i < 50; i++) hot(i);
    m.stopMonitoring();
    await flush();
    expect(lines.filter((l) => l.event === 'stage_start')).toHaveLength(5);
    expect(lines.filter((l) => l.event === 'stage_end')).toHaveLength(5);
  });

  test('silent by default: nothing on stdout or stderr', () => {
    const out = jest.spyOn(process.stdout, 'write');
    const err = jest.spyOn(process.stderr, 'write');
    try {
      const m = createPerformanceMonitor({ enableMemoryTracking: false });
      m.startMonitoring();
      withStage('s', () => 1, { monitor: m })();
      m.endStage('bad-id');
      m.stopMonitoring();
      expect(out).not.toHaveBeenCalled();
      expect(err).not.toHaveBeenCalled();
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
