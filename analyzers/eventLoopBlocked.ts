/**
 * `event_loop_blocked`: who held the event loop longer than `eventLoopBlockedMs` (default 100 ms).
 * Two kinds of evidence:
 *  - direct: a synchronous call (it held the loop for its whole duration) longer than the
 *    threshold; with nesting, the innermost such call is blamed, not every ancestor;
 *  - sampler ticks whose `loopDelayMs` (event-loop lateness accumulated since the previous tick)
 *    exceeds the threshold: attributed to the innermost
 *    synchronous call that overlapped the tick's window, else to the only stage running then (its
 *    synchronous stretch between awaits), else reported without a stage.
 */
import type { Finding, StageMetrics } from '../src/types';
import { defineAnalyzer } from './builtin';
import { fmtAt, fmtMs } from './format';
import { LargestK, round } from './stats';
import { innermostActive, namesOf, type Interval } from './timeline';

/** Blocked ticks examined, the longest delays first (bounds the work on huge runs). */
const MAX_TICKS = 1000;
/** Blocking of at least this long (and 10× the threshold) is an error. */
export const BLOCKED_ERROR_MS = 1000;

interface Blame {
  calls: number;
  longestMs: number;
  longestAtMs: number;
  blockedMs: number;
  ticks: number;
  maxLoopDelayMs: number;
  maxLoopDelayAtMs: number;
  attribution: Set<string>;
}

/**
 * @example
 * eventLoopBlocked.analyze(run, DEFAULT_THRESHOLDS); // [{ kind: 'event_loop_blocked', stage: 'parse', ... }]
 */
export const eventLoopBlocked = defineAnalyzer('eventLoopBlocked', (view) => {
  const limit = view.thresholds.eventLoopBlockedMs;
  const records = view.run.stages;
  const timeline = view.timeline;
  const blame = new Map<string, Blame>();
  const blameOf = (name: string): Blame => {
    let b = blame.get(name);
    if (b === undefined) {
      b = { calls: 0, longestMs: 0, longestAtMs: 0, blockedMs: 0, ticks: 0, maxLoopDelayMs: 0, maxLoopDelayAtMs: 0, attribution: new Set() };
      blame.set(name, b);
    }
    return b;
  };

  // direct evidence: innermost synchronous calls over the limit
  const blocking = records.filter((r) => r.sync && r.durationMs > limit);
  const hasBlockingDescendant = new Set<string>();
  let lastParentId: string | undefined;
  for (const r of blocking) {
    // a sibling of the previous one: its parent and their ancestors are marked already (this
    // skips 3 walks in 5 on the bench run, 62 500 blocking calls)
    if (r.parentId !== undefined && r.parentId === lastParentId) continue;
    lastParentId = r.parentId;
    let p: StageMetrics | undefined = timeline.parentOf(r);
    for (let depth = 0; p !== undefined && depth < 10_000; depth++) {
      if (hasBlockingDescendant.has(p.id)) break;
      hasBlockingDescendant.add(p.id);
      p = timeline.parentOf(p);
    }
  }
  for (const r of blocking) {
    if (hasBlockingDescendant.has(r.id)) continue;
    const b = blameOf(r.name);
    b.calls++;
    b.blockedMs += r.durationMs;
    if (r.durationMs > b.longestMs) {
      b.longestMs = r.durationMs;
      b.longestAtMs = r.t;
    }
    b.attribution.add('synchronous call');
  }

  // sampler ticks that saw a long event-loop delay
  const samples = view.run.samples;
  // the MAX_TICKS longest delays (ties: the earlier ticks), longest first when some were left out
  const longest = new LargestK(MAX_TICKS);
  for (let i = 0; i < samples.length; i++) {
    const delayMs = samples[i]!.loopDelayMs ?? 0;
    if (delayMs > limit) longest.offer(i, delayMs);
  }
  const ticks = Array.from(longest.positions());
  if (longest.offered > MAX_TICKS) ticks.sort((a, b) => (samples[b]!.loopDelayMs ?? 0) - (samples[a]!.loopDelayMs ?? 0));
  // a tick reports lateness that may have built up before the previous tick fired (the monitor's
  // timer and the sampler's are not in step): reach back by the delay itself
  const interval = view.run.samplingIntervalMs ?? 0;
  const windows: Interval[] = ticks.map((i) => {
    const [from, to] = view.sampleWindow(i);
    const s = samples[i]!;
    return [Math.min(from, s.t - (s.loopDelayMs ?? 0) - interval), to];
  });
  const syncActive = innermostActive(records, windows, (r) => r.sync);
  const anyActive = innermostActive(records, windows);
  const unattributed: Array<{ delayMs: number; t: number; running: string[] }> = [];
  ticks.forEach((i, k) => {
    const delayMs = samples[i]!.loopDelayMs ?? 0;
    const t = samples[i]!.t;
    const sync = syncActive[k] ?? [];
    const running = namesOf(anyActive[k] ?? []);
    let stage: string | undefined;
    let how: string;
    if (sync.length > 0) {
      stage = sync[0]!.record.name;
      how = 'tick during a synchronous call';
    } else if (running.length === 1) {
      stage = running[0]!;
      how = 'tick while only this stage was running';
    } else {
      unattributed.push({ delayMs, t, running });
      return;
    }
    const b = blameOf(stage);
    b.ticks++;
    if (delayMs > b.maxLoopDelayMs) {
      b.maxLoopDelayMs = delayMs;
      b.maxLoopDelayAtMs = t;
    }
    b.attribution.add(how);
  });

  const findings: Finding[] = [];
  const severityOf = (ms: number): 'error' | 'warning' => (ms >= Math.max(BLOCKED_ERROR_MS, 10 * limit) ? 'error' : 'warning');
  for (const [name, b] of blame) {
    const worstMs = Math.max(b.longestMs, b.maxLoopDelayMs);
    const evidence: Record<string, unknown> = { durationMs: round(worstMs, 3), eventLoopBlockedMs: limit, attribution: [...b.attribution] };
    let message: string;
    if (b.calls > 0) {
      Object.assign(evidence, { blockingCalls: b.calls, blockedMs: round(b.blockedMs, 3), longestCallMs: b.longestMs, longestAtMs: b.longestAtMs });
      message = `${name} held the event loop for ${fmtMs(b.longestMs)} in one synchronous call (${fmtAt(b.longestAtMs)}); ${b.calls} call(s) over ${fmtMs(limit)}, ${fmtMs(b.blockedMs)} in all`;
    } else {
      message = `The event loop was held up for ${fmtMs(b.maxLoopDelayMs)} within one sampler tick (${fmtAt(b.maxLoopDelayAtMs)}) while ${name} was running; ${b.ticks} tick(s) over ${fmtMs(limit)}`;
    }
    if (b.ticks > 0) Object.assign(evidence, { blockedTicks: b.ticks, maxLoopDelayMs: b.maxLoopDelayMs, maxLoopDelayAtMs: b.maxLoopDelayAtMs });
    findings.push({ kind: 'event_loop_blocked', severity: severityOf(worstMs), stage: name, message, evidence });
  }
  if (unattributed.length > 0) {
    const worst = unattributed.reduce((a, b) => (b.delayMs > a.delayMs ? b : a));
    const candidates = [...new Set(unattributed.flatMap((u) => u.running))];
    const during = worst.running.length > 0 ? ` while ${worst.running.join(', ')} were running` : ' outside any recorded stage';
    findings.push({
      kind: 'event_loop_blocked',
      severity: severityOf(worst.delayMs),
      message: `The event loop was held up for ${fmtMs(worst.delayMs)} within one sampler tick (${fmtAt(worst.t)})${during}; ${unattributed.length} tick(s) over ${fmtMs(limit)} could not be pinned on one stage`,
      evidence: { durationMs: worst.delayMs, eventLoopBlockedMs: limit, blockedTicks: unattributed.length, atMs: worst.t, runningStages: candidates.slice(0, 10) },
    });
  }
  findings.sort((a, b) => Number(b.evidence?.durationMs ?? 0) - Number(a.evidence?.durationMs ?? 0));
  return findings;
});
