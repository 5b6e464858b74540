import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const lib = (name: string) => fileURLToPath(new URL(`../../libs/${name}/src/index.ts`, import.meta.url));

/** The unit tests of the pure core, the ones `npm run test:mutation` runs against each mutant: no RabbitMQ, no PostgreSQL. */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: {
    alias: {
      '@sentryhub/alert-identity': lib('alert-identity'),
      '@sentryhub/contracts': lib('contracts'),
      '@sentryhub/rules': lib('rules'),
    },
  },
  test: {
    include: [
      'libs/alert-identity/src/**/*.spec.ts',
      'libs/rules/src/**/*.spec.ts',
      'libs/contracts/src/**/*.spec.ts',
      'libs/alert-state/src/state-machine*.spec.ts',
    ],
    exclude: ['**/node_modules/**', '**/.stryker-tmp/**'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
  },
});
