import { performance } from 'node:perf_hooks';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import { Probe, ProbeBudget, type ProbeCredit } from '../../../src/run/probes';
import { spin } from '../../helpers/spin';


describe('Probe: what a probed call costs', () => {
  it('counts its readings, and the accounting after the later of the call end and the last readings', () => {
    const probe = new Probe();
    probe.open();
    spin(1); // the call's own work: not the probe's
    const t1 = performance.now();
    probe.close();
    const readings = probe.spentNs;
    expect(readings).toBeGreaterThan(0);
    spin(2); // the slow end of the call path that a probed call takes
    probe.settled(t1);
    const sinceEnd = (performance.now() - t1) * 1e6;
    // the 2 ms after the readings are the probe's; the 1 ms of work before them is not
    expect(probe.spentNs - readings).toBeGreaterThanOrEqual(2e6);
    expect(probe.spentNs - readings).toBeLessThanOrEqual(sinceEnd);
  });

  it('counts an async call from its end when its last segment closed long before', () => {
    const probe = new Probe();
    probe.open();
    probe.close();
    const readings = probe.spentNs;
    spin(3); // waiting for the promise: not the probe's
    const t1 = performance.now();
    spin(1);
    probe.settled(t1);
    const sinceEnd = (performance.now() - t1) * 1e6;
    const added = probe.spentNs - readings;
    expect(added).toBeGreaterThanOrEqual(1e6);
    expect(added).toBeLessThanOrEqual(sinceEnd);
  });
});

describe('ProbeBudget.price', () => {
  const credit = (price: number): ProbeCredit => ({ probeCreditNs: 0, probePriceNs: price, probeCreditCapNs: 4 * price, probePriceMeasured: false });
  const probeThatCost = (ns: number): Probe => Object.assign(new Probe(), { spentNs: ns });

  it("takes a stage's first price with its accounting in place of the run's default, up to 8 times it", () => {
    const stats = credit(5_000);
    ProbeBudget.price(stats, probeThatCost(30_000), true);
    expect(stats.probePriceNs).toBeGreaterThanOrEqual(30_000);
    expect(stats.probePriceNs).toBeLessThan(31_000);
    expect(stats.probeCreditCapNs).toBe(4 * stats.probePriceNs);
    expect(stats.probePriceMeasured).toBe(true);
    const outlier = credit(5_000);
    ProbeBudget.price(outlier, probeThatCost(10_000_000), true);
    expect(outlier.probePriceNs).toBe(40_000);
  });

  it('moves other prices a quarter of the way, a single outlier clamped at twice the last', () => {
    // a stage's first call, priced on its readings alone: the default moves, and is not replaced
    const first = credit(10_000);
    ProbeBudget.price(first, probeThatCost(1_000_000), false);
    expect(first.probePriceNs).toBeCloseTo(0.75 * 10_000 + 0.25 * 20_000, 6);
    expect(first.probePriceMeasured).toBe(false);
    // after the first full price
    const later = { ...credit(10_000), probePriceMeasured: true };
    ProbeBudget.price(later, probeThatCost(1_000_000), true);
    expect(later.probePriceNs).toBeCloseTo(0.75 * 10_000 + 0.25 * 20_000, 6);
  });
});

describe('probes on a stage of real length', () => {
  it('probe some calls of a 0.5 ms stage, and far from all', () => {
    const monitor = createPerformanceMonitor();
    const stage = withStage('long', () => void spin(0.5), { monitor });
    monitor.startMonitoring({ runName: 'probes' });
    for (let i = 0; i < 200; i++) stage();
    const report = monitor.stopMonitoring();
    const s = report.stageSummaries.find((x) => x.name === 'long')!;
    expect(s.calls).toBe(200);
    // 0.4 % of 100 ms is 400 µs of probes: a probe costs a few µs to a few tens of µs, so some
    // calls, but far from all, are probed
    expect(s.fidelity.probedCalls).toBeGreaterThanOrEqual(2);
    expect(s.fidelity.probedCalls).toBeLessThan(200);
  });
});
