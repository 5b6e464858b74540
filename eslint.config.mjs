import nx from '@nx/eslint-plugin';

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

export default [
  { ignores: ['**/dist', '**/node_modules', '**/.nx', 'bench/results', '**/*.js', '**/*.mjs'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
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
];
