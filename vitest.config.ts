import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import { SPEC_EXCLUDED, specFilesByKind } from './tools/nx/test-kinds.js';

const root = fileURLToPath(new URL('.', import.meta.url));
const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

/** Every spec file of apps, libs and tools, in exactly one of three projects (docs/testing.md): `vitest run --project unit` runs one kind. */
const files = specFilesByKind(root);

export default defineConfig({
  resolve: {
    alias: {
      '@sentryhub/alert-identity': lib('alert-identity'),
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
    // The bench's smoke test (minutes of load) runs on its own: npm run test:bench.
    exclude: [...configDefaults.exclude, ...SPEC_EXCLUDED],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Each project inherits the options above (extends: true) and runs the files of one kind.
    projects: [
      { extends: true, test: { name: 'unit', include: files.unit } },
      { extends: true, test: { name: 'integration', include: files.integration } },
      { extends: true, test: { name: 'e2e', include: files.e2e } },
    ],
  },
});
