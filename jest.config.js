/**
 * Two projects: every test under the standard (TC39) decorators, and the decorator and hook
 * tests again under `experimentalDecorators` + `emitDecoratorMetadata` (tsconfig.legacy.json).
 * ts-jest runs the TypeScript compiler itself, so decorator metadata is really emitted.
 */
const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Many tests start node children or real runs: seconds apiece on a busy 2-core machine, where
  // jest's 5 s default fails tests that are right. No test asserts a duration with it.
  testTimeout: 30_000,
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'standard',
      testMatch: ['**/__tests__/**/*.test.ts'],
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
    },
    {
      ...shared,
      displayName: 'experimentalDecorators',
      testMatch: ['**/__tests__/decorators/**/*.test.ts'],
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.legacy.json' }] },
    },
  ],
};
