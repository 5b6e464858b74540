import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (README.md, "Layout"): apps may use every lib type; feature libs (the intake
 * that two apps share) use data-access, domain, contracts and util; data-access and domain use
 * contracts and util; contracts use util; apps never import apps; only spec files (and tools)
 * may import type:testing.
 */
const libTypes = ['type:feature', 'type:contracts', 'type:data-access', 'type:domain', 'type:util'];

function boundaries(extraForSpecs) {
  const extra = extraForSpecs ? ['type:testing'] : [];
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      banTransitiveDependencies: true,
      depConstraints: [
        { sourceTag: 'type:app', onlyDependOnLibsWithTags: [...libTypes, ...extra] },
        { sourceTag: 'type:tool', onlyDependOnLibsWithTags: [...libTypes, 'type:testing'] },
        { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:data-access', 'type:domain', 'type:contracts', 'type:util', ...extra] },
        { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', ...extra] },
        { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', 'type:util', ...extra] },
        { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:util', ...extra] },
        { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util', ...extra] },
        { sourceTag: 'type:testing', onlyDependOnLibsWithTags: libTypes },
        { sourceTag: 'scope:sentryhub', onlyDependOnLibsWithTags: ['scope:sentryhub'] },
      ],
    },
  ];
}

/**
 * Rules that need the type checker: a promise nobody awaits, or one handed where a void callback
 * is expected (an event handler, a setInterval body), loses its rejection.
 */
const promiseRules = {
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
};

const unusedVars = ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }];

/** Plain JavaScript: Node scripts and configs (the browser's code is TypeScript, apps/admin/src/console). */
const jsFiles = ['**/*.js', '**/*.mjs', '**/*.cjs'];

/**
 * The Node scripts and configs in JavaScript, type-checked (as JS, for the promise rules) through
 * the project service's default project; the tsconfig projects hold only TypeScript. Globs here
 * cannot use `**`; a file in the default project lints slower than one in a tsconfig, hence the
 * service's cap on their number (8 by default, raised below).
 */
const scripts = ['*.mjs', 'tools/build/*.mjs', 'tools/start/*.mjs', 'docker/slack-stand-in/*.mjs'];

export default defineConfig([
  { ignores: ['**/dist', '**/node_modules', '**/.nx', 'bench/results', 'test-output'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': unusedVars,
    },
  },
  {
    files: ['**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
  {
    // Migrations use Kysely<any> by design (kysely docs): they never import app code.
    files: ['libs/db/src/migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: jsFiles,
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: globals.node },
    rules: { '@typescript-eslint/no-unused-vars': unusedVars },
  },
  {
    files: ['**/*.ts', '**/*.mts', ...scripts],
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: scripts,
          defaultProject: 'tsconfig.json',
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 16,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: promiseRules,
  },
  // Formatting is Prettier's (npm run format:check): the style rules that would disagree with it are off.
  prettier,
]);
