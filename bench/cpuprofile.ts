/**
 * Prints self time by function from a V8 .cpuprofile (node --cpu-prof), heaviest first.
 *
 *   node build/bench/cpuprofile.js <file.cpuprofile> [top=25] [wrapped calls] [function to show by line] [--from=<µs>]
 *
 * Then self time by where the code lives, the time spent inside stagemeter's wrapper less the
 * wrapped function's own (per call, when the number of wrapped calls is given: profile.js prints
 * it), and one function's samples by line. --from skips the samples taken before that monotonic
 * time (µs, the clock of the profile and of process.hrtime): profile.js prints it when its
 * warm-up ends.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  positionTicks?: Array<{ line: number; ticks: number }>;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const fromArg = process.argv.find((a) => a.startsWith('--from='));
const fromUs = fromArg !== undefined ? Number(fromArg.slice('--from='.length)) : undefined;
const args = process.argv.filter((a) => !a.startsWith('--from='));
const file = args[2];
if (file === undefined) {
  console.error('usage: node build/bench/cpuprofile.js <file.cpuprofile> [top] [wrapped calls] [function to show by line] [--from=<µs>]');
  process.exit(2);
}
const top = Number(args[3] ?? 25);
const wrappedCalls = args[4] !== undefined ? Number(args[4]) : undefined;
const byLine = args[5];
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node from the sample stream (each sample's delta is charged to its node).
const selfUs = new Map<number, number>();
const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
let at = profile.startTime;
let used = 0;
for (let i = 0; i < samples.length; i++) {
  at += deltas[i] ?? 0;
  if (fromUs !== undefined && at < fromUs) continue;
  const id = samples[i]!;
  const dt = deltas[i + 1] ?? deltas[i] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  used++;
}
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
/** A function as the tables name it: its name, and its file (from build/ or node_modules/) and line. */
const labelOf = (cf: ProfileNode['callFrame']): string =>
  `${cf.functionName || '(anonymous)'}${cf.url === '' ? '' : ` ${cf.url.replace(/^.*\/(build|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`}`;
/** stagemeter's own compiled code (build/src, build/decorators, build/analyzers). */
const isStagemeter = (url: string): boolean => /\/(src|decorators|analyzers)\/[^/]+\.js$/.test(url);
const byFn = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (n === undefined) continue;
  const key = labelOf(n.callFrame);
  byFn.set(key, (byFn.get(key) ?? 0) + us);
}
const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
const pct = (us: number): string => `${((us / totalUs) * 100).toFixed(2).padStart(6)} %`;
console.log(`total sampled ${(totalUs / 1000).toFixed(0)} ms in ${used} samples${fromUs !== undefined ? ` (from ${fromUs} µs; ${samples.length - used} earlier samples skipped)` : ''}`);
for (const [key, us] of rows) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);

// Self time by where the code lives: stagemeter itself, the program profiled, Node's own
// JavaScript, and V8's pseudo-frames ((garbage collector), (program): native code and the VM).
const groupOf = (n: ProfileNode): string => {
  const url = n.callFrame.url;
  if (isStagemeter(url)) return 'stagemeter during the calls (src/, decorators/, analyzers/)';
  if (url.startsWith('node:')) return 'node internals (node:*)';
  if (url === '') return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : 'native';
  return 'the profiled program and its other modules';
};
// Samples taken inside startMonitoring() or stopMonitoring() (the run's setup, its analysis and
// report) are once per run, not per call: they get a group of their own, whatever code ran there.
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const ONCE = new Set(['startMonitoring', 'stopMonitoring']);
const onceMemo = new Map<number, boolean>();
const underOnce = (id: number): boolean => {
  const known = onceMemo.get(id);
  if (known !== undefined) return known;
  const parent = parentOf.get(id);
  const r = ONCE.has(byId.get(id)?.callFrame.functionName ?? '') || (parent !== undefined && underOnce(parent));
  onceMemo.set(id, r);
  return r;
};
const byGroup = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (n === undefined) continue;
  const g = underOnce(id) ? 'stagemeter startMonitoring() and stopMonitoring() (once per run)' : groupOf(n);
  byGroup.set(g, (byGroup.get(g) ?? 0) + us);
}
console.log('\nby where the code lives');
for (const [key, us] of [...byGroup.entries()].sort((a, b) => b[1] - a[1])) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);

// Inside the wrapper: a sample whose stack reaches stagemeter's `wrapped` without passing through
// the program's own code (the stage's function and what it calls) is time the hook added, native
// calls (clock, probes) and Node internals made for it included.
const hookMemo = new Map<number, 'hook' | 'stage' | 'outside'>();
const classify = (id: number): 'hook' | 'stage' | 'outside' => {
  const known = hookMemo.get(id);
  if (known !== undefined) return known;
  let sawProgram = false;
  let r: 'hook' | 'stage' | 'outside' = 'outside';
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
    const cf = byId.get(cur)?.callFrame;
    if (cf === undefined) break;
    if (cf.functionName === 'stagemeterHook' && /\/decorators\/wrap\.js$/.test(cf.url)) {
      r = sawProgram ? 'stage' : 'hook';
      break;
    }
    if (cf.url !== '' && !cf.url.startsWith('node:') && !isStagemeter(cf.url)) sawProgram = true;
  }
  hookMemo.set(id, r);
  return r;
};
let hookUs = 0;
let stageUs = 0;
const hookByFn = new Map<string, number>();
for (const [id, us] of selfUs) {
  const c = classify(id);
  if (c === 'hook') {
    hookUs += us;
    const key = labelOf(byId.get(id)!.callFrame);
    hookByFn.set(key, (hookByFn.get(key) ?? 0) + us);
  } else if (c === 'stage') stageUs += us;
}
const perCall = wrappedCalls !== undefined && wrappedCalls > 0 ? `, ${((hookUs * 1000) / wrappedCalls).toFixed(0)} ns per wrapped call` : '';
console.log(`\ninside stagemeter's wrapper: ${(hookUs / 1000).toFixed(0)} ms in the hook${perCall} (${((hookUs / Math.max(stageUs, 1)) * 100).toFixed(2)} % of the ${(stageUs / 1000).toFixed(0)} ms in the stages' own code)`);
for (const [key, us] of [...hookByFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top > 12 ? top : 12)) {
  const each = wrappedCalls !== undefined && wrappedCalls > 0 ? `${((us * 1000) / wrappedCalls).toFixed(0).padStart(7)} ns/call` : '';
  console.log(`${((us / Math.max(hookUs, 1)) * 100).toFixed(1).padStart(5)} % of the hook  ${each}  ${key}`);
}

// Samples of one function by source line (of the compiled JavaScript in build/), heaviest first.
if (byLine !== undefined) {
  const ticks = new Map<string, number>();
  const sources = new Map<string, string[]>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName !== byLine) continue;
    const url = n.callFrame.url;
    if (!sources.has(url)) {
      try {
        sources.set(url, readFileSync(url.startsWith('file://') ? new URL(url) : url, 'utf8').split('\n'));
      } catch {
        sources.set(url, []);
      }
    }
    for (const t of n.positionTicks ?? []) ticks.set(`${url}\u0000${t.line}`, (ticks.get(`${url}\u0000${t.line}`) ?? 0) + t.ticks);
  }
  const total = [...ticks.values()].reduce((a, b) => a + b, 0);
  console.log(`\n${byLine} by line (${total} samples)`);
  for (const [key, t] of [...ticks.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    const [url, line] = key.split('\u0000') as [string, string];
    const text = sources.get(url)?.[Number(line) - 1]?.trim().slice(0, 100) ?? '';
    console.log(`${((t / total) * 100).toFixed(0).padStart(4)} %  line ${line.padStart(5)}  ${text}`);
  }
}
