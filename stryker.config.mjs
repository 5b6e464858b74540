// Mutation testing of the pure core (docs/testing.md, "Mutation"): `npm run test:mutation`.
// The core is what decides without I/O: libs/alert-identity (fingerprints, intake
// normalisation), libs/rules (matchers, rule choice, silences, templates, digests),
// libs/contracts (the schemas every message and request passes), and the alert state machine.
// Its unit tests run under tools/mutation/vitest.config.ts.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'tools/mutation/vitest.config.ts', related: true, pool: 'forks' },
  checkers: ['typescript'],
  tsconfigFile: 'tools/mutation/tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: [
    'libs/alert-identity/src/**/*.ts',
    'libs/rules/src/**/*.ts',
    'libs/contracts/src/**/*.ts',
    'libs/alert-state/src/state-machine.ts',
    '!**/*.spec.ts',
    '!**/index.ts',
  ],
  // The sandbox holds only what the core and its unit tests need (node_modules is linked).
  ignorePatterns: [
    '/apps',
    '/libs/*',
    '!/libs/alert-identity',
    '!/libs/rules',
    '!/libs/contracts',
    '!/libs/alert-state',
    '/libs/alert-state/*',
    '!/libs/alert-state/src',
    '/libs/alert-state/src/*',
    '!/libs/alert-state/src/state-machine*.ts',
    '/tools/*',
    '!/tools/mutation',
    '/bench',
    '/deploy',
    '/docker',
    '/docs',
    '/dist',
    '/test-output',
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level code, mostly the zod schemas of libs/contracts built at
  // import) need every test file reloaded each: 24 % of the mutants, 82 % of the time. They
  // are left out (docs/testing.md), so that a full run fits CI.
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 10_000,
  incremental: true,
  incrementalFile: 'tools/mutation/stryker-incremental.json',
  // Under dist/: ignored by git, eslint, tsc, vitest and Nx like every build output.
  tempDirName: 'dist/.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress'],
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: 90 },
};
