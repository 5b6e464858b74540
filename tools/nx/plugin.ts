import { dirname, join } from 'node:path';
import type { CreateNodes, TargetConfiguration } from '@nx/devkit';
import { specFilesByKind, TEST_KINDS, type TestKind } from './test-kinds.js';

/**
 * Nx plugin (nx.json `plugins`): infers `lint`, `test` and `test-<kind>` targets for every project
 * that has a project.json, so no project.json repeats them.
 *
 * - `lint`: ESLint, then Prettier's check, on the project's folder (what `npm run lint` does for the workspace), cached.
 * - `test-unit`, `test-integration`, `test-e2e`: `vitest run --project <kind>` on the project's
 *   folder, only for the kinds of spec file the project has (tools/nx/test-kinds.ts). Unit tests are
 *   cached; integration and end-to-end tests use the real PostgreSQL and RabbitMQ, so they are never
 *   cached and never run beside another task. End-to-end tests start the built services: they
 *   build every app first.
 * - `test`: runs the project's `test-<kind>` targets.
 */
export const createNodes: CreateNodes = [
  '**/project.json',
  (projectFiles, _options, context) => {
    const byKind = specFilesByKind(context.workspaceRoot);
    return projectFiles.map((file) => {
      const root = dirname(file);
      const targets: Record<string, TargetConfiguration> = { lint: lintTarget(root) };
      const kinds = TEST_KINDS.filter((kind) => byKind[kind].some((spec) => spec.startsWith(`${root}/`)));
      for (const kind of kinds) targets[`test-${kind}`] = testTarget(context.workspaceRoot, root, kind);
      targets['test'] = {
        executor: 'nx:noop',
        dependsOn: kinds.map((kind) => `test-${kind}`),
        metadata: { description: `Every test of ${root}: ${kinds.length ? kinds.join(', ') : 'none yet'}` },
      };
      return [file, { projects: { [root]: { targets } } }] as const;
    });
  },
];

function lintTarget(root: string): TargetConfiguration {
  return {
    executor: 'nx:run-commands',
    options: { command: `eslint --max-warnings=0 ${root} && prettier --check ${root} --log-level warn` },
    cache: true,
    // Type-aware rules read the types of the libs a project imports, and the module-boundary rule their tags.
    inputs: [
      'default',
      '^default',
      '{workspaceRoot}/eslint.config.mjs',
      '{workspaceRoot}/tsconfig.json',
      '{workspaceRoot}/.prettierrc',
      '{workspaceRoot}/.prettierignore',
      { externalDependencies: ['eslint', 'typescript-eslint', '@nx/eslint-plugin', 'typescript', 'prettier'] },
    ],
    outputs: [],
    metadata: { description: `ESLint and Prettier's check on ${root}/ (npm run lint checks the whole workspace)` },
  };
}

function testTarget(workspaceRoot: string, root: string, kind: TestKind): TargetConfiguration {
  // An absolute folder: vitest takes the files under it, where a relative one would match any path containing it.
  const options = { command: `vitest run --project ${kind} ${join(workspaceRoot, root)}/` };
  const description = `The ${kind} tests under ${root}/ (vitest project "${kind}")`;
  if (kind === 'unit') {
    return {
      executor: 'nx:run-commands',
      options,
      cache: true,
      inputs: [
        'default',
        '^default',
        // tools' tests check the whole workspace: documents, manifests, every project.json.
        ...(root === 'tools' ? ['{workspaceRoot}/**/*'] : []),
        '{workspaceRoot}/vitest.config.ts',
        '{workspaceRoot}/tools/nx/test-kinds.ts',
        { externalDependencies: ['vitest'] },
      ],
      outputs: [],
      metadata: { description },
    };
  }
  return {
    executor: 'nx:run-commands',
    options,
    cache: false,
    parallelism: false,
    ...(kind === 'e2e' ? { dependsOn: [{ projects: 'tag:type:app', target: 'build' }] } : {}),
    metadata: { description },
  };
}
