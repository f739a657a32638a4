/**
 * The analyzers on real runs through the public API: real allocations, a real busy loop, real
 * timers, sampled by the real sampler. Margins are wide so a loaded 2-core machine passes: the
 * leak grows its heap floor by ~1500 MB/min against a 200 MB/min threshold, the churn stays
 * under ~50 MB/min; no assertion compares wall-clock times.
 */
import Ajv from 'ajv';
import { createPerformanceMonitor, reportSchema, withStage } from '../../src/index';
import type { Finding, PerformanceReport, Thresholds } from '../../src/types';
import { join } from 'node:path';
import { runChild } from '../helpers/child';

jest.setTimeout(60_000);

const validate = new Ajv({ allErrors: true }).compile(reportSchema);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const THRESHOLDS: Partial<Thresholds> = { slowStageMs: 100, minLeakSlopeMbPerMin: 200 };

function expectValid(report: PerformanceReport): void {
  const ok = validate(JSON.parse(JSON.stringify(report)));
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
}

function kindsFor(report: PerformanceReport, stage: string): string[] {
  return report.bottlenecks.findings.filter((f: Finding) => f.stage === stage).map((f) => f.kind);
}

/** Runs `body` under a fresh monitor sampling every 20 ms and returns the report. */
async function monitored(body: (monitor: ReturnType<typeof createPerformanceMonitor>) => Promise<void>): Promise<PerformanceReport> {
  const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 20, thresholds: THRESHOLDS });
  monitor.startMonitoring({ runName: 'analyzers-e2e' });
  await body(monitor);
  return monitor.stopMonitoring();
}

/**
 * 400 rounds, 5 ms apart (about 2.5 s), each making ~2 MB of short-lived objects that die young;
 * 'accumulate' also keeps ~0.2 MB a round for good. Run in a fresh process with its heap collected
 * first: here, garbage left by earlier tests (or by loading the TypeScript compiler) can be
 * reclaimed by a major GC in the middle of the 2.5 s and pull the heap floor down by more than
 * the leak added (a blind spot of short runs, see docs/analyzers.md).
 */
async function allocateInChild(mode: 'accumulate' | 'churn'): Promise<PerformanceReport> {
  const result = await runChild(join(__dirname, '..', 'fixtures', 'allocate.ts'), [mode], { timeoutMs: 60_000, nodeArgs: ['--expose-gc'] });
  expect(result).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as PerformanceReport;
}

describe('end to end on real runs', () => {
  it('a stage that keeps its allocations is reported as a leak, with a memory_leak finding and a recommendation', async () => {
    const report = await allocateInChild('accumulate');
    expectValid(report);
    // the whole trend goes into the failure message: its details say why, if it ever says no
    expect(report.memory.trend).toMatchObject({ leakSuspected: true, confidence: expect.stringMatching(/low|medium|high/) });
    expect(report.memory.trend.slopeMbPerMin).toBeGreaterThan(200);
    const leak = report.bottlenecks.findings.find((f) => f.kind === 'memory_leak');
    expect(leak).toBeDefined();
    expect(leak!.stage).toBe('accumulate');
    const advice = report.recommendations.find((r) => r.category === 'memory_leak');
    expect(advice).toMatchObject({ stage: 'accumulate' });
    expect(advice!.message).toMatch(/MB\/min/);
  });

  it('a stage that churns memory without keeping it is not a leak', async () => {
    const report = await allocateInChild('churn');
    expectValid(report);
    expect(report.memory.trend).toMatchObject({ leakSuspected: false });
    expect(report.bottlenecks.findings.map((f) => f.kind)).not.toContain('memory_leak');
    expect(report.recommendations.map((r) => r.category)).not.toContain('memory_leak');
  });

  it('a busy-loop stage is slow_stage + cpu_bound + event_loop_blocked', async () => {
    // On a loaded machine the process may get much less than a core; the involuntary context
    // switches then show that the CPU was taken away, and the stage is still cpu_bound. Up to five
    // runs, spaced out, in case a run was neither given the CPU nor visibly preempted (a host that
    // throttles without switching); a run that was given the CPU must come out cpu_bound.
    const measured: number[] = [];
    let kinds: string[] = [];
    let report: PerformanceReport | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (attempt > 0) await sleep(250);
      report = await monitored(async (monitor) => {
        const spin = withStage(
          'spin',
          (ms: number) => {
            const end = performance.now() + ms;
            let x = 0;
            while (performance.now() < end) x++;
            return x;
          },
          { monitor },
        );
        await sleep(30);
        spin(400);
        await sleep(60);
      });
      expectValid(report);
      kinds = kindsFor(report, 'spin');
      const cpuPercent = report.stages.find((s) => s.name === 'spin')!.cpu.percent;
      measured.push(cpuPercent);
      expect(kinds).toEqual(expect.arrayContaining(['slow_stage', 'event_loop_blocked']));
      if (cpuPercent >= 70) expect(kinds).toContain('cpu_bound');
      if (kinds.includes('cpu_bound')) break;
    }
    expect({ kinds, cpuPercentPerRun: measured }).toEqual({ kinds: expect.arrayContaining(['slow_stage', 'cpu_bound', 'event_loop_blocked']), cpuPercentPerRun: measured });
    expect(report!.bottlenecks.cpuIntensiveStages).toEqual(['spin']);
    expect(report!.bottlenecks.slowestStages).toContain('spin');
    const blocked = report!.bottlenecks.findings.find((f) => f.kind === 'event_loop_blocked' && f.stage === 'spin');
    expect(Number(blocked!.evidence?.longestCallMs)).toBeGreaterThanOrEqual(400);
  });

  it('an awaited-timer stage is io_bound', async () => {
    const report = await monitored(async (monitor) => {
      const wait = withStage('wait', async (ms: number) => sleep(ms), { monitor });
      await wait(400);
    });
    expectValid(report);
    expect(kindsFor(report, 'wait')).toEqual(expect.arrayContaining(['slow_stage', 'io_bound']));
    expect(kindsFor(report, 'wait')).not.toContain('event_loop_blocked');
    expect(report.recommendations.find((r) => r.stage === 'wait')).toMatchObject({ category: 'io_bound' });
  });
});
