/**
 * Per-run state lives in the run: a stopped run and its monitor are garbage-collected while the
 * wrapped functions, a generator and promises made inside stages that recorded into it live on.
 * Asked of V8 itself through WeakRefs, in a child run with --expose-gc.
 */
import { join } from 'node:path';
import { runChild } from '../helpers/child';

jest.setTimeout(90_000);

test('a stopped run and its monitor are collected while the wrapped functions, a decorated class and kept promises live on', async () => {
  const result = await runChild(join(__dirname, '..', 'fixtures', 'runCollectable.ts'), [], { timeoutMs: 80_000, nodeArgs: ['--expose-gc'] });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const out = JSON.parse(result.stdout.trim()) as { monitorCollected: boolean; runCollected: boolean; kept: number; heapMb: number };
  expect(out.kept).toBeGreaterThan(3);
  expect(out).toMatchObject({ monitorCollected: true, runCollected: true, singletonCollected: true, singletonRunCollected: true });
  // 350,000 records (~45 MB) were recorded: none of it is left
  expect(out.heapMb).toBeLessThan(40);
});
