/**
 * The wrapper every hook installs (stagemeterHook), and handedOverCall (the untimed calls the
 * collector hands it), stay small enough for V8 to inline them into the caller: past 460 bytes of bytecode
 * (--max-inlined-bytecode-size) a function is never inlined, and a call of a short stage then
 * costs a function call more, with the arguments' array allocated (measured: a wrapper of 881
 * bytes took an inactive call from 4 to 12-15 ns over the raw call). Asked of V8 itself
 * (--print-bytecode, in a child process).
 */
import { join } from 'node:path';
import { runChild } from '../helpers/child';
import { decoratorMode } from './mode';

jest.setTimeout(60_000);

const V8_MAX_INLINED_BYTECODE = 460;

async function bytecodeLength(name: string): Promise<{ length: number; calls: number }> {
  const result = await runChild(join(__dirname, '..', 'fixtures', 'inlinable.ts'), [], {
    timeoutMs: 50_000,
    nodeArgs: ['--print-bytecode', `--print-bytecode-filter=${name}`],
    env: decoratorMode === 'experimentalDecorators' ? { STAGEMETER_TEST_LEGACY_DECORATORS: '1' } : {},
  });
  expect(result.code).toBe(0);
  const lengths = [...result.stdout.matchAll(/Bytecode length: (\d+)/g)].map((m) => Number(m[1]));
  // one line per compiled copy: the function must have been compiled, or this proves nothing
  expect(lengths.length).toBeGreaterThan(0);
  // the fixture's line, wherever V8's own output left it
  const calls = Number(/\{"calls":(\d+)/.exec(result.stdout)?.[1]);
  return { length: Math.max(...lengths), calls };
}

describe(`hot path size (${decoratorMode})`, () => {
  test.each(['stagemeterHook', 'handedOverCall'])('%s stays under V8\'s inlining limit', async (name) => {
    const { length, calls } = await bytecodeLength(name);
    expect(calls).toBe(5000);
    expect(length).toBeLessThan(V8_MAX_INLINED_BYTECODE);
  });
});
