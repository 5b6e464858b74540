import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, sharedEnv } from '@sentryhub/service-runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { appNames, loadAppContract, ROOT, type AppContract } from './app-contracts';

/**
 * docs/deployment.md's configuration reference names exactly the variables each app's schema
 * reads, with the schema's defaults: an operator's only reference cannot fall behind the code.
 */
const doc = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');

/** The `| \`VAR\` | default | meaning |` rows under `### <heading>` of the configuration reference. */
function table(heading: string): Map<string, string> {
  const reference = doc.slice(doc.indexOf('## Configuration reference'));
  const start = reference.indexOf(`\n### ${heading}\n`);
  if (start < 0) throw new Error(`docs/deployment.md: no "### ${heading}" in the configuration reference`);
  const section = reference.slice(start + 1).split(/\n##/)[0] ?? '';
  const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)];
  return new Map(rows.map((row) => [row[1] ?? '', (row[2] ?? '').trim()]));
}

/** How the doc writes a schema default: `value`, or "unset" when the schema has none. */
function documented(value: unknown): string {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'unset';
  return `\`${String(value)}\``;
}

describe('docs/deployment.md configuration reference', () => {
  let contracts: AppContract[];
  beforeAll(async () => {
    contracts = await Promise.all(appNames().map(loadAppContract));
  });

  it('documents the variables every app shares, with their defaults', () => {
    const shared = table('Every app');
    expect([...shared.keys()].sort()).toEqual(Object.keys(sharedEnv).sort());
    for (const contract of contracts) for (const name of Object.keys(sharedEnv)) expect(contract.envNames.has(name), `${contract.name} reads ${name}`).toBe(true);
  });

  it('documents each app’s own variables, exactly, with the defaults of its schema', () => {
    for (const contract of contracts) {
      const rows = table(contract.name);
      const own = [...contract.envNames].filter((name) => !(name in sharedEnv)).sort();
      expect([...rows.keys()].sort(), `docs/deployment.md "### ${contract.name}"`).toEqual(own);
      const defaults = parseConfig(contract.schema, {});
      if (!defaults.ok) throw new Error(defaults.problems.join('; '));
      const values = defaults.config as Record<string, unknown>;
      for (const name of own) expect(rows.get(name), `${contract.name} ${name} default`).toBe(documented(values[name]));
      for (const [name, cell] of table('Every app')) expect(cell, `shared ${name} default`).toBe(documented(values[name]));
    }
  });
});
