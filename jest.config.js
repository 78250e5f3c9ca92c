/** Jest runs the TypeScript sources directly; `npm run typecheck` and the build do the type checking. */
module.exports = {
  testEnvironment: '<rootDir>/test/support/node-realm-environment.js',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
  // Two cores: one worker per core keeps the ONNX and SQLite tests from starving each other.
  maxWorkers: 2,
};
