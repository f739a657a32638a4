/**
 * `memory_spike`: unusual jumps of rss or heap between two samples (see `detectSpikes`), grouped
 * by the innermost stage running when they happened: one finding per stage, with the largest jump.
 */
import type { Finding } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtAt, fmtMb, fmtNum } from './format';
import { round } from './stats';
import type { AttributedSpike } from './view';

/** A spike of at least this share of the memory budget is a warning (also: over `memoryIntensiveMb`). */
export const SPIKE_WARNING_BUDGET_SHARE = 0.1;

/**
 * @example
 * memorySpikes.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'memory_spike', stage: 'join', ... }]
 */
export const memorySpikes = defineAnalyzer('memorySpikes', (view) => {
  const groups = new Map<string, AttributedSpike[]>();
  for (const spike of view.spikes) {
    const key = spike.stages[0] ?? '';
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [spike]);
    else list.push(spike);
  }
  const findings: Finding[] = [];
  for (const [stage, spikes] of groups) {
    const largest = spikes.reduce((a, b) => (b.jumpMb > a.jumpMb ? b : a));
    const big = largest.jumpMb >= view.thresholds.memoryIntensiveMb || largest.jumpMb >= SPIKE_WARNING_BUDGET_SHARE * view.thresholds.maxMemoryMb;
    const others = largest.stages.slice(1);
    const evidence: Record<string, unknown> = {
      spikes: spikes.length,
      jumpMb: round(largest.jumpMb, 3),
      atMs: largest.t,
      series: largest.series,
      rssMb: round(largest.rssMb, 3),
      heapUsedMb: round(largest.heapUsedMb, 3),
      robustZ: round(largest.score, 2),
    };
    if (others.length > 0) evidence.alsoRunning = others;
    const who = stage !== '' ? `${stage}: ` : 'Outside any recorded stage: ';
    const more = spikes.length > 1 ? `; ${spikes.length} spikes in all` : '';
    const finding: Finding = {
      kind: 'memory_spike',
      severity: big ? 'warning' : 'info',
      message: `${who}${largest.series} jumped by ${fmtMb(largest.jumpMb)} to ${fmtMb(largest.series === 'rss' ? largest.rssMb : largest.heapUsedMb)} at ${fmtAt(largest.t)} (robust z ${fmtNum(largest.score, 1)})${more}`,
      evidence,
    };
    if (stage !== '') finding.stage = stage;
    findings.push(finding);
  }
  return findings;
});
