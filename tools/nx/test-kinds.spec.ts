import { execFile } from 'node:child_process';
import { globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TargetConfiguration } from '@nx/devkit';
import { describe, expect, it } from 'vitest';
import { createNodes } from './plugin';
import { specFilesByKind, TEST_KINDS, testKind } from './test-kinds';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

// Written in two pieces: spelled out, they would make this file an integration test itself.
const DATABASE = ['createTest', 'Database'].join('');
const VHOST = ['createTest', 'Vhost'].join('');
const POSTGRES_URL = ['TEST_POSTGRES', '_URL'].join('');
const RABBITMQ_HOST = ['TEST_RABBITMQ', '_HOST'].join('');

describe('the kind of a spec file', () => {
  it('is e2e when its name ends in .e2e.spec.ts, whatever it uses', () => {
    expect(testKind('tools/e2e/alert-path.e2e.spec.ts', `import { ${DATABASE} } from '@sentryhub/testing';`)).toBe('e2e');
    expect(testKind('apps/admin/src/app/startup.e2e.spec.ts', "import { it } from 'vitest';")).toBe('e2e');
  });

  it('is integration when it reaches PostgreSQL or RabbitMQ through libs/testing', () => {
    for (const name of [DATABASE, VHOST, POSTGRES_URL, RABBITMQ_HOST]) {
      expect(testKind('libs/db/src/x.spec.ts', `import { ${name} } from '@sentryhub/testing';\n`), name).toBe('integration');
    }
  });

  it('is unit otherwise, an in-process Slack mock and a name that only contains a marker included', () => {
    expect(testKind('libs/rules/src/x.spec.ts', "import { startSlackMock } from '@sentryhub/testing';\n")).toBe('unit');
    expect(testKind('libs/rules/src/x.spec.ts', `const ${DATABASE}Later = 1;\n`)).toBe('unit');
    expect(testKind('libs/rules/src/e2e.spec.ts', '')).toBe('unit');
  });
});

describe('the split of the workspace', () => {
  const byKind = specFilesByKind(ROOT);
  const all = globSync(['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'tools/**/*.spec.ts'], { cwd: ROOT, exclude: ['**/node_modules/**'] }).sort();

  it('puts every spec file in exactly one kind, except the bench smoke test (npm run test:bench)', () => {
    const listed = TEST_KINDS.flatMap((kind) => byKind[kind]);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(all.filter((file) => !file.endsWith('.bench-smoke.spec.ts')));
    expect(all.some((file) => file.endsWith('.bench-smoke.spec.ts'))).toBe(true);
  });

  it('has each kind where expected', () => {
    expect(byKind.unit).toContain('libs/rules/src/matching.spec.ts');
    expect(byKind.unit).toContain('tools/nx/test-kinds.spec.ts');
    expect(byKind.integration).toContain('libs/db/src/create-db.spec.ts');
    expect(byKind.e2e).toContain('tools/e2e/alert-path.e2e.spec.ts');
  });

  it('vitest run (npm test) runs each of them once, in the project of its kind', async () => {
    const { stdout } = await run('npx', ['vitest', 'list', '--filesOnly', '--json'], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    const listed = (JSON.parse(stdout) as { file: string; projectName: string }[]).map(({ file, projectName }) => `${projectName} ${relative(ROOT, file)}`);
    const expected = TEST_KINDS.flatMap((kind) => byKind[kind].map((file) => `${kind} ${file}`));
    expect(listed.sort()).toEqual(expected.sort());
  });
});

describe('the Nx plugin', () => {
  const projectFiles = globSync('{apps,libs}/*/project.json', { cwd: ROOT }).concat('tools/project.json').sort();
  const infer = async () => {
    const [, createNodesFunction] = createNodes;
    const results = await createNodesFunction(projectFiles, undefined, { workspaceRoot: ROOT, nxJsonConfiguration: {} });
    return new Map(results.map(([file, result]) => [dirname(file), result.projects?.[dirname(file)]?.targets ?? {}]));
  };

  it('gives every project a cached lint target and a test target', async () => {
    const targets = await infer();
    expect([...targets.keys()]).toHaveLength(projectFiles.length);
    for (const [root, target] of targets) {
      expect(target['lint'], root).toMatchObject({
        cache: true,
        options: { command: `eslint --max-warnings=0 ${root} && prettier --check ${root} --log-level warn` },
      });
      expect(target['test'], root).toMatchObject({ executor: 'nx:noop' });
    }
  });

  it('gives a project one test-<kind> target per kind of spec file it has: unit cached, the others not and alone', async () => {
    const byKind = specFilesByKind(ROOT);
    for (const [root, target] of await infer()) {
      const kinds = TEST_KINDS.filter((kind) => byKind[kind].some((file) => file.startsWith(`${root}/`)));
      expect(target['test']?.dependsOn, root).toEqual(kinds.map((kind) => `test-${kind}`));
      for (const kind of kinds) {
        const test = target[`test-${kind}`] as TargetConfiguration<{ command: string }>;
        expect(test.options?.command, root).toBe(`vitest run --project ${kind} ${join(ROOT, root)}/`);
        expect(test.cache, `${root} ${kind}`).toBe(kind === 'unit');
        expect(test.parallelism ?? true, `${root} ${kind}`).toBe(kind === 'unit');
      }
    }
    const tools = (await infer()).get('tools') ?? {};
    expect(tools['test-e2e']?.dependsOn).toEqual([{ projects: 'tag:type:app', target: 'build' }]);
    expect(tools['test-unit']?.inputs).toContain('{workspaceRoot}/**/*');
  });

  it('is the plugin nx.json loads', async () => {
    expect((JSON.parse(readFileSync(join(ROOT, 'nx.json'), 'utf8')) as { plugins?: unknown[] }).plugins).toContain('./tools/nx/plugin.ts');
    // Its own workspace-data folder: a graph written into .nx/ would race the module-boundaries test, whose lint rule reads it.
    const dataDir = mkdtempSync(join(tmpdir(), 'nx-workspace-data-'));
    const env = { ...process.env, NX_WORKSPACE_DATA_DIRECTORY: dataDir, NX_DAEMON: 'false' };
    const { stdout } = await run('npx', ['nx', 'show', 'projects', '--with-target', 'test-unit', '--json'], { cwd: ROOT, env, timeout: 120_000 }).finally(() =>
      rmSync(dataDir, { recursive: true, force: true }),
    );
    expect((JSON.parse(stdout) as string[]).sort()).toContain('rules');
  });
});
