/**
 * Which stage a leak belongs to, judged by what was kept: the growth of the post-GC heap floor
 * from one window's trough (its lowest heap) to the next, regressed on each stage's busy time
 * between the two troughs (ordinary least squares, with an intercept for growth no stage explains). A stage is named only when its coefficient is
 * positive and significant, and what it explains is a real part of the floor's growth; its size
 * is that part of the floor's growth, never a sum of per-call heap deltas (those measure what a
 * call allocated, mostly garbage, not what it kept). A stage that only churns (allocates and drops)
 * leaves the floor where it was, whatever it allocates, and is never named. Stages that are busy
 * together cannot be told apart from each other (or, if their rate never changes, from
 * the growth of everything else): then no stage is named, and the evidence says which were tied.
 */
import type { MemorySample } from '../src/types';
import { olsWithIntercept, robustFit } from './regression';

/** Windows the samples are cut into (fewer with fewer samples: at least MIN_SAMPLES_PER_WINDOW each). */
const MAX_WINDOWS = 200;
const MIN_WINDOWS = 8;
const MIN_SAMPLES_PER_WINDOW = 2;
/** Most stages in one regression: the most active ones. */
const MAX_REGRESSORS = 6;
/** A stage's busy time must vary this much across windows (coefficient of variation) to be told from the intercept. */
const MIN_ACTIVITY_CV = 0.1;
/** Activity series this correlated are tied: neither can be named over the other. */
const TIED_CORRELATION = 0.95;
/** One-sided significance of a stage's coefficient. */
export const ATTRIBUTION_ALPHA = 0.01;
/** The plain least-squares fit must agree at this one-sided level. */
const PLAIN_FIT_ALPHA = 0.1;
/** Share of the floor's growth a stage must explain to be named. */
export const MIN_EXPLAINED_SHARE = 0.25;

export interface LeakAttribution {
  /** The stage the floor's growth follows, when one can be named. */
  stage?: string;
  /** What it explains of the floor's growth, MiB (its coefficient times its busy time). */
  retainedMb: number;
  /** Its coefficient: floor growth per second the stage is busy, MiB. */
  mbPerBusySecond: number;
  /** One-sided p-value of its coefficient. */
  pValue: number;
  /** Windows the regression used. */
  windows: number;
  /** Stages whose activity could not be told apart (when that kept a stage from being named). */
  tied?: string[];
  /** Why no stage was named. */
  reason?: string;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

function correlation(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/**
 * @example
 * attributeLeak(run.samples, 5_000, 42); // { stage: 'leaky_push', retainedMb: 39.2, mbPerBusySecond: 0.5, pValue: 1e-6, windows: 30 }
 */
export function attributeLeak(samples: readonly MemorySample[], fromMs: number, floorGrowthMb: number, minWindowMs = 0): LeakAttribution {
  const none = (reason: string, windows = 0, tied?: string[]): LeakAttribution => ({ retainedMb: 0, mbPerBusySecond: 0, pValue: 1, windows, reason, ...(tied !== undefined ? { tied } : {}) });
  const used = samples.filter((s) => s.t >= fromMs && Number.isFinite(s.heapUsedMb));
  // Windows of equal time, each long enough to hold a collection (minWindowMs: the trend's floor
  // window, 1.5 GC cycles), so that each one's lowest heap is a post-GC trough.
  const first = used[0]?.t ?? 0;
  const span = (used[used.length - 1]?.t ?? 0) - first;
  const windows = Math.min(MAX_WINDOWS, Math.floor(used.length / MIN_SAMPLES_PER_WINDOW), minWindowMs > 0 ? Math.floor(span / minWindowMs) : Infinity);
  if (!(windows >= MIN_WINDOWS)) return none(`too few samples or GC cycles after the warm-up (${used.length} samples) to follow the floor window by window`);
  // Per window: where its lowest heap (the post-GC floor) is.
  const troughs: number[] = [];
  let i = 0;
  for (let w = 0; w < windows; w++) {
    const end = w === windows - 1 ? Infinity : first + ((w + 1) * span) / windows;
    let at = -1;
    for (; i < used.length && used[i]!.t < end; i++) if (at < 0 || used[i]!.heapUsedMb < used[at]!.heapUsedMb) at = i;
    if (at >= 0) troughs.push(at);
  }
  if (troughs.length < MIN_WINDOWS) return none('too few windows with samples after the warm-up');
  // The floor's growth from one trough to the next, against each stage's busy time between them.
  const y: number[] = [];
  /** Time between the troughs: growth that comes with time alone (code outside stages) scales with it, and so does every stage's busy time. */
  const dt: number[] = [];
  const calls = new Map<string, number[]>();
  for (let w = 1; w < troughs.length; w++) {
    const a = troughs[w - 1]!;
    const b = troughs[w]!;
    y.push(used[b]!.heapUsedMb - used[a]!.heapUsedMb);
    dt.push(used[b]!.t - used[a]!.t);
    for (let k = a + 1; k <= b; k++) {
      const sc = used[k]!.stageBusyMs;
      if (sc === undefined) continue;
      for (const name of Object.keys(sc)) {
        let series = calls.get(name);
        if (series === undefined) {
          series = new Array<number>(troughs.length - 1).fill(0);
          calls.set(name, series);
        }
        series[w - 1]! += sc[name] ?? 0;
      }
    }
  }
  const active = [...calls.entries()]
    .map(([name, x]) => ({ name, x }))
    .filter((c) => c.x.some((v) => v > 0))
    .sort((a, b) => b.x.reduce((s, v) => s + v, 0) - a.x.reduce((s, v) => s + v, 0));
  if (active.length === 0) return none('no stage ran in the windows after the warm-up', y.length);
  // Stages busy at a steady rate are indistinguishable from time itself (everything else's growth):
  // their busy time per interval follows the interval's length.
  const varying = active.filter((c) => {
    const perMs = c.x.map((v, i) => v / Math.max(1, dt[i]!));
    const m = mean(perMs);
    const sd = Math.sqrt(mean(perMs.map((v) => (v - m) ** 2)));
    return m > 0 && sd / m >= MIN_ACTIVITY_CV && Math.abs(correlation(c.x, dt)) < TIED_CORRELATION;
  });
  if (varying.length === 0) {
    return none('every stage was busy at a steady rate, so the floor\'s growth cannot be pinned on one', y.length, active.slice(0, MAX_REGRESSORS).map((c) => c.name));
  }
  // Tied activity: keep the first of each group; remember the group.
  const groups: Array<{ name: string; x: number[]; members: string[] }> = [];
  for (const c of varying) {
    const g = groups.find((gr) => Math.abs(correlation(gr.x, c.x)) >= TIED_CORRELATION);
    if (g !== undefined) g.members.push(c.name);
    else if (groups.length < MAX_REGRESSORS) groups.push({ name: c.name, x: c.x, members: [c.name] });
  }
  // The time between troughs comes first: the stages' coefficients are what their busy time adds
  // beyond the growth of the time it took.
  // (Intervals of one length leave that to the intercept.)
  const dtMean = mean(dt);
  const dtVaries = Math.sqrt(mean(dt.map((v) => (v - dtMean) ** 2))) > 0.01 * dtMean;
  const offset = dtVaries ? 1 : 0;
  const xs = dtVaries ? [dt, ...groups.map((g) => g.x)] : groups.map((g) => g.x);
  const fit = robustFit(xs, y);
  const plain = olsWithIntercept(xs, y);
  if (fit === undefined || plain === undefined) return none('the stages\' activity leaves too few degrees of freedom for a regression', y.length);
  // Significant in the robust fit, and pointing the same way in the plain one: a pattern that only
  // the reweighting finds (a near-exact series, say) names no one.
  let best: { g: (typeof groups)[number]; beta: number; p: number; explained: number } | undefined;
  groups.forEach((g, j) => {
    const k = j + offset;
    const beta = fit.coefficients[k]!;
    const p = fit.pOneSided[k]!;
    const explained = beta * g.x.reduce((a, b) => a + b, 0);
    const agrees = plain.coefficients[k]! > 0 && plain.pOneSided[k]! < PLAIN_FIT_ALPHA;
    if (beta > 0 && p < ATTRIBUTION_ALPHA && agrees && explained > 0 && (best === undefined || explained > best.explained)) best = { g, beta, p, explained };
  });
  if (best === undefined) return none('no stage\'s busy time follows the floor\'s growth significantly', y.length);
  const b = best as { g: (typeof groups)[number]; beta: number; p: number; explained: number };
  const growth = floorGrowthMb > 0 ? floorGrowthMb : y.reduce((a, v) => a + v, 0);
  if (growth > 0 && b.explained < MIN_EXPLAINED_SHARE * growth) {
    return none(`${b.g.name}'s busy time follows the floor's growth, but explains under ${MIN_EXPLAINED_SHARE * 100}% of it`, y.length);
  }
  if (b.g.members.length > 1) return none(`the floor's growth follows ${b.g.members.join(', ')}, which are busy together`, y.length, b.g.members);
  return {
    stage: b.g.name,
    retainedMb: growth > 0 ? Math.min(b.explained, growth) : b.explained,
    mbPerBusySecond: b.beta * 1000,
    pValue: b.p,
    windows: y.length,
  };
}
