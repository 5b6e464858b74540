import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which kind of test a spec file is, decided from its name and its text (docs/testing.md, "Unit,
 * integration, end to end"). The root vitest.config.ts makes one vitest project of each kind and
 * the Nx plugin next to this file gives each Nx project a `test-<kind>` target for the kinds it has,
 * so both split the files the same way:
 *
 * - `e2e`: the file name ends in `.e2e.spec.ts`. Such a test starts a SentryHub program (a service,
 *   built or under tsx, a command of tools/, a built bundle) or a browser as a process of its own.
 * - `integration`: any other spec that reaches the real PostgreSQL or RabbitMQ, which it does through
 *   libs/testing: its text names `createTestDatabase`, `createTestVhost`, `TEST_POSTGRES_URL` or
 *   `TEST_RABBITMQ_HOST`.
 * - `unit`: the rest. Nothing outside the test's own process but files and in-process servers on
 *   127.0.0.1, so the result depends only on the files: Nx caches it.
 */
export type TestKind = 'unit' | 'integration' | 'e2e';

export const TEST_KINDS: readonly TestKind[] = ['unit', 'integration', 'e2e'];

/** The spec files of apps, libs and tools that `vitest run` runs (the bench's smoke test runs alone: `npm run test:bench`). */
export const SPEC_PATTERNS = ['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'tools/**/*.spec.ts'];
export const SPEC_EXCLUDED = ['**/node_modules/**', '**/dist/**', '**/*.bench-smoke.spec.ts'];

const E2E_FILE = /\.e2e\.spec\.ts$/;
const REAL_SERVICES = /\b(?:createTestDatabase|createTestVhost|TEST_POSTGRES_URL|TEST_RABBITMQ_HOST)\b/;

/** The kind of one spec file, given its path (relative to the workspace root) and its text. */
export function testKind(path: string, source: string): TestKind {
  if (E2E_FILE.test(path)) return 'e2e';
  if (REAL_SERVICES.test(source)) return 'integration';
  return 'unit';
}

/** Every spec file of the workspace (paths relative to `root`, with `/`), sorted, by kind: each file in exactly one list. */
export function specFilesByKind(root: string): Record<TestKind, string[]> {
  const byKind: Record<TestKind, string[]> = { unit: [], integration: [], e2e: [] };
  const files = globSync(SPEC_PATTERNS, { cwd: root, exclude: SPEC_EXCLUDED });
  for (const file of files.map((path) => path.split('\\').join('/')).sort()) {
    byKind[testKind(file, readFileSync(join(root, file), 'utf8'))].push(file);
  }
  return byKind;
}
