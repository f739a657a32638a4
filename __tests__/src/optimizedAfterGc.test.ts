/**
 * The collector's per-call path stays optimised through a memory-reducing GC. Frames die young,
 * and V8 drops a map no live object uses at such a GC, taking the optimised code that checks for
 * it along: the path then ran in the interpreter for ~2,700 calls (seconds, for a long stage).
 * The collector keeps one frame alive to prevent it (see frameMapAnchor in src/collector.ts).
 * Asked of V8 itself (`%GetOptimizationStatus`, in a child run with --allow-natives-syntax).
 */
import { join } from 'node:path';
import { runChild } from '../helpers/child';

jest.setTimeout(90_000);

test('a memory-reducing GC between two calls leaves the per-call path optimised', async () => {
  const result = await runChild(join(__dirname, '..', 'fixtures', 'optimizedAfterGc.ts'), [], {
    timeoutMs: 80_000,
    nodeArgs: ['--allow-natives-syntax', '--expose-gc'],
  });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const out = JSON.parse(result.stdout.trim()) as { rounds: Array<{ optimizedBefore: boolean; optimizedAfter: boolean }>; calls: number; counted: number };
  expect(out.counted).toBe(out.calls);
  // Each round first got the path optimised, or the check below would prove nothing.
  expect(out.rounds.map((r) => r.optimizedBefore)).toEqual([true, true, true]);
  expect(out.rounds.map((r) => r.optimizedAfter)).toEqual([true, true, true]);
});
