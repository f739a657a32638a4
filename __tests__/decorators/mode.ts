/** Which TypeScript decorator mode this test file was compiled with. */
let seen: 'standard' | 'experimentalDecorators' | undefined;

function probe(_target: unknown, context: unknown): void {
  seen = typeof context === 'object' && context !== null && 'kind' in context ? 'standard' : 'experimentalDecorators';
}

class Probe {
  @(probe as any)
  m(): void {}
}
void Probe;

export const decoratorMode: 'standard' | 'experimentalDecorators' = seen!;
