/**
 * The medium and long stages' work, shared by the bench (micro.ts) and the profiles (profile.ts).
 */

/**
 * Compiles a copy of a deterministic CPU loop of `steps` steps, no allocation, named `name` (in
 * stack traces and profiles, with `<name>.js` as its file). Its bytecode is padded past V8's
 * inlining limit (460 bytes) with a branch that never runs, so it is never inlined: a raw call and
 * a wrapped call of one copy run the very same machine code. (Two inlined copies of one loop can
 * differ by a percent or two from code placement alone, the size of the effect a long stage
 * measures.) Each call of this function compiles a copy of its own.
 */
export function compileWork(name: string): (steps: number, seed: number) => number {
  const body = [
    'let s = seed | 0;',
    'for (let i = 0; i < steps; i++) s = (Math.imul(s, 1664525) + 1013904223 + i) | 0;',
    'if (seed === -0x7654321) {',
    ...Array.from({ length: 120 }, (_, i) => `  s = (s ^ ${i + 1}) + (s >>> ${(i % 13) + 1});`),
    '}',
    'return s;',
  ].join('\n');
  const source = `return function ${name}(steps, seed) {\n${body}\n};\n//# sourceURL=${name}.js`;
  return new Function(source)() as (steps: number, seed: number) => number;
}
