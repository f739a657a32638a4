import { summarize } from '../../../src/run/metrics';
import { StageStats } from '../../../src/run/stageStats';

/** A stage of `calls` calls and `totalMs` of call time, `probed` of them probed over `probedWallMs` with the given CPU, µs. */
function stage(calls: number, totalMs: number, probed: number, probedWallMs: number, cpuUserUs: number, cpuSystemUs: number): StageStats {
  const s = new StageStats('lookup', 0);
  s.calls = calls;
  s.totalMs = totalMs;
  s.busyMs = totalMs;
  s.selfMs = totalMs;
  s.minMs = totalMs / calls;
  s.maxMs = totalMs / calls;
  s.probedCalls = probed;
  s.probedWallMs = probedWallMs;
  s.probedOnThreadMs = probedWallMs;
  s.cpuUserUs = cpuUserUs;
  s.cpuSystemUs = cpuSystemUs;
  return s;
}

describe('summarize: CPU scaled from the probed calls', () => {
  test('sampled calls that read 25 % more CPU than wall time give the stage one core at most, split as measured', () => {
    // 11 probed calls of ~8 µs: 88 µs of wall, 110 µs of CPU (100 user, 10 system); 5,000 calls, 250 ms in all
    const summary = summarize(stage(5000, 250, 11, 0.088, 100, 10), []);
    expect(summary.cpu.percent).toBe(100);
    expect(summary.cpu.userMs + summary.cpu.systemMs).toBeCloseTo(250, 2);
    expect(summary.cpu.userMs).toBeCloseTo((250 * 100) / 110, 2);
    expect(summary.cpu.systemMs).toBeCloseTo((250 * 10) / 110, 2);
    expect(summary.cpu.estimated).toBe(true);
  });

  test('sampled calls under one core are scaled as measured', () => {
    // half a core over the probed calls: half of the stage's 250 ms
    const summary = summarize(stage(5000, 250, 10, 1, 400, 100), []);
    expect(summary.cpu.percent).toBe(50);
    expect(summary.cpu.userMs).toBeCloseTo(100, 3);
    expect(summary.cpu.systemMs).toBeCloseTo(25, 3);
  });

  test('when every call was probed, the CPU is what was read, unscaled', () => {
    const summary = summarize(stage(3, 600, 3, 600, 500_000, 80_000), [200, 200, 200]);
    expect(summary.cpu).toMatchObject({ userMs: 500, systemMs: 80, estimated: false });
  });
});
