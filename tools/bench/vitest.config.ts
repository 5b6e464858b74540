import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
// The workspace's own vitest config (its path aliases), not another project's code.
// eslint-disable-next-line @nx/enforce-module-boundaries
import base from '../../vitest.config.js';

/** `npm run test:bench`: the bench's smoke test (`npm run bench -- --quick` beside Alertmanager), alone on the machine. */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: base.resolve,
  test: {
    include: ['tools/bench/**/*.bench-smoke.spec.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
