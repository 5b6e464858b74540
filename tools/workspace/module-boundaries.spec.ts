import { execFileSync } from 'node:child_process';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Lint enforces the module boundaries of README.md's Layout. The Nx rule silently skips itself
 * when no project graph is cached, so this proves it is really on.
 */
describe('module boundaries', () => {
  let eslint: ESLint;
  beforeAll(() => {
    execFileSync('npx', ['nx', 'show', 'projects'], { stdio: 'ignore' });
    // The files linted here exist only in memory, so no TypeScript project holds them: they are
    // parsed without type information, and the type-aware rules (which need it) are off for them.
    eslint = new ESLint({
      overrideConfig: {
        files: ['**/*.ts'],
        languageOptions: { parserOptions: { projectService: false, project: null } },
        rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off' },
      },
    });
  });

  const lint = async (file: string, code: string) => {
    const [result] = await eslint.lintText(code, { filePath: file });
    return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
  };

  it('forbids a domain lib from importing a data-access lib', async () => {
    const messages = await lint('libs/rules/src/bad.ts', "import { createDb } from '@sentryhub/db';\nexport const x = createDb;\n");
    expect(messages.join('\n')).toMatch(/type:domain.*can only depend on libs tagged with "type:contracts", "type:util"/);
  });

  it('lets a feature lib use data-access and domain libs, but no data-access lib use a feature lib', async () => {
    expect(
      await lint(
        'libs/intake/src/ok.ts',
        "import { PublishError } from '@sentryhub/messaging';\nimport { fingerprint } from '@sentryhub/alert-identity';\nexport const x = [PublishError, fingerprint];\n",
      ),
    ).toEqual([]);
    expect((await lint('libs/db/src/bad.ts', "import { createIntake } from '@sentryhub/intake';\nexport const x = createIntake;\n")).join('\n')).toMatch(
      /type:data-access.*can only depend on libs tagged with "type:contracts", "type:util"|Circular dependency/,
    );
    expect(await lint('apps/admin/src/app/ok.ts', "import { createIntake } from '@sentryhub/intake';\nexport const x = createIntake;\n")).toEqual([]);
  });

  it('forbids contracts from importing anything but util libs', async () => {
    const messages = await lint('libs/contracts/src/bad.ts', "import { fingerprint } from '@sentryhub/alert-identity';\nexport const x = fingerprint;\n");
    expect(messages.length).toBeGreaterThan(0);
  });

  it('forbids app code, but not its spec files, from importing the testing lib', async () => {
    const code = "import { startSlackMock } from '@sentryhub/testing';\nexport const x = startSlackMock;\n";
    expect(await lint('apps/webhook-gateway/src/app/bad.ts', code)).toHaveLength(1);
    expect(await lint('apps/webhook-gateway/src/app/bad.spec.ts', code)).toHaveLength(0);
  });

  it('forbids deep imports into a lib', async () => {
    const messages = await lint(
      'apps/webhook-gateway/src/app/bad.ts',
      "import { fingerprint } from '../../../../libs/alert-identity/src/fingerprint';\nexport const x = fingerprint;\n",
    );
    expect(messages.length).toBeGreaterThan(0);
  });
});
