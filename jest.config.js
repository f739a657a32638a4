/**
 * Two projects: every test under the standard (TC39) decorators, and the decorator and hook
 * tests again under `experimentalDecorators` + `emitDecoratorMetadata` (tsconfig.legacy.json).
 * ts-jest runs the TypeScript compiler itself, so decorator metadata is really emitted.
 */
const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  moduleFileExtensions: ['ts', 'js', 'json'],
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
