/**
 * Prints self time by function from a V8 .cpuprofile (node --cpu-prof), heaviest first.
 *
 *   node build/bench/cpuprofile.js <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node build/bench/cpuprofile.js <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node from the sample stream (each sample's delta is charged to its node).
const selfUs = new Map<number, number>();
const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) {
  const id = samples[i]!;
  const dt = deltas[i + 1] ?? deltas[i] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
}
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
const byFn = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (n === undefined) continue;
  const cf = n.callFrame;
  const where = cf.url === '' ? '' : ` ${cf.url.replace(/^.*\/(build|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
  const key = `${cf.functionName || '(anonymous)'}${where}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
}
const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(`total sampled ${(totalUs / 1000).toFixed(0)} ms`);
for (const [key, us] of rows) console.log(`${((us / totalUs) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);
