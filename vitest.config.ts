import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@sentryhub/alert-state': lib('alert-state'),
      '@sentryhub/contracts': lib('contracts'),
      '@sentryhub/db': lib('db'),
      '@sentryhub/intake': lib('intake'),
      '@sentryhub/messaging': lib('messaging'),
      '@sentryhub/rules': lib('rules'),
      '@sentryhub/service-runtime': lib('service-runtime'),
      '@sentryhub/testing': lib('testing'),
    },
  },
  test: {
    include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'tools/**/*.spec.ts'],
    // The bench's smoke test (minutes of load) runs on its own: npm run test:bench.
    exclude: [...configDefaults.exclude, '**/*.bench-smoke.spec.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
